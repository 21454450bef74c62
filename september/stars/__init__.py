"""Star detection and measurement on image arrays (FWHM, HFR, eccentricity, background)."""
