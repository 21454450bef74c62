"""september lucky stack vs PlanetarySystemStacker 0.9.8 on the same simulated videos.

Both programs stack the same SER files (10 % of the frames per alignment point, 48 px boxes) as
command-line runs; we report each result's fidelity to the simulator's truth (PSNR after
registration and a linear fit), the wall time of the command and each program's own processing
time, and print the ratios. The runs of the two programs alternate, so a busy moment of a shared
machine hits both; the best of ``--repeat`` runs counts.

The cases go from small clips, where start-up matters, to full-size captures where processing
dominates (a 640x480 planet video of 1000 frames, a 1024x1024 lunar one of 300 frames). Generated
videos are kept in bench/output/lucky/<case>/ (git-ignored) with their truth, and reused while the
simulator settings are unchanged.

PlanetarySystemStacker is GPLv3 and lives in its own virtual environment outside the repository:
``$PSS_VENV`` (default /opt/pss-venv). If it is missing this script creates it with
``python -m venv`` + ``pip install planetary-system-stacker==0.9.8.2`` (PyPI's build of 0.9.8) +
``pip install numpy==1.26.4`` (its numpy<1.23 pin breaks scikit-image); if that fails, PSS is
skipped with a message and september runs alone.

Run: python bench/bench_lucky.py [--repeat 2] [--cases moon-512,planet-640x480]
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
from september.lucky.ser import SerVideo
from september.sim.lucky_video import moon_truth, planet_truth, surface_video, write_video_ser

OUTPUT = Path(__file__).resolve().parent / "output" / "lucky"
PSS_VENV = Path(os.environ.get("PSS_VENV", "/opt/pss-venv"))
PSS_BIN = PSS_VENV / "bin" / "PlanetarySystemStacker"
SEED = 11

CASES = {
    # name: (label, truth factory, frames, extra simulator options, PSS stabilisation mode)
    "moon-512": ("moon 512x512 x200", lambda: moon_truth(512), 200, {}, "Surface"),
    "moon-256": ("moon 256x256 x100", lambda: moon_truth(256), 100, {}, "Surface"),
    "planet-384": (
        "planet 384x384 x200",
        lambda: planet_truth(384),
        200,
        {"jitter": 6.0},
        "Planet",
    ),
    "planet-640x480": (
        "planet 640x480 x1000",
        lambda: planet_truth(480, width=640),
        1000,
        {"jitter": 6.0},
        "Planet",
    ),
    "moon-1024": ("moon 1024x1024 x300", lambda: moon_truth(1024), 300, {}, "Surface"),
}


def video_for(name: str) -> tuple[Path, np.ndarray, float]:
    """The case's SER file, its truth and the best single frame's PSNR (generated once, cached)."""
    _, factory, frames, extra, _ = CASES[name]
    folder = OUTPUT / name
    ser, cache, stamp = folder / f"{name}.ser", folder / "truth.npz", folder / "settings.json"
    settings = json.dumps({"frames": frames, "seed": SEED, **extra}, sort_keys=True)
    if not (ser.exists() and cache.exists() and stamp.exists() and stamp.read_text() == settings):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        start = time.perf_counter()
        video = surface_video(factory(), frames=frames, seed=SEED, **extra)
        write_video_ser(video, ser)
        np.savez(cache, truth=video.truth, blur=video.blur)
        stamp.write_text(settings)
        print(f"generated {name} in {time.perf_counter() - start:.1f} s", flush=True)
    stored = np.load(cache)
    truth, blur = stored["truth"], stored["blur"]
    frames_in = SerVideo(ser)
    best = max(
        fidelity(frames_in[int(i)].astype(np.float32), truth).psnr for i in np.argsort(blur)[:3]
    )
    return ser, truth, best


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
    parser.add_argument("--repeat", type=int, default=2, help="runs per program (best counts)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}"
    )
    args = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    pss = ensure_pss()
    september = [sys.executable, "-c", "from september.cli import main; main()"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    loads = [os.getloadavg()[0]]
    rows = []
    for name in args.cases.split(","):
        label, *_, pss_mode = CASES[name]
        ser, truth, best_frame = video_for(name)
        folder = ser.parent
        ours_out = folder / "september.tif"
        stack = [*september, "lucky", "stack", str(ser), "--out", str(ours_out), "-s", "10"]
        row = {"case": label, "best": best_frame, "ours_t": 1e9, "ours_p": 1e9}
        pss_dir = folder / "pss"
        if pss is not None:
            shutil.rmtree(pss_dir, ignore_errors=True)
            pss_dir.mkdir()
            try:
                os.link(ser, pss_dir / ser.name)
            except OSError:
                shutil.copy(ser, pss_dir / ser.name)
            row.update(pss_t=1e9, pss_p=1e9)
        command = [str(pss), ser.name, "-s", "10", "--out_format", "tiff", "-m", pss_mode]
        for _ in range(args.repeat):
            wall, _ = run_timed(stack, folder)
            log = json.loads(ours_out.with_suffix(".json").read_text())
            row["ours_t"] = min(row["ours_t"], wall)
            row["ours_p"] = min(row["ours_p"], log["timings_s"]["total"])
            if pss is not None:
                wall, out = run_timed(command, pss_dir, env)
                row["pss_t"] = min(row["pss_t"], wall)
                row["pss_p"] = min(row["pss_p"], pss_processing(out))
        image = cv2.imread(str(ours_out), cv2.IMREAD_UNCHANGED).astype(np.float32)
        row["ours"] = fidelity(image, truth).psnr
        if pss is not None:
            result = pss_dir / f"{name}_pss.tiff"
            image = cv2.imread(str(result), cv2.IMREAD_UNCHANGED).astype(np.float32)
            row["pss"] = fidelity(image, truth).psnr
        rows.append(row)
        loads.append(os.getloadavg()[0])
        print(_line(row), flush=True)
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
        f"; 1-min load average during the run {min(loads):.2f}-{max(loads):.2f}"
    )
    print("seconds: wall time of the command / processing by the program's own timer")
    print(
        "| video | best frame dB | september dB | PSS dB | september s | PSS s "
        "| speed-up wall | speed-up processing | fidelity gain |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "pss" in row:
            print(
                f"| {row['case']} | {row['best']:.2f} | {row['ours']:.2f} | {row['pss']:.2f} | "
                f"{row['ours_t']:.2f} / {row['ours_p']:.2f} | "
                f"{row['pss_t']:.2f} / {row['pss_p']:.2f} | "
                f"{row['pss_t'] / row['ours_t']:.2f}x | {row['pss_p'] / row['ours_p']:.2f}x | "
                f"{row['ours'] - row['pss']:+.2f} |"
            )
        else:
            cells = f"{row['best']:.2f} | {row['ours']:.2f} | - | {row['ours_t']:.2f} | - | -"
            print(f"| {row['case']} | {cells} | - | - |")


def _line(row: dict) -> str:
    text = f"{row['case']}: september {row['ours']:.2f} dB in {row['ours_t']:.2f} s"
    if "pss" in row:
        text += (
            f"; PSS {row['pss']:.2f} dB in {row['pss_t']:.2f} s; speed ratio "
            f"{row['pss_t'] / row['ours_t']:.2f}x wall, {row['pss_p'] / row['ours_p']:.2f}x "
            f"processing, fidelity {row['ours'] - row['pss']:+.2f} dB"
        )
    return text + f" (best single frame {row['best']:.2f} dB)"


if __name__ == "__main__":
    main()
