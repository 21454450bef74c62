"""Reading frames: FITS and TIFF files, and normalised headers from any capture program."""
