"""Commands that ask questions of the stored telemetry; they only render what
:class:`~opentelemetry_exporter_pgvector.query.telemetry.TelemetryQuery` returns.

A search that finds nothing says so on stderr and exits 1, as grep does, so scripts can
tell "no match" from "no output".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import click

from .outcome import NothingFound
from .params import DURATION, LIMIT, TIME, settings_of
from .render import local_time, one_line, render_table, shorten


@click.command()
@click.argument("text", required=False)
@click.option("--span-id", help="Find spans like this stored span (16 hex digits) instead of TEXT.")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Shapes to show.")
@click.option("--service", help="Only shapes of this service.")
@click.option(
    "--status", type=click.Choice(["UNSET", "OK", "ERROR"], case_sensitive=False), help="Only this status."
)
@click.option("--since", type=TIME, help="Only spans since (an age: 15m, 2h, 7d; or ISO 8601).")
@click.option("--until", type=TIME, help="Only spans before (an age or ISO 8601).")
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
    since: dt.datetime | None,
    until: dt.datetime | None,
    min_similarity: float | None,
    as_json: bool,
) -> None:
    """Span shapes most similar to TEXT (or to --span-id), with their span counts and an example."""
    from ..query.telemetry import TelemetryQuery

    if (text is None) == (span_id is None):
        raise click.UsageError("give either TEXT or --span-id")
    with TelemetryQuery(settings_of(ctx)) as query:
        results = query.similar_spans(
            text=text, span_id=span_id, k=k, min_similarity=min_similarity, service=service,
            status=status.upper() if status else None, since=since, until=until,
        )
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(result) for result in results], default=str, indent=2))
        return
    if not results:
        raise NothingFound("no span shapes match (are they embedded? run: otel-pgvector embed)")
    click.echo(
        render_table(
            ("similarity", "spans", "service", "status", "shape", "last seen", "example trace"),
            [
                (r.similarity, r.span_count, r.service_name, r.status_code, shorten(r.text, 90),
                 r.last_seen.isoformat(timespec="seconds"), r.example_trace_id)
                for r in results
            ],
        )
    )


@click.command()
@click.argument("text", required=False)
@click.option("--service", default=None, help="Only this service.")
@click.option("--since", type=TIME, default=None, help="Only since (an age: 15m, 2h, 7d, or ISO 8601).")
@click.option("--severity", "min_severity", default=None,
              help="Minimum severity: a number or debug, info, warn, error, fatal.")
@click.option("--trace", "trace_id", default=None, help="Only the records of this trace (32 hex digits).")
@click.option("--patterns", is_flag=True, help="Show the most frequent body patterns with counts instead.")
@click.option("--limit", type=LIMIT, default=50, show_default=True, help="Rows to show.")
@click.pass_context
def logs(
    ctx: click.Context,
    text: str | None,
    service: str | None,
    since: dt.datetime | None,
    min_severity: str | None,
    trace_id: str | None,
    patterns: bool,
    limit: int,
) -> None:
    """Search log records by words (matched by stem: "timed out" finds "timing out"), or show --patterns."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        if patterns:
            found = query.log_patterns(service=service, since=since, limit=limit)
            if not found:
                raise NothingFound("no log records in that window")
            click.echo(
                render_table(
                    ("count", "max severity", "services", "last seen", "pattern"),
                    [(p.count, p.max_severity, ",".join(p.services), local_time(p.last_seen),
                      shorten(p.pattern, 120)) for p in found],
                )
            )
            return
        entries = query.search_logs(
            text, trace_id=trace_id, service=service, min_severity=min_severity, since=since, limit=limit
        )
    if not entries:
        raise NothingFound("no log records match")
    click.echo(
        render_table(
            ("time", "service", "severity", "trace", "body"),
            [(local_time(e.time), e.service_name, e.severity_text or e.severity_number, e.trace_id or "",
              one_line(e.body or "", 160)) for e in entries],
        )
    )


@click.command()
@click.argument("name")
@click.option("--since", type=TIME, default="1h", show_default=True,
              help="How far back: an age (30s, 15m, 1h, 7d) or ISO 8601.")
@click.option("--step", type=DURATION, default=None, help="Bucket width (default: the window / 20).")
@click.option(
    "--agg",
    type=click.Choice(["avg", "sum", "max", "rate", "p50", "p95", "p99"], case_sensitive=False),
    default="avg",
    show_default=True,
)
@click.option("--service", default=None, help="Only this service.")
@click.pass_context
def metrics(
    ctx: click.Context,
    name: str,
    since: dt.datetime,
    step: dt.timedelta | None,
    agg: str,
    service: str | None,
) -> None:
    """One metric over time, e.g. `metrics http.server.request.duration --since 1h --agg p95`."""
    from ..query.telemetry import TelemetryQuery

    until = dt.datetime.now(dt.timezone.utc)
    if since >= until:
        raise click.BadParameter("must be in the past", param_hint="'--since'")
    width = step or max((until - since) / 20, dt.timedelta(seconds=1))
    agg = agg.lower()
    with TelemetryQuery(settings_of(ctx)) as query:
        series = query.metric_series(name, since, until, width, service=service, agg=agg)  # type: ignore[arg-type]
    if not series:
        raise NothingFound(f"no points of {name!r} since {local_time(since)}")
    click.echo(
        render_table(
            ("time", f"{agg}({name})", "points"), [(local_time(b.time), b.value, b.points) for b in series]
        )
    )


@click.command()
@click.argument("trace_id")
@click.pass_context
def trace(ctx: click.Context, trace_id: str) -> None:
    """One trace's context: its spans as a tree, its logs, and the metric points around it."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        context = query.trace_context(trace_id)
    if not context.spans and not context.logs:
        raise NothingFound(f"no spans or logs of trace {context.trace_id} are stored")
    click.echo(
        f"trace {context.trace_id}: {len(context.spans)} spans, {len(context.logs)} logs, "
        f"{len(context.metrics)} metric points"
    )
    click.echo(
        render_table(
            ("span", "service", "duration ms", "status", "start"),
            [("  " * s.depth + s.name, s.service_name, s.duration_ms, s.status_code, local_time(s.start_time))
             for s in context.spans],
        )
    )
    if context.logs:
        click.echo("\nlogs")
        click.echo(
            render_table(
                ("time", "service", "severity", "span", "body"),
                [(local_time(e.time), e.service_name, e.severity_text, e.span_id, one_line(e.body or "", 160))
                 for e in context.logs],
            )
        )
    if context.metrics:
        click.echo("\nmetrics")
        click.echo(
            render_table(
                ("time", "service", "metric", "type", "value", "count", "exemplar"),
                [(local_time(m.time), m.service_name, m.name, m.type, m.value, m.count,
                  "linked" if m.linked else "") for m in context.metrics],
            )
        )
