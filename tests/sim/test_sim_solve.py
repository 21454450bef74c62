"""Simulated lights plate-solve with astrometry.net (tycho2 index files) to the true WCS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sep
from astropy.io import fits
from astropy.wcs import WCS

from september.sim import simulate
from september.sim.render import make_wcs
from september.sim.truth import FrameTruth

INDEX_DIR = Path("/usr/share/astrometry")
pytestmark = [
    pytest.mark.solve,
    pytest.mark.skipif(shutil.which("solve-field") is None, reason="solve-field not installed"),
]


def detect(path: Path, limit: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brightest detections (sep, windowed centroids, 1-based FITS pixels) of a frame."""
    data = fits.getdata(path).astype(np.float32)
    bkg = sep.Background(data)
    image = data - bkg
    objects = sep.extract(image, 8.0, err=bkg.globalrms, minarea=4)
    objects = objects[np.argsort(objects["flux"])[::-1][:limit]]
    x, y, _ = sep.winpos(image, objects["x"], objects["y"], np.full(len(objects), 1.5))
    return x + 1.0, y + 1.0, objects["flux"]


def solve_error_px(root: Path, frame: FrameTruth, work: Path) -> tuple[float, float]:
    """Solve a frame's detections with solve-field; the pixel distance between where the true
    and the solved WCS put the frame's centre, and the largest such distance at the corners
    (inf when unsolved). Corners carry the index catalogue's noise: few (~10) sparse tycho2
    stars fix the solution, each good to ~0.3"."""
    assert frame.pixel_scale is not None and frame.ra is not None and frame.dec is not None
    x, y, flux = detect(root / frame.path)
    xyls = work / (Path(frame.path).name.removesuffix(".fits") + ".xyls")
    columns = [
        fits.Column(name=n, format="D", array=a) for n, a in (("X", x), ("Y", y), ("FLUX", flux))
    ]
    fits.BinTableHDU.from_columns(columns).writeto(xyls, overwrite=True)
    cmd = [
        "solve-field", "--no-plots", "--overwrite", "--width", str(frame.width),
        "--height", str(frame.height), "--x-column", "X", "--y-column", "Y",
        "--sort-column", "FLUX", "--crpix-center", "--tweak-order", "1",
        "--scale-units", "arcsecperpix", "--scale-low", f"{frame.pixel_scale * 0.95}",
        "--scale-high", f"{frame.pixel_scale * 1.05}", "--ra", f"{frame.header_ra}",
        "--dec", f"{frame.header_dec}", "--radius", "8", "--cpulimit", "30", "-D", str(work),
        "--new-fits", "none", "--index-xyls", "none", "--rdls", "none", "--corr", "none",
        "--match", "none", "--solved", "none", str(xyls),
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    wcs_file = xyls.with_suffix(".wcs")
    if not wcs_file.exists():
        return float("inf"), float("inf")
    solved = WCS(fits.getheader(wcs_file))
    true = make_wcs(frame.ra, frame.dec, frame.rotation or 0.0, frame.pixel_scale,
                    (frame.height, frame.width))  # fmt: skip
    w, h = frame.width, frame.height
    px = np.array([[(w - 1) / 2, (h - 1) / 2], [0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]])
    back = solved.all_world2pix(true.all_pix2world(px, 0), 0)
    distance = np.hypot(*(back - px).T)
    return float(distance[0]), float(np.max(distance[1:]))


def _clear(frames: list[FrameTruth]) -> list[FrameTruth]:
    return [f for f in frames if f.frame_type == "light" and not f.cloudy and not f.trailed]


@pytest.mark.slow
def test_small_frames_solve_within_one_pixel(tmp_path: Path) -> None:
    result = simulate("crab", tmp_path / "sim", scale="small", seed=11, nights=1, frames=40,
                      filters=("L", "R", "G", "B"), calibration_frames=1)  # fmt: skip
    lights = _clear(result.lights)
    assert len(lights) >= 35
    centre, corner = np.array([solve_error_px(result.out_dir, f, tmp_path) for f in lights]).T
    good = np.mean(centre <= 1.0)
    print(f"small: {good:.1%} of {len(lights)} centres within 1 px; median {np.median(centre):.3f}"
          f" px, worst corner {corner.max():.2f} px")  # fmt: skip
    assert good >= 0.99
    assert np.median(corner) < 0.5


@pytest.mark.slow
def test_full_frames_solve_within_one_pixel(tmp_path: Path) -> None:
    result = simulate("crab", tmp_path / "sim", scale="full", seed=12, nights=1, frames=6,
                      filters=("L", "R"), calibration_frames=1)  # fmt: skip
    lights = _clear(result.lights)
    centre, corner = np.array([solve_error_px(result.out_dir, f, tmp_path) for f in lights]).T
    good = np.mean(centre <= 1.0)
    print(f"full: {good:.1%} of {len(lights)} centres within 1 px; median {np.median(centre):.3f}"
          f" px, worst corner {corner.max():.2f} px")  # fmt: skip
    assert good >= 0.99
    assert np.median(corner) < 2.0
