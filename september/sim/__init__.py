"""The observatory simulator: nights of frames from real Gaia stars, with ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from september.errors import SimulationError
from september.sim.truth import FrameTruth, Truth, read_truth

__all__ = ["SCALES", "FrameTruth", "SimulationResult", "Truth", "read_truth", "simulate"]

SCALES = ("small", "full")


@dataclass
class SimulationResult:
    """What a simulation wrote."""

    out_dir: Path
    scenario: str
    scale: str
    seed: int
    frames: list[FrameTruth] = field(default_factory=list)
    truth_files: list[Path] = field(default_factory=list)

    @property
    def lights(self) -> list[FrameTruth]:
        return [f for f in self.frames if f.frame_type == "light"]

    @property
    def calibration(self) -> list[FrameTruth]:
        return [f for f in self.frames if f.frame_type != "light"]

    def summary(self) -> dict[str, int]:
        """Number of frames per type."""
        counts: dict[str, int] = {}
        for f in self.frames:
            counts[f.frame_type] = counts.get(f.frame_type, 0) + 1
        return counts


def simulate(
    scenario: str,
    out_dir: str | Path,
    scale: str = "small",
    seed: int = 1,
    nights: int | None = None,
    frames: int | None = None,
    filters: tuple[str, ...] | list[str] | None = None,
    progress: bool | Callable[[int, int], None] = False,
    compress: bool = False,
    calibration_frames: int | None = None,
    software: str | None = None,
    overrides: dict[str, object] | None = None,
) -> SimulationResult:
    """Simulate a scenario into ``out_dir`` (frames as the capture software lays them out, plus
    ground truth under ``out_dir/truth``).

    ``frames`` is the number of light frames per night (default: the scenario's full night);
    ``calibration_frames`` the size of each calibration set (default: scales with ``frames``,
    3..15). ``progress`` may be a callable ``(done, total)``. ``overrides`` replaces fields of
    the scenario (e.g. ``{"satellite_probability": 0.5, "cloudiness": (0.9,)}``).
    """
    from september.sim.calibration import assign_calibration
    from september.sim.expose import calibration_pixels, light_pixels, write_frame
    from september.sim.headers import SOFTWARES, frame_path
    from september.sim.night import plan_night
    from september.sim.rig import FILTERS, make_rig
    from september.sim.scenarios import get_scenario, plan_calibration, plan_lights, stable_seed
    from september.sim.truth import write_truth

    spec = get_scenario(scenario)
    if scale not in SCALES:
        raise SimulationError(f"unknown scale {scale!r}; use 'small' or 'full'")
    filters = tuple(filters or spec.filters)
    unknown = [f for f in filters if f not in FILTERS]
    if unknown:
        raise SimulationError(f"unknown filter(s) {unknown}; known: {', '.join(FILTERS)}")
    n_nights = len(spec.dates) if nights is None else nights
    if n_nights < 1 or (frames is not None and frames < 0):
        raise SimulationError("nights must be >= 1 and frames >= 0")
    if software:
        if software not in SOFTWARES:
            raise SimulationError(f"unknown capture software {software!r}; use {SOFTWARES}")
        from dataclasses import replace

        spec = replace(spec, software=software)
    if overrides:
        from dataclasses import fields, replace

        known = {f.name for f in fields(spec)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise SimulationError(f"unknown scenario field(s) {bad}; known: {sorted(known)}")
        spec = replace(spec, **overrides)  # type: ignore[arg-type]
    per_night = spec.frames_per_night if frames is None else frames
    cal_count = calibration_frames or max(3, min(15, per_night // 4 if frames else 15))
    rig = make_rig(scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    import numpy as np

    plans = []
    for index in range(n_nights):
        if index < len(spec.dates):
            date = spec.dates[index]
        else:
            date = (
                (
                    datetime.fromisoformat(spec.dates[-1])
                    + timedelta(days=index - len(spec.dates) + 1)
                )
                .date()
                .isoformat()
            )
        rng = np.random.default_rng(stable_seed(spec.name, seed, index, "plan"))
        night = plan_night(rig, date, index, rng, camera_angle=spec.camera_angle)
        shots = plan_lights(spec, rig, night, per_night, filters, seed)
        requests = plan_calibration(spec, night, filters, cal_count, library=index == 0)
        plans.append((night, shots, requests))

    # lay out every frame (paths, times) before rendering, so truth can link calibration
    all_frames: list[FrameTruth] = []
    jobs: list[tuple[str, object, object]] = []
    for night, shots, requests in plans:
        counters: dict[tuple, int] = {}
        for shot in shots:
            t = shot.truth
            k = ("light", t.filter, t.panel)
            counters[k] = counters.get(k, 0) + 1
            target = t.object_true if not t.panel else f"{t.object_true} {t.panel}"
            t.path = frame_path(t, counters[k], target)
            all_frames.append(t)
            jobs.append(("light", shot, night))
        # calibration is shot in the morning, after the lights
        clock = night.start + timedelta(hours=11)
        for r_index, req in enumerate(requests):
            for n in range(req.count):
                temp = req.temperature + float(
                    np.random.default_rng(stable_seed(seed, night.index, r_index, n)).normal(0, 0.1)
                )
                frame = FrameTruth(
                    path="",
                    frame_type=req.frame_type,
                    night=night.date,
                    filter=req.filter if req.frame_type in ("flat", "dark-flat") else None,
                    exposure=req.exposure,
                    gain=req.gain,
                    offset=req.offset,
                    binning=rig.binning,
                    ccd_temp=round(temp, 2),
                    date_obs=clock.isoformat(timespec="milliseconds").replace("+00:00", ""),
                    width=rig.shape[1],
                    height=rig.shape[0],
                    egain=rig.camera.egain(req.gain),
                    read_noise_e=rig.camera.read_noise(req.gain),
                    dark_current_e=rig.camera.dark_current(temp),
                    pixel_scale=rig.pixel_scale,
                    software=spec.software,
                    scenario=spec.name,
                    seed=seed,
                    decoy_reason=req.decoy_reason,
                )
                k = (req.frame_type, req.filter, req.exposure)
                counters[k] = counters.get(k, 0) + 1
                frame.path = frame_path(frame, counters[k], None)
                clock += timedelta(seconds=req.exposure + 2.0)
                all_frames.append(frame)
                jobs.append(("cal", frame, (night.index, r_index, n)))
    assign_calibration(all_frames)

    total = len(jobs)
    report = progress if callable(progress) else None
    bar = None
    if progress is True:
        from rich.progress import Progress

        bar = Progress()
        task = bar.add_task(f"simulating {spec.name}", total=total)
        bar.start()

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done)

    for done, (kind, item, extra) in enumerate(jobs, start=1):
        if kind == "light":
            data = light_pixels(item, rig)  # type: ignore[arg-type]
            frame = item.truth  # type: ignore[attr-defined]
        else:
            frame = item  # type: ignore[assignment]
            data = calibration_pixels(frame, rig, extra[0], extra)  # type: ignore[index,arg-type]
        if compress:
            frame.path += ".fz"
        write_frame(out, frame, rig, data, compress)
        if report:
            report(done, total)
    if bar is not None:
        bar.stop()

    result = SimulationResult(
        out_dir=out, scenario=spec.name, scale=scale, seed=seed, frames=all_frames
    )
    if compress:  # calibration lists must name the compressed files
        for f in all_frames:
            f.calibration = {k: [p + ".fz" for p in v] for k, v in f.calibration.items()}
    extra_info = {
        "scale": scale,
        "seed": seed,
        "pixel_scale": rig.pixel_scale,
        "software": spec.software,
    }
    for night, _, _ in plans:
        mine = [f for f in all_frames if f.night == night.date]
        result.truth_files.append(write_truth(out, spec.name, night.date, mine, extra_info))
    return result
