"""Reading frames: every supported format, and a clear reason for every kind of bad file."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from astropy.io import fits

from september.errors import BadFrameError
from september.image.frames import (
    expected_fits_size,
    fits_data_complete,
    is_frame_path,
    read_frame,
)

RNG = np.random.default_rng(3)
IMAGE = RNG.integers(200, 60000, size=(48, 64)).astype(np.uint16)
HEADER = {"IMAGETYP": "Light Frame", "EXPTIME": 60.0, "FILTER": "Ha", "XPIXSZ": 3.8}


def _write_fits(path: Path, data: np.ndarray = IMAGE, **cards: object) -> Path:
    hdu = fits.PrimaryHDU(data)
    for key, value in {**HEADER, **cards}.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def _reason(path: Path) -> str:
    with pytest.raises(BadFrameError) as caught:
        read_frame(path)
    assert str(path) in str(caught.value)  # the message names the file
    return caught.value.reason


def test_plain_fits_16_bit(tmp_path: Path) -> None:
    path = _write_fits(tmp_path / "a.fits")
    before = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    frame = read_frame(path)
    assert frame.data.dtype == np.float32 and frame.data.flags.c_contiguous
    assert np.array_equal(frame.data, IMAGE.astype(np.float32))
    assert frame.meta.frame_type == "light" and frame.meta.filter == "Ha"
    assert (frame.meta.width, frame.meta.height) == (64, 48)
    assert before == (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    assert fits_data_complete(path)
    assert expected_fits_size(path) == path.stat().st_size


@pytest.mark.parametrize("suffix", [".fit", ".fts", ".fits.gz", ".fit.gz"])
def test_other_fits_names_and_gzip(tmp_path: Path, suffix: str) -> None:
    plain = _write_fits(tmp_path / "plain.fits")
    path = tmp_path / f"frame{suffix}"
    raw = plain.read_bytes()
    path.write_bytes(gzip.compress(raw) if suffix.endswith(".gz") else raw)
    frame = read_frame(path)
    assert np.array_equal(frame.data, IMAGE.astype(np.float32))
    assert fits_data_complete(path)


def test_fpack_compressed(tmp_path: Path) -> None:
    path = tmp_path / "frame.fits.fz"
    header = fits.Header(HEADER)
    fits.HDUList(
        [fits.PrimaryHDU(), fits.CompImageHDU(IMAGE.astype(np.int32), header=header)]
    ).writeto(path)
    frame = read_frame(path)
    assert np.array_equal(frame.data, IMAGE.astype(np.float32))
    assert frame.meta.exposure == 60.0
    assert fits_data_complete(path)


def test_image_in_extension_with_empty_primary(tmp_path: Path) -> None:
    path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(IMAGE, header=fits.Header(HEADER))]).writeto(
        path
    )
    assert read_frame(path).meta.filter == "Ha"


def test_float_fits_with_a_few_nans_is_kept(tmp_path: Path) -> None:
    data = IMAGE.astype(np.float32)
    data[0, :5] = np.nan
    frame = read_frame(_write_fits(tmp_path / "f.fits", data))
    assert np.isnan(frame.data).sum() == 5


def test_tiff_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "frame.tif"
    tifffile.imwrite(path, IMAGE, software="SharpCap v4.1", metadata=None)
    frame = read_frame(path)
    assert np.array_equal(frame.data, IMAGE.astype(np.float32))
    assert frame.meta.capture_software == "SharpCap v4.1"
    assert frame.meta.extras["BITDEPTH"] == 16
    assert (frame.meta.width, frame.meta.height) == (64, 48)


def test_tiff_with_fits_header_in_description(tmp_path: Path) -> None:
    path = tmp_path / "frame.tiff"
    header = fits.Header({"SIMPLE": True, "EXPTIME": 5.0, "IMAGETYP": "Dark Frame"})
    tifffile.imwrite(path, IMAGE, description=header.tostring(sep="\n"), metadata=None)
    frame = read_frame(path)
    assert frame.meta.frame_type == "dark" and frame.meta.exposure == 5.0


def test_tiff_8_bit_and_colour(tmp_path: Path) -> None:
    mono8 = tmp_path / "mono8.tif"
    tifffile.imwrite(mono8, (IMAGE >> 8).astype(np.uint8))
    frame = read_frame(mono8)
    assert frame.meta.extras["BITDEPTH"] == 8 and frame.data.shape == (48, 64)
    colour = tmp_path / "rgb.tif"
    rgb = np.stack([IMAGE, IMAGE // 2, IMAGE // 4], axis=-1)
    tifffile.imwrite(colour, rgb, photometric="rgb")
    frame = read_frame(colour)
    assert frame.data.shape == (48, 64)
    expected = 0.2126 * IMAGE + 0.7152 * (IMAGE // 2) + 0.0722 * (IMAGE // 4)
    assert np.allclose(frame.data, expected, rtol=1e-5)
    assert frame.meta.extras["COLOUR"] == "RGB"


def test_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits"
    path.touch()
    assert _reason(path) == "empty"


def test_truncated_fits_and_half_copied_detection(tmp_path: Path) -> None:
    full = _write_fits(tmp_path / "full.fits").read_bytes()
    for cut in (len(full) // 2, 2880 + 100, 1000):  # in the data, just after header, in header
        path = tmp_path / f"cut{cut}.fits"
        path.write_bytes(full[:cut])
        assert _reason(path) == "truncated"
        assert not fits_data_complete(path)
    path = tmp_path / "cut.fits"
    path.write_bytes(full[: len(full) // 2])
    assert expected_fits_size(path) == len(full)


def test_truncated_gzip(tmp_path: Path) -> None:
    raw = gzip.compress(_write_fits(tmp_path / "full.fits").read_bytes())
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(raw[: len(raw) // 2])
    assert _reason(path) == "truncated"
    assert not fits_data_complete(path)


def test_truncated_tiff(tmp_path: Path) -> None:
    path = tmp_path / "full.tif"
    tifffile.imwrite(path, IMAGE)
    raw = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(raw[: len(raw) // 2])
    assert _reason(cut) == "truncated"


def test_not_fits(tmp_path: Path) -> None:
    path = tmp_path / "notes.fits"
    path.write_bytes(b"This is a text file with a .fits name\n" * 100)
    assert _reason(path) == "not-fits"
    garbage = tmp_path / "garbage.fit"
    garbage.write_bytes(RNG.integers(0, 256, 10000, dtype=np.uint8).tobytes())
    assert _reason(garbage) == "not-fits"
    gz = tmp_path / "fake.fits.gz"
    gz.write_bytes(b"not gzip at all" * 10)
    assert _reason(gz) == "not-fits"
    tif = tmp_path / "fake.tif"
    tif.write_bytes(b"II*\x00 this is no tiff" * 10)
    assert _reason(tif) == "not-an-image"


def test_table_only_fits_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="X", format="E", array=[1.0, 2.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    assert _reason(path) == "not-an-image"


def test_cube(tmp_path: Path) -> None:
    cube = np.stack([IMAGE, IMAGE, IMAGE])
    assert _reason(_write_fits(tmp_path / "cube.fits", cube)) == "cube"
    single = _write_fits(tmp_path / "single.fits", IMAGE[np.newaxis])  # 1-plane cube is fine
    assert read_frame(single).data.shape == (48, 64)
    tif = tmp_path / "stack.tif"
    tifffile.imwrite(tif, np.stack([IMAGE, IMAGE]))
    assert _reason(tif) == "cube"


def test_nan_filled(tmp_path: Path) -> None:
    data = np.full((48, 64), np.nan, dtype=np.float32)
    data[:10] = 1.0
    assert _reason(_write_fits(tmp_path / "nan.fits", data)) == "nan"


@pytest.mark.parametrize(
    "cards",
    [
        {"EXPTIME": -5.0},
        {"EXPTIME": 1e9},
        {"XBINNING": 0},
        {"CCD-TEMP": -300.0},
        {"FOCALLEN": -500.0},
    ],
)
def test_absurd_header_values(tmp_path: Path, cards: dict[str, float]) -> None:
    assert _reason(_write_fits(tmp_path / "absurd.fits", **cards)) == "absurd-header"


def test_zero_length_axis(tmp_path: Path) -> None:
    header = fits.Header({"SIMPLE": True, "BITPIX": 16, "NAXIS": 2, "NAXIS1": 0, "NAXIS2": 100})
    path = tmp_path / "zero.fits"
    path.write_bytes(header.tostring().encode("ascii"))
    assert _reason(path) == "absurd-header"


def test_bad_bitpix(tmp_path: Path) -> None:
    raw = bytearray(_write_fits(tmp_path / "ok.fits").read_bytes())
    start = raw.index(b"BITPIX  =")
    raw[start : start + 80] = f"{'BITPIX  =':<10}{7:>20}".ljust(80).encode("ascii")
    path = tmp_path / "bitpix.fits"
    path.write_bytes(bytes(raw))
    assert _reason(path) == "absurd-header"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("M1_Light_001.fits", True),
        ("a.FIT", True),
        ("a.fts", True),
        ("a.fits.fz", True),
        ("a.fz", True),
        ("a.fits.gz", True),
        ("a.tif", True),
        ("a.TIFF", True),
        ("a.fits.part", False),
        ("a.fits.tmp", False),
        ("a.fits~", False),
        (".a.fits", False),
        ("~a.fits", False),
        ("a.jpg", False),
        ("a.xisf", False),
        ("a.gz", False),
        (".syncthing.a.fits.tmp", False),
        ("a.fits.crdownload", False),
    ],
)
def test_is_frame_path(name: str, expected: bool) -> None:
    assert is_frame_path(Path("/share/night") / name) is expected
