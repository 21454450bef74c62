"""From an export package to a finished image: the whole deep-sky pipeline for one cluster.

``stack_package`` reads the package manifest and runs masters, calibration, cosmetic correction,
registration (onto one reference light shared by all filters, so the colour masters align),
integration per filter through memory-mapped registered frames, colour combination and the
enhancement. Each light is read, calibrated, registered and written to its filter's memmap one at
a time, so memory stays at a few frames plus one integration chunk whatever the frame count.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from september import __version__
from september.engine.calibrate import calibrate_light
from september.engine.colour import balance_background, balance_stars, colour_image, luminance
from september.engine.cosmetic import cosmetic_correction, dark_defects
from september.engine.enhance import EnhanceOptions, enhance, write_preview, write_tiff16
from september.engine.integrate import MEMORY_LIMIT, IntegrationResult, frame_stats, integrate
from september.engine.masters import (
    Master,
    master_bias,
    master_dark,
    master_flat,
    read_master,
    write_master,
)
from september.engine.register import (
    INTERPOLATIONS,
    Alignment,
    RegistrationError,
    align,
    detect_stars,
    warp,
)
from september.errors import BadFrameError, SeptemberError

__all__ = ["FINAL_NAME", "StackError", "StackOptions", "StackReport", "stack_package"]

FINAL_NAME = "final_star_enhanced_rgb16.tif"
PREVIEW_NAME = "final_preview.jpg"
REPORT_NAME = "stack.json"
LINEAR_HEADROOM = 0.9  # the brightest linear pixel maps to this fraction before enhancement

Progress = Callable[[str, int, int], None]


class StackError(SeptemberError):
    """A package cannot be stacked (no usable lights, nothing registered...)."""


@dataclass(frozen=True)
class StackOptions:
    """Choices of :func:`stack_package` (defaults suit most packages)."""

    rejection: str = "auto"
    weights: str = "psf"  # noise, fwhm, psf or none (see integrate.frame_weights)
    normalisation: str = "additive-scaling"
    cosmetic: bool = True
    palette: str = "SHO"
    memory_limit: int = MEMORY_LIMIT
    enhance: EnhanceOptions = field(default_factory=EnhanceOptions)
    scratch_dir: Path | None = None  # where registered frames are memory-mapped (default: temp)
    finish: bool = True  # False: stop at the linear masters (no colour, enhancement or TIFF)
    workers: int = 2  # lights calibrated and registered at the same time (threads)
    interpolation: str = "lanczos4"  # resampling kernel of registration (see register.warp)


@dataclass
class StackReport:
    """What a stacking run produced and what it left out."""

    out_dir: Path
    final: Path | None = None
    preview: Path | None = None
    masters: dict[str, Path] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)  # integrated lights per filter
    skipped: list[dict[str, str]] = field(default_factory=list)
    registration: list[dict[str, Any]] = field(default_factory=list)
    integration: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "final": str(self.final) if self.final else None,
            "preview": str(self.preview) if self.preview else None,
            "masters": {k: str(v) for k, v in self.masters.items()},
            "frames": self.frames,
            "skipped": self.skipped,
            "registration": self.registration,
            "integration": self.integration,
        }


class _Calibration:
    """Masters built on demand from the package's calibration frames, cached by frame set."""

    def __init__(self, manifest: Any, out_dir: Path, report: StackReport) -> None:
        self.manifest, self.out_dir, self.report = manifest, out_dir, report
        self.cache: dict[tuple[str, ...], Master] = {}
        self.defects: dict[int, np.ndarray] = {}

    def _read(self, frames: list[dict[str, Any]]) -> list[np.ndarray]:
        from september.image.frames import read_frame

        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda f: read_frame(self.manifest.absolute(f)).data, frames))

    def master(
        self, kind: str, frames: list[dict[str, Any]], *, bias: Master | None = None, **kw: Any
    ) -> Master | None:
        if not frames:
            return None
        key = (kind, *(f["path"] for f in frames), "bias" if bias is not None else "")
        if key in self.cache:
            return self.cache[key]
        sources = [f["path"] for f in frames]
        if len(frames) == 1 and frames[0].get("master"):
            master = read_master(self.manifest.absolute(frames[0]), kind)
        elif kind == "bias":
            master = master_bias(self._read(frames), sources=sources)
        elif kind in ("dark", "dark-flat"):
            exposure = frames[0].get("exposure")
            master = master_dark(
                self._read(frames), exposure=exposure, bias=bias, kind=kind, sources=sources
            )
        else:
            master = master_flat(
                self._read(frames),
                bias=bias,
                flat_dark=kw.get("flat_dark"),
                sources=sources,
                filter_name=frames[0].get("filter"),
            )
        self.cache[key] = master
        name = f"master_{kind}_{len(self.cache)}.fits"
        self.report.masters[f"{kind}:{len(self.cache)}"] = write_master(
            self.out_dir / "masters" / name, master
        )
        return master

    def masters_for(
        self, light: dict[str, Any]
    ) -> tuple[Master | None, Master | None, Master | None, bool]:
        """(bias, dark, flat, dark is scaled) for a light, built once and cached."""
        m = self.manifest
        calibration = light.get("calibration", {})
        bias = self.master("bias", m.calibration_for(light, "bias"))
        scaled = bool(calibration.get("dark_scaled")) and bias is not None
        dark = self.master("dark", m.calibration_for(light, "dark"), bias=bias if scaled else None)
        flat_dark = self.master("dark-flat", m.calibration_for(light, "dark-flat"))
        flat = self.master("flat", m.calibration_for(light, "flat"), bias=bias, flat_dark=flat_dark)
        if dark is not None and id(dark) not in self.defects:
            self.defects[id(dark)] = dark_defects(dark.data)
        return bias, dark, flat, scaled

    def calibrate(self, light: dict[str, Any], data: np.ndarray, cosmetic: bool) -> np.ndarray:
        bias, dark, flat, scaled = self.masters_for(light)
        out = calibrate_light(
            data,
            exposure=light.get("exposure"),
            bias=bias if (scaled or dark is None) else None,
            dark=dark,
            flat=flat,
        )
        if not cosmetic:
            return out
        defects = self.defects[id(dark)] if dark is not None else None
        corrected, _ = cosmetic_correction(out, dark_map=defects)
        return corrected


