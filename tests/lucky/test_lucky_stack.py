"""Surface stacking against simulated turbulence with a known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from september.cli import cli
from september.lucky.fidelity import fidelity
from september.lucky.frames import open_frames, read_image
from september.lucky.stack import StackOptions, stack_frames
from september.sim.lucky_video import (
    moon_truth,
    surface_video,
    write_frames_folder,
    write_video_ser,
)


@pytest.fixture(scope="module")
def moon(tmp_path_factory: pytest.TempPathFactory):
    video = surface_video(moon_truth(256), frames=100, seed=1)
    folder = tmp_path_factory.mktemp("lucky")
    return video, write_video_ser(video, folder / "moon.ser")


def test_stack_beats_best_frame_by_6_db_and_the_plain_average(moon) -> None:
    video, path = moon
    result = stack_frames(open_frames(path), StackOptions(stack_percent=10))
    stacked = fidelity(result.image, video.truth).psnr
    best = max(
        fidelity(video.frames[i].astype(np.float32), video.truth).psnr
        for i in np.argsort(video.blur)[:3]
    )
    average = fidelity(video.frames.mean(axis=0), video.truth).psnr
    message = f"stack {stacked:.2f} dB, best frame {best:.2f} dB, average {average:.2f} dB"
    # measured: stack 33.4 dB, best frame 25.5 dB, average of all frames 28.4 dB
    assert stacked >= best + 6.0, message
    assert stacked > average + 2.0, message
    assert result.log["alignment_points"] >= 16
    assert result.log["shift_failures"] <= 0.05 * result.log["shifts_measured"]


def test_ranking_finds_the_sharpest_frames(moon) -> None:
    video, path = moon
    result = stack_frames(open_frames(path), StackOptions(stack_percent=10))
    chosen = video.blur[result.log["best_frames"]]
    # the ten frames ranked best have seeing blur within the sharpest 20 % of the video
    assert np.all(chosen <= np.percentile(video.blur, 20)), chosen


def test_threads_give_the_same_result_as_one(moon) -> None:
    # sums are added in frame order, whichever thread finishes first
    _, path = moon
    one = stack_frames(open_frames(path), StackOptions(workers=1)).image
    runs = [stack_frames(open_frames(path), StackOptions(workers=2)).image for _ in range(3)]
    for image in runs:
        assert np.array_equal(image, runs[0])
    assert np.abs(runs[0] - one).max() <= 1e-3 * float(one.max())


def test_drizzle_and_sharpening_keep_fidelity(moon) -> None:
    video, path = moon
    plain = fidelity(stack_frames(open_frames(path)).image, video.truth).psnr
    drizzled = stack_frames(open_frames(path), StackOptions(drizzle=1.5, sharpen=((1.0, 0.5),)))
    assert drizzled.image.shape[0] > 1.45 * 230
    value = fidelity(drizzled.image, video.truth, scale=1.5).psnr
    assert value > plain - 1.5, f"drizzle 1.5x + sharpen {value:.2f} dB vs plain {plain:.2f} dB"


def test_image_folder_dark_and_flat(tmp_path: Path) -> None:
    video = surface_video(
        moon_truth(128), frames=40, seed=5, bit_depth=16, peak=20000, read_noise=20
    )
    rng = np.random.default_rng(0)
    dark = rng.normal(300, 5, video.frames.shape[1:]).astype(np.float32)
    yy, xx = np.mgrid[0:128, 0:128]
    flat = (1 - 0.3 * ((yy - 64) ** 2 + (xx - 64) ** 2) / 64**2).astype(np.float32)
    video.frames = np.clip(video.frames * flat + dark, 0, 65535).astype(np.uint16)
    write_frames_folder(video, tmp_path / "frames", suffix=".tif")
    import cv2

    cv2.imwrite(str(tmp_path / "dark.tif"), np.rint(dark).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "flat.tif"), np.rint(flat * 30000).astype(np.uint16))
    runner = CliRunner()
    out = tmp_path / "out.tif"
    result = runner.invoke(
        cli,
        ["lucky", "stack", str(tmp_path / "frames"), "--out", str(out), "--dark",
         str(tmp_path / "dark.tif"), "--flat", str(tmp_path / "flat.tif"), "-a", "32", "-s", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    image = read_image(out)
    assert image.shape[0] > 100
    value = fidelity(image, video.truth, margin=16).psnr
    assert value > 28.0, f"calibrated folder stack {value:.2f} dB"
    assert (tmp_path / "out.json").exists()
