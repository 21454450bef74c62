"""Where each frame goes inside a package, with names that can never leave the package.

Folder and file names come from header text (OBJECT, FILTER, the capture program's file name),
which may hold anything: ``../../etc``, slashes, NULs, shell characters. Every component is
reduced to a safe character set, and the final path is checked to lie inside the package.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from september.errors import SeptemberError

MAX_COMPONENT = 80  # characters
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")

CALIBRATION_FOLDERS = {
    "bias": "calibration/bias",
    "dark": "calibration/darks",
    "flat": "calibration/flats",
    "dark-flat": "calibration/dark-flats",
}


class UnsafePathError(SeptemberError):
    """A computed package path would lie outside the package folder."""


def safe_component(text: str | None, fallback: str = "unknown") -> str:
    """One path component made of ``[A-Za-z0-9._+-]``, never empty, ``.``, ``..`` or hidden."""
    if not text:
        return fallback
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_text).strip("._-")
    cleaned = cleaned[:MAX_COMPONENT].rstrip("._-")
    return cleaned or fallback


def frame_relpath(
    frame_type: str, filter_name: str | None, file_name: str, sha256: str
) -> PurePosixPath:
    """The package path of a frame: ``lights/<filter>/...`` or ``calibration/<kind>/...``.

    The file name keeps its original (sanitised) name; a short hash prefix keeps two different
    files with the same name apart.
    """
    name = f"{sha256[:8]}_{safe_component(file_name, 'frame.fits')}"
    if frame_type == "light":
        return PurePosixPath("lights", safe_component(filter_name, "nofilter"), name)
    folder = PurePosixPath(CALIBRATION_FOLDERS[frame_type])
    if frame_type == "flat":
        folder = folder / safe_component(filter_name, "nofilter")
    return folder / name


def inside(package: Path, relpath: PurePosixPath) -> Path:
    """``package / relpath``, refusing anything that would land outside ``package``.

    The final component is not resolved (it may be a symlink to a raw frame, by design); its
    folder is, so a symlinked folder planted inside the package cannot redirect a write.
    """
    root = package.resolve()
    target = Path(os.path.normpath(root / relpath))
    if not target.is_relative_to(root) or target == root:
        raise UnsafePathError(f"refusing to write {relpath!s}: it would land outside {root}")
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.resolve().is_relative_to(root):
        raise UnsafePathError(f"refusing to write {relpath!s}: {folder} leads outside {root}")
    return target
