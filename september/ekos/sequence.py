"""Ekos capture sequence queues (``.esq``, format 2.6): what the camera takes at one pointing.

The writer emits the elements ``SequenceQueue::save`` and ``SequenceJob::saveTo`` write in
KStars (kstars/ekos/capture/sequencequeue.cpp, sequencejob.cpp), in the same order and the C
locale. The reader walks a file the way ``SequenceQueue::load`` does: known header elements are
options, and *every other* top-level element becomes a job, so a stray element in a file is
caught by the round trip instead of silently turning into an empty capture job in Ekos.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from september.ekos.xml_root import read_root
from september.errors import SeptemberError

__all__ = [
    "FORMAT_VERSION",
    "JOB_ELEMENTS",
    "SequenceJob",
    "SequenceQueue",
    "read_sequence_queue",
    "sequence_queue_text",
    "write_sequence_queue",
]

FORMAT_VERSION = "2.6"
COMPAT_VERSION = 2.0  # oldest version Ekos still loads
FRAME_TYPES = ("Light", "Bias", "Dark", "Flat")
DEFAULT_PLACEHOLDER = "/%t/%T/%F/%t_%T_%F_%e_%D"  # Ekos's own default file layout
_HEADER_ELEMENTS = {
    "Observer",
    "GuideDeviation",
    "CCD",
    "FilterWheel",
    "GuideStartDeviation",
    "Autofocus",
    "HFRCheck",
    "RefocusOnTemperatureDelta",
    "RefocusEveryN",
    "RefocusOnMeridianFlip",
    "MeridianFlip",
}
#: Per-job elements september writes and the round-trip tests require.
JOB_ELEMENTS = (
    "Exposure",
    "Format",
    "Encoding",
    "Binning",
    "Frame",
    "Temperature",
    "Filter",
    "Type",
    "Count",
    "Delay",
    "TargetName",
    "FITSDirectory",
    "PlaceholderFormat",
    "PlaceholderSuffix",
    "UploadMode",
    "Properties",
    "Calibration",
)


class SequenceFormatError(SeptemberError):
    """A sequence queue file cannot be read the way Ekos reads it."""


@dataclass(frozen=True)
class SequenceJob:
    """One row of the capture queue: ``count`` frames of ``exposure`` seconds."""

    exposure: float  # seconds
    count: int
    filter: str | None = None
    frame_type: str = "Light"
    binning: tuple[int, int] = (1, 1)
    frame: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, w, h; 0 x 0 keeps the full sensor
    temperature: float | None = None  # degC set point
    enforce_temperature: bool = False
    delay: int = 0  # seconds between frames (Ekos reads whole seconds)
    target_name: str = ""
    fits_directory: str = ""
    placeholder_format: str = DEFAULT_PLACEHOLDER
    placeholder_suffix: int = 0
    format: str = "Mono"
    encoding: str = "FITS"
    upload_mode: int = 0  # 0 client, 1 local, 2 both


@dataclass(frozen=True)
class SequenceQueue:
    """A whole ``.esq``: queue options and jobs in order."""

    jobs: tuple[SequenceJob, ...]
    observer: str = ""
    guide_deviation: float | None = None  # arcsec; None: not enforced
    refocus_every_minutes: int | None = None
    refocus_temperature_delta: float | None = None  # degC
    refocus_after_flip: bool = False
    version: str = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)


def _num(value: float) -> str:
    """A number as Qt's C locale prints it: no exponent, no trailing zeros."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _job_lines(job: SequenceJob) -> list[str]:
    if job.frame_type not in FRAME_TYPES:
        raise SequenceFormatError(f"frame type {job.frame_type!r} is not one of {FRAME_TYPES}")
    if job.count < 1 or job.exposure <= 0:
        raise SequenceFormatError(f"a sequence job needs count >= 1 and exposure > 0: {job}")
    x, y, w, h = job.frame
    lines = [
        "<Job>",
        f"<Exposure>{_num(job.exposure)}</Exposure>",
        f"<Format>{escape(job.format)}</Format>",
        f"<Encoding>{escape(job.encoding)}</Encoding>",
        "<Binning>",
        f"<X>{job.binning[0]}</X>",
        f"<Y>{job.binning[1]}</Y>",
        "</Binning>",
        "<Frame>",
        f"<X>{x}</X>",
        f"<Y>{y}</Y>",
        f"<W>{w}</W>",
        f"<H>{h}</H>",
        "</Frame>",
    ]
    if job.temperature is not None:
        force = _flag(job.enforce_temperature)
        lines.append(f"<Temperature force='{force}'>{_num(job.temperature)}</Temperature>")
    if job.filter:
        lines.append(f"<Filter>{escape(job.filter)}</Filter>")
    lines += [
        f"<Type>{job.frame_type}</Type>",
        f"<Count>{job.count}</Count>",
        f"<Delay>{int(job.delay)}</Delay>",
    ]
    if job.target_name:
        lines.append(f"<TargetName>{escape(job.target_name)}</TargetName>")
    lines += [
        f"<FITSDirectory>{escape(job.fits_directory)}</FITSDirectory>",
        f"<PlaceholderFormat>{escape(job.placeholder_format)}</PlaceholderFormat>",
        f"<PlaceholderSuffix>{job.placeholder_suffix}</PlaceholderSuffix>",
        f"<UploadMode>{job.upload_mode}</UploadMode>",
        "<Properties>",
        "</Properties>",
        "<Calibration>",
        "<PreAction>",
        "<Type>0</Type>",
        "</PreAction>",
        "<FlatDuration dark='false'>",
        "<Type>Manual</Type>",
        "</FlatDuration>",
        "</Calibration>",
        "</Job>",
    ]
    return lines


