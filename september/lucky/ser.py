"""SER video files (the planetary-imaging standard), read through a memory map so size is no limit.

Layout: a 178-byte header, then ``frame_count`` frames of ``height x width x planes`` pixels of 8
or 16 bits, then optionally one little-endian int64 timestamp per frame (100 ns ticks since
0001-01-01). The header's ``LittleEndian`` flag is used inverted by nearly every capture program
(FireCapture, SharpCap, Siril, PIPP): 0 means little-endian pixel data. We follow that de facto
convention and let callers override it with ``byte_order``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from september.errors import BadFrameError

__all__ = ["BAYER_IDS", "BayerFrame", "SerHeader", "SerVideo", "read_ser_header", "write_ser"]

HEADER_SIZE = 178
"""Bytes in a SER header."""

FILE_ID = b"LUCAM-RECORDER"

MONO = 0
RGB = 100
BGR = 101
BAYER_IDS = {8: "RGGB", 9: "GRBG", 10: "GBRG", 11: "BGGR"}
"""SER colour ids of the Bayer patterns september can demosaic, with the top-left 2x2 order."""

_HEADER = struct.Struct("<14s7i40s40s40sqq")

# OpenCV names a Bayer code after the 2x2 block starting at the second row/column, so RGGB data
# uses COLOR_BayerBG2RGB (a long-standing OpenCV naming quirk).
_DEBAYER = {
    8: cv2.COLOR_BayerBG2RGB,
    9: cv2.COLOR_BayerGB2RGB,
    10: cv2.COLOR_BayerGR2RGB,
    11: cv2.COLOR_BayerRG2RGB,
}


@dataclass(frozen=True)
class SerHeader:
    """The fields of a SER header that matter for reading pixels."""

    color_id: int
    width: int
    height: int
    bit_depth: int
    frame_count: int
    little_endian_flag: int = 0
    observer: str = ""
    instrument: str = ""
    telescope: str = ""
    date_time: int = 0
    date_time_utc: int = 0
    lu_id: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def planes(self) -> int:
        """Colour planes stored per pixel (3 for RGB/BGR, else 1)."""
        return 3 if self.color_id in (RGB, BGR) else 1

    @property
    def bytes_per_sample(self) -> int:
        """1 for 8-bit data, 2 for 9-16 bit data."""
        return 1 if self.bit_depth <= 8 else 2

    @property
    def frame_bytes(self) -> int:
        """Bytes in one frame."""
        return self.width * self.height * self.planes * self.bytes_per_sample

    @property
    def is_colour(self) -> bool:
        """True for Bayer and RGB/BGR files."""
        return self.color_id != MONO


def read_ser_header(path: Path) -> SerHeader:
    """Parse the 178-byte header of ``path``; raise ``BadFrameError`` if it is not a SER file."""
    path = Path(path)
    with path.open("rb") as handle:
        raw = handle.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE:
        raise BadFrameError(
            f"{path} is {len(raw)} bytes, shorter than a SER header ({HEADER_SIZE} bytes): "
            "the file is truncated or not a SER video.",
            reason="truncated",
        )
    (file_id, lu_id, color_id, le_flag, width, height, depth, count, observer, instrument,
     telescope, date_time, date_time_utc) = _HEADER.unpack(raw)  # fmt: skip
    if not file_id.startswith(b"LUCAM"):
        raise BadFrameError(
            f"{path} does not start with 'LUCAM-RECORDER', so it is not a SER video.",
            reason="not-ser",
        )
    if width <= 0 or height <= 0 or not 1 <= depth <= 16 or count < 0:
        raise BadFrameError(
            f"{path} has an absurd SER header (width {width}, height {height}, depth {depth}, "
            f"frames {count}); the file is damaged.",
            reason="bad-header",
        )
    if color_id not in (MONO, RGB, BGR, *BAYER_IDS):
        raise BadFrameError(
            f"{path} uses SER colour id {color_id}, which september cannot decode "
            "(supported: 0 mono, 8-11 Bayer RGGB/GRBG/GBRG/BGGR, 100 RGB, 101 BGR).",
            reason="unsupported",
        )

    def text(value: bytes) -> str:
        return value.split(b"\0", 1)[0].decode("latin-1").strip()

    return SerHeader(
        color_id=color_id,
        width=width,
        height=height,
        bit_depth=depth,
        frame_count=count,
        little_endian_flag=le_flag,
        observer=text(observer),
        instrument=text(instrument),
        telescope=text(telescope),
        date_time=date_time,
        date_time_utc=date_time_utc,
        lu_id=lu_id,
    )


class SerVideo:
    """Frames of a SER file, memory-mapped; ``video[i]`` is the raw frame as stored.

    ``byte_order`` is ``"auto"`` (the de facto convention: header flag 0 = little-endian),
    ``"little"`` or ``"big"``.
    """

    def __init__(self, path: Path, *, byte_order: str = "auto") -> None:
        self.path = Path(path)
        self.header = header = read_ser_header(self.path)
        size = self.path.stat().st_size
        needed = HEADER_SIZE + header.frame_bytes * header.frame_count
        if size < needed:
            complete = max(0, (size - HEADER_SIZE) // header.frame_bytes)
            raise BadFrameError(
                f"{self.path} is truncated: its header promises {header.frame_count} frames of "
                f"{header.width}x{header.height} ({needed} bytes) but the file has {size} bytes "
                f"({complete} complete frames). Re-copy the video, or cut it with a SER tool.",
                reason="truncated",
            )
        if byte_order == "auto":
            big = header.bytes_per_sample == 2 and header.little_endian_flag != 0
        elif byte_order in ("little", "big"):
            big = byte_order == "big"
        else:
            raise ValueError(f"byte_order must be auto, little or big, not {byte_order!r}")
        dtype = (
            np.dtype(np.uint8)
            if header.bytes_per_sample == 1
            else np.dtype(">u2" if big else "<u2")
        )
        shape: tuple[int, ...] = (header.frame_count, header.height, header.width)
        if header.planes == 3:
            shape = (*shape, 3)
        # A plain ndarray over the memory map: indexing it is far cheaper than indexing np.memmap.
        self._frames = np.memmap(
            self.path, dtype=dtype, mode="r", offset=HEADER_SIZE, shape=shape
        ).view(np.ndarray)
        self.timestamps = self._read_timestamps(size, needed)

    def _read_timestamps(self, size: int, data_end: int) -> np.ndarray | None:
        count = self.header.frame_count
        if count == 0 or size < data_end + 8 * count:
            return None
        stamps = np.fromfile(self.path, dtype="<i8", count=count, offset=data_end)
        return stamps if np.any(stamps) else None

    def __len__(self) -> int:
        return self.header.frame_count

    def __getitem__(self, index: int) -> np.ndarray:
        """The raw frame ``index`` in native byte order (uint8 or uint16, 2-D or HxWx3)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        frame = np.asarray(self._frames[index])
        return (
            frame.astype(frame.dtype.newbyteorder("="), copy=True)
            if frame.dtype.byteorder == ">"
            else frame.copy()
        )

    def view(self, index: int) -> np.ndarray:
        """The raw frame ``index`` as a read-only view of the memory map (stored byte order)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        return self._frames[index]

    @property
    def is_bayer(self) -> bool:
        """True for Bayer files, whose frames must be demosaiced before use."""
        return self.header.color_id in _DEBAYER

    def mosaic(self, index: int) -> BayerFrame:
        """Frame ``index`` of a Bayer file, demosaiced only where it is sliced (see BayerFrame)."""
        return BayerFrame(self.view(index), _DEBAYER[self.header.color_id])

    def rgb(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB (demosaiced for Bayer files), or 2-D for mono files."""
        frame = self[index]
        color = self.header.color_id
        if color in _DEBAYER:
            return cv2.cvtColor(frame, _DEBAYER[color])
        if color == BGR:
            return frame[..., ::-1].copy()
        return frame


