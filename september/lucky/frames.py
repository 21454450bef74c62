"""One interface over SER files, OpenCV videos and image folders, with darks and flats applied.

Frames come out as float32 in the camera's units (0-255 or 0-65535), 2-D for mono data and
H x W x 3 (RGB) for colour data. SER files are memory-mapped; other videos are decoded once into a
temporary memory-mapped array, so a multi-gigabyte capture never has to fit in RAM.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from september.errors import BadFrameError
from september.lucky.ser import BGR, SerVideo

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FrameSource",
    "load_master",
    "luminance",
    "open_frames",
    "read_image",
]

IMAGE_SUFFIXES = (".fits", ".fit", ".fts", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".avi", ".mov", ".mp4", ".mkv", ".mpg", ".mpeg", ".wmv", ".m4v")


def read_image(path: Path) -> np.ndarray:
    """Read one FITS/TIFF/PNG image as float32 (2-D mono or H x W x 3 RGB)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".fits", ".fit", ".fts"):
            from astropy.io import fits

            data = None
            with fits.open(path, memmap=False) as hdus:
                for hdu in hdus:
                    if hdu.data is not None and hdu.data.ndim >= 2:
                        data = np.asarray(hdu.data, dtype=np.float32)
                        break
            if data is None:
                raise BadFrameError(f"{path} holds no image data.", reason="no-data")
            if data.ndim == 3 and data.shape[0] == 3:
                data = np.moveaxis(data, 0, -1)
            return np.ascontiguousarray(data)
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except (OSError, ValueError) as err:
        raise BadFrameError(f"cannot read {path}: {err}", reason="unreadable") from err
    if image is None:
        raise BadFrameError(
            f"cannot read {path}: not an image OpenCV understands.", reason="unreadable"
        )
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
    return image.astype(np.float32)


def luminance(frame: np.ndarray) -> np.ndarray:
    """A mono float32 view of ``frame`` (the mean of the channels for colour frames)."""
    if frame.ndim == 2:
        return frame if frame.dtype == np.float32 else frame.astype(np.float32)
    return frame.astype(np.float32).mean(axis=2, dtype=np.float32)


