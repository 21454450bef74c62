"""The simulator writes real FITS files in the capture software's layout, with ground truth."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from september.sim import SimulationResult, read_truth, simulate


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_files_and_truth_agree(crab_small: SimulationResult) -> None:
    truth = read_truth(crab_small.out_dir)
    assert len(truth.lights) == 12
    kinds = {f.frame_type for f in truth.frames}
    assert kinds == {"light", "bias", "dark", "flat", "dark-flat"}
    for frame in truth.frames:
        assert (crab_small.out_dir / frame.path).is_file(), frame.path
    light = truth.lights[0]
    assert light.path.startswith("M1/Light/L/M1_Light_L_120_secs_")
    assert light.path.endswith("_0001.fits")
    with fits.open(crab_small.out_dir / light.path) as hdul:
        header = hdul[0].header
        assert header["BITPIX"] == 16 and header["BZERO"] == 32768
        data = hdul[0].data
    assert data.dtype == np.uint16 and data.shape == (440, 582)
    assert header["FRAME"] == "Light" and header["FILTER"] == "L"
    assert header["EXPTIME"] == 120.0 and header["OBJECT"] == light.object_header
    assert abs(header["RA"] - light.header_ra) < 1e-5


def test_each_light_names_its_calibration(crab_small: SimulationResult) -> None:
    truth = read_truth(crab_small.out_dir)
    by_path = truth.by_path()
    for light in truth.lights:
        for kind in ("bias", "dark", "flat", "dark-flat"):
            paths = light.calibration[kind]
            assert paths, kind
            assert all(by_path[p].frame_type == kind for p in paths)
        assert all(by_path[p].exposure == light.exposure for p in light.calibration["dark"])
        assert all(by_path[p].filter == light.filter for p in light.calibration["flat"])


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = simulate("crab", tmp_path / "a", scale="small", seed=3, nights=1, frames=3, filters=("L",))
    b = simulate("crab", tmp_path / "b", scale="small", seed=3, nights=1, frames=3, filters=("L",))
    assert _hashes(a.out_dir) == _hashes(b.out_dir)
    # another process with another hash seed writes the same bytes
    script = (
        "import sys; from september.sim import simulate; "
        "simulate('crab', sys.argv[1], scale='small', seed=3, nights=1, frames=3, filters=('L',))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "d")], check=True, env=env)
    assert _hashes(tmp_path / "d") == _hashes(a.out_dir)
    c = simulate("crab", tmp_path / "c", scale="small", seed=4, nights=1, frames=3, filters=("L",))
    first = a.lights[0].path
    assert (a.out_dir / first).read_bytes() != (c.out_dir / c.lights[0].path).read_bytes()
