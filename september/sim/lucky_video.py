"""Lucky-imaging test videos with ground truth: a surface, a banded planet or a binary star seen
through simulated turbulence, written as SER files or image folders.

Surface and planet frames are the sharp truth warped by a smooth random displacement field plus a
global jitter, blurred by a Gaussian whose width varies from frame to frame (the seeing), then
given Poisson and read noise. Binary-star frames are true speckle images: the pupil is crossed by a
Kolmogorov phase screen (FFT method) and the point-spread function is the squared modulus of its
Fourier transform, so each frame is a cloud of speckles and a few frames are nearly diffraction
limited, as Fried (1978) and Law et al. (2006) describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from september.errors import SimulationError

__all__ = [
    "LuckyVideo",
    "binary_star_video",
    "moon_truth",
    "planet_truth",
    "surface_video",
    "write_frames_folder",
    "write_video_ser",
]


@dataclass
class LuckyVideo:
    """Simulated frames and their truth.

    ``truth`` is the noiseless, undistorted scene in the frames' units (for surfaces and planets);
    ``blur`` the seeing sigma of each frame in pixels; ``jitter`` each frame's global (dy, dx);
    ``separation``/``angle`` the binary's true separation (px) and position angle (deg from +x
    towards +y), ``flux_ratio`` secondary/primary.
    """

    frames: np.ndarray
    truth: np.ndarray | None
    kind: str
    blur: np.ndarray | None = None
    jitter: np.ndarray | None = None
    separation: float | None = None
    angle: float | None = None
    flux_ratio: float | None = None
    primary: tuple[float, float] | None = None
    meta: dict = field(default_factory=dict)


def moon_truth(size: int = 256) -> np.ndarray:
    """scikit-image's lunar photograph resampled to size x size and contrast-stretched, 0-1."""
    from skimage import data

    moon = data.moon().astype(np.float32)
    interpolation = cv2.INTER_AREA if size < moon.shape[0] else cv2.INTER_CUBIC
    moon = cv2.resize(moon, (size, size), interpolation=interpolation)
    low, high = np.percentile(moon, [0.5, 99.5])
    return np.clip(0.1 + 0.8 * (moon - low) / (high - low), 0, 1).astype(np.float32)


def planet_truth(
    size: int = 256, *, width: int | None = None, radius_fraction: float = 0.32, seed: int = 0
) -> np.ndarray:
    """A banded, limb-darkened planet disc with a few storms on black sky, float32 in 0-1.

    The frame is ``size`` px high and ``width`` px wide (default square); the disc's radius is
    ``radius_fraction`` of the smaller side.
    """
    rng = np.random.default_rng(seed)
    width = width or size
    yy, xx = np.mgrid[0:size, 0:width].astype(np.float32)
    centre_y, centre_x = (size - 1) / 2, (width - 1) / 2
    radius = radius_fraction * min(size, width)
    r = np.hypot(xx - centre_x, (yy - centre_y) * 1.07) / radius
    latitude = (yy - centre_y) / radius
    bands = 0.75 + 0.12 * np.sin(latitude * 9.0) + 0.06 * np.sin(latitude * 23.0 + 1.0)
    for _ in range(5):
        cy, cx = rng.uniform(-0.6, 0.6, 2) * radius + np.array([centre_y, centre_x])
        spot = np.exp(-(((xx - cx) / 6.0) ** 2 + ((yy - cy) / 3.5) ** 2))
        bands += rng.choice([-0.25, 0.2]) * spot
    limb = np.sqrt(np.clip(1 - r**2, 0, 1)) ** 0.5
    disc = np.clip(bands * limb, 0, None) * (r < 1)
    return cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 0.6)


def surface_video(
    truth: np.ndarray,
    *,
    frames: int = 100,
    seed: int = 1,
    peak: float = 200.0,
    read_noise: float = 3.0,
    gain: float = 1.0,
    blur_median: float = 1.4,
    blur_spread: float = 0.45,
    blur_min: float = 0.5,
    warp_amplitude: float = 1.0,
    warp_scale: float = 40.0,
    jitter: float = 4.0,
    bit_depth: int = 8,
    kind: str = "surface",
) -> LuckyVideo:
    """Degrade ``truth`` (0-1) frame by frame with turbulence and noise.

    Each frame gets a smooth random displacement field (std ``warp_amplitude`` px, correlation
    length ``warp_scale`` px), a global jitter (std ``jitter`` px), a Gaussian blur with sigma drawn
    log-normally around ``blur_median`` (at least ``blur_min``), Poisson noise at ``gain``
    electrons per count and Gaussian read noise; values are scaled so the truth peaks at ``peak``.
    """
    if truth.ndim != 2:
        raise SimulationError("surface_video needs a 2-D truth image.")
    if frames < 1:
        raise SimulationError(f"frames must be >= 1, not {frames}.")
    rng = np.random.default_rng(seed)
    height, width = truth.shape
    scene = (truth.astype(np.float32) * peak).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = (max(2, round(height / warp_scale) + 1), max(2, round(width / warp_scale) + 1))
    blur = np.maximum(blur_min, blur_median * np.exp(blur_spread * rng.standard_normal(frames)))
    shifts = rng.normal(0.0, jitter, size=(frames, 2))
    top = 255 if bit_depth <= 8 else 65535
    out = np.empty((frames, height, width), dtype=np.uint8 if bit_depth <= 8 else np.uint16)
    for index in range(frames):
        field_y, field_x = (
            cv2.resize(
                rng.standard_normal(grid).astype(np.float32),
                (width, height),
                interpolation=cv2.INTER_CUBIC,
            )
            for _ in range(2)
        )
        scale = warp_amplitude / max(float(np.std(field_x)), 1e-6)
        map_x = (xx + field_x * scale + shifts[index, 1]).astype(np.float32)
        map_y = (yy + field_y * scale + shifts[index, 0]).astype(np.float32)
        warped = cv2.remap(scene, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        blurred = cv2.GaussianBlur(warped, (0, 0), float(blur[index]))
        electrons = rng.poisson(np.clip(blurred, 0, None) * gain) / gain
        noisy = electrons + rng.normal(0.0, read_noise, blurred.shape)
        out[index] = np.clip(np.rint(noisy), 0, top)
    return LuckyVideo(
        frames=out, truth=scene, kind=kind, blur=blur, jitter=shifts,
        meta={"seed": seed, "peak": peak, "read_noise": read_noise, "warp": warp_amplitude},
    )  # fmt: skip


def _phase_screen(rng: np.random.Generator, size: int, r0: float) -> np.ndarray:
    """A Kolmogorov phase screen (radians) of ``size`` samples, Fried parameter ``r0`` samples."""
    freq = np.fft.fftfreq(size)
    fx, fy = np.meshgrid(freq, freq)
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    psd = 0.023 * r0 ** (-5.0 / 3.0) * f ** (-11.0 / 3.0)
    psd[0, 0] = 0.0
    noise = rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))
    return np.real(np.fft.ifft2(noise * np.sqrt(psd))) * size


