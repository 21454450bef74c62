"""The night report: one self-contained HTML page (plots and thumbnails inlined as PNG) showing
how good a night or a target's frames were and what was kept, for a glance the morning after."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from september.catalogue import grades
from september.errors import SeptemberError

__all__ = ["render_report", "write_report"]

THUMBNAILS = 3  # best and worst frames shown
THUMBNAIL_PX = 320  # thumbnail width
ACCEPTED_COLOUR, REJECTED_COLOUR = "#2a7de1", "#d62728"


def _png(figure: Any) -> str:
    """A matplotlib figure as a data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _values(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r[name] is None else float(r[name]) for r in rows])


def _quality_plot(rows: Sequence[Mapping[str, Any]]) -> str:
    """FWHM, transparency, background and star count over time; rejected frames in red."""
    import matplotlib.pyplot as plt

    times = [r["date_obs"] for r in rows]
    rejected = np.array([r["grade"] == "rejected" for r in rows])
    fwhm = _values(rows, "fwhm_arcsec")
    panels = (
        ("FWHM (arcsec)" if np.isfinite(fwhm).any() else "FWHM (px)", fwhm
         if np.isfinite(fwhm).any() else _values(rows, "fwhm")),
        ("transparency", _values(rows, "transparency")),
        ("background (ADU)", _values(rows, "background")),
        ("stars detected", _values(rows, "star_count")),
    )  # fmt: skip
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 8), sharex=True)
    for axis, (label, values) in zip(axes, panels, strict=True):
        axis.plot(times, values, color="#999999", linewidth=0.8, zorder=1)
        ok = ~rejected
        axis.scatter(np.array(times)[ok], values[ok], s=14, color=ACCEPTED_COLOUR, zorder=2)
        axis.scatter(
            np.array(times)[rejected], values[rejected], s=28, marker="x",
            color=REJECTED_COLOUR, zorder=3, label="rejected",
        )  # fmt: skip
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("time (UTC)")
    figure.autofmt_xdate()
    return _png(figure)


