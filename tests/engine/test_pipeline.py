"""``stack_package`` and ``september stack`` on a simulated package, against the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from astropy.io import fits

from september.engine.pipeline import FINAL_NAME, stack_package
from september.engine.register import wcs_guess
from september.sim import read_truth, simulate
from tests.engine.simpackage import _wcs_header, package_from_sim

FRAMES = 10


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    simulate("crab", folder, scale="small", seed=1, nights=1, frames=FRAMES, filters=("L",))
    return package_from_sim(folder)


@pytest.fixture(scope="module")
def stacked(package, tmp_path_factory):
    out = tmp_path_factory.mktemp("stacked")
    stages: set[str] = set()
    report = stack_package(package, out, progress=lambda stage, d, t: stages.add(stage))
    return report, out, stages


def test_outputs_are_written_with_provenance(stacked):
    report, out, stages = stacked
    assert {"calibrate and register", "integrate L", "colour and enhance"} <= stages
    final = tifffile.imread(out / FINAL_NAME)
    assert final.dtype == np.uint16 and final.ndim == 3 and final.shape[2] == 3
    assert (out / "final_preview.jpg").stat().st_size > 10_000
    with fits.open(out / "master_L.fits") as hdus:
        assert hdus[0].header["BITPIX"] == -32  # 32-bit float
        assert hdus[0].header["NCOMBINE"] == report.frames["L"]
        assert hdus[0].header["REJECT"] == "winsorized"
        assert hdus["REJHIGH"].data.shape == hdus[0].data.shape
    kinds = set()
    for path in (out / "masters").glob("*.fits"):
        header = fits.getheader(path)
        assert header["BITPIX"] == -32
        kinds.add(header["IMAGETYP"])
        assert header["NCOMBINE"] >= 1 and header["CREATOR"].startswith("september")
    assert kinds == {"Master bias", "Master dark", "Master flat", "Master dark-flat"}


def test_registration_matches_the_true_pointing(stacked, package):
    report, _, _ = stacked
    truth = {f.path: f for f in read_truth(package).frames}
    reference = next(r for r in report.registration if r["method"] == "reference")
    ref = truth[reference["path"]]
    gx, gy = np.meshgrid(np.linspace(0, ref.width - 1, 12), np.linspace(0, ref.height - 1, 9))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    errors = []
    for entry in report.registration:
        if entry["method"] == "reference":
            continue
        frame = truth[entry["path"]]
        true = wcs_guess(_wcs_header(frame), _wcs_header(ref), (frame.height, frame.width))
        fitted = np.array(entry["matrix"])
        diff = (xy @ fitted[:, :2].T + fitted[:, 2]) - (xy @ true[:, :2].T + true[:, 2])
        errors.append(np.sqrt((diff**2).sum(axis=1).mean()))
    assert len(errors) == report.frames["L"] - 1
    assert max(errors) < 0.1


def test_satellite_trails_are_rejected(stacked, package):
    report, out, _ = stacked
    truth = read_truth(package)
    master = fits.getdata(out / "master_L.fits")
    rejected_high = fits.getdata(out / "master_L.fits", "REJHIGH")
    n = report.frames["L"]
    weights = np.array(report.integration["L"]["weights"])
    assert weights.max() == 1.0 and weights.min() > 0.2  # clear frames all count
    with fits.open(out / "master_L.fits") as hdus:
        assert len(hdus[0].header["HISTORY"]) == n
    satellites = [f for f in truth.frames if f.frame_type == "light" and f.trail_segments]
    assert satellites, "the simulated night should have a satellite"
    frame = satellites[0]
    height, width = master.shape
    yy, xx = np.mgrid[0:height, 0:width]
    near = np.zeros(master.shape, bool)
    for x0, y0, x1, y1 in frame.trail_segments:
        length = np.hypot(x1 - x0, y1 - y0)
        distance = np.abs((x1 - x0) * (y0 - yy) - (x0 - xx) * (y1 - y0)) / length
        near |= distance < 1.0
    assert near.sum() > 100
    assert rejected_high[near].mean() > 0.5  # the trail's pixels were rejected from its frame
