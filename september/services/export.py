"""Export: one package folder per cluster with its lights, their calibration and a manifest.

A package is written incrementally: files already in place with the right size are kept, new
ones are linked or copied and their SHA-256 checked against the catalogue, and files no longer
selected are removed from the package (never from the share: raw frames are only read).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.engine import Engine

from september import __version__
from september.catalogue import clusters as store
from september.config import Config
from september.errors import SeptemberError
from september.package.layout import frame_relpath, inside, safe_component
from september.package.manifest import MANIFEST_NAME, SCHEMA_VERSION, write_manifest
from september.services.calibration_match import (
    CalibrationFrame,
    LightCalibration,
    match_calibration,
)
from september.services.cluster import update_clusters
from september.services.ingest import sha256_file

__all__ = ["ExportError", "ExportSummary", "PackagePlan", "Selection", "export", "plan_export"]

LINK_MODES = ("hardlink", "symlink", "copy")


class ExportError(SeptemberError):
    """An export cannot be made as asked."""


@dataclass(frozen=True)
class Selection:
    """Which lights to export (every field optional); recorded in each manifest."""

    ra: float | None = None
    dec: float | None = None
    radius: float | None = None  # degrees, with ra/dec
    target: str | None = None
    clusters: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    filters: tuple[str, ...] = ()
    accepted_only: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value in (None, ()):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class PackagePlan:
    """What one cluster's package will hold."""

    cluster: store.ClusterRecord
    folder: str
    frames: list[dict[str, Any]] = field(default_factory=list)  # manifest entries
    sources: dict[str, str] = field(default_factory=dict)  # package path -> original path
    sizes: dict[str, int] = field(default_factory=dict)  # package path -> bytes
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    integration_by_filter: dict[str, float] = field(default_factory=dict)


@dataclass
class ExportSummary:
    packages: list[Path] = field(default_factory=list)
    written: int = 0
    kept: int = 0
    removed: int = 0
    bytes_written: int = 0
    lights: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)


def _selected_clusters(engine: Engine, selection: Selection) -> list[store.ClusterRecord]:
    with engine.connect() as connection:
        found = store.list_clusters(connection)
        if selection.clusters:
            wanted = {name.lower() for name in selection.clusters}
            found = [c for c in found if c.name.lower() in wanted]
        if selection.target:
            from september.sky.names import resolve_name

            name = selection.target.strip().lower()
            by_name = {c.id for c in found if c.target.lower() == name}
            try:
                ra, dec = resolve_name(selection.target)
            except SeptemberError:
                near: set[int] = set()
            else:
                radius = selection.radius or 2.0
                near = {c.id for c in store.clusters_near(connection, ra, dec, radius)}
            found = [c for c in found if c.id in by_name | near]
        if selection.ra is not None and selection.dec is not None:
            radius = selection.radius or 1.0
            near = {
                c.id for c in store.clusters_near(connection, selection.ra, selection.dec, radius)
            }
            found = [c for c in found if c.id in near]
    return found


def _calibration_frame(row: dict[str, Any]) -> CalibrationFrame:
    return CalibrationFrame(
        id=row["id"],
        path=row["path"],
        frame_type=row["frame_type"],
        camera=row["camera"],
        xbinning=row["xbinning"],
        ybinning=row["ybinning"],
        width=row["width"],
        height=row["height"],
        gain=row["gain"],
        offset=row["offset"],
        ccd_temp=row["ccd_temp"],
        exposure=row["exposure"],
        filter=row["filter"],
        date_obs=row["date_obs"],
    )


def _light_selected(row: dict[str, Any], selection: Selection) -> bool:
    if selection.accepted_only and row["effective_grade"] != "accepted":
        return False
    if selection.filters and (row["filter"] or "").lower() not in {
        f.lower() for f in selection.filters
    }:
        return False
    when = row["date_obs"]
    if selection.since and (when is None or when < selection.since):
        return False
    return not (selection.until and (when is None or when >= selection.until))


def _weight(row: dict[str, Any]) -> float | None:
    """Integration weight: the grader's SNR weight, else noise- and FWHM-based (1/(fwhm*rms)^2)."""
    if row.get("snr_weight"):
        return float(row["snr_weight"])
    if row["fwhm"] and row["background_rms"]:
        return 1.0 / (row["fwhm"] * row["background_rms"]) ** 2
    return None


