"""Commands about what the database holds: ``retention`` and ``stats``; they render the
reports of ``db/retention.py`` and ``TelemetryQuery.storage_stats``."""

from __future__ import annotations

import datetime as dt
from typing import cast

import click

from ..db.database import Database
from .outcome import CommandFailed
from .params import DURATION, settings_of
from .render import clock, human_bytes, render_table


def _keep(keep: dt.timedelta | None) -> str:
    if keep is None:
        return "for ever"
    return f"{keep.days} days" if keep % dt.timedelta(days=1) == dt.timedelta(0) else str(keep)


@click.command("retention")
@click.option("--keep", type=DURATION, default=None,
              help="Keep this much of each chosen signal, e.g. 7d (default: "
              "$OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS and its per-signal overrides).")
@click.option("--signal", type=click.Choice(["spans", "logs", "metrics"], case_sensitive=False), default=None,
              help="Only this signal (default: all three).")
@click.option("--dry-run", is_flag=True, help="Show what would be dropped; drop nothing.")
@click.pass_context
def retention(ctx: click.Context, keep: dt.timedelta | None, signal: str | None, dry_run: bool) -> None:
    """Drop the daily partitions of spans, logs and metric points older than the retention.

    Whole partitions only, never a DELETE; the default partition stays. Exit status 1 when a
    partition was skipped because its table stayed busy (run again later).
    """
    from ..db.partitions import Signal
    from ..db.retention import apply_retention, retention_policy

    settings = settings_of(ctx)
    signals = None if signal is None else [cast(Signal, signal.lower())]
    policy = retention_policy(settings, keep, signals)
    database = Database(settings)
    try:
        report = apply_retention(database, policy, dry_run=dry_run)
    finally:
        database.close()
    if report.busy:
        raise CommandFailed("another process is applying retention now; try again in a moment")
    for applied in report.signals:
        cutoff = f" (UTC days ended by {applied.cutoff:%Y-%m-%d %H:%M} expire)" if applied.cutoff else ""
        click.echo(f"{applied.signal}: keep {_keep(applied.keep)}{cutoff}")
    if report.partitions:
        click.echo(
            render_table(
                ("signal", "partition", "day", "rows", "bytes", "action"),
                [(p.signal, p.partition, p.day.isoformat(), p.rows, human_bytes(p.bytes), p.outcome)
                 for p in report.partitions],
            )
        )
    verb = "would drop" if dry_run else "dropped"
    click.echo(
        f"total: {verb} {report.dropped_partitions} partitions, {report.dropped_rows} rows, "
        f"{human_bytes(report.dropped_bytes)}" if report.partitions else "nothing to drop"
    )
    for applied in report.signals:
        if applied.default_rows_expired:
            click.echo(
                f"{applied.table}_default holds {applied.default_rows_expired} rows older than the "
                "retention: they stay (retention never deletes rows; see docs/retention.md)"
            )
    if report.skipped:
        raise CommandFailed(f"skipped {report.skipped} partitions: their tables stayed busy; run again later")


def _rows_text(rows: int, estimated: bool) -> str:
    return f"~{rows}" if estimated else str(rows)


@click.command("stats")
@click.option("--exact", is_flag=True,
              help="Count rows exactly (a scan of every table) instead of the planner's estimates.")
@click.pass_context
def stats(ctx: click.Context, exact: bool) -> None:
    """Rows and bytes per table and partition, oldest and newest record per signal, shapes."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        report = query.storage_stats(exact)
    rows: list[tuple[str, str, str, str]] = []
    for table in report.tables:
        rows.append(
            (table.name, "", _rows_text(table.rows, table.rows_estimated), human_bytes(table.bytes))
        )
        rows.extend(("", p.name, _rows_text(p.rows, p.rows_estimated), human_bytes(p.bytes))
                    for p in table.partitions)
    click.echo(render_table(("table", "partition", "rows", "bytes"), rows))
    click.echo(f"total: {human_bytes(report.bytes)}")
    if any(table.rows_estimated for table in report.tables):
        click.echo("~: the planner's estimate; --exact counts")
    click.echo()
    click.echo(
        render_table(
            ("signal", "table", "oldest", "newest", "retention", "expired rows in default partition"),
            [(s.signal, s.table, s.oldest and clock(s.oldest), s.newest and clock(s.newest),
              _keep(s.retention), s.default_rows_expired) for s in report.signals],
        )
    )
    click.echo()
    if not report.shapes:
        click.echo("no shapes stored (EMBEDDING=off, or nothing with a shape exported yet)")
        return
    click.echo(
        render_table(
            ("shapes of", "shapes", "with vector", "coverage"),
            [(shape.signal, shape.shapes, shape.embedded, f"{shape.coverage:.1%}")
             for shape in report.shapes],
        )
    )
