"""Master calibration frames (bias, dark, flat, flat-dark) integrated from single frames.

Every master is 32-bit float with provenance in its header (type, frame count, exposure, how it was
combined, and which masters were subtracted), so a master written today can be reused and checked
later. Darks are stored bias-subtracted when a master bias is given, which is what allows scaling a
dark by exposure (thermal signal only scales, the bias does not).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from september import __version__
from september.engine.integrate import frame_stats, integrate

__all__ = [
    "Master",
    "master_bias",
    "master_dark",
    "master_flat",
    "read_master",
    "scaled_dark",
    "write_master",
]


@dataclass
class Master:
    """A master calibration frame and where it came from."""

    kind: str  # 'bias' | 'dark' | 'flat' | 'dark-flat'
    data: np.ndarray  # float32
    count: int
    exposure: float | None = None  # seconds
    bias_subtracted: bool = False  # darks: thermal signal only
    sources: list[str] = field(default_factory=list)
    rejection: str = ""

    def header(self) -> fits.Header:
        """Provenance header for the FITS file."""
        header = fits.Header()
        header["IMAGETYP"] = (f"Master {self.kind}", "september master calibration frame")
        header["NCOMBINE"] = (self.count, "number of frames integrated")
        if self.exposure is not None:
            header["EXPTIME"] = (float(self.exposure), "[s] exposure of the frames")
        header["BIASSUB"] = (self.bias_subtracted, "master bias subtracted")
        header["REJECT"] = (self.rejection, "pixel rejection")
        header["CREATOR"] = (f"september {__version__}", "software that made this master")
        header["DATE"] = (dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "UTC")
        for source in self.sources:
            header.add_history(f"input {source}"[:70])
        return header


def _stack(frames: Sequence[np.ndarray], normalisation: str) -> tuple[np.ndarray, str]:
    if len(frames) == 1:
        return np.asarray(frames[0], np.float32), "none"
    result = integrate(frames, normalisation=normalisation, weights="none")
    return result.image, result.rejection


def master_bias(frames: Sequence[np.ndarray], *, sources: Sequence[str] = ()) -> Master:
    """Integrate bias frames (no normalisation, pixel rejection)."""
    data, method = _stack(frames, "none")
    return Master("bias", data, len(frames), 0.0, False, list(sources), method)


def master_dark(
    frames: Sequence[np.ndarray],
    *,
    exposure: float | None,
    bias: Master | None = None,
    kind: str = "dark",
    sources: Sequence[str] = (),
) -> Master:
    """Integrate darks (or flat-darks); with ``bias`` the master holds the thermal signal only."""
    if bias is not None:
        frames = [np.asarray(f, np.float32) - bias.data for f in frames]
    data, method = _stack(frames, "none")
    return Master(kind, data, len(frames), exposure, bias is not None, list(sources), method)


def scaled_dark(dark: Master, exposure: float, bias: Master | None = None) -> np.ndarray:
    """The dark signal (without bias) for ``exposure`` seconds.

    A bias-subtracted dark scales linearly with exposure. A dark that still holds the bias can only
    be used at its own exposure (minus the bias if one is given).
    """
    if dark.bias_subtracted:
        if not dark.exposure:
            raise ValueError("the master dark has no exposure time, so it cannot be scaled")
        return dark.data * np.float32(exposure / dark.exposure)
    signal = dark.data - bias.data if bias is not None else dark.data
    return np.asarray(signal, np.float32)


def master_flat(
    frames: Sequence[np.ndarray],
    *,
    bias: Master | None = None,
    flat_dark: Master | None = None,
    sources: Sequence[str] = (),
    filter_name: str | None = None,
) -> Master:
    """Calibrate flats by the flat-dark (or bias), integrate multiplicatively, normalise to 1.

    The flat-dark wins over the bias because it also holds the dark signal of the flat exposure.
    """
    offset: np.ndarray | float = 0.0
    if flat_dark is not None:
        offset = flat_dark.data + (bias.data if flat_dark.bias_subtracted and bias else 0.0)
    elif bias is not None:
        offset = bias.data
    calibrated = [np.asarray(f, np.float32) - offset for f in frames]
    data, method = _stack(calibrated, "multiplicative")
    level = frame_stats(data).location  # the median, from a regular sample
    if level <= 0:
        raise ValueError("the flat frames have no signal above the bias: check the flats")
    master = Master("flat", (data / level).astype(np.float32), len(frames), None, True)
    master.sources, master.rejection = list(sources), method
    if filter_name:
        master.sources.insert(0, f"filter {filter_name}")
    return master


def write_master(path: str | Path, master: Master) -> Path:
    """Write ``master`` as 32-bit float FITS with its provenance header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(master.data.astype(np.float32), header=master.header()).writeto(
        path, overwrite=True
    )
    return path


def read_master(path: str | Path, kind: str) -> Master:
    """Read a master written by september or another program (header keywords best effort)."""
    with fits.open(path) as hdus:
        data = np.asarray(hdus[0].data, np.float32)
        header = hdus[0].header
    exposure = header.get("EXPTIME", header.get("EXPOSURE"))
    return Master(
        kind,
        data,
        int(header.get("NCOMBINE", 1)),
        float(exposure) if exposure is not None else None,
        bool(header.get("BIASSUB", False)),
        [str(path)],
        str(header.get("REJECT", "")),
    )
