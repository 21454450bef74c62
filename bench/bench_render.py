"""Simulator rendering speed: per-frame time of a crab light at small and full scale.

There is no peer tool to compare with, so this reports seconds per frame (wall and CPU),
frames per second, and the full/small ratio (16 MP is 64x the pixels of a small frame).

Run: python bench/bench_render.py [--small N] [--full N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bench(scale: str, n: int) -> dict[str, float]:
    from september.sim.expose import light_pixels, write_frame
    from september.sim.headers import frame_path
    from september.sim.night import plan_night
    from september.sim.rig import make_rig
    from september.sim.scenarios import get_scenario, plan_lights

    rig = make_rig(scale)
    night = plan_night(rig, "2026-12-12", 0, np.random.default_rng(1))
    shots = plan_lights(get_scenario("crab"), rig, night, n + 1, ("L",), 1)
    light_pixels(shots[0], rig)  # warm the star cache and the flat-field response
    wall = cpu = write = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, shot in enumerate(shots[1:], start=1):
            t0, c0 = time.perf_counter(), time.process_time()
            data = light_pixels(shot, rig)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            shot.truth.path = frame_path(shot.truth, i, "M1")
            t1 = time.perf_counter()
            write_frame(Path(tmp), shot.truth, rig, data, compress=False)
            write += time.perf_counter() - t1
    h, w = rig.shape
    return {"pixels": h * w, "wall": wall / n, "cpu": cpu / n, "write": write / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=40, help="small frames to render")
    parser.add_argument("--full", type=int, default=5, help="full frames to render")
    args = parser.parse_args()
    results = {"small": bench("small", args.small), "full": bench("full", args.full)}
    for scale, r in results.items():
        print(
            f"{scale:5s} {r['pixels'] / 1e6:6.2f} MP: render {r['wall']:.3f} s/frame wall "
            f"({1 / r['wall']:.1f} frames/s), {r['cpu']:.3f} s CPU; write {r['write']:.3f} s"
        )
    ratio = results["full"]["cpu"] / results["small"]["cpu"]
    print(f"ratio full/small (CPU per frame): {ratio:.1f} (pixels: 64x)")


if __name__ == "__main__":
    main()
