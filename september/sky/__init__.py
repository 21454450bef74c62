"""The sky itself: star catalogues (bundled Gaia DR3) and offline object-name resolution."""
