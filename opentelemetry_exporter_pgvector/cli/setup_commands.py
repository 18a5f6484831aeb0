"""Commands that set up and look after the database: migrate, db, demo, embed, dlq, health."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

import click
from psycopg.conninfo import conninfo_to_dict

from ..config import PgvectorSettings, redact_dsn
from ..db.database import Database
from ..extras import missing_extra_message
from .outcome import NOT_DONE, CommandFailed
from .params import settings_of
from .render import ProgressBar, render_table

if TYPE_CHECKING:
    from ..demo import DemoResult


@click.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the tables in the configured schema."""
    settings = settings_of(ctx)
    database = Database(settings)
    applied = database.migrate()
    click.echo(
        f"schema {settings.db_schema} on {settings.redacted_dsn}: "
        + (f"applied {', '.join(applied)}" if applied else "already up to date")
    )


@click.group()
def db() -> None:
    """The database the exporters write to."""


@db.command("dsn")
@click.option("--show-password", is_flag=True, help="Print the password instead of masking it.")
@click.pass_context
def db_dsn(ctx: click.Context, show_password: bool) -> None:
    """Print the DSN, starting the embedded server if no DSN is configured."""
    dsn = Database(settings_of(ctx)).server_dsn()
    click.echo(dsn if show_password else redact_dsn(dsn))


@click.command()
@click.option("--requests", type=click.IntRange(1, 100_000), default=60, show_default=True,
              help="Shop requests to simulate.")
@click.pass_context
def demo(ctx: click.Context, requests: int) -> None:
    """Run a small instrumented shop through the exporters, summarize what this run stored,
    and print commands to try on it."""
    from ..demo import RUN_ID_ATTRIBUTE, run_demo
    from ..exporters.logs import PgvectorLogExporter
    from ..exporters.metrics import PgvectorMetricExporter
    from ..exporters.trace import PgvectorSpanExporter
    from ..query.telemetry import TelemetryQuery

    settings = settings_of(ctx)
    result = run_demo(
        lambda: PgvectorSpanExporter(settings),
        requests=requests,
        log_exporter_factory=lambda: PgvectorLogExporter(settings),
        metric_exporter_factory=lambda: PgvectorMetricExporter(settings),
    )
    this_run = {RUN_ID_ATTRIBUTE: result.run_id}
    with TelemetryQuery(settings) as query:
        summary = query.service_summary(resource_attributes=this_run)
        counts = query.stored_counts(resource_attributes=this_run)
    schema = settings.db_schema
    click.echo(
        f"demo run {result.run_id}: {result.requests} requests ({result.failed_requests} failed) stored "
        f"{counts.spans} spans in {schema}.otel_spans, {counts.log_records} log records in "
        f"{schema}.otel_logs and {counts.metric_points} metric points in {schema}.otel_metric_points "
        f"on {settings.redacted_dsn}"
    )
    click.echo(
        render_table(
            ("service", "spans", "traces", "errors", "p50 ms", "p95 ms"),
            [(r.service_name, r.spans, r.traces, r.errors, r.p50_ms, r.p95_ms) for r in summary],
        )
    )
    embedded = False
    if settings.embedding != "off":
        try:
            count = _embed(settings, batch_size=settings.embedding_batch_size, follow=False)
        except ModuleNotFoundError as error:  # stored, but similarity search needs the model
            message = missing_extra_message(error)
            if message is None:
                raise
            click.echo(f"\nshapes not embedded: {message}")
        else:
            embedded = True
            click.echo(f"\nembedded {count} span and log shapes")
    _print_next_steps(ctx, result, embedded)


def _print_next_steps(ctx: click.Context, result: DemoResult, embedded: bool) -> None:
    """Commands that find this run's data, with the --dsn and --schema the demo was given.

    A password in the DSN is masked, so that command line says where to put it back.
    """
    from ..demo import SLOW_QUERY_SECONDS

    dsn, schema = ctx.find_root().obj["dsn"], ctx.find_root().obj["schema"]
    prefix = ["otel-pgvector"]
    note = ""
    if dsn is not None:
        if conninfo_to_dict(dsn).get("password"):
            dsn, note = redact_dsn(dsn), " (*** stands for your password)"
        prefix += ["--dsn", shlex.quote(dsn)]
    if schema is not None:
        prefix += ["--schema", shlex.quote(schema)]
    steps = []
    if result.failing_trace_id:
        steps.append((f"trace {result.failing_trace_id}", "a failed request: its spans, logs and metrics"))
    if result.slow_trace_id:
        slow_ms = f"{SLOW_QUERY_SECONDS * 1000:.0f} ms"
        steps.append((f"trace {result.slow_trace_id}", f"the slow request: its SELECT stock took {slow_ms}"))
    if result.failing_trace_id:
        steps.append(('logs "timed out"', "log records by word stem"))
    steps += [
        ("logs --patterns", "log bodies grouped by pattern, with counts"),
        ("metrics http.server.request.duration --agg p95", "request latency over the last hour"),
    ]
    if embedded:
        steps.append(('similar "payments database timed out"', "span shapes by meaning"))
    commands = [" ".join([*prefix, command]) for command, _ in steps]
    width = max(len(command) for command in commands)
    click.echo(f"\nnext{note}:")
    for command, (_, why) in zip(commands, steps, strict=True):
        click.echo(f"  {command.ljust(width)}  # {why}")


