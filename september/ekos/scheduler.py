"""Ekos scheduler lists (``.esl``, format 2.2): which targets to image and under what limits.

The writer follows ``SchedulerProcess::saveScheduler`` in KStars
(kstars/ekos/scheduler/schedulerprocess.cpp): a ``<Profile>``, one ``<Job>`` per pointing
(``<JobType lead='true'/>``, name, group, J2000 coordinates with RA in decimal *hours* and Dec in
degrees, position angle, sequence file, startup condition, constraints, completion condition,
pipeline steps), then the scheduler-wide options. The reader parses jobs the way
``SchedulerUtils::createJob`` (schedulerutils.cpp) does, so a round trip checks that Ekos would
see the same coordinates, conditions and steps.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from september.ekos.xml_root import read_root
from september.errors import SeptemberError

__all__ = [
    "FORMAT_VERSION",
    "JOB_ELEMENTS",
    "STEPS",
    "SchedulerFormatError",
    "SchedulerJob",
    "SchedulerList",
    "read_scheduler_list",
    "scheduler_list_text",
    "write_scheduler_list",
]

FORMAT_VERSION = "2.2"
STEPS = ("Track", "Focus", "Align", "Guide")
#: Job elements september writes and the round-trip tests require.
JOB_ELEMENTS = (
    "JobType",
    "Name",
    "Group",
    "Coordinates",
    "PositionAngle",
    "Sequence",
    "StartupCondition",
    "Constraints",
    "CompletionCondition",
    "Steps",
)
ALGORITHM_GREEDY = 1
ERROR_RESTART_AFTER_TERMINATION = 1


class SchedulerFormatError(SeptemberError):
    """A scheduler list cannot be written or read the way Ekos reads it."""


@dataclass(frozen=True)
class SchedulerJob:
    """One Ekos scheduler job: a pointing, its capture sequence and its limits."""

    name: str
    ra_hours: float  # J2000, decimal hours
    dec: float  # J2000, degrees
    sequence: str  # path of the .esq
    group: str = ""
    position_angle: float = 0.0  # degrees East of North
    startup: str = "ASAP"  # or "At"
    startup_time: str = ""  # ISO 8601 for "At"
    min_altitude: float | None = 30.0  # degrees; None: no constraint
    moon_separation: float | None = None  # degrees; None or 0: no constraint
    enforce_weather: bool = False
    enforce_twilight: bool = True
    enforce_artificial_horizon: bool = False
    completion: str = "Sequence"  # or "Repeat", "Loop", "At"
    completion_value: str = ""  # repeats for "Repeat", ISO time for "At"
    steps: tuple[str, ...] = STEPS
    lead: bool = True


@dataclass(frozen=True)
class SchedulerList:
    """A whole ``.esl``: the Ekos profile, jobs in priority order and the error strategy."""

    jobs: tuple[SchedulerJob, ...]
    profile: str = "Default"
    algorithm: int = ALGORITHM_GREEDY
    error_strategy: int = ERROR_RESTART_AFTER_TERMINATION
    error_delay: int = 0  # seconds
    version: str = FORMAT_VERSION


def _num(value: float, decimals: int = 10) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _job_lines(job: SchedulerJob) -> list[str]:
    if not 0.0 <= job.ra_hours < 24.0 or not -90.0 <= job.dec <= 90.0:
        raise SchedulerFormatError(f"job {job.name!r}: coordinates out of range")
    unknown = [step for step in job.steps if step not in STEPS]
    if unknown:
        raise SchedulerFormatError(f"job {job.name!r}: unknown step(s) {unknown}; use {STEPS}")
    lines = [
        "<Job>",
        f"<JobType lead='{'true' if job.lead else 'false'}'/>",
        f"<Name>{escape(job.name)}</Name>",
        f"<Group>{escape(job.group)}</Group>",
        "<Coordinates>",
        f"<J2000RA>{_num(job.ra_hours)}</J2000RA>",
        f"<J2000DE>{_num(job.dec)}</J2000DE>",
        "</Coordinates>",
        f"<PositionAngle>{_num(job.position_angle, 4)}</PositionAngle>",
        f"<Sequence>{escape(job.sequence)}</Sequence>",
        "<StartupCondition>",
    ]
    if job.startup == "At":
        lines.append(f"<Condition value={quoteattr(job.startup_time)}>At</Condition>")
    else:
        lines.append("<Condition>ASAP</Condition>")
    lines += ["</StartupCondition>", "<Constraints>"]
    if job.min_altitude is not None:
        lines.append(
            f"<Constraint value='{_num(job.min_altitude, 4)}'>MinimumAltitude</Constraint>"
        )
    if job.moon_separation:
        lines.append(
            f"<Constraint value='{_num(job.moon_separation, 4)}'>MoonSeparation</Constraint>"
        )
    if job.enforce_weather:
        lines.append("<Constraint>EnforceWeather</Constraint>")
    if job.enforce_twilight:
        lines.append("<Constraint>EnforceTwilight</Constraint>")
    if job.enforce_artificial_horizon:
        lines.append("<Constraint>EnforceArtificialHorizon</Constraint>")
    lines += ["</Constraints>", "<CompletionCondition>"]
    if job.completion in ("Repeat", "At"):
        value = quoteattr(job.completion_value)
        lines.append(f"<Condition value={value}>{job.completion}</Condition>")
    elif job.completion in ("Sequence", "Loop"):
        lines.append(f"<Condition>{job.completion}</Condition>")
    else:
        raise SchedulerFormatError(f"job {job.name!r}: unknown completion {job.completion!r}")
    lines += ["</CompletionCondition>", "<Steps>"]
    lines += [f"<Step>{step}</Step>" for step in STEPS if step in job.steps]
    lines += ["</Steps>", "</Job>"]
    return lines


def scheduler_list_text(schedule: SchedulerList) -> str:
    """The ``.esl`` document for a scheduler list."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<SchedulerList version='{FORMAT_VERSION}'>",
        f"<Profile>{escape(schedule.profile)}</Profile>",
    ]
    for job in schedule.jobs:
        lines += _job_lines(job)
    lines += [
        f"<SchedulerAlgorithm value='{schedule.algorithm}'/>",
        f"<ErrorHandlingStrategy value='{schedule.error_strategy}'>",
        f"<delay>{schedule.error_delay}</delay>",
        "</ErrorHandlingStrategy>",
        "<StartupProcedure>",
        "</StartupProcedure>",
        "<ShutdownProcedure>",
        "</ShutdownProcedure>",
        "</SchedulerList>",
    ]
    return "\n".join(lines) + "\n"


