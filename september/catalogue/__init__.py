"""The catalogue: PostgreSQL + Q3C storage of frames, stars and clusters (no image maths here)."""