class FrameSource:
    """Random access to calibrated float32 frames of a video, SER file or image folder."""

    def __init__(
        self,
        path: Path,
        *,
        dark: np.ndarray | None = None,
        flat: np.ndarray | None = None,
        byte_order: str = "auto",
        debayer: bool = True,
    ) -> None:
        self.path = Path(path)
        self._ser: SerVideo | None = None
        self._files: list[Path] | None = None
        self._array: np.ndarray | None = None
        self._debayer = debayer
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        if not self.path.exists():
            raise BadFrameError(f"{self.path} does not exist.", reason="missing")
        if self.path.is_dir():
            self._files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._files:
                raise BadFrameError(
                    f"{self.path} holds no FITS/TIFF/PNG images; give a folder of frames, "
                    "a SER file or a video.",
                    reason="empty",
                )
        elif self.path.suffix.lower() == ".ser":
            self._ser = SerVideo(self.path, byte_order=byte_order)
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._files = [self.path]
        else:
            self._array = self._decode_video()
        first = self._raw(0)
        self.shape: tuple[int, ...] = first.shape
        self.is_colour = first.ndim == 3
        self.dark = _check_master(dark, first.shape, "dark")
        self.flat = _normalised_flat(_check_master(flat, first.shape, "flat"))

    def _decode_video(self) -> np.ndarray:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise BadFrameError(
                f"OpenCV cannot open {self.path} as a video; convert it to SER or AVI.",
                reason="unreadable",
            )
        self._tmpdir = tempfile.TemporaryDirectory(prefix="september-lucky-")
        store: np.ndarray | None = None
        count = 0
        expected = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if frame.ndim == 3:
                    if np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(
                        frame[..., 1], frame[..., 2]
                    ):
                        frame = frame[..., 0]
                    else:
                        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if store is None or count >= store.shape[0]:
                    store = self._grow(store, max(expected, 2 * count, 16), frame)
                store[count] = frame
                count += 1
        finally:
            capture.release()
        if store is None or count == 0:
            raise BadFrameError(f"{self.path} contains no readable frames.", reason="empty")
        return store[:count]

    def _grow(self, store: np.ndarray | None, size: int, frame: np.ndarray) -> np.ndarray:
        assert self._tmpdir is not None
        name = Path(self._tmpdir.name) / f"frames-{size}.npy"
        grown = np.lib.format.open_memmap(
            name, mode="w+", dtype=frame.dtype, shape=(size, *frame.shape)
        )
        if store is not None:
            grown[: store.shape[0]] = store
        return grown

    def __len__(self) -> int:
        if self._ser is not None:
            return len(self._ser)
        if self._files is not None:
            return len(self._files)
        assert self._array is not None
        return int(self._array.shape[0])

    def _raw(self, index: int) -> np.ndarray:
        if self._ser is not None:
            return self._ser.rgb(index) if self._debayer else self._ser[index]
        if self._files is not None:
            return read_image(self._files[index])
        assert self._array is not None
        return np.asarray(self._array[index])

    @property
    def full_scale(self) -> float:
        """The largest value a pixel can take (255 or 65535)."""
        if self._ser is not None:
            return 255.0 if self._ser.header.bytes_per_sample == 1 else 65535.0
        if self._array is not None:
            return 255.0 if self._array.dtype == np.uint8 else 65535.0
        peak = float(self._raw(0).max())
        return 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 with the dark subtracted and the flat divided out."""
        return self.calibrate(self._raw(index))

    @property
    def views_are_cheap(self) -> bool:
        """True when ``view`` costs nothing until pixels are used (SER files, decoded videos)."""
        return self._ser is not None or self._array is not None

    def view(self, index: int) -> np.ndarray:
        """Frame ``index`` uncalibrated, as stored; a view where possible.

        The array may be read-only, non-native byte order or reversed in its last axis, or, for
        Bayer SER files, a ``BayerFrame`` that demosaics the regions sliced out of it; pass it (or
        a slice) to ``calibrate`` to get float32 pixels.
        """
        if self._ser is not None:
            if not self._debayer:
                return self._ser.view(index)
            if self._ser.is_bayer:
                return self._ser.mosaic(index)
            frame = self._ser.view(index)
            return frame[..., ::-1] if self._ser.header.color_id == BGR else frame
        if self._array is not None:
            return self._array[index]
        return self._raw(index)

    def calibrate(
        self,
        raw: np.ndarray,
        rows: slice = slice(None),
        cols: slice = slice(None),
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``raw`` (a frame or its ``rows`` x ``cols`` region) as float32, dark/flat-corrected.

        Writes into ``out`` when given (it must have ``raw``'s shape).
        """
        if out is None:
            frame = np.array(raw, dtype=np.float32)
        else:
            frame = out
            np.copyto(frame, raw, casting="unsafe")
        if self.dark is not None:
            np.subtract(frame, self.dark[rows, cols], out=frame)
        if self.flat is not None:
            np.divide(frame, self.flat[rows, cols], out=frame)
        return frame

    def mono(self, index: int) -> np.ndarray:
        """Frame ``index`` as mono float32."""
        return luminance(self[index])


def open_frames(
    path: Path, *, dark: Path | None = None, flat: Path | None = None, **kwargs
) -> FrameSource:
    """Open a SER file, video or image folder, with optional dark and flat (file or folder)."""
    master_dark = load_master(dark) if dark else None
    master_flat = load_master(flat) if flat else None
    return FrameSource(path, dark=master_dark, flat=master_flat, **kwargs)


def load_master(path: Path) -> np.ndarray:
    """Average a dark or flat: a single image, a folder of images, or a SER/video of them."""
    source = FrameSource(Path(path))
    total = np.zeros(source.shape, dtype=np.float64)
    for index in range(len(source)):
        total += source[index]
    return (total / len(source)).astype(np.float32)


def _check_master(
    master: np.ndarray | None, shape: tuple[int, ...], kind: str
) -> np.ndarray | None:
    if master is None:
        return None
    if master.shape != shape:
        raise BadFrameError(
            f"the {kind} has shape {master.shape} but the frames have {shape}; "
            f"use a {kind} taken with the same camera settings.",
            reason="shape-mismatch",
        )
    return master


def _normalised_flat(flat: np.ndarray | None) -> np.ndarray | None:
    if flat is None:
        return None
    median = float(np.median(flat))
    if median <= 0:
        raise BadFrameError("the flat has a median <= 0; it cannot be used.", reason="bad-flat")
    normalised = flat / median
    return np.where(normalised > 0.05, normalised, 1.0).astype(np.float32)