@dataclass
class _Registered:
    """What happened to one light: its alignment and noise, or why it was skipped."""

    alignment: Alignment | None = None
    noise: float = 0.0
    reason: str | None = None
    registered: np.ndarray | None = None  # the reference only: stored once the stacks exist


class _Registrar:
    """Reads, calibrates, registers and stores one light (thread-safe once masters are built)."""

    def __init__(
        self,
        manifest: Any,
        calibration: _Calibration,
        cosmetic: bool,
        reference: dict[str, Any],
        interpolation: str = "lanczos4",
    ) -> None:
        self.manifest, self.calibration, self.cosmetic = manifest, calibration, cosmetic
        self.interpolation = interpolation
        self.reference = reference
        self.shape: tuple[int, int] | None = None
        self.reference_stars = np.empty((0, 2))
        self.stacks: dict[str, Any] = {}
        self.slot_of: dict[int, int] = {}

    def process(self, light: dict[str, Any]) -> _Registered:
        from september.image.frames import read_frame

        try:
            frame = read_frame(self.manifest.absolute(light))
        except BadFrameError as err:
            return _Registered(reason=str(err))
        data = self.calibration.calibrate(light, frame.data, self.cosmetic)
        del frame
        stars = detect_stars(data)
        noise = frame_stats(data).noise
        if self.shape is None:
            self.shape, self.reference_stars = data.shape, stars
            alignment = Alignment(np.eye(2, 3), "reference", 0.0, len(stars))
            return _Registered(alignment, noise, registered=data)
        if data.shape != self.shape:
            return _Registered(reason=f"size {data.shape} differs from {self.shape}")
        try:
            alignment = align(
                stars,
                self.reference_stars,
                wcs_header=_wcs_header(light),
                reference_wcs_header=_wcs_header(self.reference),
                shape=self.shape,
            )
        except RegistrationError as err:
            return _Registered(reason=str(err))
        result = _Registered(alignment, noise)
        self.store(light, result, warp(data, alignment.matrix, self.shape, self.interpolation))
        return result

    def store(
        self, light: dict[str, Any], result: _Registered, data: np.ndarray | None = None
    ) -> None:
        """Write a registered light into its filter's memory map."""
        name = light["filter"] or "L"
        self.stacks[name][self.slot_of[id(light)]] = result.registered if data is None else data
        result.registered = None


