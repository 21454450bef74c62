"""The demo night: simulate a small Crab night into a share folder and say what was written
(later steps ingest, grade, query and export it)."""

from __future__ import annotations

from pathlib import Path

import click

from september.config import Config


def run_demo(config: Config | None, workdir: Path, seed: int = 1) -> Path:
    """Simulate ~20 small-scale L frames of M1 plus calibration into ``workdir/share``."""
    from september.sim import simulate

    share = Path(workdir) / "share"
    click.echo(f"Simulating one night of M1 (Crab Nebula) into {share} ...")
    result = simulate("crab", share, scale="small", seed=seed, nights=1, frames=20, filters=("L",))
    lights = result.lights
    for kind, n in sorted(result.summary().items()):
        click.echo(f"  {n:4d} {kind} frames")
    flagged = {
        "cloudy": sum(f.cloudy for f in lights),
        "trailed": sum(f.trailed for f in lights),
        "satellite": sum(f.satellite for f in lights),
        "off target": sum(f.off_target for f in lights),
    }
    click.echo("  events: " + ", ".join(f"{n} {name}" for name, n in flagged.items()))
    for path in result.truth_files:
        click.echo(f"  ground truth: {path}")
    return share
