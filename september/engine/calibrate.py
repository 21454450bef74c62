"""Calibration of light frames: subtract bias and dark signal, divide by the normalised flat."""

from __future__ import annotations

import numpy as np

from september.engine.masters import Master, scaled_dark

__all__ = ["FLAT_FLOOR", "calibrate_light"]

FLAT_FLOOR = 0.05  # flat pixels below this fraction of the median are treated as dead (no data)


def calibrate_light(
    data: np.ndarray,
    *,
    exposure: float | None = None,
    bias: Master | None = None,
    dark: Master | None = None,
    flat: Master | None = None,
) -> np.ndarray:
    """Return the calibrated light as float32: (light - bias - dark(exposure)) / flat.

    A bias-subtracted dark is scaled to ``exposure``; a dark that still holds the bias is
    subtracted as it is (it must match the light's exposure) and the bias is then not subtracted
    again. Pixels where the flat is (nearly) zero become NaN so integration ignores them.
    """
    light = np.asarray(data, np.float32).copy()
    if dark is not None and not dark.bias_subtracted:
        light -= dark.data
    else:
        if bias is not None:
            light -= bias.data
        if dark is not None:
            light -= scaled_dark(dark, exposure if exposure is not None else dark.exposure or 0.0)
    if flat is not None:
        sample = flat.data[:: max(1, flat.data.shape[0] // 256)]
        norm = flat.data / np.float32(np.median(sample[np.isfinite(sample)]))
        dead = ~(norm > FLAT_FLOOR)
        light /= np.where(dead, np.float32(1), norm)
        light[dead] = np.nan
    return light
