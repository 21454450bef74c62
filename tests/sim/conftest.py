"""Simulated data shared by the simulator tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from september.sim import SimulationResult, simulate


@pytest.fixture(scope="session")
def crab_small(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """One small-scale night of M1 in L: 12 lights plus calibration."""
    out: Path = tmp_path_factory.mktemp("crab-small")
    return simulate("crab", out, scale="small", seed=7, nights=1, frames=12, filters=("L",))
