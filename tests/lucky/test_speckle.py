"""Speckle shift-and-add on a simulated binary star."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from september.cli import cli
from september.lucky.frames import open_frames
from september.lucky.ser import write_ser
from september.lucky.speckle import SpeckleOptions, measure_pair, speckle_stack
from september.sim.lucky_video import binary_star_video


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory):
    video = binary_star_video(frames=200, seed=2, d_over_r0=6.0)
    return video, write_ser(tmp_path_factory.mktemp("speckle") / "binary.ser", video.frames)


def test_separation_within_0_2_px(binary) -> None:
    video, path = binary
    result = speckle_stack(open_frames(path), SpeckleOptions(select_percent=5))
    pair = measure_pair(result.image)
    error = abs(pair.separation - video.separation)
    # measured: 7.17 px against 7.30 px truth (error 0.13 px; all frames 7.30 px)
    assert error < 0.2, f"separation {pair.separation:.3f} px vs truth {video.separation} px"
    assert abs(pair.angle - video.angle) < 2.0, pair.angle
    assert len(result.log["selected_frames"]) == 10


def test_lucky_selection_is_sharper_than_all_frames(binary) -> None:
    _, path = binary
    lucky = speckle_stack(open_frames(path), SpeckleOptions(select_percent=5)).image
    everything = speckle_stack(open_frames(path), SpeckleOptions(select_percent=100)).image
    ratio = float(lucky.max() / everything.max())
    assert ratio > 1.1, f"peak of best 5 % / peak of all frames = {ratio:.2f}"
    assert abs(lucky.sum() / everything.sum() - 1) < 0.1


def test_defocused_series_reuses_the_selection(binary, tmp_path: Path) -> None:
    _, path = binary
    runner = CliRunner()
    focus = runner.invoke(
        cli, ["lucky", "speckle", str(path), "--out", str(tmp_path / "f.fits"), "--measure-pair"]
    )
    assert focus.exit_code == 0, focus.output
    assert "separation" in focus.output
    chosen = json.loads((tmp_path / "f.json").read_text())["selected_frames"]
    defocus = runner.invoke(
        cli,
        ["lucky", "speckle", str(path), "--out", str(tmp_path / "d.fits"), "--track", "centroid",
         "--reuse-selection", str(tmp_path / "f.json"), "--roi", "10,10,76,76"],
    )  # fmt: skip
    assert defocus.exit_code == 0, defocus.output
    log = json.loads((tmp_path / "d.json").read_text())
    assert log["selected_frames"] == chosen and log["selection_reused"]
