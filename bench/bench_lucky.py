"""september lucky stack vs PlanetarySystemStacker 0.9.8 on the same simulated videos.

Both programs stack the same SER files (10 % of the frames per alignment point, 48 px boxes) as
command-line runs; we report each result's fidelity to the simulator's truth (PSNR after
registration and a linear fit) and the wall time, and print the ratios.

PlanetarySystemStacker is GPLv3 and lives in its own virtual environment outside the repository:
``$PSS_VENV`` (default /opt/pss-venv). If it is missing this script creates it with
``python -m venv`` + ``pip install planetary-system-stacker==0.9.8.2`` (PyPI's build of 0.9.8) +
``pip install numpy==1.26.4`` (its numpy<1.23 pin breaks scikit-image); if that fails, PSS is
skipped with a message and september runs alone.

Run: python bench/bench_lucky.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from september.lucky.fidelity import fidelity
from september.sim.lucky_video import moon_truth, planet_truth, surface_video, write_video_ser

OUTPUT = Path(__file__).resolve().parent / "output" / "lucky"
PSS_VENV = Path(os.environ.get("PSS_VENV", "/opt/pss-venv"))
PSS_BIN = PSS_VENV / "bin" / "PlanetarySystemStacker"

CASES = [
    # name, truth factory, frames, extra simulator options, PSS stabilisation mode
    ("moon-512", lambda: moon_truth(512), 200, {}, "Surface"),
    ("moon-256", lambda: moon_truth(256), 100, {}, "Surface"),
    ("planet-384", lambda: planet_truth(384), 200, {"jitter": 6.0}, "Planet"),
]


def ensure_pss() -> Path | None:
    """The PlanetarySystemStacker executable, installing it into its venv if needed."""
    if PSS_BIN.exists():
        return PSS_BIN
    print(f"installing PlanetarySystemStacker 0.9.8 into {PSS_VENV} ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(PSS_VENV)],
        [str(PSS_VENV / "bin" / "pip"), "install", "-q", "planetary-system-stacker==0.9.8.2"],
        [str(PSS_VENV / "bin" / "pip"), "install", "-q", "numpy==1.26.4"],
    ]
    for step in steps:
        if subprocess.run(step, check=False).returncode != 0:
            print(f"SKIPPING PlanetarySystemStacker: '{' '.join(step)}' failed.")
            return None
    return PSS_BIN if PSS_BIN.exists() else None


def run_timed(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """Wall time and standard output of one run."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def pss_processing(stdout: str) -> float:
    """PSS's own 'Execution over all' timer (processing without start-up), seconds."""
    found = re.search(r"Execution over all\s+([0-9.]+)", stdout)
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per program (best wall time)")
    args = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    pss = ensure_pss()
    september = [sys.executable, "-c", "from september.cli import main; main()"]
    rows = []
    for name, factory, frames, extra, pss_mode in CASES:
        folder = OUTPUT / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        video = surface_video(factory(), frames=frames, seed=11, **extra)
        ser = write_video_ser(video, folder / f"{name}.ser")
        truth = video.truth
        best_frame = max(
            fidelity(video.frames[i].astype(np.float32), truth).psnr
            for i in np.argsort(video.blur)[:3]
        )
        ours_out = folder / "september.tif"
        ours_time, ours_proc = 1e9, 1e9
        stack = [*september, "lucky", "stack", str(ser), "--out", str(ours_out), "-s", "10"]
        for _ in range(args.repeat):
            wall, _ = run_timed(stack, folder)
            log = json.loads(ours_out.with_suffix(".json").read_text())
            ours_time = min(ours_time, wall)
            ours_proc = min(ours_proc, log["timings_s"]["total"])
        image = cv2.imread(str(ours_out), cv2.IMREAD_UNCHANGED).astype(np.float32)
        ours = fidelity(image, truth).psnr
        row = {"case": f"{name} x{frames}", "best": best_frame, "ours": ours, "ours_t": ours_time}
        row["ours_p"] = ours_proc
        if pss is not None:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
            pss_dir = folder / "pss"
            pss_dir.mkdir()
            shutil.copy(ser, pss_dir / ser.name)
            command = [str(pss), ser.name, "-s", "10", "--out_format", "tiff", "-m", pss_mode]
            runs = [run_timed(command, pss_dir, env) for _ in range(args.repeat)]
            row["pss_t"] = min(wall for wall, _ in runs)
            row["pss_p"] = min(pss_processing(out) for _, out in runs)
            result = pss_dir / f"{name}_pss.tiff"
            image = cv2.imread(str(result), cv2.IMREAD_UNCHANGED).astype(np.float32)
            row["pss"] = fidelity(image, truth).psnr
        rows.append(row)
        print(_line(row), flush=True)
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(
        "| video | best frame dB | september dB | PSS dB | september s | PSS s | speed-up | gain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("(seconds: wall time of the command / processing by the program's own timer)")
    for row in rows:
        if "pss" in row:
            print(
                f"| {row['case']} | {row['best']:.2f} | {row['ours']:.2f} | {row['pss']:.2f} | "
                f"{row['ours_t']:.2f} / {row['ours_p']:.2f} | "
                f"{row['pss_t']:.2f} / {row['pss_p']:.2f} | "
                f"{row['pss_t'] / row['ours_t']:.2f}x / {row['pss_p'] / row['ours_p']:.2f}x | "
                f"{row['ours'] - row['pss']:+.2f} |"
            )
        else:
            cells = f"{row['best']:.2f} | {row['ours']:.2f} | - | {row['ours_t']:.2f} | - | - | -"
            print(f"| {row['case']} | {cells} |")


def _line(row: dict) -> str:
    text = f"{row['case']}: september {row['ours']:.2f} dB in {row['ours_t']:.2f} s"
    if "pss" in row:
        text += (
            f"; PSS {row['pss']:.2f} dB in {row['pss_t']:.2f} s; speed ratio "
            f"{row['pss_t'] / row['ours_t']:.2f}x, fidelity {row['ours'] - row['pss']:+.2f} dB"
        )
    return text + f" (best single frame {row['best']:.2f} dB)"


if __name__ == "__main__":
    main()
