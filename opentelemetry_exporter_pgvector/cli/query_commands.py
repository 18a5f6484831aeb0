"""Commands that search the stored telemetry: similar spans, logs, metrics, and SQL.

They only render what :class:`~opentelemetry_exporter_pgvector.query.telemetry.TelemetryQuery`
returns. Each takes ``--json`` (the answer's dataclasses as JSON, for scripts). A search that
finds nothing says so on stderr and exits 1, as grep does, so scripts can tell "no match"
from "no output".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click
from rich.text import Text

from .params import DURATION, LIMIT, TIME, settings_of
from .render import Col, Output, answer_json, clock, jsonable, one_line

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON, for scripts.")
# Shapes a similarity search may return (query/similar.py's bound).
MAX_SIMILAR = 1000
# How a text query may rank shapes: query/similar.py's METHODS (a test keeps them equal), named
# here so that parsing the command line does not import the query layer.
SIMILAR_METHODS = ("hybrid", "vector")
# Characters of a log body shown in a table (wrapped): a logged stack trace does not flood it.
BODY_WIDTH = 300
# A SQL result is shown as a table when each column gets at least this, or all it needs.
SQL_COLUMN_WIDTH = 12


@click.command()
@click.argument("text", required=False)
@click.option("--span-id", help="Find spans like this stored span (16 hex digits) instead of TEXT.")
@click.option("-k", "k", type=click.IntRange(1, MAX_SIMILAR), default=10, show_default=True,
              help="Shapes to show.")
@click.option("--service", help="Only shapes of this service.")
@click.option(
    "--status", type=click.Choice(["UNSET", "OK", "ERROR"], case_sensitive=False), help="Only this status."
)
@click.option("--since", type=TIME, help="Only spans since (an age: 15m, 2h, 7d; or ISO 8601).")
@click.option("--until", type=TIME, help="Only spans before (an age or ISO 8601).")
@click.option(
    "--min-similarity", type=click.FloatRange(0, 1), help="Leave out shapes less similar than this."
)
@click.option(
    "--method", type=click.Choice(SIMILAR_METHODS, case_sensitive=False), default="hybrid", show_default=True,
    help="How TEXT ranks shapes: hybrid (meaning, words and the failure it describes) or vector"
         " (cosine similarity alone). A --span-id search is always vector.",
)
@JSON_OPTION
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
    method: str,
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
            method=method.lower(),
        )
    if answer_json(results, as_json, not results,
                   "no span shapes match (are they embedded? run: otel-pgvector embed)"):
        return
    Output().table(
        (Col("similarity", right=True), Col("spans", right=True), Col("shape", flex="wrap"),
         Col("example trace")),
        [(r.similarity, r.span_count, _status_text(r.text, r.status_code), r.example_trace_id)
         for r in results],
    )


def _status_text(text: str, status: str | None) -> Text:
    """``text`` in red when ``status`` (a span status or a log severity) says it failed."""
    return Text(text, style="red" if status in ("ERROR", "FATAL") else "")


@click.command()
@click.argument("text", required=False)
@click.option("--similar", "like", metavar="TEXT",
              help="Log-body shapes most like TEXT by meaning, however worded (needs them embedded).")
@click.option("--patterns", is_flag=True, help="Show the most frequent body patterns with counts instead.")
@click.option("--service", default=None, help="Only this service.")
@click.option("--since", type=TIME, default=None, help="Only since (an age: 15m, 2h, 7d, or ISO 8601).")
@click.option("--severity", "min_severity", default=None,
              help="Minimum severity (word search): a number or debug, info, warn, error, fatal.")
@click.option("--trace", "trace_id", default=None,
              help="Only the records of this trace (32 hex digits; word search).")
@click.option("--limit", type=LIMIT, default=None,
              help="Rows to show (default: 50; 10 shapes with --similar, at most 1000).")
@JSON_OPTION
@click.pass_context
def logs(
    ctx: click.Context,
    text: str | None,
    like: str | None,
    patterns: bool,
    service: str | None,
    since: dt.datetime | None,
    min_severity: str | None,
    trace_id: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Search log records by words (matched by stem: "timed out" finds "timing out"), or show
    their --patterns, or the log lines --similar to a text by meaning."""
    from ..query.telemetry import TelemetryQuery

    modes = [name for name, given in (("TEXT", text is not None), ("--patterns", patterns),
                                      ("--similar", like is not None)) if given]
    if len(modes) > 1:
        raise click.UsageError(f"give only one of {' and '.join(modes)}")
    if modes and modes[0] != "TEXT" and (min_severity is not None or trace_id is not None):
        raise click.UsageError(f"--severity and --trace filter a word search, not {modes[0]}")
    if like is not None and limit is not None and limit > MAX_SIMILAR:
        raise click.BadParameter(f"at most {MAX_SIMILAR} with --similar", param_hint="'--limit'")
    out = Output()
    with TelemetryQuery(settings_of(ctx)) as query:
        if like is not None:
            similar_logs = query.similar_logs(text=like, k=limit or 10, service=service, since=since)
            if answer_json(similar_logs, as_json, not similar_logs,
                           "no log shapes match (are they embedded? run: otel-pgvector embed)"):
                return
            out.table(
                (Col("similarity", right=True), Col("records", right=True), Col("log shape", flex="wrap"),
                 Col("example trace")),
                [(r.similarity, r.record_count, _status_text(r.text, r.severity_text), r.example_trace_id)
                 for r in similar_logs],
            )
            return
        if patterns:
            found = query.log_patterns(service=service, since=since, limit=limit or 50)
            if answer_json(found, as_json, not found, "no log records in that window"):
                return
            out.table(
                (Col("count", right=True), Col("max severity", right=True), Col("services", flex="cut"),
                 Col("last seen"), Col("pattern", flex="wrap")),
                [(p.count, p.max_severity, ",".join(p.services), clock(p.last_seen), p.pattern)
                 for p in found],
            )
            return
        entries = query.search_logs(text, trace_id=trace_id, service=service, min_severity=min_severity,
                                    since=since, limit=limit or 50)
    if answer_json(entries, as_json, not entries, "no log records match"):
        return
    out.table(
        (Col("time"), Col("service"), Col("severity"), Col("trace"), Col("body", flex="wrap")),
        [(clock(e.time), e.service_name, e.severity_text or e.severity_number, e.trace_id,
          _status_text(one_line(e.body or "", BODY_WIDTH), e.severity_text)) for e in entries],
    )


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_names", is_flag=True, help="List the metrics stored in the window instead.")
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
@JSON_OPTION
@click.pass_context
def metrics(
    ctx: click.Context,
    name: str | None,
    list_names: bool,
    since: dt.datetime,
    step: dt.timedelta | None,
    agg: str,
    service: str | None,
    as_json: bool,
) -> None:
    """One metric over time, e.g. `metrics http.server.request.duration --since 1h --agg p95`,
    or the metrics stored with `metrics --list`."""
    from ..query.telemetry import TelemetryQuery

    if (name is None) == (not list_names):
        raise click.UsageError("give either NAME or --list")
    until = dt.datetime.now(dt.timezone.utc)
    if since >= until:
        raise click.BadParameter("must be in the past", param_hint="'--since'")
    if name is None:
        with TelemetryQuery(settings_of(ctx)) as query:
            names = query.metric_names(since=since, until=until, service=service)
        if answer_json(names, as_json, not names, f"no metric points since {clock(since)}"):
            return
        Output().table(
            (Col("metric"), Col("type"), Col("unit"), Col("series", right=True),
             Col("points", right=True), Col("services", flex="cut"), Col("description", flex="cut")),
            [(m.name, m.type, m.unit, m.series, m.points, ",".join(m.services), m.description)
             for m in names],
        )
        return
    width = step or max((until - since) / 20, dt.timedelta(seconds=1))
    agg = agg.lower()
    with TelemetryQuery(settings_of(ctx)) as query:
        series = query.metric_series(name, since, until, width, service=service, agg=agg)  # type: ignore[arg-type]
    if answer_json(series, as_json, not series, f"no points of {name!r} since {clock(since)}"):
        return
    Output().table(
        (Col("time"), Col(f"{agg}({name})", right=True), Col("points", right=True)),
        [(clock(b.time), b.value, b.points) for b in series],
    )


