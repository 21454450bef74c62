"""Deep-sky stacking: september's engine vs Siril and vs a ccdproc pipeline, on the same frames.

Simulates one crab night (L lights with bias, darks and flats), then runs, one after the other:

- september: ``september stack PACKAGE --linear-only`` (masters, calibration, cosmetic correction,
  star registration with Lanczos resampling, winsorized/linear-fit integration through
  memory-mapped frames, the linear master: the point where Siril's stock script stops too), and
  again with ``--interpolation linear``, the bilinear kernel of Siril's command-line ``register``,
  since a smoother kernel raises aperture SNR at the price of broader stars;
- Siril: ``siril-cli`` with its stock ``Mono_Preprocessing.ssf`` (bias, flats, darks, calibration,
  registration, ``stack r_pp_light rej 3 3 -norm=addscale``) on the same bias/dark/flat/light files;
- ccdproc: ``ccdproc.combine`` for the masters, ``ccd_process`` for calibration, ``astroalign`` for
  registration and ``Combiner`` (sigma clipping 3/3, average) for the integration.

Each tool runs as its own process under ``/usr/bin/time`` (wall time, peak resident memory). The SNR
of each linear result is measured the same way: the median over the same brightness range of stars
of aperture flux / the scatter of the same aperture placed on empty sky.

Run: python bench/bench_stack.py [--scale full] [--frames 12] [--calibration 5] [--no-ccdproc]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIRIL_SCRIPT = Path("/usr/share/siril/scripts/Mono_Preprocessing.ssf")
SKY_APERTURES = 30000  # the sky scatter's relative error is then about 0.5%


def _timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """Run ``command``; return (wall seconds, peak RSS in MB, CPU seconds user + system)."""
    report = Path(tempfile.mktemp(suffix=".time"))
    start = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%M %U %S", *command],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    peak_kb, user, system = (float(v) for v in report.read_text().split()[-3:])
    report.unlink()
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return wall, peak_kb / 1024.0, user + system


def _siril_tree(sim: Path, frames: dict[str, list[Path]], work: Path) -> None:
    folders = {"biases": "bias", "darks": "dark", "flats": "flat", "lights": "light"}
    for folder, kind in folders.items():
        (work / folder).mkdir(parents=True)
        for i, path in enumerate(frames[kind]):
            os.symlink(sim / path, work / folder / f"{kind}_{i:04d}.fits")


def _ccdproc_run(sim: Path, out: Path) -> None:
    """The ccdproc pipeline (run in its own process by the benchmark)."""
    import astroalign
    import astropy.units as u
    from ccdproc import CCDData, Combiner, ccd_process, combine

    from september.sim import read_truth

    truth = read_truth(sim)
    lights = [f for f in truth.frames if f.frame_type == "light"]
    calibration = lights[0].calibration

    def read(path: str) -> CCDData:
        return CCDData.read(sim / path, unit="adu")

    clip = {"sigma_clip": True, "sigma_clip_low_thresh": 3, "sigma_clip_high_thresh": 3}
    bias = combine([read(p) for p in calibration["bias"]], method="average", **clip)
    dark = combine([read(p) for p in calibration["dark"]], method="average", **clip)
    flats = [ccd_process(read(p), master_bias=bias) for p in calibration["flat"]]
    flat = combine(flats, method="average", scale=lambda a: 1.0 / np.median(a), **clip)
    calibrated = [
        ccd_process(read(f.path), dark_frame=dark, master_flat=flat,
                    exposure_key="EXPTIME", exposure_unit=u.s, dark_scale=False)
        for f in lights
    ]  # fmt: skip
    reference = calibrated[0].data.astype(np.float32)
    registered = [CCDData(reference, unit="adu")]
    for frame in calibrated[1:]:
        aligned, footprint = astroalign.register(frame.data.astype(np.float32), reference)
        registered.append(CCDData(aligned, mask=footprint, unit="adu"))
    combiner = Combiner(registered)
    combiner.sigma_clipping(low_thresh=3, high_thresh=3, func=np.ma.median)
    result = combiner.average_combine()
    result.write(out, overwrite=True)


def _snr(
    path: Path, ranks: tuple[int, int] = (50, 350), radius: float = 4.0
) -> tuple[float, int, float]:
    """Median star SNR over a brightness-rank window, how many stars were used, their median FWHM.

    SNR = aperture flux / the scatter of the same aperture placed on empty sky (3-sigma clipped
    standard deviation of SKY_APERTURES sky apertures), so correlated noise from resampling counts
    fully.
    """
    import sep
    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats

    data = np.asarray(fits.getdata(path), np.float64).astype(np.float32)
    data = np.where(np.isfinite(data), data, np.nanmedian(data)).astype(np.float32)
    background = sep.Background(data)
    sub = data - background.back()
    sep.set_extract_pixstack(5_000_000)
    objects, segments = sep.extract(
        sub, 5.0, err=background.globalrms, minarea=5, segmentation_map=True
    )
    good = objects[objects["flag"] == 0]
    order = np.argsort(good["flux"])[::-1][ranks[0] : ranks[1]]
    flux, _, _ = sep.sum_circle(sub, good["x"][order], good["y"][order], radius)
    rng = np.random.default_rng(0)
    height, width = data.shape
    x = rng.uniform(20, width - 20, 8 * SKY_APERTURES)
    y = rng.uniform(20, height - 20, 8 * SKY_APERTURES)
    near = segments[y.astype(int), x.astype(int)] > 0
    grown = np.zeros_like(near)
    for dx in (-6, 0, 6):  # keep apertures clear of any detected object
        for dy in (-6, 0, 6):
            grown |= segments[(y + dy).astype(int), (x + dx).astype(int)] > 0
    x, y = x[~grown][:SKY_APERTURES], y[~grown][:SKY_APERTURES]
    sky, _, _ = sep.sum_circle(sub, x, y, radius)
    scatter = float(sigma_clipped_stats(sky, sigma=3.0)[2])  # far more efficient than the MAD
    del near
    fwhm = 2.0 * np.sqrt(np.log(2.0) * (good["a"][order] ** 2 + good["b"][order] ** 2))
    return float(np.median(flux / scatter)), len(order), float(np.median(fwhm))


def _integration_only(frames: int = 12, size: int = 2048) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of the integration step alone on the same seeded frames, per tool.

    Both use sigma clipping 3/3 around the median and an average; frames are already registered.
    Each tool runs three times, warm, and its fastest run counts.
    """
    from astropy.nddata import CCDData
    from ccdproc import Combiner

    from september.engine.integrate import integrate

    rng = np.random.default_rng(1)
    cube = (1000 + rng.normal(0, 10, (frames, size, size))).astype(np.float32)  # registered frames
    stack = list(cube)

    def ours() -> None:
        integrate(cube, rejection="sigma", low_sigma=3, high_sigma=3, weights="none")

    def theirs() -> None:
        combiner = Combiner([CCDData(f, unit="adu") for f in stack])
        combiner.sigma_clipping(low_thresh=3, high_thresh=3, func=np.ma.median)
        combiner.average_combine()

    ours()  # compiles the kernels and pages the frames in; both tools then run warm
    return {"september": _best_of(ours), "ccdproc": _best_of(theirs)}


