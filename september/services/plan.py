"""Closing the loop: progress of every target, panel and filter from the catalogue, and the
tasking that fills what is missing on the coming nights, written for Ekos or other schedulers.

Progress. Light frames near a target are assigned to the nearest mosaic panel centre (within half
a field along both camera axes); accepted integration per panel and filter is compared with the
target's desired hours, and rejected frames are counted by reason.

Tasking. Each night's astronomical darkness is cut into 5-minute slots. Panel/filter deficits
are taken in order of target priority, then least complete first; each takes free slots in
which its panel is above the target's minimum altitude and far enough from the Moon, highest
altitude first, until the frames that cover its deficit fit (frame time = exposure + overhead;
the count is grown by the rate at which frames of that target and filter get rejected). Whatever
does not fit carries over to the next night. Counts are explicit in every sequence job.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from statistics import median

import numpy as np
from astropy.coordinates import EarthLocation
from sqlalchemy.engine import Engine

from september.catalogue.progress import LightFrame, camera_field_near, light_frames_near
from september.config import Config
from september.ekos import scheduler, sequence
from september.errors import TargetsError
from september.sky import observability
from september.sky.targets import (
    Panel,
    Target,
    TargetsFile,
    assign_panels,
    canonical_filter,
    panels_for,
)

__all__ = [
    "FilterProgress",
    "NightPlan",
    "PanelProgress",
    "PanelTask",
    "Plan",
    "TargetProgress",
    "filter_labels",
    "plan_nights",
    "progress_markdown",
    "target_progress",
    "write_plan",
]

MIN_ACCEPTANCE = 0.5  # never assume fewer than half the new frames will be accepted
FIELD_SEARCH_RADIUS = 5.0  # degrees around a target to learn the camera field from its frames


@dataclass(frozen=True)
class FilterProgress:
    """Accepted integration of one panel in one filter, against what is wanted."""

    filter: str
    desired: float  # seconds
    accepted: float  # seconds
    accepted_frames: int = 0
    rejected_frames: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def completion(self) -> float:
        """Accepted / desired, 0..1 (1 when nothing is wanted)."""
        return 1.0 if self.desired <= 0 else min(1.0, self.accepted / self.desired)

    @property
    def deficit(self) -> float:
        """Seconds of accepted integration still missing."""
        return max(0.0, self.desired - self.accepted)


@dataclass(frozen=True)
class PanelProgress:
    panel: Panel
    filters: tuple[FilterProgress, ...]

    @property
    def completion(self) -> float:
        """Accepted over desired, all filters together, 0..1."""
        desired = sum(f.desired for f in self.filters)
        accepted = sum(min(f.accepted, f.desired) for f in self.filters)
        return 1.0 if desired <= 0 else accepted / desired


@dataclass(frozen=True)
class TargetProgress:
    target: Target
    panels: tuple[PanelProgress, ...]
    field: tuple[float, float] | None  # camera field used for panel assignment, degrees
    outside_frames: int = 0  # lights near the target that fall in no panel
    other_filter_frames: int = 0  # lights in a panel but in a filter the target does not want
    acceptance: dict[str, float] = field(default_factory=dict)  # filter -> accepted fraction
    typical_exposure: dict[str, float] = field(default_factory=dict)  # filter -> median s
    frame_size: tuple[int, int] | None = None  # most common (width, height) read out, pixels
    binning: int = 1  # most common binning of the target's frames

    @property
    def completion(self) -> float:
        desired = sum(f.desired for p in self.panels for f in p.filters)
        accepted = sum(min(f.accepted, f.desired) for p in self.panels for f in p.filters)
        return 1.0 if desired <= 0 else accepted / desired


@dataclass(frozen=True)
class ExposurePlan:
    """``count`` frames of ``exposure`` seconds through ``filter``."""

    filter: str
    exposure: float
    count: int
    deficit: float  # seconds of accepted integration missing before tonight

    @property
    def seconds(self) -> float:
        return self.count * self.exposure


@dataclass(frozen=True)
class PanelTask:
    """What one panel gets on one night: one Ekos job with one sequence row per filter."""

    target: Target
    panel: Panel
    exposures: tuple[ExposurePlan, ...]
    completion: float  # of the panel before tonight, 0..1
    observable_hours: float
    allocated_hours: float

    @property
    def job_name(self) -> str:
        """A file- and Ekos-safe job name: ``M31-r1c2``."""
        text = self.panel.target if self.panel.name == "main" else self.panel.label
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text.replace(" ", "-")).strip("_")


@dataclass(frozen=True)
class NightPlan:
    date: date
    night: observability.Night
    tasks: tuple[PanelTask, ...]
    skipped: tuple[tuple[str, str], ...]  # (panel label, reason)


@dataclass(frozen=True)
class Plan:
    progress: tuple[TargetProgress, ...]
    nights: tuple[NightPlan, ...]


def _search_radius(target: Target, fov: tuple[float, float]) -> float:
    rows = target.mosaic.rows if target.mosaic else 1
    cols = target.mosaic.cols if target.mosaic else 1
    return 0.5 * math.hypot(cols * fov[0], rows * fov[1]) + math.hypot(*fov)


def _with_field(target: Target, fov: tuple[float, float] | None) -> Target:
    if target.mosaic is None or target.mosaic.field is not None or fov is None:
        return target
    return replace(target, mosaic=replace(target.mosaic, field=fov))


def _progress(
    target: Target, fov: tuple[float, float] | None, frames: list[LightFrame]
) -> TargetProgress:
    panels = panels_for(target)
    index = assign_panels(
        target, np.array([f.ra for f in frames]), np.array([f.dec for f in frames]), fov
    )
    per_panel: dict[tuple[int, str], list[LightFrame]] = defaultdict(list)
    outside = other = 0
    by_filter: dict[str, list[LightFrame]] = defaultdict(list)
    for frame, panel_index in zip(frames, index, strict=True):
        name = canonical_filter(frame.filter) or "?"
        if panel_index < 0:
            outside += 1
            continue
        if name not in target.desired_hours:
            other += 1
            continue
        per_panel[(int(panel_index), name)].append(frame)
        by_filter[name].append(frame)
    panel_progress = []
    for i, panel in enumerate(panels):
        filters = []
        for name, hours in target.desired_hours.items():
            group = per_panel.get((i, name), [])
            good = [f for f in group if f.accepted]
            reasons = Counter(r for f in group if not f.accepted for r in f.reasons)
            filters.append(
                FilterProgress(
                    filter=name,
                    desired=hours * 3600.0,
                    accepted=sum(f.exposure for f in good),
                    accepted_frames=len(good),
                    rejected_frames=len(group) - len(good),
                    rejected_reasons=dict(reasons.most_common()),
                )
            )
        panel_progress.append(PanelProgress(panel, tuple(filters)))
    acceptance = {
        name: sum(f.accepted for f in group) / len(group) for name, group in by_filter.items()
    }
    typical = {
        name: median(f.exposure for f in group if f.accepted and f.exposure > 0)
        for name, group in by_filter.items()
        if any(f.accepted and f.exposure > 0 for f in group)
    }
    sizes = Counter((f.width, f.height, f.binning) for f in frames if f.width and f.height)
    (width, height, binning), _ = sizes.most_common(1)[0] if sizes else ((0, 0, 1), 0)
    return TargetProgress(
        target=target,
        panels=tuple(panel_progress),
        field=fov,
        outside_frames=outside,
        other_filter_frames=other,
        acceptance=acceptance,
        typical_exposure=typical,
        frame_size=(width, height) if width else None,
        binning=binning,
    )


def target_progress(engine: Engine, targets: TargetsFile) -> list[TargetProgress]:
    """Progress of every target of the file, from the catalogue."""
    results = []
    with engine.connect() as connection:
        for target in targets.targets:
            fov = (target.mosaic.field if target.mosaic else None) or targets.camera_field
            if fov is None:
                fov = camera_field_near(connection, target.ra, target.dec, FIELD_SEARCH_RADIUS)
            if fov is None and target.mosaic is not None:
                raise TargetsError(
                    f"target {target.name!r}, key 'mosaic.field': the camera field is unknown "
                    "(no solved frames near the target yet); give mosaic.field = [w, h] or "
                    "[camera] field in degrees"
                )
            target = _with_field(target, fov)
            radius = _search_radius(target, fov or (2.0, 2.0))
            frames = light_frames_near(connection, target.ra, target.dec, radius)
            results.append(_progress(target, fov, frames))
    return results


def progress_markdown(progress: Sequence[TargetProgress]) -> str:
    """Progress as a Markdown table (for the night summary): one row per panel and filter."""
    lines = [
        "| target | panel | filter | accepted h | desired h | done | rejected |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for tp in progress:
        for pp in tp.panels:
            for fp in pp.filters:
                reasons = ", ".join(f"{r} x{n}" for r, n in fp.rejected_reasons.items())
                lines.append(
                    f"| {tp.target.name} | {pp.panel.name} | {fp.filter} | "
                    f"{fp.accepted / 3600:.2f} | {fp.desired / 3600:.2f} | {fp.completion:.0%} | "
                    f"{fp.rejected_frames}{f' ({reasons})' if reasons else ''} |"
                )
    return "\n".join(lines) + "\n"


def _exposure(progress: TargetProgress, filter_name: str) -> float:
    target = progress.target
    if filter_name in target.sub_exposure:
        return target.sub_exposure[filter_name]
    return progress.typical_exposure.get(filter_name) or target.exposure_for(filter_name)


_Key = tuple[str, str]  # (target name, panel name)


def _candidates(
    night: observability.Night,
    progress: Sequence[TargetProgress],
    deficits: dict[tuple[str, str, str], float],
    location: EarthLocation,
) -> tuple[list, dict[_Key, tuple[np.ndarray, np.ndarray]], list[tuple[str, str]]]:
    """Panel/filter deficits that can be worked on tonight, with each panel's observable slots
    and altitudes; panels never observable are returned as skipped with the reason."""
    items = []
    windows: dict[_Key, tuple[np.ndarray, np.ndarray]] = {}
    skipped: list[tuple[str, str]] = []
    order = {t.target.name: i for i, t in enumerate(progress)}
    for tp in progress:
        target = tp.target
        for pp in tp.panels:
            wanted = [f for f in pp.filters if deficits[(target.name, pp.panel.name, f.filter)] > 0]
            if not wanted:
                continue
            if not len(night.times):
                skipped.append((pp.panel.label, "no astronomical darkness"))
                continue
            ok = observability.observable(
                pp.panel.ra,
                pp.panel.dec,
                night,
                location,
                target.min_altitude,
                target.moon_separation,
            )
            alt = observability.altitude(pp.panel.ra, pp.panel.dec, night, location)
            if not ok.any():
                why = (
                    f"never above {target.min_altitude:g} deg in darkness "
                    f"(highest {alt.max():.0f} deg)"
                    if alt.max() < target.min_altitude
                    else f"within {target.moon_separation:g} deg of the Moon whenever high enough"
                )
                skipped.append((pp.panel.label, why))
                continue
            windows[(target.name, pp.panel.name)] = (ok, alt)
            for rank, fp in enumerate(wanted):
                remaining = deficits[(target.name, pp.panel.name, fp.filter)]
                completion = 1.0 - remaining / fp.desired if fp.desired else 1.0
                sort_key = (
                    target.priority,
                    completion,
                    order[target.name],
                    pp.panel.row,
                    pp.panel.col,
                    rank,
                )
                items.append((sort_key, tp, pp, fp))
    return items, windows, skipped


def _plan_night(
    evening: date,
    progress: Sequence[TargetProgress],
    deficits: dict[tuple[str, str, str], float],
    config: Config,
    location: EarthLocation,
) -> NightPlan:
    """Share one night's free slots among the deficits, in order; updates ``deficits``."""
    night = observability.night_grid(evening, location)
    slot = night.step * 60.0  # seconds
    free = np.ones(len(night.times), dtype=bool)
    items, windows, skipped = _candidates(night, progress, deficits, location)
    items.sort(key=lambda item: item[0])
    chosen: dict[_Key, list[ExposurePlan]] = defaultdict(list)
    slots_used: Counter[_Key] = Counter()
    first_seen: dict[_Key, int] = {}
    for number, (_, tp, pp, fp) in enumerate(items):
        target = tp.target
        key = (target.name, pp.panel.name, fp.filter)
        ok, alt = windows[(target.name, pp.panel.name)]
        exposure = _exposure(tp, fp.filter)
        acceptance = max(MIN_ACCEPTANCE, tp.acceptance.get(fp.filter, 1.0))
        needed = math.ceil(deficits[key] / (exposure * acceptance) - 1e-9)
        frame_time = exposure + config.plan.frame_overhead
        slots_needed = math.ceil(needed * frame_time / slot - 1e-9)
        available = np.flatnonzero(free & ok)
        if not available.size:
            skipped.append((f"{pp.panel.label} {fp.filter}", "no free time while observable"))
            continue
        take = available[np.argsort(-alt[available], kind="stable")][:slots_needed]
        count = needed if take.size >= slots_needed else int(take.size * slot // frame_time)
        if count < 1:
            skipped.append((f"{pp.panel.label} {fp.filter}", "less than one frame of time left"))
            continue
        free[take] = False
        panel_key = (target.name, pp.panel.name)
        slots_used[panel_key] += int(take.size)
        first_seen.setdefault(panel_key, number)
        chosen[panel_key].append(ExposurePlan(fp.filter, exposure, count, deficits[key]))
        deficits[key] = max(0.0, deficits[key] - count * exposure * acceptance)
    tasks = []
    lookup = {(tp.target.name, pp.panel.name): (tp, pp) for tp in progress for pp in tp.panels}
    for panel_key in sorted(chosen, key=lambda k: first_seen[k]):
        tp, pp = lookup[panel_key]
        ok, _ = windows[panel_key]
        filter_order = list(tp.target.desired_hours)
        exposures = sorted(chosen[panel_key], key=lambda e: filter_order.index(e.filter))
        tasks.append(
            PanelTask(
                target=tp.target,
                panel=pp.panel,
                exposures=tuple(exposures),
                completion=pp.completion,
                observable_hours=float(ok.sum()) * slot / 3600.0,
                allocated_hours=slots_used[panel_key] * slot / 3600.0,
            )
        )
    return NightPlan(evening, night, tuple(tasks), tuple(skipped))


def plan_nights(
    config: Config,
    progress: Sequence[TargetProgress],
    start: date,
    nights: int = 1,
) -> Plan:
    """Tasking for ``nights`` nights from the evening of ``start`` at the configured site."""
    if nights < 1:
        raise TargetsError(f"--nights must be at least 1, not {nights}")
    site = config.site
    location = observability.site_location(site.latitude, site.longitude, site.elevation)
    deficits = {
        (tp.target.name, pp.panel.name, fp.filter): fp.deficit
        for tp in progress
        for pp in tp.panels
        for fp in pp.filters
    }
    plans = [
        _plan_night(start + timedelta(days=i), progress, deficits, config, location)
        for i in range(nights)
    ]
    return Plan(progress=tuple(progress), nights=tuple(plans))


def filter_labels(text: str) -> dict[str, str]:
    """``"Ha=H-alpha, L=Lum"`` -> {"Ha": "H-alpha", "L": "Lum"} (keys made canonical)."""
    labels = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, label = item.partition("=")
        if not sep or not name.strip() or not label.strip():
            raise TargetsError(
                f'[plan] filter_labels: {item!r} is not name=label (e.g. "Ha=H-alpha")'
            )
        labels[canonical_filter(name.strip()) or name.strip()] = label.strip()
    return labels


def _sequence_queue(
    task: PanelTask, progress: TargetProgress | None, config: Config, capture_dir: str
) -> sequence.SequenceQueue:
    labels = filter_labels(config.plan.filter_labels)
    # The sensor as the target's frames were read out (the full frame, at their binning);
    # without frames 0 x 0, which leaves the camera's current frame as it is.
    width, height = progress.frame_size if progress and progress.frame_size else (0, 0)
    binning = progress.binning if progress else 1
    jobs = tuple(
        sequence.SequenceJob(
            exposure=e.exposure,
            count=e.count,
            filter=labels.get(e.filter, e.filter),
            frame_type="Light",
            binning=(binning, binning),
            frame=(0, 0, width, height),
            temperature=config.plan.temperature,
            enforce_temperature=True,
            target_name=task.job_name,
            fits_directory=capture_dir,
        )
        for e in task.exposures
    )
    return sequence.SequenceQueue(jobs=jobs, observer="september")


def _rows(night: NightPlan) -> list[dict[str, object]]:
    rows = []
    for order, task in enumerate(night.tasks, start=1):
        for e in task.exposures:
            rows.append(
                {
                    "night": night.date.isoformat(),
                    "order": order,
                    "target": task.target.name,
                    "panel": task.panel.name,
                    "job": task.job_name,
                    "ra_deg": round(task.panel.ra, 7),
                    "dec_deg": round(task.panel.dec, 7),
                    "ra_hours": round(task.panel.ra / 15.0, 8),
                    "position_angle": task.target.mosaic.rotation if task.target.mosaic else 0.0,
                    "filter": e.filter,
                    "exposure_s": e.exposure,
                    "count": e.count,
                    "total_s": e.seconds,
                    "deficit_s": round(e.deficit, 1),
                    "priority": task.target.priority,
                    "completion": round(task.completion, 4),
                    "min_altitude": task.target.min_altitude,
                    "moon_separation": task.target.moon_separation,
                }
            )
    return rows


def write_plan(plan: Plan, out_dir: str | Path, config: Config, fmt: str = "esl") -> list[Path]:
    """Write each night's tasking under ``out_dir/<date>/``; returns the files written.

    ``esl``: a scheduler list plus one sequence queue per panel (absolute paths, as Ekos needs);
    ``csv``/``json``: one row per panel and filter for other schedulers.
    """
    if fmt not in ("esl", "csv", "json"):
        raise TargetsError(f"unknown tasking format {fmt!r}; use esl, csv or json")
    out_dir = Path(out_dir).expanduser().resolve()
    by_target = {tp.target.name: tp for tp in plan.progress}
    written: list[Path] = []
    for night in plan.nights:
        folder = out_dir / night.date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"september-{night.date.isoformat()}"
        if fmt == "esl":
            # A capture folder per night: Ekos's "remember job progress" counts the files it
            # finds there, so the explicit counts start from zero every night.
            capture = str(Path(config.plan.capture_dir).expanduser() / night.date.isoformat())
            jobs = []
            for task in night.tasks:
                esq = folder / "sequences" / f"{task.job_name}.esq"
                queue = _sequence_queue(task, by_target.get(task.target.name), config, capture)
                written.append(sequence.write_sequence_queue(queue, esq))
                jobs.append(
                    scheduler.SchedulerJob(
                        name=task.job_name,
                        group=task.target.group or task.target.name,
                        ra_hours=task.panel.ra / 15.0,
                        dec=task.panel.dec,
                        position_angle=task.target.mosaic.rotation if task.target.mosaic else 0.0,
                        sequence=str(esq),
                        min_altitude=task.target.min_altitude,
                        moon_separation=task.target.moon_separation or None,
                        enforce_twilight=True,
                    )
                )
            listing = scheduler.SchedulerList(jobs=tuple(jobs), profile=config.plan.profile)
            written.append(scheduler.write_scheduler_list(listing, folder / f"{stem}.esl"))
        elif fmt == "csv":
            path = folder / f"{stem}.csv"
            rows = _rows(night)
            with path.open("w", newline="") as handle:
                fields = list(rows[0]) if rows else ["night", "target", "panel", "filter", "count"]
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
            written.append(path)
        else:
            path = folder / f"{stem}.json"
            document = {
                "night": night.date.isoformat(),
                "dusk": night.night.dusk.isoformat() if night.night.dusk else None,
                "dawn": night.night.dawn.isoformat() if night.night.dawn else None,
                "moon_illumination": round(night.night.moon_illumination, 3),
                "tasks": _rows(night),
                "skipped": [{"panel": p, "reason": r} for p, r in night.skipped],
            }
            path.write_text(json.dumps(document, indent=2) + "\n")
            written.append(path)
    return written
