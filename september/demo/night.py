"""The demo night: simulate a small Crab night into a share folder, then ingest, grade, query,
cluster and export it, and show the watch daemon catalogue frames as they arrive."""

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
    catalogue_demo(config, share)
    export_demo(config, Path(workdir) / "packages")
    from september.demo.watch import watch_demo

    watch_demo(config, share, seed=seed)  # the daemon catalogues frames arriving while it runs
    return share


BLOG_QUERY = "select count(*) from subframes where q3c_radial_query(ra, dec, 83.6, 22, 5)"


def catalogue_demo(config: Config | None, share: Path) -> int:
    """Migrate the catalogue, ingest the share, show a radial query, and check that the blog's
    SQL and ``september query`` count the same frames. Returns that count."""
    from rich.console import Console

    from september.catalogue import migrate
    from september.catalogue.database import connect_engine, database_url
    from september.config import load_config
    from september.services.ingest import ingest
    from september.services.query import count_near, frames_near

    config = config or load_config()
    url = database_url(config)
    click.echo("Migrating the catalogue database ...")
    migrate.upgrade(url)
    click.echo(f"Ingesting {share} ...")
    summary = ingest([share], config, progress=True)
    console = Console()
    console.print(summary.table())
    engine = connect_engine(config)
    grade_demo(config, engine, share.parent / "report-M1.html")
    near = frames_near(engine, 83.6, 22.0, 5.0)
    click.echo("september query --ra 83.6 --dec 22 --radius 5   (first 5 frames)")
    for record in near[:5]:
        click.echo(
            f"  {record.date_obs:%Y-%m-%d %H:%M:%S}  {record.frame_type:<5} "
            f"{record.filter or '-':<3} ra {record.ra:8.4f} dec {record.dec:+8.4f}  "
            f"{Path(record.path).name}"
        )
    counted = count_near(engine, 83.6, 22.0, 5.0)
    with engine.connect() as connection:
        blog = int(connection.exec_driver_sql(BLOG_QUERY).scalar_one())
    verdict = "same count" if blog == counted == len(near) else "MISMATCH"
    click.echo(f"psql: {BLOG_QUERY};  -> {blog}")
    click.echo(f"september query --ra 83.6 --dec 22 --radius 5 --count  -> {counted} ({verdict})")
    if verdict != "same count":
        from september.errors import SeptemberError

        raise SeptemberError(f"the blog's SQL counted {blog} frames, september query {counted}")
    return counted


def export_demo(config: Config | None, out: Path) -> None:
    """Cluster the lights into pointings and export the accepted ones with their calibration."""
    from september.catalogue import clusters as store
    from september.catalogue.database import connect_engine
    from september.config import load_config
    from september.services.cluster import update_clusters
    from september.services.export import Selection, export

    config = config or load_config()
    engine = connect_engine(config)
    update = update_clusters(engine, config.cluster)
    click.echo(
        f"september cluster  -> {len(update.created)} new clusters, "
        f"{update.joined} frames joined existing ones"
    )
    with engine.connect() as connection:
        for summary in store.cluster_summaries(connection, store.accepted_clause()):
            hours = ", ".join(
                f"{f} {s / 60:.0f} min" for f, s in sorted(summary.integration_by_filter.items())
            )
            click.echo(
                f"  {summary.cluster.name}: {summary.frames} frames, "
                f"{summary.accepted} accepted ({hours or 'none'})"
            )
    click.echo(f"september export --target M1 --out {out}")
    result = export(engine, config, Selection(target="M1"), out)
    for package in result.packages:
        click.echo(f"  package {package} (manifest {package / 'september.json'})")
    click.echo(
        f"  {result.lights} accepted lights with their calibration; {result.written} files "
        f"written, {result.kept} already there; checksums verified"
    )
    for item in result.unmatched:
        click.echo(f"  left out: {Path(item['original_path']).name}: {item['reason']}")


def grade_demo(config: Config, engine: object, report: Path) -> None:
    """Grade the ingested frames (the bundled Gaia stars are loaded first when the reference
    catalogue is empty), show the verdicts, and write the HTML report of the target."""
    from september.report.night import write_report
    from september.services.grade import grade

    click.echo("Grading the light frames (september grade) ...")
    summary = grade(config, engine)  # type: ignore[arg-type]
    for label, count in summary.rows():
        click.echo(f"  {label}: {count}")
    write_report(engine, report, target="M1")  # type: ignore[arg-type]
    click.echo(f"september report --target M1 --out {report}")
