"""Plate solving with astrometry.net and the geometry of solved frames (WCS, footprints)."""