class BayerFrame:
    """A Bayer frame that is demosaiced region by region, as it is sliced: ``frame[rows, cols]``.

    A slice is demosaiced from its part of the mosaic plus two pixels on each side (kept at even
    offsets, so the colour pattern is unchanged), which gives the same pixels as demosaicing the
    whole frame at a small fraction of the cost when only patches of a large frame are used.
    ``np.asarray(frame)`` demosaics it all.
    """

    def __init__(self, mosaic: np.ndarray, code: int) -> None:
        self.mosaic = mosaic
        self.code = code
        self.dtype = mosaic.dtype.newbyteorder("=")
        self.shape = (*mosaic.shape, 3)
        self.ndim = 3
        self.nbytes = 3 * mosaic.nbytes

    def _demosaic(self, mosaic: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.ascontiguousarray(mosaic, dtype=self.dtype), self.code)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        height, width = self.mosaic.shape
        r0, r1, _ = rows.indices(height)
        c0, c1, _ = cols.indices(width)
        y0, x0 = max(0, (r0 - 2) & ~1), max(0, (c0 - 2) & ~1)
        y1, x1 = min(height, r1 + 2), min(width, c1 + 2)
        rgb = self._demosaic(self.mosaic[y0:y1, x0:x1])
        return rgb[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rgb = self._demosaic(self.mosaic)
        return rgb if dtype is None else rgb.astype(dtype)


def write_ser(
    path: Path,
    frames: np.ndarray,
    *,
    color_id: int = MONO,
    bit_depth: int | None = None,
    timestamps: np.ndarray | None = None,
    byte_order: str = "little",
    observer: str = "",
    instrument: str = "september simulator",
    telescope: str = "",
) -> Path:
    """Write ``frames`` (N x H x W, or N x H x W x 3 for RGB/BGR; uint8 or uint16) as a SER file.

    ``byte_order`` sets the 16-bit pixel order; the header flag follows the de facto convention
    (0 for little-endian). ``timestamps`` (int64 ticks of 100 ns) are appended when given.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"SER frames must be uint8 or uint16, not {frames.dtype}")
    planes = 3 if color_id in (RGB, BGR) else 1
    if (planes == 3) != (frames.ndim == 4):
        raise ValueError(
            f"colour id {color_id} needs frames of shape {'NxHxWx3' if planes == 3 else 'NxHxW'}"
        )
    depth = bit_depth or (8 if frames.dtype == np.uint8 else 16)
    count, height, width = frames.shape[:3]
    header = _HEADER.pack(
        FILE_ID, 0, color_id, 0 if byte_order == "little" else 1, width, height, depth, count,
        observer.encode()[:40], instrument.encode()[:40], telescope.encode()[:40], 0, 0,
    )  # fmt: skip
    data = (
        frames
        if frames.dtype == np.uint8
        else frames.astype(">u2" if byte_order == "big" else "<u2")
    )
    with path.open("wb") as handle:
        handle.write(header)
        handle.write(np.ascontiguousarray(data).tobytes())
        if timestamps is not None:
            handle.write(np.asarray(timestamps, dtype="<i8").tobytes())
    return path