@click.command("sql")
@click.argument("query_text", metavar="QUERY")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Rows to fetch at most.")
@click.option("--timeout", type=click.FloatRange(0, 3600, min_open=True), default=5.0, show_default=True,
              help="Seconds the query may run.")
@JSON_OPTION
@click.pass_context
def sql(ctx: click.Context, query_text: str, limit: int, timeout: float, as_json: bool) -> None:
    """Run one read-only query, e.g. `sql "select count(*) from otel_spans"`; writes are refused
    however they are spelled (one statement, read-only transaction, bounded in time and rows)."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        result = query.sql(query_text, limit=limit, timeout=timeout)
    if answer_json(result, as_json, not result.rows, "the query returned no rows"):
        return
    out = Output()
    rows = [[_sql_cell(value) for value in row] for row in result.rows]
    if _fits(result.columns, rows, out.width):
        out.table([Col(column, flex="cut") for column in result.columns], rows)
    else:  # one block per row, a line per column, as psql's expanded display
        for number, row in enumerate(rows, 1):
            out.section(f"row {number}")
            out.table((Col("column"), Col("value", flex="wrap")), zip(result.columns, row, strict=True),
                      header=False)
    if result.truncated:
        click.echo(f"(the first {limit} rows: raise --limit for more)", err=True)


def _sql_cell(value: Any) -> Text:
    """A value as the database returned it (floats unrounded), NULL marked as such; others as
    --json has them: times in ISO 8601, UUIDs as hex, JSON and arrays as JSON."""
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, (str, int, float)):
        return Text(str(value))
    converted = jsonable(value)
    return Text(converted if isinstance(converted, str) else json.dumps(converted, ensure_ascii=False))


def _fits(columns: Sequence[str], rows: Sequence[Sequence[Text]], width: int) -> bool:
    """Whether a table leaves every column its header and values, or at least
    :data:`SQL_COLUMN_WIDTH` characters of them."""
    needed = [min(SQL_COLUMN_WIDTH, max(len(column), *(len(row[index]) for row in rows)))
              for index, column in enumerate(columns)]
    return sum(needed) + 2 * (len(columns) - 1) <= width
