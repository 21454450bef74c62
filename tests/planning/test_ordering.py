"""Who gets the night when time is short: priority first, then the least complete panel."""

from __future__ import annotations

import tomllib
from datetime import date

from september.config import config_from_mapping
from september.services.plan import FilterProgress, PanelProgress, TargetProgress, plan_nights
from september.sky.targets import panels_for, parse_targets

TARGETS = """
[[target]]
name = "M33"
priority = 2
sub_exposure = { L = 300 }
desired_hours = { L = 10 }

[[target]]
name = "NGC 891"
priority = 1
sub_exposure = { L = 300 }
desired_hours = { L = 10 }

[[target]]
name = "M74"
priority = 1
sub_exposure = { L = 300 }
desired_hours = { L = 10 }
"""


def _progress(done_hours: dict[str, float]) -> list[TargetProgress]:
    progress = []
    for target in parse_targets(tomllib.loads(TARGETS)).targets:
        (panel,) = panels_for(target)
        accepted = done_hours[target.name] * 3600
        filters = (FilterProgress("L", desired=36000.0, accepted=accepted),)
        progress.append(TargetProgress(target, (PanelProgress(panel, filters),), field=None))
    return progress


def test_priority_then_least_complete_take_the_time_first() -> None:
    config = config_from_mapping({"site": {"latitude": 51.5, "longitude": -0.1}})
    progress = _progress({"M33": 0.0, "NGC 891": 6.0, "M74": 2.0})
    (night,) = plan_nights(config, progress, date(2026, 10, 15)).nights
    order = [task.target.name for task in night.tasks]
    # priority 1 before 2; within priority 1 the less complete M74 (20%) before NGC 891 (60%)
    assert order[:2] == ["M74", "NGC 891"]
    tasks = {t.target.name: t for t in night.tasks}
    # M74 needs 8 h of exposure (8.3 h with overheads), more than it is observable: it takes
    # every slot in which it is above 30 degrees...
    m74 = tasks["M74"]
    assert m74.allocated_hours == m74.observable_hours
    assert m74.exposures[0].seconds < m74.exposures[0].deficit
    # ...and the others share what is left: the night is never overbooked
    used = sum(t.allocated_hours for t in night.tasks)
    assert used <= night.night.hours + 1e-9
    for task in night.tasks:
        frame = task.exposures[0].exposure + config.plan.frame_overhead
        assert task.exposures[0].count * frame <= task.allocated_hours * 3600 + 1e-6
