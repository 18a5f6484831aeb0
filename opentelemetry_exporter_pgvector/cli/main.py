"""``otel-pgvector``: set up the database, run the demo, and ask questions of the telemetry.

Every command uses the same settings as the exporters (``OTEL_EXPORTER_PGVECTOR_*``, or the
embedded server when no DSN is set). Commands only render what ``TelemetryQuery`` and the
database layer return.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..config import PgvectorSettings, redact_dsn
from ..db.database import Database
from ..errors import EmbeddingDimensionError, PgvectorError
from ..version import __version__


def _settings(ctx: click.Context) -> PgvectorSettings:
    overrides = {key: value for key, value in ctx.obj.items() if value is not None}
    return PgvectorSettings(**overrides)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain, aligned text table."""
    cells = [[str(header) for header in headers]] + [
        ["" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value) for value in row]
        for row in rows
    ]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@click.group()
@click.version_option(__version__, prog_name="otel-pgvector")
@click.option(
    "--dsn", default=None, help="PostgreSQL DSN (default: $OTEL_EXPORTER_PGVECTOR_DSN, else embedded)."
)
@click.option("--schema", default=None, help="Schema (default: $OTEL_EXPORTER_PGVECTOR_SCHEMA, else public).")
@click.option("-v", "--verbose", is_flag=True, help="Log what the exporter does.")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, schema: str | None, verbose: bool) -> None:
    """Store OpenTelemetry telemetry in PostgreSQL + pgvector and query it."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = {"dsn": dsn, "schema": schema}


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the tables in the configured schema."""
    settings = _settings(ctx)
    database = Database(settings)
    applied = database.migrate()
    click.echo(
        f"schema {settings.db_schema} on {settings.redacted_dsn}: "
        + (f"applied {', '.join(applied)}" if applied else "already up to date")
    )


@cli.group()
def db() -> None:
    """The database the exporters write to."""


@db.command("dsn")
@click.option("--show-password", is_flag=True, help="Print the password instead of masking it.")
@click.pass_context
def db_dsn(ctx: click.Context, show_password: bool) -> None:
    """Print the DSN, starting the embedded server if no DSN is configured."""
    dsn = Database(_settings(ctx.find_root())).server_dsn()
    click.echo(dsn if show_password else redact_dsn(dsn))


@cli.command()
@click.option("--requests", default=60, show_default=True, help="Shop requests to simulate.")
@click.pass_context
def demo(ctx: click.Context, requests: int) -> None:
    """Run a small instrumented shop through the exporters, then summarize what was stored."""
    from ..demo import run_demo
    from ..exporters.logs import PgvectorLogExporter
    from ..exporters.metrics import PgvectorMetricExporter
    from ..exporters.trace import PgvectorSpanExporter
    from ..query.telemetry import TelemetryQuery

    settings = _settings(ctx)
    result = run_demo(
        lambda: PgvectorSpanExporter(settings),
        requests=requests,
        log_exporter_factory=lambda: PgvectorLogExporter(settings),
        metric_exporter_factory=lambda: PgvectorMetricExporter(settings),
    )
    with TelemetryQuery(settings) as query:
        summary = query.service_summary()
        counts = query.stored_counts()
    schema = settings.db_schema
    click.echo(
        f"demo: {result.requests} requests ({result.failed_requests} failed) stored {counts.spans} spans in "
        f"{schema}.otel_spans, {counts.log_records} log records in {schema}.otel_logs and "
        f"{counts.metric_points} metric points in {schema}.otel_metric_points on {settings.redacted_dsn}"
    )
    click.echo(
        render_table(
            ("service", "spans", "traces", "errors", "p50 ms", "p95 ms"),
            [(r.service_name, r.spans, r.traces, r.errors, r.p50_ms, r.p95_ms) for r in summary],
        )
    )
    if settings.embedding != "off":
        embedded = _embed(settings, batch_size=settings.embedding_batch_size, follow=False)
        click.echo(
            f"\nembedded {embedded} span and log shapes; "
            'try: otel-pgvector similar "payments database timed out"'
        )
    click.echo(
        "\nnext: otel-pgvector logs --patterns; otel-pgvector logs timeout; "
        "otel-pgvector metrics http.server.request.duration --agg p95; otel-pgvector trace <trace id>"
    )


def _embed(settings: PgvectorSettings, batch_size: int, follow: bool) -> int:
    """Fill missing shape vectors, with a progress bar (rate, ETA) when stdout is a terminal."""
    try:
        from tqdm import tqdm

        from ..embedding.backfill import count_missing, embed_missing
        from ..embedding.encoder import load_encoder_backend
        from ..embedding.model import configured_model_name

        backend = load_encoder_backend(settings)
    except ImportError as error:
        raise click.ClickException(str(error)) from None
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


