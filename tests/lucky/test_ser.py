"""The SER reader on every layout capture programs write, and its error on a truncated file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from september.errors import BadFrameError
from september.lucky.frames import open_frames
from september.lucky.ser import HEADER_SIZE, SerVideo, write_ser


def _frames(shape: tuple[int, ...], dtype: type, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    return rng.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("byte_order", ["little", "big"])
@pytest.mark.parametrize("stamps", [False, True])
def test_mono_frames_round_trip(tmp_path: Path, dtype: type, byte_order: str, stamps: bool) -> None:
    frames = _frames((5, 12, 17), dtype)
    times = np.arange(5, dtype=np.int64) * 10_000_000 + 638_000_000_000_000_000 if stamps else None
    path = write_ser(tmp_path / "v.ser", frames, timestamps=times, byte_order=byte_order)
    video = SerVideo(path)
    assert len(video) == 5 and video.header.width == 17 and video.header.height == 12
    assert video.header.bit_depth == (8 if dtype == np.uint8 else 16)
    for index in range(5):
        assert np.array_equal(video[index], frames[index])
        assert video[index].dtype.byteorder in ("=", "|")
    if stamps:
        assert np.array_equal(video.timestamps, times)
    else:
        assert video.timestamps is None


def test_explicit_byte_order_overrides_the_header(tmp_path: Path) -> None:
    frames = _frames((2, 4, 4), np.uint16)
    path = write_ser(tmp_path / "v.ser", frames, byte_order="big")
    assert np.array_equal(SerVideo(path, byte_order="big")[1], frames[1])
    swapped = SerVideo(path, byte_order="little")[1]
    assert np.array_equal(swapped, frames[1].byteswap())


@pytest.mark.parametrize(
    ("color_id", "dtype"), [(100, np.uint8), (100, np.uint16), (101, np.uint8)]
)
def test_rgb_and_bgr_frames(tmp_path: Path, color_id: int, dtype: type) -> None:
    frames = _frames((3, 8, 10, 3), dtype)
    video = SerVideo(write_ser(tmp_path / "c.ser", frames, color_id=color_id))
    assert video[2].shape == (8, 10, 3)
    expected = frames[2] if color_id == 100 else frames[2][..., ::-1]
    assert np.array_equal(video.rgb(2), expected)


@pytest.mark.parametrize(
    ("color_id", "pattern"), [(8, "RGGB"), (9, "GRBG"), (10, "GBRG"), (11, "BGGR")]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_bayer_frames_debayer_to_the_right_colours(
    tmp_path: Path, color_id: int, pattern: str, dtype: type
) -> None:
    colour = {"R": 200, "G": 120, "B": 40}
    tile = np.array(
        [[colour[pattern[0]], colour[pattern[1]]], [colour[pattern[2]], colour[pattern[3]]]]
    )
    mosaic = np.tile(tile, (8, 8)).astype(dtype)
    video = SerVideo(write_ser(tmp_path / "b.ser", np.stack([mosaic, mosaic]), color_id=color_id))
    assert np.array_equal(video[0], mosaic)
    rgb = video.rgb(1)[4:-4, 4:-4].reshape(-1, 3).mean(axis=0)
    assert np.allclose(rgb, [200, 120, 40], atol=1), f"{pattern} debayered to {rgb}"
    source = open_frames(tmp_path / "b.ser")
    assert source.is_colour and source[0].shape == (16, 16, 3)


def test_truncated_ser_names_the_problem(tmp_path: Path) -> None:
    path = write_ser(tmp_path / "t.ser", _frames((4, 10, 10), np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[: HEADER_SIZE + 2 * 100 * 2 + 50])
    with pytest.raises(BadFrameError, match=r"truncated.*4 frames.*2 complete frames") as info:
        SerVideo(path)
    assert info.value.reason == "truncated"
    path.write_bytes(data[:100])
    with pytest.raises(BadFrameError, match="shorter than a SER header"):
        SerVideo(path)


def test_foreign_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.ser"
    path.write_bytes(b"\0" * 400)
    with pytest.raises(BadFrameError, match="not a SER video"):
        SerVideo(path)


def test_truncated_ser_is_a_clean_cli_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from september.cli import cli

    path = write_ser(tmp_path / "t.ser", _frames((6, 32, 32), np.uint8))
    path.write_bytes(path.read_bytes()[: HEADER_SIZE + 32 * 32 * 3 + 7])
    result = CliRunner().invoke(
        cli, ["lucky", "stack", str(path), "--out", str(tmp_path / "o.tif")]
    )
    assert result.exit_code == 2
    assert "truncated" in result.output and "3 complete frames" in result.output
