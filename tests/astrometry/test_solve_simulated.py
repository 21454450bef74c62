"""The whole science path on simulated frames: read, measure stars, hint, solve, vs the truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from september.astrometry.solve import hints_from_meta, solve_stars
from september.image.frames import read_frame
from september.sim import SimulationResult, simulate
from september.sim.render import make_wcs
from september.stars.measure import measure_stars

pytestmark = [
    pytest.mark.solve,
    pytest.mark.skipif(shutil.which("solve-field") is None, reason="solve-field not installed"),
]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out: Path = tmp_path_factory.mktemp("solve-sim")
    return simulate("crab", out, scale="small", seed=3, nights=1, frames=6, filters=("L",),
                    calibration_frames=1)  # fmt: skip


def test_simulated_lights_solve_within_one_pixel(night: SimulationResult) -> None:
    lights = [f for f in night.lights if not (f.cloudy or f.trailed)]
    assert len(lights) >= 5
    errors, fwhm_errors = [], []
    for truth in lights:
        frame = read_frame(night.out_dir / truth.path)
        stars = measure_stars(frame.data)
        hints = hints_from_meta(frame.meta)
        assert hints is not None and hints.has_position and hints.has_scale
        solution = solve_stars(
            stars.stars["x"], stars.stars["y"], stars.stars["flux"],
            frame.meta.width, frame.meta.height, hints,
        )  # fmt: skip
        true_wcs = make_wcs(truth.ra, truth.dec, truth.rotation, truth.pixel_scale,
                            (truth.height, truth.width))  # fmt: skip
        x, y = true_wcs.all_world2pix([[solution.ra, solution.dec]], 0)[0]
        errors.append(np.hypot(x - (truth.width - 1) / 2, y - (truth.height - 1) / 2))
        assert abs((solution.rotation - truth.rotation + 180) % 360 - 180) < 0.2
        assert solution.pixel_scale == pytest.approx(truth.pixel_scale, rel=0.003)
        assert solution.parity == "normal"
        fwhm_errors.append(stars.fwhm / truth.seeing_fwhm_px - 1)
    # measured (seed 3): centre errors 0.04-0.06 px; FWHM +1.3 to +1.7 % vs the simulated seeing
    assert max(errors) < 1.0
    assert max(np.abs(fwhm_errors)) < 0.05