def _sky_map(rows: Sequence[Mapping[str, Any]]) -> str:
    """Footprints of the solved frames on the sky (RA increasing to the left)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    figure, axis = plt.subplots(figsize=(7, 6))
    ras, decs = [], []
    for row in rows:
        corners = row["corners"]
        if not corners:
            continue
        points = np.array(corners, float).reshape(4, 2)
        ras.extend(points[:, 0])
        decs.extend(points[:, 1])
        colour = REJECTED_COLOUR if row["grade"] == "rejected" else ACCEPTED_COLOUR
        axis.add_patch(Polygon(points, closed=True, fill=False, edgecolor=colour, alpha=0.6))
    if ras:
        ra = np.unwrap(np.radians(ras))
        ra_deg = np.degrees(ra)
        pad = 0.5
        axis.set_xlim(ra_deg.max() + pad, ra_deg.min() - pad)
        axis.set_ylim(min(decs) - pad, max(decs) + pad)
    axis.set_xlabel("RA (deg)")
    axis.set_ylabel("Dec (deg)")
    axis.set_title("Frame footprints (blue accepted, red rejected)")
    axis.grid(alpha=0.3)
    axis.set_aspect(1.0 / max(np.cos(np.radians(np.mean(decs) if decs else 0.0)), 0.1))
    return _png(figure)


def _thumbnail(path: str) -> str | None:
    """A stretched, downsampled view of a frame, or None when the file cannot be read."""
    import matplotlib.pyplot as plt

    from september.errors import BadFrameError
    from september.image.frames import read_frame

    try:
        data = read_frame(path).data
    except (BadFrameError, OSError):
        return None
    step = max(1, data.shape[1] // THUMBNAIL_PX)
    small = data[::step, ::step].astype(float)
    low, high = np.percentile(small, [5.0, 99.7])
    scaled = np.arcsinh(np.clip((small - low) / max(high - low, 1e-6), 0, 1) * 10) / np.arcsinh(10)
    buffer = io.BytesIO()
    plt.imsave(buffer, scaled, cmap="gray", format="png", origin="lower")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _integration(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int, int, float]]:
    """(target, filter, accepted frames, rejected frames, accepted hours)."""
    table: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        key = (row["object"] or "(no OBJECT)", row["filter"] or "-")
        entry = table.setdefault(key, [0, 0, 0.0])
        if row["grade"] == "rejected":
            entry[1] += 1
        else:
            entry[0] += 1
            entry[2] += (row["exposure"] or 0.0) / 3600.0
    return [(t, f, int(a), int(r), h) for (t, f), (a, r, h) in sorted(table.items())]


def _frame_card(row: Mapping[str, Any], image: str | None) -> str:
    name = html.escape(Path(row["path"]).name)
    when = row["date_obs"].strftime("%H:%M") if row["date_obs"] else "?"
    why = ", ".join(row["grade_reasons"] or []) or row["grade"] or "not graded"
    picture = (
        f'<img src="{image}" alt="{name}" width="{THUMBNAIL_PX}">'
        if image
        else "<p>(file not readable)</p>"
    )
    return (
        f"<figure>{picture}<figcaption>{when} UTC &middot; {name}<br>"
        f"{html.escape(why)}</figcaption></figure>"
    )


def _best_and_worst(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Best: accepted frames with the highest SNR weight. Worst: rejected ones first."""

    def weight(row: Mapping[str, Any]) -> float:
        value = row["snr_weight"]
        return float(value) if value is not None else -1.0

    ranked = sorted(rows, key=weight, reverse=True)
    best = [r for r in ranked if r["grade"] != "rejected"][:THUMBNAILS]
    worst = sorted(rows, key=lambda r: (r["grade"] != "rejected", weight(r)))
    worst = [r for r in worst if r not in best][:THUMBNAILS]
    return best, worst


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f2f2f2; } td.n { text-align: right; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; }
figcaption { font-size: 0.85em; color: #555; max-width: 320px; }
"""


def render_report(
    engine: sa.Engine, *, night: date | None = None, target: str | None = None
) -> str:
    """The report's HTML for one night (evening date) or one target (OBJECT), or both."""
    if night is None and target is None:
        raise SeptemberError("choose what to report on: --night DATE and/or --target NAME")
    with engine.connect() as connection:
        rows = grades.light_frames(connection, night=night, target=target, with_blobs=False)
    title = " / ".join(
        part for part in (f"night of {night.isoformat()}" if night else "", target or "") if part
    )
    if not rows:
        raise SeptemberError(
            f"no light frames for {title}; check the date (the evening's date) or the target"
        )
    accepted = sum(r["grade"] == "accepted" for r in rows)
    rejected = sum(r["grade"] == "rejected" for r in rows)
    best, worst = _best_and_worst(rows)
    integration = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{html.escape(f)}</td><td class=n>{a}</td>"
        f"<td class=n>{r}</td><td class=n>{h:.2f}</td></tr>"
        for t, f, a, r, h in _integration(rows)
    )
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>september report: {html.escape(title)}</title><style>{_STYLE}</style></head>",
        f"<body><h1>september report: {html.escape(title)}</h1>",
        f"<p>{len(rows)} light frames: {accepted} accepted, {rejected} rejected, "
        f"{len(rows) - accepted - rejected} not graded.</p>",
        "<h2>Accepted integration</h2><table><tr><th>target</th><th>filter</th>"
        "<th>accepted</th><th>rejected</th><th>accepted hours</th></tr>",
        integration,
        "</table><h2>Quality over time</h2>",
        f'<img src="{_quality_plot(rows)}" alt="quality over time">',
        "<h2>Sky map</h2>",
        f'<img src="{_sky_map(rows)}" alt="frame footprints">',
        "<h2>Best frames</h2><div class=cards>",
        *(_frame_card(r, _thumbnail(r["path"])) for r in best),
        "</div><h2>Worst frames</h2><div class=cards>",
        *(_frame_card(r, _thumbnail(r["path"])) for r in worst),
        "</div></body></html>",
    ]
    return "\n".join(parts)


def write_report(
    engine: sa.Engine, out: str | Path, *, night: date | None = None, target: str | None = None
) -> Path:
    """Render the report and write it to ``out`` (an .html file)."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(engine, night=night, target=target), encoding="utf-8")
    return out
