"""The exceptions september raises, one base class so callers can catch them all."""


class SeptemberError(Exception):
    """Something went wrong in september; the message says what and what to do next."""


class ConfigError(SeptemberError):
    """The configuration file or an environment override is invalid."""


class BadFrameError(SeptemberError):
    """A file cannot be used as a frame (corrupt, truncated, foreign, absurd header...).

    ``reason`` is a short machine-friendly code stored in the catalogue (e.g. ``truncated``);
    the message is for people.
    """

    def __init__(self, message: str, reason: str = "bad-frame") -> None:
        super().__init__(message)
        self.reason = reason


class SolveError(SeptemberError):
    """Plate solving failed or produced a solution that did not verify."""

    def __init__(self, message: str, reason: str = "unsolved") -> None:
        super().__init__(message)
        self.reason = reason


class ToolMissingError(SeptemberError):
    """An external program september needs (solve-field, PixInsight, ...) is not installed."""


class DatabaseError(SeptemberError):
    """The catalogue database cannot be reached or is not in the expected state."""


class SimulationError(SeptemberError):
    """A simulator scenario or option is invalid."""


class UnknownNameError(SeptemberError):
    """A sky object name could not be resolved offline."""


class TargetsError(SeptemberError):
    """A targets file (what to image, mosaic layouts, desired integration) is invalid."""


class ToolFailedError(SeptemberError):
    """An external program ran but failed, timed out or left no usable result."""
