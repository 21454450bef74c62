"""solve-field on september's own star lists: real Gaia stars through a known WCS."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from september.astrometry.solve import (
    Solution,
    SolveHints,
    hints_from_meta,
    solution_from_wcs,
    solve_stars,
)
from september.errors import SolveError, ToolMissingError
from september.image.headers import FrameMeta
from september.stars.measure import measure_stars
from tests.astrometry.skyfield import render_field, tan_wcs

pytestmark = [
    pytest.mark.solve,
    pytest.mark.skipif(shutil.which("solve-field") is None, reason="solve-field not installed"),
]

W, H = 1024, 768
SCALE = 7.0  # arcsec/px: a 2.0 x 1.5 deg field, inside the tycho2 10-19 index range
INDEX_DIR = Path("/usr/share/astrometry")
FIELDS = {
    # name: (ra, dec, rotation, flipped)
    "crab": (83.63, 22.01, 30.0, False),
    "ra-wrap-flipped": (359.8, -5.0, 200.0, True),
    "near-pole": (30.0, 85.0, 100.0, False),
}


@pytest.fixture(scope="module")
def fields() -> dict[str, tuple[Solution, np.ndarray]]:
    """Truth and measured stars (STAR_DTYPE) of each synthetic field."""
    out = {}
    for number, (name, (ra, dec, rotation, flipped)) in enumerate(FIELDS.items()):
        wcs = tan_wcs(ra, dec, SCALE, rotation, W, H, flipped=flipped)
        image = render_field(wcs, W, H, np.random.default_rng(number))
        out[name] = (solution_from_wcs(wcs, W, H), measure_stars(image).stars)
    return out


def _hints(truth: Solution, offset: float = 0.5) -> SolveHints:
    return SolveHints(
        ra=(truth.ra + offset) % 360, dec=truth.dec - offset / 2, radius=3.0,
        scale_low=SCALE * 0.9, scale_high=SCALE * 1.1,
    )  # fmt: skip


def _centre_error_px(solution: Solution, truth: Solution) -> float:
    a = SkyCoord(solution.ra, solution.dec, unit="deg")
    b = SkyCoord(truth.ra, truth.dec, unit="deg")
    return float(a.separation(b).arcsec / SCALE)


@pytest.mark.parametrize("name", list(FIELDS))
def test_hinted_solve_matches_truth(fields: dict, name: str) -> None:
    truth, stars = fields[name]
    solution = solve_stars(stars["x"], stars["y"], stars["flux"], W, H, _hints(truth))
    # measured: centre errors 0.03-0.09 px, rotation within 0.04 deg, scale within 0.03 %,
    # corners within 0.4 px (12 to 47 stars, 11 to 26 matched)
    assert _centre_error_px(solution, truth) < 1.0
    assert solution.pixel_scale == pytest.approx(SCALE, rel=0.005)
    assert abs((solution.rotation - truth.rotation + 180) % 360 - 180) < 0.3
    assert solution.parity == truth.parity
    assert solution.width_deg == pytest.approx(truth.width_deg, rel=0.005)
    assert solution.height_deg == pytest.approx(truth.height_deg, rel=0.005)
    assert solution.radius == pytest.approx(truth.radius, rel=0.005)
    assert not solution.blind and solution.matched >= 8 and solution.rms_px < 1.0
    # every corner within 1 px of the truth, through the solved WCS
    wcs = solution.wcs()
    x, y = wcs.all_world2pix(*np.array(truth.corners).T, 0)
    assert (
        np.max(np.hypot(x - [-0.5, W - 0.5, W - 0.5, -0.5], y - [-0.5, -0.5, H - 0.5, H - 0.5]))
        < 1.0
    )
    assert solution.to_dict()["corners"][0] == list(solution.corners[0])


def test_wrong_header_position_falls_back_to_blind(fields: dict) -> None:
    truth, stars = fields["crab"]
    wrong = replace(_hints(truth), ra=250.0, dec=-40.0, radius=2.0)
    solution = solve_stars(stars["x"], stars["y"], stars["flux"], W, H, wrong)
    assert solution.blind
    assert _centre_error_px(solution, truth) < 1.0


def test_without_any_hints(fields: dict) -> None:
    truth, stars = fields["near-pole"]
    solution = solve_stars(stars["x"], stars["y"], stars["flux"], W, H, None, cpulimit=60)
    assert _centre_error_px(solution, truth) < 1.0


def test_index_dir_and_its_errors(fields: dict, tmp_path: Path) -> None:
    truth, stars = fields["crab"]
    solution = solve_stars(
        stars["x"], stars["y"], stars["flux"], W, H, _hints(truth), index_dir=INDEX_DIR
    )
    assert _centre_error_px(solution, truth) < 1.0
    with pytest.raises(SolveError) as caught:
        solve_stars(stars["x"], stars["y"], stars["flux"], W, H, _hints(truth), index_dir=tmp_path)
    assert caught.value.reason == "no-index"


def test_unsolvable_star_lists() -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(SolveError) as caught:
        solve_stars(rng.uniform(0, W, 5), rng.uniform(0, H, 5), np.ones(5), W, H, None)
    assert caught.value.reason == "too-few-stars"
    hints = SolveHints(ra=83.6, dec=22.0, radius=2.0, scale_low=6.3, scale_high=7.7)
    x, y, flux = rng.uniform(0, W, 60), rng.uniform(0, H, 60), rng.uniform(1, 100, 60)
    with pytest.raises(SolveError) as caught:
        solve_stars(x, y, flux, W, H, hints, cpulimit=3, blind_fallback=False)
    assert caught.value.reason in {"unsolved", "unverified"}


def test_missing_solve_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"astrometry\.net"):
        solve_stars(np.arange(10.0), np.arange(10.0), np.ones(10), W, H, None)


def test_hints_from_meta() -> None:
    meta = FrameMeta(pixel_size=3.8, focal_length=540.0, ra=83.6, dec=22.0, width=4656, height=3520)
    hints = hints_from_meta(meta)
    scale = 206.265 * 3.8 / 540.0  # 1.4515 "/px
    assert hints.scale_low == pytest.approx(scale * 0.9)
    assert hints.scale_high == pytest.approx(scale * 1.1)
    assert (hints.ra, hints.dec) == (83.6, 22.0)
    assert hints.radius >= 2.0
    binned = hints_from_meta(replace(meta, xbinning=2, ybinning=2))
    assert binned.scale_low == pytest.approx(scale * 0.9)  # pixel size may be written unbinned
    assert binned.scale_high == pytest.approx(2 * scale * 1.1)  # ... or binned
    no_position = hints_from_meta(replace(meta, ra=None, dec=None))
    assert not no_position.has_position and no_position.has_scale
    assert hints_from_meta(FrameMeta()) is None
    position_only = hints_from_meta(FrameMeta(ra=10.0, dec=20.0))
    assert position_only.has_position and not position_only.has_scale
