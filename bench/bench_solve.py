"""Plate solving a 16 MP frame: september's science path vs plain ``solve-field`` defaults.

Simulates full-scale (4656 x 3520, 1.45"/px) lights, then for each frame times, in one run:

- september: ``read_frame`` + ``measure_stars`` (sep + profile fits) + ``solve_stars`` (xylist,
  header hints, verification), i.e. everything ingest does with a light except the database;
- solve-field on the image with the same hints (``--scale-units arcsecperpix --scale-low
  --scale-high --ra --dec --radius`` as september derives them): what the xylist saves;
- solve-field with its defaults (``--no-plots --overwrite frame.fits``: its own source
  extraction, no hints), the way most people call it, bounded by ``--cpulimit`` (default 120 s)
  because unhinted it can search for many minutes on a loaded machine; when it gives up, its
  time is a lower bound.

Wall and CPU seconds (user + system, including child processes) are both reported: on a shared
machine the CPU time is the steadier figure.

Run: python bench/bench_solve.py [--frames 2] [--cpulimit 120]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from september.astrometry.solve import hints_from_meta, solve_stars
from september.image.frames import read_frame
from september.sim import simulate
from september.stars.measure import measure_stars


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _september(path: Path) -> tuple[float, float, float, float]:
    """Wall seconds for (read, measure, solve) and the CPU seconds of all three."""
    cpu = _cpu()
    start = time.perf_counter()
    frame = read_frame(path)
    read = time.perf_counter()
    stars = measure_stars(frame.data).stars[:300]
    measured = time.perf_counter()
    solve_stars(stars["x"], stars["y"], stars["flux"], frame.meta.width, frame.meta.height,
                hints_from_meta(frame.meta), cpulimit=60)  # fmt: skip
    return read - start, measured - read, time.perf_counter() - measured, _cpu() - cpu


def _hint_flags(path: Path) -> list[str]:
    hints = hints_from_meta(read_frame(path).meta)
    assert hints is not None and hints.has_position and hints.has_scale
    return [
        "--scale-units", "arcsecperpix", "--scale-low", f"{hints.scale_low}",
        "--scale-high", f"{hints.scale_high}", "--ra", f"{hints.ra}", "--dec", f"{hints.dec}",
        "--radius", f"{hints.radius}",
    ]  # fmt: skip


def _solve_field(path: Path, work: Path, flags: list[str]) -> tuple[float, float, bool]:
    """Wall and CPU seconds solve-field took on the image, and whether it solved."""
    work.mkdir()
    cpu = _cpu()
    start = time.perf_counter()
    subprocess.run(
        ["solve-field", "--no-plots", "--overwrite", "-D", str(work), *flags, str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    solved = (work / (path.stem + ".solved")).exists()
    return time.perf_counter() - start, _cpu() - cpu, solved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--cpulimit", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-solve-") as tmp:
        root = Path(tmp)
        result = simulate("crab", root / "sim", scale="full", seed=5, nights=1,
                          frames=args.frames, filters=("L",), calibration_frames=1)  # fmt: skip
        lights = [result.out_dir / f.path for f in result.lights if not f.cloudy][: args.frames]
        ours, hinted, default = [], [], []  # (wall, cpu) per frame
        for number, path in enumerate(lights):
            read, measure, solve, cpu = _september(path)
            ours.append((read + measure + solve, cpu))
            *times, solved = _solve_field(path, root / f"hinted{number}", _hint_flags(path))
            hinted.append(tuple(times))
            limit = ["--cpulimit", f"{args.cpulimit:.0f}"]
            *times, solved_default = _solve_field(path, root / f"default{number}", limit)
            default.append(tuple(times))
            print(
                f"{path.name}: september {ours[-1][0]:.2f} s wall / {cpu:.2f} s CPU (read "
                f"{read:.2f}, measure {measure:.2f}, solve {solve:.2f}); solve-field hinted "
                f"{hinted[-1][0]:.2f} s / {hinted[-1][1]:.2f} s CPU"
                f"{'' if solved else ' (unsolved)'}; defaults {default[-1][0]:.2f} s / "
                f"{default[-1][1]:.2f} s CPU{'' if solved_default else ' (gave up at cpulimit)'}",
                flush=True,
            )
        for kind, column in (("wall", 0), ("CPU", 1)):
            a, b, c = (
                statistics.median(t[column] for t in runs) for runs in (ours, hinted, default)
            )
            print(
                f"median {kind} per frame: september {a:.2f} s; solve-field hinted {b:.2f} s "
                f"(ratio {b / a:.1f}x); solve-field defaults {c:.2f} s (ratio {c / a:.1f}x)"
            )


if __name__ == "__main__":
    main()
