"""``september cluster``: group solved lights into pointings and mosaic panels."""

from __future__ import annotations

import click


@click.command()
@click.option("--list", "list_only", is_flag=True, help="Only list the clusters, do not update.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def command(config: object, list_only: bool, fmt: str) -> None:
    """Place every new solved light into its panel (new frames join existing panels; panels
    keep their names), then list the clusters: centre, size, frames and accepted integration
    per filter.

    Example: september cluster
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from september.catalogue import clusters as store
    from september.catalogue.database import connect_engine
    from september.services.cluster import update_clusters

    engine = connect_engine(config)
    if not list_only:
        update = update_clusters(engine, config.cluster)
        click.echo(
            f"{update.joined} frames joined existing clusters; "
            f"{len(update.created)} new clusters with {update.new_members} frames",
            err=True,
        )
    with engine.connect() as connection:
        summaries = store.cluster_summaries(connection, store.accepted_clause())
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        **s.cluster.__dict__,
                        "frames": s.frames,
                        "accepted": s.accepted,
                        "accepted_seconds_by_filter": s.integration_by_filter,
                    }
                    for s in summaries
                ],
                indent=2,
            )
        )
        return
    table = Table(title="Clusters")
    for column in (
        "name",
        "RA",
        "Dec",
        "field (deg)",
        "frames",
        "accepted",
        "accepted integration",
    ):
        table.add_column(column)
    for s in summaries:
        c = s.cluster
        hours = ", ".join(
            f"{f} {sec / 3600:.1f} h" for f, sec in sorted(s.integration_by_filter.items())
        )
        table.add_row(
            c.name,
            f"{c.ra:.3f}",
            f"{c.dec:+.3f}",
            f"{c.width_deg:.2f} x {c.height_deg:.2f}",
            str(s.frames),
            str(s.accepted),
            hours or "-",
        )
    Console().print(table)