def _best_of(run: Callable[[], None], repeat: int = 3) -> tuple[float, float]:
    """The fastest of ``repeat`` runs as (wall, CPU) seconds."""
    times = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["small", "full"], default="full")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--calibration", type=int, default=5)
    parser.add_argument("--no-ccdproc", action="store_true")
    parser.add_argument("--ccdproc-run", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ccdproc_run:
        _ccdproc_run(Path(args.ccdproc_run[0]), Path(args.ccdproc_run[1]))
        return
    if not shutil.which("siril-cli"):
        raise SystemExit("siril-cli is not installed: sudo apt-get install siril")

    sys.path.insert(0, str(REPO))
    from september.engine.integrate import integrate
    from september.sim import read_truth, simulate

    # compile september's kernels once (cached on disk) so the timed runs see the steady state
    small = np.zeros((3, 64, 64), np.float32)
    integrate(list(small))
    integrate(small, memory_limit=3 * 4 * 64 * 8)
    from tests.engine.simpackage import package_from_sim

    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        root = Path(tmp)
        sim = root / "sim"
        print(f"simulating {args.frames} {args.scale} lights + calibration ...", flush=True)
        simulate("crab", sim, scale=args.scale, seed=7, nights=1, frames=args.frames,
                 filters=("L",), calibration_frames=args.calibration)  # fmt: skip
        package_from_sim(sim, kinds=("bias", "dark", "flat"))
        truth = read_truth(sim)
        lights = [f for f in truth.frames if f.frame_type == "light"]
        frames = {"light": [f.path for f in lights]}
        frames.update({k: lights[0].calibration[k] for k in ("bias", "dark", "flat")})
        siril = root / "siril"
        _siril_tree(sim, frames, siril)
        print(f"{len(lights)} lights, {len(frames['bias'])} bias, {len(frames['dark'])} darks, "
              f"{len(frames['flat'])} flats, {lights[0].width}x{lights[0].height} px")  # fmt: skip

        ours = ["september", "stack", str(sim), "--linear-only", "--out"]
        runs: dict[str, tuple[list[str], Path]] = {
            "september": ([*ours, str(root / "september")],
                          root / "september" / "master_L.fits"),
            # Siril 1.0's command-line `register` resamples bilinearly: the same kernel, compared
            "september (linear)": ([*ours, str(root / "linear"), "--interpolation", "linear"],
                                   root / "linear" / "master_L.fits"),
            "siril": (["siril-cli", "-s", str(SIRIL_SCRIPT), "-d", str(siril)],
                      siril / "result.fit"),
        }  # fmt: skip
        if not args.no_ccdproc:
            target = root / "ccdproc.fits"
            runs["ccdproc"] = ([sys.executable, __file__, "--ccdproc-run", str(sim), str(target)],
                               target)  # fmt: skip
        results: dict[str, tuple[float, float, float, Path]] = {}
        for name, (command, product) in runs.items():
            wall, peak, cpu = _timed(command, cwd=REPO)
            results[name] = (wall, peak, cpu, product)
            print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.0f} MB", flush=True)

        print()
        print("| tool | wall (s) | CPU (s) | peak memory (MB) | star SNR (median) | FWHM (px) |")
        print("| --- | --- | --- | --- | --- | --- |")
        snrs = {}
        for name, (wall, peak, cpu, path) in results.items():
            snr, count, fwhm = _snr(path)
            snrs[name] = snr
            print(f"| {name} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {snr:.1f} | {fwhm:.2f} |")
        print(f"(SNR: median over the {count} stars ranked 50 on by flux, r = 4 px apertures)")
        for mine, other in (("september", "siril"), ("september (linear)", "siril"),
                            ("september", "ccdproc")):  # fmt: skip
            if other not in results:
                continue
            (w0, p0, c0, _), (w1, p1, c1, _) = results[mine], results[other]
            ratio = snrs[mine] / snrs[other]
            print(f"{mine} vs {other}: {w1 / w0:.2f}x faster (wall), {c1 / c0:.2f}x less CPU, "
                  f"{p1 / p0:.2f}x less memory, SNR ratio {ratio:.3f}")  # fmt: skip
        if not args.no_ccdproc:
            times = _integration_only()
            (ours, ours_cpu), (theirs, theirs_cpu) = times["september"], times["ccdproc"]
            print(f"integration only (12 x 2048x2048, sigma clip 3/3): september {ours:.1f} s "
                  f"({ours_cpu:.1f} s CPU), ccdproc Combiner {theirs:.1f} s "
                  f"({theirs_cpu:.1f} s CPU): {theirs / ours:.1f}x faster, "
                  f"{theirs_cpu / ours_cpu:.1f}x less CPU")  # fmt: skip
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
