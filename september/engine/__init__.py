"""The deep-sky engine: calibrate, register, integrate, combine colour and enhance."""