def _embed(settings: PgvectorSettings, batch_size: int, follow: bool) -> int:
    """Fill missing shape vectors, with a progress bar (rate, ETA) when stdout is a terminal."""
    from tqdm import tqdm

    from ..embedding.backfill import count_missing, embed_missing
    from ..embedding.encoder import load_encoder_backend
    from ..embedding.model import configured_model_name

    backend = load_encoder_backend(settings)
    database = Database(settings)
    try:
        total = None if follow else count_missing(database, configured_model_name(settings))
        with tqdm(total=total, unit="shape", desc="embedding", disable=not sys.stdout.isatty()) as bar:
            return embed_missing(
                database,
                backend,
                batch_size=batch_size,
                follow=follow,
                on_batch=lambda keys: bar.update(len(keys)),
            )
    finally:
        database.close()


@click.command()
@click.option("--follow", is_flag=True, help="Keep running, embedding new shapes as they arrive.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="Shapes claimed and encoded per transaction "
    "(default: $OTEL_EXPORTER_PGVECTOR_EMBEDDING_BATCH_SIZE).",
)
@click.pass_context
def embed(ctx: click.Context, follow: bool, batch_size: int | None) -> None:
    """Embed the span shapes stored without a vector (deferred mode). Safe to run several at once."""
    settings = settings_of(ctx)
    done = _embed(settings, batch_size or settings.embedding_batch_size, follow)
    click.echo(f"embedded {done} shapes")


@click.group()
def dlq() -> None:
    """The local dead-letter spool of batches the database did not take."""


@dlq.command("status")
@click.pass_context
def dlq_status(ctx: click.Context) -> None:
    """Segments, bytes and age of the spool, and rows the database rejected."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        report = query.health()
    click.echo(
        render_table(
            ("spool", "segments", "bytes", "batches", "oldest s", "rejected rows"),
            [
                (
                    report.spool_dir,
                    report.spool_segments,
                    report.spool_bytes,
                    report.spool_batches,
                    report.oldest_spooled_seconds,
                    report.dead_letter_rows if report.reachable else "(unreachable)",
                )
            ],
        )
    )


@dlq.command("replay")
@click.pass_context
def dlq_replay(ctx: click.Context) -> None:
    """Replay the spools of exited processes now, exactly once, with a progress bar."""
    from ..write.delivery import replay_spooled

    database = Database(settings_of(ctx))
    try:
        with ProgressBar("replaying") as bar:
            report = replay_spooled(database, bar.update)
    finally:
        database.close()
    click.echo(
        f"replayed {report.replayed_batches} batches ({report.replayed_rows} rows), "
        f"{report.duplicate_batches} already stored; {report.left_batches} left (held by running processes)"
    )
    if report.refused:
        raise CommandFailed("the database refused a spooled batch; it stays spooled")


@click.command("health")
@click.pass_context
def health(ctx: click.Context) -> None:
    """Reachability, versions, migration, breaker state and spool size; exit 1 when unreachable."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        report = query.health()
    click.echo(
        render_table(
            ("check", "value"),
            [
                ("reachable", "yes" if report.reachable else f"no: {report.error}"),
                ("postgresql", report.server_version),
                ("pgvector", report.pgvector_version),
                ("migration", f"{report.migration_version} of {report.latest_migration}"),
                ("breaker", report.breaker_state or "no exporter in this process"),
                (
                    "spool",
                    f"{report.spool_batches} batches, {report.spool_bytes} bytes in {report.spool_dir}",
                ),
                ("rejected rows", report.dead_letter_rows),
            ],
        )
    )
    if not report.reachable:
        sys.exit(NOT_DONE)
