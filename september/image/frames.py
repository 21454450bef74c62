"""Reading a frame file (FITS, compressed FITS, 16-bit TIFF) into a float image and its header.

Every way a file can be unusable becomes a :class:`~september.errors.BadFrameError` with a short
``reason`` code, so an ingest run can record it and go on. Files are only ever opened read-only.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from astropy.io import fits

from september.errors import BadFrameError
from september.image.headers import FrameMeta, normalise_header

__all__ = [
    "FRAME_SUFFIXES",
    "TEMPORARY_SUFFIXES",
    "Frame",
    "expected_fits_size",
    "fits_data_complete",
    "is_frame_path",
    "read_frame",
]

FITS_SUFFIXES = (".fit", ".fits", ".fts")
TIFF_SUFFIXES = (".tif", ".tiff")
FRAME_SUFFIXES: tuple[str, ...] = (
    *FITS_SUFFIXES,
    *(suffix + ".fz" for suffix in FITS_SUFFIXES),
    ".fz",
    *(suffix + ".gz" for suffix in FITS_SUFFIXES),
    *TIFF_SUFFIXES,
)
TEMPORARY_SUFFIXES = (".part", ".tmp", ".temp", ".partial", ".crdownload", ".filepart", "~")

BLOCK = 2880  # bytes in a FITS block
CARD = 80  # bytes in a FITS header card
MAX_NAN_FRACTION = 0.5  # above this a frame is called NaN-filled
MAX_EXPOSURE = 86400.0  # seconds: longer exposures are header nonsense
BINNING_RANGE = (1, 16)
TEMPERATURE_RANGE = (-150.0, 100.0)  # degC


@dataclass(frozen=True)
class Frame:
    """A frame's pixels (float32, 2-D, C-contiguous), its raw header and the normalised meta."""

    data: np.ndarray
    header: fits.Header
    meta: FrameMeta
    path: Path | None = None


def is_frame_path(path: str | os.PathLike[str]) -> bool:
    """True for names september reads; False for temporary, hidden and foreign files."""
    name = Path(path).name.lower()
    if not name or name.startswith((".", "~")) or name.endswith(TEMPORARY_SUFFIXES):
        return False
    return name.endswith(FRAME_SUFFIXES)


