"""``september pixinsight``: process an export package headless in PixInsight."""

from __future__ import annotations

from pathlib import Path

import click

STEP_NAMES = ("masters", "calibrate", "cosmetic", "measure", "register", "integrate", "combine")


@click.group()
def command() -> None:
    """Run the September script of PixInsight on export packages.

    Example: september pixinsight run exports/M31-P1 --timeout 7200
    """


@command.command("run")
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds before PixInsight is stopped (default: [pixinsight] timeout, 6 h).",
)
@click.option(
    "--executable",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PixInsight.sh to run (default: [pixinsight] executable, then PATH).",
)
@click.option(
    "--steps",
    default=",".join(STEP_NAMES),
    show_default=True,
    help="Comma-separated steps to run.",
)
@click.option(
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for PixInsight's outputs (default: PACKAGE_DIR/pixinsight).",
)
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Record the run (frames integrated, masters made) in the catalogue.",
)
@click.pass_obj
def run(
    config: object,
    package_dir: Path,
    timeout: float | None,
    executable: Path | None,
    steps: str,
    output_dir: Path | None,
    record: bool,
) -> None:
    """Process PACKAGE_DIR (a folder with september.json) headless in PixInsight.

    Writes the job file, runs `PixInsight.sh -n --automation-mode --run=...` with a timeout
    (the whole process tree is stopped when it expires) and reads the result JSON back.

    Example: september pixinsight run exports/M1-P1 --steps masters,calibrate,cosmetic
    """
    from rich.console import Console

    from september.errors import ToolFailedError
    from september.services.pixinsight import run_pixinsight

    chosen = [s.strip() for s in steps.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEP_NAMES]
    if unknown:
        raise click.BadParameter(
            f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEP_NAMES)}",
            param_hint="--steps",
        )
    console = Console(stderr=True)
    with console.status(f"PixInsight is processing {package_dir} ..."):
        outcome = run_pixinsight(
            package_dir,
            config,  # type: ignore[arg-type]
            executable=executable,
            timeout=timeout,
            steps=chosen,
            output_dir=output_dir,
        )
    result = outcome.result
    for integration in result.get("integrations", []):
        click.echo(
            f"{integration['filter']}: {integration['frame_count']} frames "
            f"({integration['rejection']}) -> {integration['path']}"
        )
    if result.get("combination"):
        click.echo(f"{result['combination']['kind']}: {result['combination']['path']}")
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")
    click.echo(f"result: {outcome.result_path}")
    if record:
        from september.services.pixinsight import record_run

        run_id = record_run(config, outcome)  # type: ignore[arg-type]
        console.print(f"recorded as processing run {run_id}")
    if not outcome.succeeded:
        raise ToolFailedError(
            f"the September script failed in PixInsight: {outcome.error}. "
            f"Details: {outcome.result_path} and {outcome.log_path}"
        )
