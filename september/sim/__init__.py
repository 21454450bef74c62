"""The observatory simulator: nights of frames from real Gaia stars, with ground truth."""
