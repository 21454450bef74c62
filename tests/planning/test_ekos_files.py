"""Ekos .esl/.esq: the written files parse as XML, carry every element the KStars readers use,
and read back identically through a reader that walks them the way KStars does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from september.ekos import scheduler, sequence
from september.ekos.scheduler import SchedulerJob, SchedulerList
from september.ekos.sequence import SequenceJob, SequenceQueue


def _queue() -> SequenceQueue:
    return SequenceQueue(
        jobs=(
            SequenceJob(
                exposure=300,
                count=26,
                filter="Ha",
                temperature=-10,
                enforce_temperature=True,
                target_name="M31-r1c1",
                fits_directory="/home/obs/Pictures/2026-10-15",
            ),
            SequenceJob(
                exposure=120.5,
                count=3,
                filter="L & co",
                binning=(2, 2),
                delay=5,
                temperature=-5.5,
                target_name="Crab <test>",
            ),
        ),
        observer="september",
        refocus_every_minutes=60,
    )


def _listing(esq: Path) -> SchedulerList:
    return SchedulerList(
        jobs=(
            SchedulerJob(
                name="M31-r1c1",
                group="M31",
                ra_hours=0.848322556,
                dec=41.8312069937,
                sequence=str(esq),
                position_angle=12.5,
                min_altitude=30,
                moon_separation=20,
            ),
            SchedulerJob(
                name="Crab <test>",
                ra_hours=5.575538888,
                dec=22.0145,
                sequence=str(esq),
                min_altitude=None,
                enforce_twilight=False,
                completion="Repeat",
                completion_value="3",
                startup="At",
                startup_time="2026-10-15T22:00:00Z",
                steps=("Track", "Guide"),
            ),
        ),
        profile="Observatory",
    )


def test_sequence_queue_round_trip(tmp_path: Path) -> None:
    path = sequence.write_sequence_queue(_queue(), tmp_path / "q.esq")
    root = ET.parse(path).getroot()
    assert root.tag == "SequenceQueue" and root.get("version") == "2.6"
    for job in root.findall("Job"):
        for name in sequence.JOB_ELEMENTS:
            assert job.find(name) is not None, name
        assert [c.tag for c in job.find("Frame")] == ["X", "Y", "W", "H"]
        assert job.find("Calibration/PreAction/Type") is not None
        assert job.find("Calibration/FlatDuration/Type").text == "Manual"
    back = sequence.read_sequence_queue(path, strict=True)
    assert back.jobs == _queue().jobs
    assert back.observer == "september" and back.refocus_every_minutes == 60


def test_a_stray_top_level_element_becomes_a_job_as_in_ekos(tmp_path: Path) -> None:
    path = sequence.write_sequence_queue(_queue(), tmp_path / "q.esq")
    text = path.read_text().replace("</SequenceQueue>", "<Comment>x</Comment>\n</SequenceQueue>")
    path.write_text(text)
    assert len(sequence.read_sequence_queue(path).jobs) == 3
    with pytest.raises(sequence.SequenceFormatError, match="lacks"):
        sequence.read_sequence_queue(path, strict=True)


def test_scheduler_list_round_trip(tmp_path: Path) -> None:
    esq = sequence.write_sequence_queue(_queue(), tmp_path / "q.esq")
    path = scheduler.write_scheduler_list(_listing(esq), tmp_path / "plan.esl")
    root = ET.parse(path).getroot()
    assert root.tag == "SchedulerList" and root.get("version") == "2.2"
    assert [e.tag for e in root][:1] == ["Profile"]
    assert [e.tag for e in root][-4:] == [
        "SchedulerAlgorithm",
        "ErrorHandlingStrategy",
        "StartupProcedure",
        "ShutdownProcedure",
    ]
    first = root.find("Job")
    assert [e.tag for e in first] == list(scheduler.JOB_ELEMENTS)
    assert first.find("JobType").get("lead") == "true"
    constraints = {c.text: c.get("value") for c in first.find("Constraints")}
    assert constraints == {"MinimumAltitude": "30", "MoonSeparation": "20", "EnforceTwilight": None}
    back = scheduler.read_scheduler_list(path, strict=True)
    assert back == _listing(esq)
    # RA in hours and Dec in degrees survive to far better than an arcsecond
    ra_error = abs(back.jobs[0].ra_hours - 0.848322556) * 15 * 3600
    assert ra_error < 1e-3


def test_missing_elements_are_reported(tmp_path: Path) -> None:
    esq = sequence.write_sequence_queue(_queue(), tmp_path / "q.esq")
    path = scheduler.write_scheduler_list(_listing(esq), tmp_path / "plan.esl")
    path.write_text(path.read_text().replace("<J2000DE>41.8312069937</J2000DE>", ""))
    with pytest.raises(scheduler.SchedulerFormatError, match="J2000DE"):
        scheduler.read_scheduler_list(path, strict=True)


def test_bad_values_are_refused(tmp_path: Path) -> None:
    job = SchedulerJob(name="x", ra_hours=24.5, dec=0, sequence="q.esq")
    with pytest.raises(scheduler.SchedulerFormatError, match="out of range"):
        scheduler.write_scheduler_list(SchedulerList(jobs=(job,)), tmp_path / "x.esl")
    with pytest.raises(sequence.SequenceFormatError, match="count >= 1"):
        sequence.write_sequence_queue(
            SequenceQueue(jobs=(SequenceJob(exposure=60, count=0),)), tmp_path / "x.esq"
        )
