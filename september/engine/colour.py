"""Colour images from per-filter masters: RGB, LRGB, narrowband palettes and colour balance.

All functions take and return linear float32 data; an RGB image is (height, width, 3).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PALETTES",
    "balance_background",
    "balance_stars",
    "colour_image",
    "combine_lrgb",
    "combine_rgb",
    "luminance",
    "narrowband",
]

PALETTES = ("SHO", "HOO")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 weights of linear RGB


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Linear luminance of an RGB image."""
    return np.tensordot(rgb, LUMA, axes=([2], [0])).astype(np.float32)


def combine_rgb(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """Stack three registered masters into an RGB image."""
    return np.stack([red, green, blue], axis=-1).astype(np.float32)


def combine_lrgb(
    lum: np.ndarray, red: np.ndarray, green: np.ndarray, blue: np.ndarray
) -> np.ndarray:
    """RGB colour with the luminance of ``lum`` (colour ratios of RGB kept per pixel).

    The background-subtracted RGB image is scaled so that its luminance equals ``lum`` (matched in
    level and scale to it first); where the RGB luminance is below its noise the colour is grey.
    """
    rgb = balance_background(combine_rgb(red, green, blue))
    y = luminance(rgb)
    lum = lum - np.float32(np.nanmedian(lum))
    # match the luminance master's scale to the RGB luminance on bright pixels
    bright = y > np.nanpercentile(y, 99)
    scale = float(np.nanmedian(y[bright] / np.maximum(lum[bright], 1e-12))) if bright.any() else 1.0
    lum = lum * np.float32(scale if np.isfinite(scale) and scale > 0 else 1.0)
    noise = 1.4826 * float(np.nanmedian(np.abs(y - np.nanmedian(y))))
    floor = np.float32(max(3.0 * noise, 1e-12))
    ratio = np.where(y > floor, lum / np.maximum(y, floor), np.float32(1.0))
    grey = (y <= floor)[..., None]
    out = np.where(grey, lum[..., None], rgb * ratio[..., None])
    return out.astype(np.float32)


def narrowband(
    ha: np.ndarray, oiii: np.ndarray, sii: np.ndarray | None = None, palette: str = "SHO"
) -> np.ndarray:
    """Map narrowband masters to RGB: SHO (Hubble: S=red, H=green, O=blue) or HOO."""
    palette = palette.upper()
    if palette == "SHO":
        if sii is None:
            raise ValueError("the SHO palette needs an SII master; use HOO without one")
        return combine_rgb(sii, ha, oiii)
    if palette == "HOO":
        return combine_rgb(ha, oiii, oiii)
    raise ValueError(f"unknown palette {palette!r}; use one of {PALETTES}")


def _background(channel: np.ndarray) -> tuple[float, float]:
    values = channel[np.isfinite(channel)][:: max(1, channel.size // 1_000_000)]
    centre = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - centre)))
    for _ in range(3):  # clip stars and nebula from the estimate
        values = values[np.abs(values - centre) < 3 * max(sigma, 1e-12)]
        centre = float(np.median(values))
        sigma = 1.4826 * float(np.median(np.abs(values - centre)))
    return centre, sigma


def balance_background(rgb: np.ndarray, *, pedestal: float = 0.0) -> np.ndarray:
    """Subtract each channel's sky level so the background is neutral (at ``pedestal``)."""
    out = np.empty_like(rgb, dtype=np.float32)
    for c in range(rgb.shape[-1]):
        level, _ = _background(rgb[..., c])
        out[..., c] = rgb[..., c] - np.float32(level - pedestal)
    return out


def balance_stars(rgb: np.ndarray, stars_xy: np.ndarray, *, radius: int = 3) -> np.ndarray:
    """Scale green and blue so the median star is white (stars as the colour reference).

    ``stars_xy`` holds (x, y) positions; the fluxes are summed in small boxes over the
    background-balanced image. Returns the image unchanged when fewer than 5 stars are usable.
    """
    balanced = balance_background(rgb)
    height, width = rgb.shape[:2]
    fluxes = []
    for x, y in np.round(stars_xy).astype(int):
        if radius <= x < width - radius and radius <= y < height - radius:
            box = balanced[y - radius : y + radius + 1, x - radius : x + radius + 1]
            flux = np.nansum(box, axis=(0, 1))
            if np.all(flux > 0):
                fluxes.append(flux)
    if len(fluxes) < 5:
        return rgb.astype(np.float32)
    ratios = np.median(np.array(fluxes) / np.array(fluxes)[:, :1], axis=0)
    return (rgb / ratios.astype(np.float32)).astype(np.float32)


def colour_image(masters: dict[str, np.ndarray], palette: str = "SHO") -> np.ndarray:
    """The natural colour image for the filters present (LRGB, RGB, SHO/HOO or mono as grey)."""
    names = {name.upper(): data for name, data in masters.items()}
    has_rgb = all(k in names for k in ("R", "G", "B"))
    if has_rgb and "L" in names:
        return combine_lrgb(names["L"], names["R"], names["G"], names["B"])
    if has_rgb:
        return combine_rgb(names["R"], names["G"], names["B"])
    if "HA" in names and "OIII" in names:
        sii = names.get("SII")
        return narrowband(names["HA"], names["OIII"], sii, palette if sii is not None else "HOO")
    mono = names.get("L") if "L" in names else next(iter(names.values()))
    return combine_rgb(mono, mono, mono)
