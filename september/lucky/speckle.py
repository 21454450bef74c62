"""Lucky imaging of stars: select the frames with the brightest speckle and shift-and-add them.

Lucky_processing's method, done properly. Each frame is dark/flat corrected (by the frame source),
cut to a region of interest and freed of its background (a plane fitted to sigma-clipped pixels).
The star is tracked by its brightest speckle (sub-pixel paraboloid peak) or by its centroid. The
Strehl proxy is the peak divided by the frame's total flux, so thin cloud does not pass for good
seeing; the best r % frames are shifted to a common position (bilinear, sub-pixel) and averaged
after scaling each to the mean flux, so the result keeps the units of one frame. A defocused
series reuses the focused series' selection (``selection``) and is tracked by centroid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
from astropy.stats import sigma_clip
from scipy.optimize import least_squares

from september.errors import BadFrameError
from september.lucky.align import centre_of_gravity, subpixel_peak
from september.lucky.frames import FrameSource

__all__ = ["PairMeasurement", "SpeckleOptions", "SpeckleResult", "measure_pair", "speckle_stack"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SpeckleOptions:
    """Parameters of the speckle (shift-and-add) stack.

    ``roi`` is (x, y, width, height) in frame pixels; ``selection`` a list of frame indices to
    stack instead of choosing by peak (e.g. from the focused series' log).
    """

    select_percent: float = 5.0
    track: str = "peak"
    roi: tuple[int, int, int, int] | None = None
    background: str = "plane"
    clip_sigma: float = 3.0
    normalise_flux: bool = True
    selection: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.select_percent <= 100:
            raise ValueError(f"select_percent must be in (0, 100], not {self.select_percent}")
        if self.track not in ("peak", "centroid"):
            raise ValueError(f"track must be peak or centroid, not {self.track!r}")
        if self.background not in ("none", "median", "plane"):
            raise ValueError(f"background must be none, median or plane, not {self.background!r}")


@dataclass
class SpeckleResult:
    """The shift-and-add image (float32, background-free, one frame's flux) and a log."""

    image: np.ndarray
    log: dict = field(default_factory=dict)


def _remove_background(image: np.ndarray, kind: str, clip_sigma: float) -> np.ndarray:
    if kind == "none":
        return image
    clipped = sigma_clip(image, sigma=clip_sigma, maxiters=5, masked=True)
    if kind == "median" or clipped.count() < 10:
        return image - np.float32(np.ma.median(clipped))
    ys, xs = np.nonzero(~np.ma.getmaskarray(clipped))
    design = np.stack([np.ones(len(xs)), xs, ys], axis=1)
    coeffs, *_ = np.linalg.lstsq(design, image[ys, xs].astype(np.float64), rcond=None)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return (image - (coeffs[0] + coeffs[1] * xx + coeffs[2] * yy)).astype(np.float32)


def _prepare(source: FrameSource, index: int, opts: SpeckleOptions) -> np.ndarray:
    frame = source.mono(index)
    if opts.roi is not None:
        x, y, w, h = opts.roi
        frame = frame[y : y + h, x : x + w]
        if frame.shape != (h, w):
            raise BadFrameError(
                f"the region of interest {opts.roi} (x, y, w, h) does not fit in frames of "
                f"{source.shape[1]}x{source.shape[0]} px.",
                reason="bad-roi",
            )
    return _remove_background(frame, opts.background, opts.clip_sigma)


def _track(image: np.ndarray, how: str) -> tuple[float, float, float]:
    """(y, x, peak) of the brightest speckle (sub-pixel) or of the centroid."""
    smooth = cv2.GaussianBlur(image, (3, 3), 0.7)
    _, peak, _, (px, py) = cv2.minMaxLoc(smooth)
    if how == "centroid":
        cy, cx = centre_of_gravity(smooth, threshold=0.2)
        return cy, cx, float(peak)
    sy, sx = subpixel_peak(smooth, py, px)
    return py + sy, px + sx, float(peak)


def speckle_stack(
    source: FrameSource, options: SpeckleOptions | None = None, progress: Progress | None = None
) -> SpeckleResult:
    """Select the best frames of ``source`` by Strehl proxy and shift-and-add them."""
    opts = options or SpeckleOptions()
    report = progress or (lambda stage, done, total: None)
    count = len(source)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    positions = np.zeros((count, 2))
    peaks = np.zeros(count)
    fluxes = np.zeros(count)
    for index in range(count):
        image = _prepare(source, index, opts)
        y, x, peak = _track(image, opts.track)
        positions[index] = y, x
        flux = float(image.sum())
        fluxes[index] = flux
        peaks[index] = peak / flux if opts.normalise_flux and flux > 0 else peak
        report("track", index + 1, count)
    timings["track"] = time.perf_counter() - start

    start = time.perf_counter()
    if opts.selection is not None:
        selected = np.array(sorted(set(opts.selection)), dtype=int)
        if selected.size == 0 or selected.min() < 0 or selected.max() >= count:
            raise BadFrameError(
                f"the reused selection names frames outside 0..{count - 1}; was it made on a "
                "series with the same number of frames?",
                reason="bad-selection",
            )
    else:
        keep = max(1, round(opts.select_percent / 100 * count))
        selected = np.sort(np.argsort(-peaks, kind="stable")[:keep])
    shape = image.shape
    anchor = np.array([(shape[0] - 1) / 2, (shape[1] - 1) / 2])
    mean_flux = float(np.mean(fluxes[selected]))
    total = np.zeros(shape, np.float64)
    for done, index in enumerate(selected):
        image = _prepare(source, int(index), opts)
        dy, dx = positions[index] - anchor
        matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float64)
        shifted = cv2.warpAffine(
            image, matrix, shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )  # fmt: skip
        scale = mean_flux / fluxes[index] if opts.normalise_flux and fluxes[index] > 0 else 1.0
        total += shifted * scale
        report("stack", done + 1, len(selected))
    timings["stack"] = time.perf_counter() - start
    log = {
        "source": str(source.path),
        "frames": count,
        "selected_frames": [int(i) for i in selected],
        "selection_reused": opts.selection is not None,
        "strehl_proxy": [round(float(p), 8) for p in peaks],
        "positions": np.round(positions, 3).tolist(),
        "mean_flux": mean_flux,
        "options": asdict(opts),
        "timings_s": {key: round(value, 4) for key, value in timings.items()},
    }
    return SpeckleResult(image=(total / len(selected)).astype(np.float32), log=log)


@dataclass(frozen=True)
class PairMeasurement:
    """A double star measured on a stack: separation (px), position angle (deg), flux ratio."""

    separation: float
    angle: float
    flux_ratio: float
    primary: tuple[float, float]
    secondary: tuple[float, float]


def _pair_model(params: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    y1, x1, y2, x2, a1, a2, core, halo, weight, bg = params
    result = np.full(yy.shape, bg)
    for y, x, amp in ((y1, x1, a1), (y2, x2, a2)):
        r2 = (yy - y) ** 2 + (xx - x) ** 2
        result += amp * (np.exp(-r2 / (2 * core**2)) + weight * np.exp(-r2 / (2 * halo**2)))
    return result


def measure_pair(image: np.ndarray, *, exclusion: float = 3.0) -> PairMeasurement:
    """Fit two identical PSFs (Gaussian core + halo) to the two brightest peaks of ``image``.

    The secondary is the brightest pixel outside ``exclusion`` px of the primary. The position
    angle runs from +x towards +y.
    """
    smooth = cv2.GaussianBlur(image.astype(np.float32), (3, 3), 0.7)
    _, peak1, _, (x1, y1) = cv2.minMaxLoc(smooth)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    masked = np.where(np.hypot(yy - y1, xx - x1) > exclusion, smooth, -np.inf).astype(np.float32)
    _, peak2, _, (x2, y2) = cv2.minMaxLoc(masked)
    if not np.isfinite(peak2) or peak2 <= 0:
        raise BadFrameError("no second star found in the stack.", reason="no-pair")
    separation0 = float(np.hypot(y2 - y1, x2 - x1))
    pad = int(max(6, separation0))
    top, bottom = max(0, min(y1, y2) - pad), min(image.shape[0], max(y1, y2) + pad + 1)
    left, right = max(0, min(x1, x2) - pad), min(image.shape[1], max(x1, x2) + pad + 1)
    data = image[top:bottom, left:right].astype(np.float64)
    wy, wx = yy[top:bottom, left:right], xx[top:bottom, left:right]
    start = np.array([y1, x1, y2, x2, peak1, peak2, 1.2, 4.0, 0.1, 0.0], dtype=float)
    lower = [top, left, top, left, 0, 0, 0.3, 1.0, 0, -np.inf]
    upper = [bottom, right, bottom, right, np.inf, np.inf, 10, 40, 5, np.inf]
    fit = least_squares(
        lambda p: (_pair_model(p, wy, wx) - data).ravel(),
        start,
        bounds=(lower, upper),
        x_scale="jac",
    )
    fy1, fx1, fy2, fx2, a1, a2 = fit.x[:6]
    return PairMeasurement(
        separation=float(np.hypot(fy2 - fy1, fx2 - fx1)),
        angle=float(np.degrees(np.arctan2(fy2 - fy1, fx2 - fx1)) % 360),
        flux_ratio=float(a2 / a1) if a1 > 0 else float("nan"),
        primary=(float(fy1), float(fx1)),
        secondary=(float(fy2), float(fx2)),
    )