def binary_star_video(
    *,
    frames: int = 200,
    size: int = 96,
    seed: int = 2,
    separation: float = 7.3,
    angle: float = 33.0,
    flux_ratio: float = 0.55,
    pupil: int = 40,
    grid: int = 128,
    d_over_r0: float = 5.0,
    flux: float = 1.0e6,
    sky: float = 40.0,
    read_noise: float = 4.0,
    jitter: float = 2.0,
    bit_depth: int = 16,
) -> LuckyVideo:
    """Speckle frames of a binary star (primary near the centre), with the truth separation.

    The pupil spans ``pupil`` samples of a ``grid``-sample FFT, so lambda/D is ``grid/pupil`` px.
    ``flux`` is the primary's total counts per frame; ``sky`` a constant background.
    """
    if separation <= 0 or size > grid:
        raise SimulationError("binary_star_video needs separation > 0 and size <= grid.")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:grid, 0:grid]
    centre = grid / 2
    aperture = np.hypot(yy - centre + 0.5, xx - centre + 0.5) <= pupil / 2
    theta = np.deg2rad(angle)
    offset = np.array([separation * np.sin(theta), separation * np.cos(theta)])
    primary = np.array([size / 2 - 0.37, size / 2 + 0.21]) - offset / 2
    ky = np.fft.fftfreq(grid)[:, None]
    kx = np.fft.fftfreq(grid)[None, :]
    top = 255 if bit_depth <= 8 else 65535
    out = np.empty((frames, size, size), dtype=np.uint8 if bit_depth <= 8 else np.uint16)
    screen_size = 2 * grid
    r0 = pupil / d_over_r0
    for index in range(frames):
        phase = _phase_screen(rng, screen_size, r0)
        oy, ox = rng.integers(0, screen_size - grid, 2)
        field_ = aperture * np.exp(1j * phase[oy : oy + grid, ox : ox + grid])
        psf = np.abs(np.fft.fftshift(np.fft.fft2(field_))) ** 2
        psf /= psf.sum()
        wander = rng.normal(0.0, jitter, 2)
        p1 = primary + wander
        p2 = p1 + offset
        spectrum = np.fft.fft2(np.fft.ifftshift(psf)) * (
            np.exp(-2j * np.pi * (ky * p1[0] + kx * p1[1]))
            + flux_ratio * np.exp(-2j * np.pi * (ky * p2[0] + kx * p2[1]))
        )
        image = np.clip(np.real(np.fft.ifft2(spectrum))[:size, :size], 0, None) * flux + sky
        noisy = rng.poisson(image) + rng.normal(0.0, read_noise, image.shape)
        out[index] = np.clip(np.rint(noisy), 0, top)
    return LuckyVideo(
        frames=out, truth=None, kind="binary", separation=float(separation), angle=float(angle),
        flux_ratio=float(flux_ratio), primary=(float(primary[0]), float(primary[1])),
        meta={"seed": seed, "lambda_over_d_px": grid / pupil, "d_over_r0": d_over_r0},
    )  # fmt: skip


def write_video_ser(video: LuckyVideo, path: Path) -> Path:
    """Write the frames of ``video`` as a mono SER file."""
    from september.lucky.ser import write_ser

    return write_ser(Path(path), video.frames)


def write_frames_folder(video: LuckyVideo, folder: Path, *, suffix: str = ".png") -> Path:
    """Write each frame as its own 8/16-bit PNG or TIFF (or FITS) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(video.frames):
        name = folder / f"frame_{index:05d}{suffix}"
        if suffix in (".fits", ".fit"):
            from astropy.io import fits

            fits.PrimaryHDU(frame).writeto(name, overwrite=True)
        else:
            cv2.imwrite(str(name), frame)
    return folder