@cli.command()
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
    settings = _settings(ctx)
    try:
        done = _embed(settings, batch_size or settings.embedding_batch_size, follow)
    except KeyboardInterrupt:
        raise click.exceptions.Abort() from None
    click.echo(f"embedded {done} shapes")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``1h``, ``7d`` as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 15m, 1h or 7d")
    return dt.timedelta(**{_UNITS[match[2]]: float(match[1])})


def _since(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.now(dt.timezone.utc) - parse_duration(text)


def _local(time: dt.datetime) -> str:
    return time.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _when(value: str | None) -> dt.datetime | None:
    """A time given as ISO 8601 or as an age before now (``15m``, ``2h``, ``7d``)."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return _since(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@cli.command()
@click.argument("text", required=False)
@click.option("--span-id", help="Find spans like this stored span (16 hex digits) instead of TEXT.")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Shapes to show.")
@click.option("--service", help="Only shapes of this service.")
@click.option(
    "--status", type=click.Choice(["UNSET", "OK", "ERROR"], case_sensitive=False), help="Only this status."
)
@click.option("--since", help="Only spans since (ISO 8601, or an age: 15m, 2h, 7d).")
@click.option("--until", help="Only spans before (ISO 8601, or an age).")
@click.option(
    "--min-similarity", type=click.FloatRange(0, 1), help="Leave out shapes less similar than this."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def similar(
    ctx: click.Context,
    text: str | None,
    span_id: str | None,
    k: int,
    service: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    min_similarity: float | None,
    as_json: bool,
) -> None:
    """Span shapes most similar to TEXT (or to --span-id), with their span counts and an example."""
    from ..query.telemetry import TelemetryQuery

    if (text is None) == (span_id is None):
        raise click.UsageError("give either TEXT or --span-id")
    try:
        with TelemetryQuery(_settings(ctx)) as query:
            results = query.similar_spans(
                text=text,
                span_id=span_id,
                k=k,
                min_similarity=min_similarity,
                service=service,
                status=status,
                since=_when(since),
                until=_when(until),
            )
    except ImportError as error:  # the embeddings extra is not installed
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(result) for result in results], default=str, indent=2))
        return
    click.echo(
        render_table(
            ("similarity", "spans", "service", "status", "shape", "last seen", "example trace"),
            [
                (
                    r.similarity,
                    r.span_count,
                    r.service_name,
                    r.status_code,
                    _shorten(r.text, 90),
                    r.last_seen.isoformat(timespec="seconds"),
                    r.example_trace_id,
                )
                for r in results
            ],
        )
    )


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.argument("text", required=False)
@click.option("--service", default=None, help="Only this service.")
@click.option("--since", default=None, help="Only the last 30s, 15m, 1h, 7d...")
@click.option(
    "--severity",
    "min_severity",
    default=None,
    help="Minimum severity: a number or debug, info, warn, error, fatal.",
)
@click.option("--trace", "trace_id", default=None, help="Only the records of this trace (32 hex digits).")
@click.option("--patterns", is_flag=True, help="Show the most frequent body patterns with counts instead.")
@click.option("--limit", default=50, show_default=True, help="Rows to show.")
@click.pass_context
def logs(
    ctx: click.Context,
    text: str | None,
    service: str | None,
    since: str | None,
    min_severity: str | None,
    trace_id: str | None,
    patterns: bool,
    limit: int,
) -> None:
    """Search log records by words (matched by stem, e.g. "timeout"), or show --patterns."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(_settings(ctx)) as query:
        if patterns:
            found = query.log_patterns(service=service, since=_since(since), limit=limit)
            click.echo(
                render_table(
                    ("count", "max severity", "services", "last seen", "pattern"),
                    [
                        (p.count, p.max_severity, ",".join(p.services), _local(p.last_seen), p.pattern[:120])
                        for p in found
                    ],
                )
            )
            return
        entries = query.search_logs(
            text,
            trace_id=trace_id,
            service=service,
            min_severity=min_severity,
            since=_since(since),
            limit=limit,
        )
    click.echo(
        render_table(
            ("time", "service", "severity", "trace", "body"),
            [
                (
                    _local(e.time),
                    e.service_name,
                    e.severity_text or e.severity_number,
                    e.trace_id or "",
                    (e.body or "")[:160].replace("\n", " "),
                )
                for e in entries
            ],
        )
    )


@cli.command()
@click.argument("name")
@click.option("--since", default="1h", show_default=True, help="How far back: 30s, 15m, 1h, 7d...")
@click.option("--step", default=None, help="Bucket width (default: the window / 20).")
@click.option(
    "--agg",
    type=click.Choice(["avg", "sum", "max", "rate", "p50", "p95", "p99"]),
    default="avg",
    show_default=True,
)
@click.option("--service", default=None, help="Only this service.")
@click.pass_context
def metrics(
    ctx: click.Context, name: str, since: str, step: str | None, agg: str, service: str | None
) -> None:
    """One metric over time, e.g. `metrics http.server.duration --since 1h --agg p95`."""
    from ..query.telemetry import TelemetryQuery

    window = parse_duration(since)
    until = dt.datetime.now(dt.timezone.utc)
    width = parse_duration(step) if step else max(window / 20, dt.timedelta(seconds=1))
    with TelemetryQuery(_settings(ctx)) as query:
        series = query.metric_series(name, until - window, until, width, service=service, agg=agg)  # type: ignore[arg-type]
    if not series:
        click.echo(f"no points of {name!r} in the last {since}")
        return
    click.echo(
        render_table(
            ("time", f"{agg}({name})", "points"), [(_local(b.time), b.value, b.points) for b in series]
        )
    )


@cli.command()
@click.argument("trace_id")
@click.pass_context
def trace(ctx: click.Context, trace_id: str) -> None:
    """One trace's context: its spans as a tree, its logs, and the metric points around it."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(_settings(ctx)) as query:
        context = query.trace_context(trace_id)
    click.echo(
        f"trace {context.trace_id}: {len(context.spans)} spans, {len(context.logs)} logs, "
        f"{len(context.metrics)} metric points"
    )
    click.echo(
        render_table(
            ("span", "service", "duration ms", "status", "start"),
            [
                ("  " * s.depth + s.name, s.service_name, s.duration_ms, s.status_code, _local(s.start_time))
                for s in context.spans
            ],
        )
    )
    if context.logs:
        click.echo("\nlogs")
        click.echo(
            render_table(
                ("time", "service", "severity", "span", "body"),
                [
                    (_local(e.time), e.service_name, e.severity_text, e.span_id, (e.body or "")[:160])
                    for e in context.logs
                ],
            )
        )
    if context.metrics:
        click.echo("\nmetrics")
        click.echo(
            render_table(
                ("time", "service", "metric", "type", "value", "count", "exemplar"),
                [
                    (
                        _local(m.time),
                        m.service_name,
                        m.name,
                        m.type,
                        m.value,
                        m.count,
                        "linked" if m.linked else "",
                    )
                    for m in context.metrics
                ],
            )
        )


@cli.group()
def dlq() -> None:
    """The local dead-letter spool of batches the database did not take."""


@dlq.command("status")
@click.pass_context
def dlq_status(ctx: click.Context) -> None:
    """Segments, bytes and age of the spool, and rows the database rejected."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(_settings(ctx.find_root())) as query:
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

    database = Database(_settings(ctx.find_root()))
    try:
        with _ProgressBar("replaying") as bar:
            report = replay_spooled(database, bar.update)
    finally:
        database.close()
    click.echo(
        f"replayed {report.replayed_batches} batches ({report.replayed_rows} rows), "
        f"{report.duplicate_batches} already stored; {report.left_batches} left (held by running processes)"
    )
    if report.refused:
        raise click.ClickException("the database refused a spooled batch; it stays spooled")


class _ProgressBar:
    """A click progress bar on stderr whose length is known only with the first update."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr).__enter__()
        self._bar.update(1)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)


@cli.command("health")
@click.pass_context
def health_command(ctx: click.Context) -> None:
    """Reachability, versions, migration, breaker state and spool size; exit 1 when unreachable."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(_settings(ctx)) as query:
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
        sys.exit(1)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__  # libpq adds hint lines


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: every error becomes one line on stderr, never a traceback.

    The package's own errors (:class:`PgvectorError`: settings, an unreachable or unsuitable
    server, bad query arguments) exit with status 2. Anything else is a bug or an environment
    problem nobody anticipated: still one line, exit status 3, and the traceback is logged
    for ``-v``.
    """
    try:
        cli.main(args=argv, prog_name="otel-pgvector", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.exit(130)
    except PgvectorError as error:
        click.echo(f"otel-pgvector: {_one_line(error)}", err=True)
        sys.exit(2)
    except Exception as error:  # the CLI never shows a traceback; -v logs it
        logging.getLogger(__name__).info("the unexpected error", exc_info=True)
        click.echo(f"otel-pgvector: unexpected {type(error).__name__}: {_one_line(error)}", err=True)
        sys.exit(3)
