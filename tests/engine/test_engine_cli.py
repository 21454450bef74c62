"""``september stack`` and ``september enhance`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from september.cli import cli
from tests.engine.synthetic import render, star_catalogue


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    config = tmp_path / "none.toml"
    config.write_text("")
    monkeypatch.delenv("DISPLAY", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env={"SEPTEMBER_CONFIG": str(config)})

    return invoke


@pytest.fixture
def autosave(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    shape = (200, 260)
    stars = star_catalogue(rng, shape, count=60)
    grey = render(stars, shape, sky=800.0, noise=8.0, rng=rng)
    path = tmp_path / "Autosave.tif"
    tifffile.imwrite(path, np.clip(grey, 0, 65535).astype(np.uint16))
    return path


def test_enhance_writes_the_final_tiff(run, autosave, tmp_path):
    out = tmp_path / "final.tif"
    result = run("enhance", str(autosave), "--out", str(out), "--star-boost", "1.5", "--preview")
    assert result.exit_code == 0, result.output
    image = tifffile.imread(out)
    assert image.dtype == np.uint16 and image.shape == (200, 260, 3)
    assert out.with_suffix(".jpg").exists()


def test_enhance_refuses_8_bit_with_a_clear_error(run, autosave, tmp_path):
    eight = tmp_path / "eight.tif"
    tifffile.imwrite(eight, (tifffile.imread(autosave) // 257).astype(np.uint8))
    result = run("enhance", str(eight))
    assert result.exit_code == 2
    assert "8-bit" in result.output and "Error:" in result.output


def test_pick_without_a_display_is_a_clear_error(run):
    result = run("enhance", "--pick")
    assert result.exit_code == 2
    assert "display" in result.output


def test_stack_command(run, tmp_path):
    from september.sim import simulate
    from tests.engine.simpackage import package_from_sim

    simulate("crab", tmp_path / "sim", scale="small", seed=2, nights=1, frames=4, filters=("L",))
    package = package_from_sim(tmp_path / "sim")
    result = run("stack", str(package), "--out", str(tmp_path / "out"), "--memory", "64")
    assert result.exit_code == 0, result.output
    assert "L: 4 lights, percentile rejection" in result.output
    assert (tmp_path / "out" / "final_star_enhanced_rgb16.tif").exists()