def read_frame(path: str | os.PathLike[str]) -> Frame:
    """Read a FITS or TIFF frame; raise :class:`BadFrameError` (with a reason) if unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise BadFrameError(f"{path}: cannot read the file ({err}).", "unreadable") from err
    if size == 0:
        raise BadFrameError(f"{path}: the file is empty (0 bytes).", "empty")
    name = path.name.lower()
    if name.endswith(TIFF_SUFFIXES):
        return _read_tiff(path)
    data, header = _read_fits(path, _gunzip(path) if name.endswith(".gz") else None)
    return _finish(path, data, header)


def expected_fits_size(path: str | os.PathLike[str]) -> int | None:
    """Bytes the (uncompressed) FITS file should have according to its headers.

    Reads only the headers (for ``.gz`` the stream is decompressed). Returns ``None`` when the
    file does not start like FITS or its first header is incomplete.
    """
    try:
        spans = _fits_layout(*_open_for_layout(Path(path)))
    except (BadFrameError, OSError):
        return None
    return spans[-1][2] if spans else None


def fits_data_complete(path: str | os.PathLike[str]) -> bool:
    """True when every header is complete and the file holds all the data they announce.

    Meant for a watch daemon: a file still being copied is incomplete. Padding after the last
    data byte is not required (some writers omit it).
    """
    path = Path(path)
    try:
        handle, size = _open_for_layout(path)
        spans = _fits_layout(handle, size)
    except (BadFrameError, OSError, EOFError):
        return False
    return bool(spans) and size >= spans[-1][1]


# --- FITS ----------------------------------------------------------------------------------


def _gunzip(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return gzip.decompress(handle.read())
    except EOFError as err:
        raise BadFrameError(
            f"{path}: the gzip stream ends early; copy it again.", "truncated"
        ) from err
    except (gzip.BadGzipFile, zlib.error) as err:
        raise BadFrameError(f"{path}: not a valid gzip file ({err}).", "not-fits") from err


def _open_for_layout(path: Path) -> tuple[BinaryIO, int]:
    if path.name.lower().endswith(".gz"):
        raw = _gunzip(path)
        return io.BytesIO(raw), len(raw)
    return path.open("rb"), path.stat().st_size


def _fits_layout(handle: BinaryIO, size: int) -> list[tuple[int, int, int]]:
    """(data start, data end, padded end) of each HDU, from the headers alone."""
    spans: list[tuple[int, int, int]] = []
    with handle:
        offset = 0
        while offset < size:
            handle.seek(offset)
            first = handle.read(CARD)
            expected = b"SIMPLE  =" if offset == 0 else b"XTENSION="
            if not first.startswith(expected):
                if offset == 0:
                    raise BadFrameError("the file does not start with a FITS header.", "not-fits")
                break  # trailing bytes after the last HDU are tolerated
            handle.seek(offset)
            cards, header_bytes = _read_header_cards(handle)
            data_start = offset + header_bytes
            data_bytes = _data_bytes(cards)
            padded = data_start + math.ceil(data_bytes / BLOCK) * BLOCK
            spans.append((data_start, data_start + data_bytes, padded))
            offset = padded
    return spans


def _read_header_cards(handle: BinaryIO) -> tuple[dict[str, str], int]:
    cards: dict[str, str] = {}
    read = 0
    while True:
        block = handle.read(BLOCK)
        read += len(block)
        if len(block) < BLOCK:
            raise BadFrameError("the FITS header ends before its END card.", "truncated")
        try:
            text = block.decode("ascii")
        except UnicodeDecodeError as err:
            raise BadFrameError("the FITS header holds non-ASCII bytes.", "not-fits") from err
        for start in range(0, BLOCK, CARD):
            card = text[start : start + CARD]
            keyword = card[:8].strip()
            if keyword == "END":
                return cards, read
            if card[8:10] == "= " and keyword not in cards:
                cards[keyword] = card[10:].split("/")[0].strip()


def _data_bytes(cards: dict[str, str]) -> int:
    try:
        bitpix = int(cards.get("BITPIX", "0"))
        naxis = int(cards.get("NAXIS", "0"))
        axes = [int(cards.get(f"NAXIS{i}", "0")) for i in range(1, naxis + 1)]
        pcount = int(cards.get("PCOUNT", "0"))
        gcount = int(cards.get("GCOUNT", "1"))
    except ValueError as err:
        raise BadFrameError(f"unreadable size keywords ({err}).", "absurd-header") from err
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise BadFrameError(f"BITPIX = {bitpix} is not a FITS value.", "absurd-header")
    if naxis < 0 or any(axis < 0 for axis in axes) or pcount < 0 or gcount < 0:
        raise BadFrameError("negative NAXIS/PCOUNT/GCOUNT in the header.", "absurd-header")
    if naxis == 0:
        return 0
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(axes))


def _read_fits(path: Path, raw: bytes | None) -> tuple[np.ndarray, fits.Header]:
    """Check the layout against the file size, then read the first image HDU with data."""
    if raw is None:
        handle, size = _open_for_layout(path)
    else:
        handle, size = io.BytesIO(raw), len(raw)
    try:
        spans = _fits_layout(handle, size)
    except BadFrameError as err:
        raise BadFrameError(f"{path}: {err}", err.reason) from err
    if size < spans[-1][1]:
        raise BadFrameError(
            f"{path}: truncated: {size} bytes, the header announces {spans[-1][1]}; "
            "the copy was probably interrupted, copy it again.",
            "truncated",
        )
    source: str | BinaryIO = str(path) if raw is None else io.BytesIO(raw)
    try:
        with fits.open(source, mode="readonly", memmap=False) as hdus:
            hdu = _image_hdu(path, hdus)
            header = hdu.header.copy()
            data = np.array(hdu.data, dtype=np.float32, order="C")
    except BadFrameError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError) as err:
        raise BadFrameError(f"{path}: unreadable FITS ({err}).", "unreadable") from err
    return data, header


def _image_hdu(path: Path, hdus: fits.HDUList) -> fits.hdu.base.ExtensionHDU:
    zero_axis = False
    for hdu in hdus:
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            continue
        naxis = int(hdu.header.get("NAXIS", 0))
        axes = [int(hdu.header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
        if naxis and 0 in axes:
            zero_axis = True
            continue
        if hdu.data is not None:
            return hdu
    if zero_axis:
        raise BadFrameError(f"{path}: the header gives an image axis of length 0.", "absurd-header")
    raise BadFrameError(f"{path}: FITS file without image data.", "not-an-image")


# --- TIFF ----------------------------------------------------------------------------------


def _read_tiff(path: Path) -> Frame:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            page = tif.pages[0]
            _check_tiff_size(path, tif)
            axes, data = series.axes, series.asarray()
            header = _tiff_header(page)
    except BadFrameError:
        raise
    except (tifffile.TiffFileError, ValueError, IndexError, KeyError) as err:
        raise BadFrameError(f"{path}: not a readable TIFF image ({err}).", "not-an-image") from err
    except OSError as err:
        raise BadFrameError(f"{path}: unreadable TIFF ({err}).", "unreadable") from err
    header["BITDEPTH"] = int(np.dtype(data.dtype).itemsize * 8)
    data = _tiff_to_mono(path, axes, data, header)
    return _finish(path, np.ascontiguousarray(data, dtype=np.float32), header)


def _check_tiff_size(path: Path, tif: object) -> None:
    size = path.stat().st_size
    for page in tif.pages:  # type: ignore[attr-defined]
        ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if ends and max(ends) > size:
            raise BadFrameError(
                f"{path}: truncated TIFF: {size} bytes, its strips end at {max(ends)}.",
                "truncated",
            )


def _tiff_header(page: object) -> fits.Header:
    """A FITS header from the TIFF tags: the embedded FITS cards if any, else camera tags."""
    tags = {tag.name: tag.value for tag in page.tags.values()}  # type: ignore[attr-defined]
    header = fits.Header()
    description = str(tags.get("ImageDescription") or "")
    if "=" in description and ("SIMPLE" in description or "EXPTIME" in description):
        try:
            sep = "\n" if "\n" in description else ""
            header = fits.Header.fromstring(description, sep=sep)
        except (ValueError, TypeError):
            header = fits.Header()
    for tag, keyword in (("Software", "SWCREATE"), ("Model", "INSTRUME"), ("Make", "CAMMAKER")):
        if tags.get(tag) and keyword not in header:
            header[keyword] = str(tags[tag]).strip()[:68]
    if tags.get("DateTime"):  # local camera time without a zone: kept, not trusted as UTC
        header["TIFFDATE"] = str(tags["DateTime"]).strip()[:68]
    return header


def _tiff_to_mono(path: Path, axes: str, data: np.ndarray, header: fits.Header) -> np.ndarray:
    if "S" in axes and data.shape[axes.index("S")] in (3, 4):
        channels = np.moveaxis(data, axes.index("S"), 0)[:3].astype(np.float32)
        header["COLOUR"] = ("RGB", "colour TIFF converted to luminance")
        data = 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
        axes = axes.replace("S", "")
    data = np.squeeze(data)
    if data.ndim != 2:
        raise BadFrameError(f"{path}: TIFF with {data.ndim} dimensions {data.shape}.", "cube")
    return data


# --- checks --------------------------------------------------------------------------------


def _finish(path: Path, data: np.ndarray, header: fits.Header) -> Frame:
    if data.ndim > 2:
        data = np.squeeze(data)
    if data.ndim != 2:
        raise BadFrameError(
            f"{path}: a {data.ndim}-D image {data.shape}; september reads single 2-D frames.",
            "cube",
        )
    if min(data.shape) < 2:
        raise BadFrameError(f"{path}: image of shape {data.shape} is too small.", "absurd-header")
    finite = np.isfinite(data)
    bad_fraction = 1.0 - np.count_nonzero(finite) / data.size
    if bad_fraction > MAX_NAN_FRACTION:
        raise BadFrameError(f"{path}: {bad_fraction:.0%} of the pixels are NaN/inf.", "nan")
    meta = replace(normalise_header(header), height=data.shape[0], width=data.shape[1])
    problem = _absurd(meta)
    if problem:
        raise BadFrameError(f"{path}: {problem}", "absurd-header")
    return Frame(data=data, header=header, meta=meta, path=path)


def _absurd(meta: FrameMeta) -> str | None:
    """A description of the first implausible header value, or None."""
    if meta.exposure is not None and not 0 <= meta.exposure <= MAX_EXPOSURE:
        return f"exposure of {meta.exposure} s is impossible."
    low, high = BINNING_RANGE
    if not (low <= meta.xbinning <= high and low <= meta.ybinning <= high):
        return f"binning {meta.xbinning}x{meta.ybinning} is outside {low}..{high}."
    for name in ("ccd_temp", "set_temp"):
        value = getattr(meta, name)
        if value is not None and not TEMPERATURE_RANGE[0] <= value <= TEMPERATURE_RANGE[1]:
            return f"{name} of {value} degC is impossible."
    for name in ("focal_length", "pixel_size"):
        value = getattr(meta, name)
        if value is not None and value < 0:
            return f"{name} of {value} is negative."
    return None