def _entry(row: dict[str, Any], relpath: PurePosixPath) -> dict[str, Any]:
    binning = row["xbinning"]
    entry: dict[str, Any] = {
        "path": str(relpath),
        "original_path": row["path"],
        "sha256": row["sha256"],
        "frame_type": row["frame_type"],
        "filter": row["filter"],
        "exposure": row["exposure"],
        "gain": row["gain"],
        "offset": row["offset"],
        "ccd_temp": row["ccd_temp"],
        "binning": binning,
        "width": row["width"],
        "height": row["height"],
        "date_obs": row["date_obs"].isoformat() if row["date_obs"] else None,
        "object": row["object"],
    }
    if row["frame_type"] == "light":
        fwhm_arcsec = row.get("fwhm_arcsec")
        if fwhm_arcsec is None and row["fwhm"] and row["pixel_scale"]:
            fwhm_arcsec = row["fwhm"] * row["pixel_scale"]
        entry.update(
            grade=row["effective_grade"],
            weight=_weight(row),
            quality={
                "star_count": row["star_count"],
                "fwhm": row["fwhm"],
                "fwhm_arcsec": fwhm_arcsec,
                "hfr": row["hfr"],
                "eccentricity": row["eccentricity"],
                "background": row["background"],
                "noise": row["background_rms"],
                "transparency": row.get("transparency"),
            },
            wcs={
                "ra": row["ra"],
                "dec": row["dec"],
                "rotation": row["rotation"],
                "pixel_scale": row["pixel_scale"],
                "parity": row["parity"],
                "header": row["wcs"],
            },
        )
    return entry


def plan_export(engine: Engine, config: Config, selection: Selection) -> list[PackagePlan]:
    """Decide every package's content without touching the disk."""
    update_clusters(engine, config.cluster)
    chosen = _selected_clusters(engine, selection)
    if not chosen:
        return []
    with engine.connect() as connection:
        lights = store.cluster_lights(connection, [c.id for c in chosen])
        library_rows = store.calibration_library(connection)
    library = [_calibration_frame(r) for r in library_rows]
    rows_by_id = {r["id"]: r for r in library_rows}
    plans = {
        c.id: PackagePlan(cluster=c, folder=safe_component(c.name, f"cluster-{c.id}"))
        for c in chosen
    }
    for row in lights:
        if not _light_selected(row, selection):
            continue
        plan = plans[row["cluster_id"]]
        result = match_calibration(
            _calibration_frame(row), library, config.calibration, config.site.longitude
        )
        if not result.usable:
            plan.unmatched.append(
                {
                    "original_path": row["path"],
                    "sha256": row["sha256"],
                    "reason": "; ".join(result.problems),
                }
            )
            continue
        _add_light(plan, row, result, rows_by_id)
    return [p for p in plans.values() if p.frames or p.unmatched]


def _relpath(row: dict[str, Any]) -> PurePosixPath:
    return frame_relpath(row["frame_type"], row["filter"], Path(row["path"]).name, row["sha256"])


def _add_light(
    plan: PackagePlan,
    row: dict[str, Any],
    result: LightCalibration,
    rows_by_id: dict[int, dict[str, Any]],
) -> None:
    relpath = _relpath(row)
    entry = _entry(row, relpath)
    calibration: dict[str, Any] = {"reasons": {}}
    for kind, match in result.matches.items():
        paths = []
        for frame in match.frames:
            cal_row = rows_by_id[frame.id]
            cal_path = _relpath(cal_row)
            paths.append(str(cal_path))
            if str(cal_path) not in plan.sources:
                plan.frames.append(_entry(cal_row, cal_path))
                plan.sources[str(cal_path)] = cal_row["path"]
                plan.sizes[str(cal_path)] = cal_row["size"]
        calibration[kind] = paths
        calibration["reasons"][kind] = match.reason
        if match.scaled:
            calibration["dark_scaled"] = True
    entry["calibration"] = calibration
    plan.frames.append(entry)
    plan.sources[str(relpath)] = row["path"]
    plan.sizes[str(relpath)] = row["size"]
    filter_name = row["filter"] or "none"
    plan.integration_by_filter[filter_name] = plan.integration_by_filter.get(filter_name, 0.0) + (
        row["exposure"] or 0.0
    )


