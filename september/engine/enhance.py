"""Star-preserving enhancement of a linear stack into a finished 16-bit RGB image (AstroStakos).

The stages follow the AstroStakos workflow:

1. a background model from large overlapping tiles, each smoothed with a Gaussian (stars masked)
   and blended with a cosine (Hann) window, so there are no seams or banding;
2. star detection on the luminance by a difference of Gaussians and a statistical threshold (one
   star per local maximum), giving one soft mask shared by all channels, so colours stay aligned:
   a round disc per star out to where its profile meets the noise, with a Gaussian taper (round
   whatever the noise does; the dilated threshold blobs only keep stars out of the background);
3. separation of each channel into background, star map and starless image;
4. an adaptive star boost: one gain per star from its peak, large for faint stars and tending to
   1 for bright ones, constant over the star and equal for all channels (shape and colour ratios
   are kept);
5. a colour-preserving arcsinh stretch (of the brightest channel, so no channel overflows; black
   point 2.8 sigma below the sky, the sky lifted to a target level, the brightest unsaturated pixel
   kept at 98% of full scale, saturated pixels white);
6. mild sharpening of the stars where they stand clear of the noise (an unsharp mask that may
   move a pixel at most halfway to the extremes of its 3 x 3 neighbourhood: no halos, no flattened
   peaks, no sharpened noise).

Input checks (``load_linear_tiff``): 8-bit files are refused (the faint signal is already lost);
"stretched" input is refused by a documented heuristic -- a sky background that is both bright
(median > 5% of full scale) and within 10 noise sigmas of black. A linear stack keeps its sky far
above its noise (or near zero after background calibration), while any stretch (asinh, curves,
auto-stretch) amplifies the noise at the sky level so the sky sits only a few sigmas above black.
``assume_linear=True`` skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from september.engine.colour import luminance
from september.errors import BadFrameError

__all__ = [
    "EnhanceOptions",
    "EnhanceResult",
    "background_model",
    "enhance",
    "find_stars",
    "load_linear_tiff",
    "looks_stretched",
    "star_mask",
    "star_sigma",
    "write_preview",
    "write_tiff16",
]

STRETCHED_MEDIAN = 0.05  # sky above this fraction of full scale ...
STRETCHED_SNR = 10.0  # ... and fewer noise sigmas above black than this: stretched
BLACK_SIGMA = 2.8  # black point below the sky, in noise sigmas
HEADROOM = 0.98  # the brightest unsaturated pixel maps to this fraction of full scale
SATURATED = 0.995  # input pixels at or above this fraction of full scale are saturated
BOOST_KNEE = 30.0  # star peak (noise sigmas) at which the boost falls to half
SHARPEN_SNR = 10.0  # full sharpening where the star (1 px blur) is this many noise sigmas up


@dataclass(frozen=True)
class EnhanceOptions:
    """Tuning of :func:`enhance` (the defaults suit a typical stack)."""

    stretch: float = 1.0  # multiplies the asinh strength found for the target sky level
    star_boost: float = 1.0  # extra gain of the faintest stars (0: no boost)
    tile_size: int | None = None  # background tiles in px (None: a quarter of the short side)
    sky_target: float = 0.12  # stretched sky level (0..1)
    sharpen: float = 0.35  # unsharp-mask amount on the stars (0: none)
    star_sigma: float = 4.0  # detection threshold of the difference of Gaussians


@dataclass
class EnhanceResult:
    """The enhanced image (float32 0..1 RGB) and the intermediate products."""

    image: np.ndarray
    background: np.ndarray
    mask: np.ndarray  # the soft star mask; stars = mask * (linear - background), starless = rest
    noise: float
    stretch: float


def _noise(data: np.ndarray) -> float:
    rows = data[:: max(1, data.shape[0] // 512)]
    diffs = np.diff(rows, axis=1)
    diffs = diffs[np.isfinite(diffs)]
    return max(1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0), 1e-9)


def looks_stretched(rgb: np.ndarray) -> bool:
    """The heuristic of the module docstring on a 0..1 image."""
    lum = luminance(rgb)
    median = float(np.median(lum[:: max(1, lum.shape[0] // 512)]))
    return median > STRETCHED_MEDIAN and median / _noise(lum) < STRETCHED_SNR


def load_linear_tiff(path: str | Path, *, assume_linear: bool = False) -> np.ndarray:
    """Read a linear TIFF as float32 RGB in 0..1; refuse 8-bit or stretched images."""
    import tifffile

    path = Path(path)
    try:
        data = tifffile.imread(path)
    except (OSError, ValueError, tifffile.TiffFileError) as err:
        raise BadFrameError(f"{path} is not a readable TIFF image: {err}", "unreadable") from err
    if data.dtype == np.uint8:
        raise BadFrameError(
            f"{path} is an 8-bit TIFF: 8 bits have already lost the faint signal. Save the stack "
            "as a 16-bit (or 32-bit) linear TIFF, e.g. DeepSkyStacker's Autosave.tif.",
            "8-bit",
        )
    if data.dtype == np.uint16:
        image = data.astype(np.float32) / 65535.0
    elif data.dtype.kind == "f":
        image = data.astype(np.float32)
        peak = float(np.nanmax(image))
        image /= 65535.0 if peak > 1.0 else 1.0
    else:
        raise BadFrameError(f"{path} has {data.dtype} pixels; expected 16-bit TIFF", "format")
    rgb = _as_rgb(image, path)
    rgb = np.nan_to_num(np.clip(rgb, 0.0, None), nan=0.0)
    if not assume_linear and looks_stretched(rgb):
        raise BadFrameError(
            f"{path} looks stretched, not linear: its sky sits at "
            f"{100 * float(np.median(luminance(rgb))):.0f}% of full scale but only a few noise "
            "sigmas above black. Give the linear stack (before any stretch or curves), or pass "
            "--assume-linear if you are sure it is linear.",
            "stretched",
        )
    return rgb


def _as_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return np.ascontiguousarray(image[..., :3])
    if image.ndim == 3 and image.shape[0] in (3, 4):
        return np.ascontiguousarray(np.moveaxis(image[:3], 0, -1))
    if image.ndim == 3 and image.shape[-1] == 1:
        return np.repeat(image, 3, axis=2)
    raise BadFrameError(f"{path} has shape {image.shape}; expected grayscale or RGB", "format")


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (OpenCV, float32, reflected edges)."""
    data = np.ascontiguousarray(image, np.float32)
    return cv2.GaussianBlur(data, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def find_stars(
    lum: np.ndarray, *, sigma: float = 4.0, fwhm: float = 2.5
) -> tuple[np.ndarray, np.ndarray]:
    """Stars of the luminance by a difference of Gaussians: (row, col) centres and a blob mask.

    A star is a local maximum (5 x 5) of the DoG above ``sigma`` robust sigmas, inside a blob of
    >= 3 px above that threshold (flat saturated tops give one centre per plateau). The blob mask,
    dilated by about a FWHM, keeps the stars out of the background model.
    """
    small = max(fwhm / 2.3548, 0.7)
    dog = _blur(lum, small) - _blur(lum, 4.0 * small)
    sample = dog[:: max(1, dog.shape[0] // 512)]
    centre = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - centre)))
    binary = dog > centre + sigma * max(spread, 1e-12)
    labels, count = ndimage.label(binary)
    if count:
        sizes = ndimage.sum_labels(binary, labels, index=np.arange(1, count + 1))
        binary = np.isin(labels, 1 + np.flatnonzero(sizes >= 3))
    peaks = binary & (dog >= cv2.dilate(dog, np.ones((5, 5), np.uint8)))
    plateaus, count = ndimage.label(peaks, structure=np.ones((3, 3)))
    if count:
        centres = ndimage.center_of_mass(peaks, plateaus, np.arange(1, count + 1))
        stars = np.unique(np.rint(np.asarray(centres)).astype(np.intp).reshape(-1, 2), axis=0)
    else:
        stars = np.zeros((0, 2), np.intp)
    radius = max(2, round(fwhm))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = cv2.dilate(binary.astype(np.uint8), disk).astype(bool)
    return stars, grown


