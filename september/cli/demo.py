"""``september demo``: one simulated night from frames to catalogue, queries and export."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("september-demo"),
    show_default=True,
    help="Folder for the simulated share and the outputs.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Simulator seed.")
@click.pass_obj
def command(config: object, workdir: Path, seed: int) -> None:
    """Run a demo night: simulate frames, then catalogue and query them.

    Example: september demo --workdir /tmp/demo
    """
    from september.demo.night import run_demo

    run_demo(config, workdir=workdir, seed=seed)
