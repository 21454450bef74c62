"""Post-processing of lucky-imaging stacks: layered unsharp masking and colour channel alignment.

Layered unsharp masking is the RegiStax "wavelet" idea done with Gaussians: the image is split into
detail layers at growing scales, and each layer is amplified by its own factor.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["DEFAULT_LAYERS", "align_channels", "parse_layers", "unsharp_layers"]

DEFAULT_LAYERS: tuple[tuple[float, float], ...] = ((1.0, 1.0), (2.0, 0.5))
"""(sigma px, gain) of each detail layer used by ``--sharpen`` without explicit layers."""


def parse_layers(text: str) -> tuple[tuple[float, float], ...]:
    """Parse ``"1:1.0,2:0.5"`` (sigma:gain pairs) into layers; "default" gives DEFAULT_LAYERS."""
    if text.strip().lower() in ("", "default", "on"):
        return DEFAULT_LAYERS
    layers = []
    for item in text.split(","):
        try:
            sigma, gain = (float(part) for part in item.split(":"))
        except ValueError as err:
            raise ValueError(
                f"sharpen layer {item!r} is not SIGMA:GAIN (e.g. 1:1.0,2:0.5)"
            ) from err
        if sigma <= 0:
            raise ValueError(f"sharpen layer sigma must be > 0, not {sigma}")
        layers.append((sigma, gain))
    return tuple(layers)


def unsharp_layers(image: np.ndarray, layers: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Add ``gain`` x (blurred at the previous scale - blurred at ``sigma``) for each layer.

    Layers are sorted by sigma; the first layer's finer image is the input itself.
    """
    result = image.astype(np.float32, copy=True)
    finer = image.astype(np.float32)
    for sigma, gain in sorted(layers):
        coarser = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
        result += np.float32(gain) * (finer - coarser)
        finer = coarser
    return result


def align_channels(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Shift the red and blue channels onto green (phase correlation, sub-pixel).

    Corrects atmospheric dispersion, which offsets the colours of a low planet along the vertical.
    Returns the aligned image and the (dy, dx) applied to each channel.
    """
    green = rgb[..., 1].astype(np.float32)
    window = cv2.createHanningWindow(green.shape[::-1], cv2.CV_32F)
    out = rgb.astype(np.float32, copy=True)
    applied = {}
    for channel, name in ((0, "red"), (2, "blue")):
        (dx, dy), _ = cv2.phaseCorrelate(green, rgb[..., channel].astype(np.float32), window)
        matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float64)
        out[..., channel] = cv2.warpAffine(
            rgb[..., channel].astype(np.float32), matrix, green.shape[::-1],
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT,
        )  # fmt: skip
        applied[name] = [round(float(dy), 3), round(float(dx), 3)]
    return out, applied