def _reference_light(lights: list[dict[str, Any]]) -> dict[str, Any]:
    """The sharpest well-populated light (highest weight, else smallest FWHM)."""

    def score(light: dict[str, Any]) -> tuple[float, float]:
        quality = light.get("quality") or {}
        weight = light.get("weight")
        fwhm = quality.get("fwhm")
        return (
            float(weight) if weight is not None else 0.0,
            -float(fwhm) if fwhm is not None else 0.0,
        )

    return max(lights, key=score)


def _wcs_header(light: dict[str, Any]) -> str | None:
    return (light.get("wcs") or {}).get("header")


def stack_package(
    package_dir: str | Path,
    out_dir: str | Path,
    options: StackOptions | None = None,
    progress: Progress | None = None,
) -> StackReport:
    """Stack one export package into ``out_dir``; returns a :class:`StackReport`.

    ``progress(stage, done, total)`` is called as the work goes on.
    """
    from september.package.manifest import load_manifest

    options = options or StackOptions()
    if options.interpolation not in INTERPOLATIONS:
        raise StackError(
            f"unknown interpolation {options.interpolation!r}; use one of {list(INTERPOLATIONS)}"
        )
    manifest = load_manifest(package_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = StackReport(out)
    step = progress or (lambda stage, done, total: None)
    lights = manifest.lights()
    if not lights:
        raise StackError(f"the package {package_dir} has no light frames to stack")
    calibration = _Calibration(manifest, out, report)

    reference = _reference_light(lights)
    ordered = [reference] + [light for light in lights if light is not reference]
    scratch = Path(tempfile.mkdtemp(prefix="september-stack-", dir=options.scratch_dir))
    try:
        stacks: dict[str, Any] = {}
        kept: dict[str, list[dict[str, Any]]] = {}
        noise: dict[str, list[float]] = {}  # pixel noise of each calibrated light, unresampled
        slots: dict[str, list[int]] = {}
        registrar = _Registrar(
            manifest, calibration, options.cosmetic, reference, options.interpolation
        )
        results: list[tuple[dict[str, Any], _Registered]] = []
        remaining = list(ordered)
        while remaining and registrar.shape is None:  # the first readable light is the reference
            light = remaining.pop(0)
            registrar.reference = light
            results.append((light, registrar.process(light)))
        if registrar.shape is not None:
            for light in remaining:  # masters first, in this thread: the workers only read them
                calibration.masters_for(light)
            shape = registrar.shape
            for light in ordered:
                name = light["filter"] or "L"
                if name not in stacks:
                    count = sum(1 for x in ordered if (x["filter"] or "L") == name)
                    stacks[name] = np.lib.format.open_memmap(
                        scratch / f"{len(stacks)}.npy",
                        mode="w+",
                        dtype=np.float32,
                        shape=(count, *shape),
                    )
                    kept[name], slots[name], noise[name] = [], [], []
            slot_of: dict[int, int] = {}
            counters: dict[str, int] = {}
            for light in ordered:
                name = light["filter"] or "L"
                slot_of[id(light)] = counters.get(name, 0)
                counters[name] = slot_of[id(light)] + 1
            registrar.stacks, registrar.slot_of = stacks, slot_of
            first = results[-1]
            if first[1].registered is not None:
                registrar.store(first[0], first[1])
            done = len(results)
            with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
                for light, result in zip(
                    remaining, pool.map(registrar.process, remaining), strict=True
                ):
                    results.append((light, result))
                    done += 1
                    step("calibrate and register", done, len(ordered))
        for light, result in results:
            if result.reason is not None:
                report.skipped.append({"path": light["path"], "reason": result.reason})
                continue
            name = light["filter"] or "L"
            kept[name].append(light)
            slots[name].append(registrar.slot_of[id(light)])
            noise[name].append(result.noise)
            alignment = result.alignment
            report.registration.append(
                {
                    "path": light["path"],
                    "method": alignment.method,
                    "rms_px": round(alignment.rms, 4),
                    "pairs": alignment.pairs,
                    "matrix": np.round(alignment.matrix, 8).tolist(),
                }
            )
        stacks = {name: cube for name, cube in stacks.items() if kept[name]}
        step("calibrate and register", len(ordered), len(ordered))
        if not stacks:
            raise StackError("no light could be calibrated and registered; see the skipped list")

        masters: dict[str, np.ndarray] = {}
        for name, cube in stacks.items():
            fwhm = [(light.get("quality") or {}).get("fwhm") for light in kept[name]]
            result = integrate(
                cube,
                select=slots[name],
                rejection=options.rejection,
                normalisation=options.normalisation,
                weights=options.weights,
                fwhm=fwhm,
                noise=noise[name],
                memory_limit=options.memory_limit,
                progress=lambda d, t, n=name: step(f"integrate {n}", d, t),
            )
            masters[name] = result.image
            report.frames[name] = len(slots[name])
            report.integration[name] = {
                **result.summary(),
                "frame_noise_median": float(np.median([s.noise for s in result.stats])),
                "weights": [round(float(w), 4) for w in result.weights],
            }
            report.masters[name] = _write_integration(
                out, name, result, kept[name], options.interpolation
            )
        stacks.clear()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if not options.finish:
        (out / REPORT_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        return report
    step("colour and enhance", 0, 1)
    rgb = _colour(masters, options.palette)
    result = enhance(rgb, options.enhance)
    report.final = write_tiff16(out / FINAL_NAME, result.image)
    report.preview = write_preview(out / PREVIEW_NAME, result.image)
    (out / REPORT_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    step("colour and enhance", 1, 1)
    return report


def _colour(masters: dict[str, np.ndarray], palette: str) -> np.ndarray:
    """Linear RGB in 0..1 for the enhancement (stars white on average, nothing clipped).

    Each channel's darkest pixels (0.01th percentile) go to black, so gradients stay above zero;
    the enhancement's background model then neutralises and flattens the sky.
    """
    filled = {}
    for name, data in masters.items():
        finite = np.isfinite(data)
        filled[name] = np.where(finite, data, np.nanmedian(data) if finite.any() else 0.0)
    rgb = colour_image(filled, palette)
    if len(masters) > 1:
        rgb = balance_stars(rgb, detect_stars(luminance(balance_background(rgb))))
    floor = np.percentile(rgb.reshape(-1, 3), 0.01, axis=0).astype(np.float32)
    rgb = rgb - floor
    top = float(rgb.max())
    return np.clip(rgb / max(top / LINEAR_HEADROOM, 1e-12), 0.0, 1.0).astype(np.float32)


def _write_integration(
    out: Path,
    name: str,
    result: IntegrationResult,
    lights: list[dict[str, Any]],
    interpolation: str,
) -> Path:
    """The linear master (32-bit float) with provenance, and its rejection maps."""
    header = fits.Header()
    header["IMAGETYP"] = ("Master light", "september integration")
    header["FILTER"] = name
    header["NCOMBINE"] = (len(lights), "lights integrated")
    header["EXPTIME"] = (float(sum(light.get("exposure") or 0 for light in lights)), "[s] total")
    header["NORMALIS"] = (result.normalisation, "normalisation")
    header["INTERP"] = (interpolation, "registration resampling kernel")
    header["REJECT"] = (result.rejection, "pixel rejection")
    header["REJLOW"] = (result.low_sigma, "low rejection threshold")
    header["REJHIGH"] = (result.high_sigma, "high rejection threshold")
    summary = result.summary()
    header["REJLOPCT"] = (round(summary["rejected_low_pct"], 4), "% of pixels rejected low")
    header["REJHIPCT"] = (round(summary["rejected_high_pct"], 4), "% of pixels rejected high")
    header["CREATOR"] = (f"september {__version__}", "software")
    header["DATE"] = (dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "UTC")
    for light, weight, rejected in zip(lights, result.weights, result.frame_rejection, strict=True):
        header.add_history(f"{light['path']} w={weight:.3f} rej={100 * rejected:.2f}%"[:70])
    path = out / f"master_{name}.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(result.image.astype(np.float32), header=header),
            fits.ImageHDU(result.rejected_low, name="REJLOW"),
            fits.ImageHDU(result.rejected_high, name="REJHIGH"),
        ]
    ).writeto(path, overwrite=True)
    return path
