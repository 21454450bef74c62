"""Lucky imaging: moon, sun and planets from video, and speckle series of stars."""