def _windows(image: np.ndarray, stars: np.ndarray, half: int) -> np.ndarray:
    """(N, 2 half + 1, 2 half + 1) cut-outs of ``image`` around the stars (edges replicated)."""
    padded = np.pad(image, half, mode="edge")
    offsets = np.arange(2 * half + 1)
    rows = stars[:, 0, None, None] + offsets[None, :, None]
    cols = stars[:, 1, None, None] + offsets[None, None, :]
    return padded[rows, cols]


def star_sigma(signal: np.ndarray, stars: np.ndarray, noise: float, fwhm: float = 2.5) -> float:
    """Gaussian sigma of the typical star: median half-maximum area of well-exposed stars."""
    if len(stars):
        cut = _windows(signal, stars, 7)
        peak = cut[:, 6:9, 6:9].reshape(len(stars), -1).max(axis=1)
        good = (peak > 30.0 * noise) & (peak < 0.9 * float(signal.max()))
        if good.sum() >= 5:
            area = (cut[good] > 0.5 * peak[good, None, None]).sum(axis=(1, 2))
            return float(np.median(2.0 * np.sqrt(area / np.pi))) / 2.3548
    return fwhm / 2.3548


def star_mask(
    signal: np.ndarray,
    stars: np.ndarray,
    noise: float,
    *,
    sigma: float,
    margin: float = 1.0,
    taper: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round soft star mask (0..1), each pixel's star, and each star's peak above the background.

    Each star gets a disc out to where a Gaussian of the typical ``sigma`` and its peak falls to
    the noise (plus ``margin`` px), then a Gaussian taper of ``taper`` px: the mask is round
    whatever the noise does, and covers the whole visible star. A pixel belongs to the star whose
    disc reaches furthest past it (a power diagram, from one distance transform per radius class).
    """
    if not len(stars):
        return np.zeros(signal.shape, np.float32), np.zeros(signal.shape, np.int32), np.zeros(0)
    peak = _windows(signal, stars, 1).reshape(len(stars), -1).max(axis=1)
    ratio = np.maximum(peak / max(noise, 1e-12), np.e)
    radius = sigma * np.sqrt(2.0 * np.log(ratio)) + margin
    classes = np.unique(np.round(radius * 2.0) / 2.0)  # 0.5 px steps
    reach = np.full(signal.shape, np.inf, np.float32)  # distance past the owning disc's edge
    owner = np.zeros(signal.shape, np.int32)
    for r in classes:
        members = np.flatnonzero(np.round(radius * 2.0) / 2.0 == r)
        seeds = np.full(signal.shape, 255, np.uint8)
        seeds[stars[members, 0], stars[members, 1]] = 0
        distance, label = cv2.distanceTransformWithLabels(
            seeds, cv2.DIST_L2, cv2.DIST_MASK_PRECISE, labelType=cv2.DIST_LABEL_PIXEL
        )
        # labels count the seed pixels in row-major order
        order = members[np.lexsort((stars[members, 1], stars[members, 0]))]
        closer = distance - np.float32(r) < reach
        reach[closer] = distance[closer] - np.float32(r)
        owner[closer] = order[label[closer] - 1]
    past = np.maximum(reach, 0.0)
    mask = np.exp(-0.5 * (past / taper) ** 2).astype(np.float32)
    return mask, owner, peak


def _hann(length: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(length) + 0.5) / length)).astype(np.float32)


def background_model(
    channel: np.ndarray, mask: np.ndarray, tile_size: int | None = None
) -> np.ndarray:
    """Smooth background of one channel from overlapping cosine-blended tiles (stars masked).

    Work is done on a binned image (about 32 binned pixels per tile), then resized back.
    """
    height, width = channel.shape
    tile = int(tile_size or max(128, min(height, width) // 4))
    factor = max(1, tile // 32)
    bh, bw = -(-height // factor), -(-width // factor)
    padded = np.pad(channel, ((0, bh * factor - height), (0, bw * factor - width)), mode="edge")
    masked = np.pad(mask, ((0, bh * factor - height), (0, bw * factor - width)), mode="edge")
    values = np.where(masked < 0.5, padded, np.nan).astype(np.float32)
    values = values.reshape(bh, factor, bw, factor).swapaxes(1, 2).reshape(bh, bw, -1)
    binned = _nan_median(values)  # the median resists unmasked faint stars
    t = max(4, tile // factor)
    step = max(1, t // 2)
    window = np.outer(_hann(t), _hann(t))
    acc = np.zeros((bh, bw), np.float64)
    acc_w = np.zeros((bh, bw), np.float64)
    for y0 in range(-step, bh, step):
        for x0 in range(-step, bw, step):
            ys, xs = slice(max(y0, 0), min(y0 + t, bh)), slice(max(x0, 0), min(x0 + t, bw))
            block = binned[ys, xs]
            good = np.isfinite(block)
            if good.sum() < 4:
                continue
            values = block[good]
            centre = np.median(values)
            spread = 1.4826 * np.median(np.abs(values - centre)) + 1e-12
            good &= np.abs(np.where(good, block, centre) - centre) < 2.5 * spread
            model = _tile_model(block, good, t / 4.0)
            win = window[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
            acc[ys, xs] += win * model
            acc_w[ys, xs] += win
    low = (acc / np.maximum(acc_w, 1e-12)).astype(np.float32)
    full = cv2.resize(low, (bw * factor, bh * factor), interpolation=cv2.INTER_CUBIC)
    return full[:height, :width]


def _nan_median(values: np.ndarray) -> np.ndarray:
    """Median along the last axis ignoring NaN (NaN where all are NaN), vectorised."""
    ordered = np.sort(values, axis=-1)  # NaN sort last
    count = np.isfinite(ordered).sum(axis=-1)
    lower = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], -1)[..., 0]
    upper = np.take_along_axis(ordered, np.maximum(count // 2, 0)[..., None], -1)[..., 0]
    return np.where(count > 0, 0.5 * (lower + upper), np.nan)


def _tile_model(block: np.ndarray, good: np.ndarray, sigma: float) -> np.ndarray:
    """A plane fitted to the tile's sky plus the Gaussian-smoothed rest (no edge bias on ramps)."""
    gy, gx = np.mgrid[0 : block.shape[0], 0 : block.shape[1]].astype(float)
    design = np.column_stack([np.ones(good.sum()), gx[good], gy[good]])
    coeffs, *_ = np.linalg.lstsq(design, block[good], rcond=None)
    plane = coeffs[0] + coeffs[1] * gx + coeffs[2] * gy
    rest = np.where(good, block - plane, 0.0)
    smooth = ndimage.gaussian_filter(rest, sigma, mode="nearest")
    norm = ndimage.gaussian_filter(good.astype(float), sigma, mode="nearest")
    return plane + np.where(norm > 1e-3, smooth / np.maximum(norm, 1e-3), 0.0)


def _asinh_strength(black: float, target: float) -> float:
    """a such that asinh(a * black) / asinh(a) == target (bisection in log a)."""
    if black <= 0 or black >= target:
        return 1.0
    lo, hi = -3.0, 12.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        a = 10.0**mid
        if np.arcsinh(a * black) / np.arcsinh(a) > target:
            hi = mid
        else:
            lo = mid
    return float(10.0 ** (0.5 * (lo + hi)))


def enhance(rgb: np.ndarray, options: EnhanceOptions | None = None) -> EnhanceResult:
    """Enhance a linear RGB image (float, 0..1 full scale) into a stretched 0..1 RGB image."""
    options = options or EnhanceOptions()
    rgb = np.asarray(rgb, np.float32)
    saturated = (rgb >= SATURATED).any(axis=2)
    lum = luminance(rgb)
    stars, blobs = find_stars(lum, sigma=options.star_sigma)
    del lum
    background = np.stack(
        [background_model(rgb[..., c], blobs, options.tile_size) for c in range(3)], axis=-1
    )
    signal = rgb - background
    lum_signal = luminance(signal)
    noise = _noise(np.where(blobs, 0.0, lum_signal))  # the starless image's noise
    sigma = star_sigma(lum_signal, stars, noise)
    mask, owner, peak = star_mask(lum_signal, stars, noise, sigma=sigma)
    # sharpen where the star stands clear of the noise only: sharpening noise adds no detail
    cores = mask * np.clip(_blur(lum_signal, 1.0) / (SHARPEN_SNR * noise), 0.0, 1.0)
    del lum_signal, blobs

    # adaptive boost: one gain per star from its peak, equal for all channels and constant over
    # the star (its shape and colour are kept); boosted = starless + gain * stars with
    # stars = mask * signal, i.e. signal * (1 + mask * (gain - 1))
    if len(stars):
        gain = 1.0 + options.star_boost / (1.0 + peak / (BOOST_KNEE * noise))
        signal *= (1.0 + mask * (gain[owner] - 1.0)).astype(np.float32)[..., None]
    boosted = signal
    del owner

    # colour-preserving asinh stretch driven by the brightest channel: the sky (lifted BLACK_SIGMA
    # noise sigmas above black) becomes a neutral level T(p); the signal above it keeps its ratios
    pedestal = BLACK_SIGMA * noise
    value = np.maximum(boosted.max(axis=2) + np.float32(pedestal), 0.0)
    unsaturated = value[~saturated] if (~saturated).any() else value
    white = max(float(unsaturated.max()), 1e-9)
    strength = _asinh_strength(pedestal / white, options.sky_target) * options.stretch
    norm = np.float32(HEADROOM / np.arcsinh(strength))

    def curve(v: np.ndarray | float) -> np.ndarray:
        return norm * np.arcsinh(np.float32(strength / white) * v)

    sky = float(curve(pedestal))
    excess = value - np.float32(pedestal)
    slope = norm * strength / white / np.sqrt(1.0 + (strength * pedestal / white) ** 2)
    gain_out = np.where(
        np.abs(excess) > 1e-6 * white,
        (curve(value) - np.float32(sky)) / np.where(np.abs(excess) > 1e-6 * white, excess, 1.0),
        np.float32(slope),
    ).astype(np.float32)
    out = np.float32(sky) + boosted * gain_out[..., None]
    if options.sharpen > 0:
        out = _sharpen(out, cores, options.sharpen, sky)
    out = np.clip(out, 0.0, HEADROOM)
    out[saturated] = 1.0
    return EnhanceResult(
        image=np.clip(out, 0.0, 1.0).astype(np.float32),
        background=background,
        mask=mask,
        noise=noise,
        stretch=strength,
    )


def _sharpen(rgb: np.ndarray, mask: np.ndarray, amount: float, sky: float) -> np.ndarray:
    """Unsharp mask of the brightest channel on the stars, clamped to the local range (no halos).

    The change is applied to the signal above the sky level, in the same ratio for all channels.
    """
    value = rgb.max(axis=2)
    detail = value - _blur(value, 1.0)
    sharp = value + amount * mask * detail
    # halfway to the local 3 x 3 extremes at most: no halo, no new or flattened peak
    box = np.ones((3, 3), np.uint8)
    upper = value + 0.5 * (cv2.dilate(value, box) - value)
    lower = value - 0.5 * (value - cv2.erode(value, box))
    sharp = np.clip(sharp, lower, upper)
    above = value - np.float32(sky)
    ratio = np.where(above > 1e-6, (sharp - sky) / np.maximum(above, 1e-6), 1.0)
    return np.float32(sky) + (rgb - np.float32(sky)) * ratio[..., None].astype(np.float32)


def write_tiff16(path: str | Path, image: np.ndarray) -> Path:
    """Write a 0..1 RGB image as a 16-bit RGB TIFF."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.round(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
    tifffile.imwrite(path, data, photometric="rgb")
    return path


def write_preview(path: str | Path, image: np.ndarray, *, max_side: int = 2048) -> Path:
    """Write an 8-bit JPEG preview of a 0..1 RGB image (downsized to ``max_side``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    height, width = data.shape[:2]
    factor = max(height, width) / max_side
    if factor > 1:
        size = (int(width / factor), int(height / factor))
        data = cv2.resize(data, size, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(data, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path