def write_scheduler_list(schedule: SchedulerList, path: str | Path) -> Path:
    """Write a ``.esl`` file (UTF-8) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scheduler_list_text(schedule), encoding="utf-8")
    return path


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _read_job(element: ET.Element, strict: bool) -> SchedulerJob:
    """One ``<Job>``, field by field as ``SchedulerUtils::createJob`` reads it."""
    if strict:
        missing = [name for name in JOB_ELEMENTS if element.find(name) is None]
        coords = element.find("Coordinates")
        if coords is not None:
            missing += [k for k in ("J2000RA", "J2000DE") if coords.find(k) is None]
        if missing:
            raise SchedulerFormatError(f"job {_text(element.find('Name'))!r} lacks {missing}")
    kwargs: dict[str, object] = {
        "name": "",
        "ra_hours": 0.0,
        "dec": 0.0,
        "sequence": "",
        "min_altitude": None,
        "moon_separation": None,
        "enforce_twilight": False,
        "steps": (),
    }
    for child in element:
        tag = child.tag
        if tag == "Name":
            kwargs["name"] = _text(child)
        elif tag == "JobType":
            kwargs["lead"] = child.get("lead") == "true"
        elif tag == "Group":
            kwargs["group"] = _text(child)
        elif tag == "Coordinates":
            if child.find("J2000RA") is not None:
                kwargs["ra_hours"] = float(_text(child.find("J2000RA")))
            if child.find("J2000DE") is not None:
                kwargs["dec"] = float(_text(child.find("J2000DE")))
        elif tag == "Sequence":
            kwargs["sequence"] = _text(child)
        elif tag == "PositionAngle":
            kwargs["position_angle"] = float(_text(child))
        elif tag == "StartupCondition":
            for condition in child:
                if _text(condition) in ("ASAP", "At"):
                    kwargs["startup"] = _text(condition)
                    kwargs["startup_time"] = condition.get("value", "")
        elif tag == "Constraints":
            for constraint in child:
                name = _text(constraint)
                if name == "MinimumAltitude":
                    kwargs["min_altitude"] = float(constraint.get("value", "0"))
                elif name == "MoonSeparation":
                    kwargs["moon_separation"] = float(constraint.get("value", "0"))
                elif name == "EnforceWeather":
                    kwargs["enforce_weather"] = True
                elif name == "EnforceTwilight":
                    kwargs["enforce_twilight"] = True
                elif name == "EnforceArtificialHorizon":
                    kwargs["enforce_artificial_horizon"] = True
        elif tag == "CompletionCondition":
            for condition in child:
                if _text(condition) in ("Sequence", "Repeat", "Loop", "At"):
                    kwargs["completion"] = _text(condition)
                    kwargs["completion_value"] = condition.get("value", "")
        elif tag == "Steps":
            kwargs["steps"] = tuple(_text(s) for s in child if _text(s) in STEPS)
    return SchedulerJob(**kwargs)  # type: ignore[arg-type]


def read_scheduler_list(path: str | Path, strict: bool = False) -> SchedulerList:
    """Read a ``.esl``; ``strict`` also demands every element in JOB_ELEMENTS of each job."""
    path = Path(path)
    root = read_root(path, "SchedulerList", "scheduler list", SchedulerFormatError)
    jobs = []
    kwargs: dict[str, object] = {"version": root.get("version", "")}
    for element in root:
        if element.tag == "Profile":
            kwargs["profile"] = _text(element)
        elif element.tag == "Job":
            jobs.append(_read_job(element, strict))
        elif element.tag == "SchedulerAlgorithm":
            kwargs["algorithm"] = int(element.get("value", ALGORITHM_GREEDY))
        elif element.tag == "ErrorHandlingStrategy":
            kwargs["error_strategy"] = int(element.get("value", ERROR_RESTART_AFTER_TERMINATION))
            kwargs["error_delay"] = int(_text(element.find("delay")) or 0)
    return SchedulerList(jobs=tuple(jobs), **kwargs)  # type: ignore[arg-type]