def sequence_queue_text(queue: SequenceQueue) -> str:
    """The ``.esq`` document for a queue."""
    guide = queue.guide_deviation
    every = queue.refocus_every_minutes
    delta = queue.refocus_temperature_delta
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<SequenceQueue version='{FORMAT_VERSION}'>",
    ]
    if queue.observer:
        lines.append(f"<Observer>{escape(queue.observer)}</Observer>")
    lines += [
        f"<GuideDeviation enabled='{_flag(guide is not None)}'>{_num(guide or 2)}</GuideDeviation>",
        "<GuideStartDeviation enabled='false'>2</GuideStartDeviation>",
        "<HFRCheck enabled='false'>",
        "<HFRDeviation>0</HFRDeviation>",
        "<HFRCheckAlgorithm>0</HFRCheckAlgorithm>",
        "<HFRCheckThreshold>10</HFRCheckThreshold>",
        "<HFRCheckFrames>1</HFRCheckFrames>",
        "</HFRCheck>",
        f"<RefocusOnTemperatureDelta enabled='{_flag(delta is not None)}'>"
        f"{_num(delta or 1)}</RefocusOnTemperatureDelta>",
        f"<RefocusEveryN enabled='{_flag(every is not None)}'>{every or 60}</RefocusEveryN>",
        f"<RefocusOnMeridianFlip enabled='{_flag(queue.refocus_after_flip)}'/>",
    ]
    for job in queue.jobs:
        lines += _job_lines(job)
    lines.append("</SequenceQueue>")
    return "\n".join(lines) + "\n"


def write_sequence_queue(queue: SequenceQueue, path: str | Path) -> Path:
    """Write a ``.esq`` file (UTF-8) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sequence_queue_text(queue), encoding="utf-8")
    return path


def _text(element: ET.Element | None, default: str = "") -> str:
    return (element.text or "").strip() if element is not None else default


def _read_job(element: ET.Element, strict: bool) -> SequenceJob:
    if strict:
        missing = [name for name in JOB_ELEMENTS if element.find(name) is None]
        if missing:
            raise SequenceFormatError(f"job <{element.tag}> lacks {', '.join(missing)}")
    kwargs: dict[str, object] = {"exposure": 0.0, "count": 0, "frame_type": "Light"}
    for child in element:
        tag, text = child.tag, _text(child)
        if tag == "Exposure":
            kwargs["exposure"] = float(text)
        elif tag == "Format":
            kwargs["format"] = text
        elif tag == "Encoding":
            kwargs["encoding"] = text
        elif tag == "Binning":
            kwargs["binning"] = (int(_text(child.find("X"), "1")), int(_text(child.find("Y"), "1")))
        elif tag == "Frame":
            kwargs["frame"] = tuple(int(_text(child.find(k), "0")) for k in "XYWH")
        elif tag == "Temperature":
            kwargs["temperature"] = float(text)
            kwargs["enforce_temperature"] = child.get("force") == "true"
        elif tag == "Filter":
            kwargs["filter"] = text
        elif tag == "Type":
            # Ekos: frameTypes().indexOf(name), an unknown name falls back to Light (index 0)
            kwargs["frame_type"] = text if text in FRAME_TYPES else "Light"
        elif tag == "TargetName":
            kwargs["target_name"] = text
        elif tag == "Count":
            kwargs["count"] = int(text)
        elif tag == "Delay":
            kwargs["delay"] = int(text)  # Ekos: cLocale.toInt(...) * 1000 ms
        elif tag == "FITSDirectory":
            kwargs["fits_directory"] = text
        elif tag == "PlaceholderFormat":
            kwargs["placeholder_format"] = text
        elif tag == "PlaceholderSuffix":
            kwargs["placeholder_suffix"] = int(text or 0)
        elif tag == "UploadMode":
            kwargs["upload_mode"] = int(text or 0)
    return SequenceJob(**kwargs)  # type: ignore[arg-type]


def read_sequence_queue(path: str | Path, strict: bool = False) -> SequenceQueue:
    """Read a ``.esq`` the way Ekos does; ``strict`` also demands every element in JOB_ELEMENTS."""
    path = Path(path)
    root = read_root(path, "SequenceQueue", "sequence queue", SequenceFormatError)
    version = root.get("version", "0")
    if float(version) < COMPAT_VERSION:
        raise SequenceFormatError(f"{path}: format version {version} is older than Ekos accepts")
    jobs, extra = [], {}
    kwargs: dict[str, object] = {}
    for element in root:
        tag = element.tag
        if tag not in _HEADER_ELEMENTS:
            jobs.append(_read_job(element, strict))  # Ekos: anything else is a job
            continue
        enabled = element.get("enabled") == "true"
        if tag == "Observer":
            kwargs["observer"] = _text(element)
        elif tag == "GuideDeviation":
            kwargs["guide_deviation"] = float(_text(element)) if enabled else None
        elif tag == "RefocusEveryN":
            kwargs["refocus_every_minutes"] = int(_text(element)) if enabled else None
        elif tag == "RefocusOnTemperatureDelta":
            kwargs["refocus_temperature_delta"] = float(_text(element)) if enabled else None
        elif tag == "RefocusOnMeridianFlip":
            kwargs["refocus_after_flip"] = enabled
        else:
            extra[tag] = element.get("enabled", _text(element))
    return SequenceQueue(jobs=tuple(jobs), version=version, extra=extra, **kwargs)  # type: ignore[arg-type]