def _materialise(source: Path, target: Path, mode: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    temporary.unlink(missing_ok=True)
    if mode == "symlink":
        temporary.symlink_to(source.resolve())
    elif mode == "hardlink":
        try:
            os.link(source, temporary)
        except OSError:  # another file system, or links not allowed: copy instead
            shutil.copyfile(source, temporary)
    else:
        shutil.copyfile(source, temporary)
    temporary.replace(target)


def _existing_ok(target: Path, size: int) -> bool:
    try:
        return target.stat().st_size == size
    except OSError:
        return False


def bytes_to_write(plans: Sequence[PackagePlan], out: Path) -> tuple[int, int]:
    """(files, bytes) an export still has to write."""
    files = total = 0
    for plan in plans:
        for relpath, size in plan.sizes.items():
            if not _existing_ok(out / plan.folder / relpath, size):
                files += 1
                total += size
    return files, total


def export(
    engine: Engine,
    config: Config,
    selection: Selection,
    out: Path,
    *,
    link: str | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write (or update) the packages for ``selection`` under ``out``.

    ``on_plan(files, bytes)`` is told the size of the work before it starts, ``on_file(bytes)``
    after each file (for a progress bar).
    """
    mode = link or config.export.link
    if mode not in LINK_MODES:
        raise ExportError(f"link mode {mode!r}: choose one of {', '.join(LINK_MODES)}")
    plans = plan_export(engine, config, selection)
    if not plans:
        raise ExportError(
            "nothing matches the selection; check it with `september cluster --list` and "
            "`september query`, and run `september grade` if no frame is graded yet"
        )
    out.mkdir(parents=True, exist_ok=True)
    files, total = bytes_to_write(plans, out)
    if on_plan:
        on_plan(files, total)
    summary = ExportSummary()
    for plan in plans:
        package = out / plan.folder
        package.mkdir(parents=True, exist_ok=True)
        summary.packages.append(package)
        _write_package(plan, package, mode, summary, on_file)
        _remove_stale(plan, package, summary)
        write_manifest(package, _manifest(plan, selection))
        summary.lights += sum(1 for f in plan.frames if f["frame_type"] == "light")
        summary.unmatched.extend(plan.unmatched)
    return summary


def _write_package(
    plan: PackagePlan,
    package: Path,
    mode: str,
    summary: ExportSummary,
    on_file: Callable[[int], None] | None,
) -> None:
    expected = {f["path"]: f["sha256"] for f in plan.frames}
    for relpath, original in plan.sources.items():
        target = inside(package, PurePosixPath(relpath))
        size = plan.sizes[relpath]
        if _existing_ok(target, size):
            summary.kept += 1
            continue
        _materialise(Path(original), target, mode)
        if sha256_file(str(target)) != expected[relpath]:
            target.unlink()
            raise ExportError(
                f"{original} changed since it was catalogued (its SHA-256 no longer matches); "
                "re-run `september ingest` on it, then export again"
            )
        summary.written += 1
        summary.bytes_written += size
        if on_file:
            on_file(size)


def _remove_stale(plan: PackagePlan, package: Path, summary: ExportSummary) -> None:
    """Remove package files (links or copies) that the selection no longer holds."""
    wanted = {package / PurePosixPath(p) for p in plan.sources}
    for folder in ("lights", "calibration"):
        for path in sorted((package / folder).rglob("*")):
            if (path.is_file() or path.is_symlink()) and path not in wanted:
                path.unlink()
                summary.removed += 1


def _manifest(plan: PackagePlan, selection: Selection) -> dict[str, Any]:
    c = plan.cluster
    lights = [f for f in plan.frames if f["frame_type"] == "light"]
    return {
        "schema": "september.package",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "september_version": __version__,
        "selection": selection.to_dict(),
        "cluster": {
            "name": c.name,
            "target": c.target,
            "panel": c.panel,
            "ra": c.ra,
            "dec": c.dec,
            "radius_deg": float((c.width_deg**2 + c.height_deg**2) ** 0.5 / 2),
            "width_deg": c.width_deg,
            "height_deg": c.height_deg,
            "rotation": _median([f["wcs"]["rotation"] for f in lights]),
            "frame_count": len(lights),
            "integration_by_filter": plan.integration_by_filter,
        },
        "frames": plan.frames,
        "unmatched": plan.unmatched,
    }


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return known[len(known) // 2] if known else None


def manifest_path(package: Path) -> Path:
    return package / MANIFEST_NAME
