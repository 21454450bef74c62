"""A file becomes ingestible only when it is complete: stable, and as long as its header says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from september.daemon.watch import StabilityTracker, filesystem_type


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fits_bytes(shape: tuple[int, int] = (64, 80)) -> bytes:
    data = np.random.default_rng(1).integers(0, 60000, size=shape).astype(np.uint16)
    hdu = fits.PrimaryHDU(data)
    hdu.header["IMAGETYP"] = "LIGHT"
    from io import BytesIO

    buffer = BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def test_half_copied_fits_waits_until_complete(tmp_path: Path) -> None:
    clock = FakeClock()
    tracker = StabilityTracker(settle=2.0, clock=clock)
    content = _fits_bytes()
    path = tmp_path / "M1_Light_L_120_secs_0001.fits"
    path.write_bytes(content[: len(content) // 2])
    tracker.touch(path)
    assert tracker.release(10) == []  # first sight: the wait starts
    clock.now += 5
    assert tracker.release(10) == []  # stable but shorter than its header promises
    path.write_bytes(content)  # the copy finishes
    clock.now += 1
    assert tracker.release(10) == []  # it changed: wait again
    clock.now += 2.5
    assert tracker.release(10) == [path]
    assert len(tracker) == 0


def test_temporary_and_hidden_names_are_never_candidates(tmp_path: Path) -> None:
    tracker = StabilityTracker(settle=0.0)
    for name in ["frame.fits.part", "frame.fits.tmp", "frame.fits~", ".frame.fits", "notes.txt"]:
        (tmp_path / name).write_bytes(_fits_bytes())
        tracker.touch(tmp_path / name)
    assert len(tracker) == 0


def test_vanished_candidate_is_dropped(tmp_path: Path) -> None:
    tracker = StabilityTracker(settle=0.0)
    path = tmp_path / "a.fits"
    path.write_bytes(_fits_bytes())
    tracker.touch(path)
    path.unlink()
    assert tracker.release(10) == []
    assert len(tracker) == 0


def test_release_respects_the_limit(tmp_path: Path) -> None:
    clock = FakeClock()
    tracker = StabilityTracker(settle=1.0, clock=clock)
    for index in range(5):
        path = tmp_path / f"f{index}.fits"
        path.write_bytes(_fits_bytes((8, 8)))
        tracker.touch(path)
    tracker.release(100)
    clock.now += 2
    assert len(tracker.release(3)) == 3
    assert len(tracker.release(3)) == 2


def test_filesystem_type_picks_the_longest_mount_point(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        "nas:/volume1/astro /mnt/astro nfs4 rw 0 0\n"
        "//nas/photos /mnt/photos cifs rw 0 0\n"
    )
    assert filesystem_type("/mnt/astro/M1/Light", mounts=str(mounts)) == "nfs4"
    assert filesystem_type("/mnt/photos", mounts=str(mounts)) == "cifs"
    assert filesystem_type("/mnt/astronomy", mounts=str(mounts)) == "ext4"
