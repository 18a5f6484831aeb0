"""One trace with what surrounds it: its spans as a tree, its logs, and the metric points
linked to it by exemplars or recorded by its services while it ran."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from ..db.database import Database
from .logs import LogEntry, logs_for_trace, parse_trace_id
from .rows import Rows

# A periodic reader exports every 60 s by default: a point recorded while the trace ran is
# stamped up to one interval after the trace ended.
DEFAULT_METRIC_SLACK = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SpanNode:
    """One span of a trace; ``depth`` is its level in the tree (0 for a root)."""

    span_id: str
    parent_span_id: str | None
    service_name: str
    name: str
    kind: str
    status_code: str
    start_time: dt.datetime
    duration_ms: float | None
    depth: int = 0


@dataclass(frozen=True)
class MetricPoint:
    """A stored metric point, summarized. ``linked``: one of its exemplars is in the trace (in a
    trace context), or it has exemplars linking it to traces (in a listing by time range)."""

    time: dt.datetime
    service_name: str
    name: str
    type: str
    unit: str | None
    value: float | None
    count: int | None
    sum: float | None
    attributes: dict[str, Any]
    linked: bool


@dataclass(frozen=True)
class TraceContext:
    """A trace's spans (depth-first, parents before children), logs and metric points."""

    trace_id: str
    spans: Rows[SpanNode]
    logs: Rows[LogEntry]
    metrics: Rows[MetricPoint]


def _span_tree(spans: list[SpanNode]) -> list[SpanNode]:
    """Spans depth-first in start order, each with its depth; orphans become roots."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[SpanNode]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    ordered: list[SpanNode] = []
    stack = [(span, 0) for span in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        ordered.append(replace(span, depth=depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return ordered


def trace_context(
    conn: psycopg.Connection,
    database: Database,
    trace_id: str | int | uuid.UUID,
    metric_slack: dt.timedelta = DEFAULT_METRIC_SLACK,
    metric_limit: int = 200,
) -> TraceContext:
    """Everything stored about one trace (empty lists when nothing is)."""
    parsed = parse_trace_id(trace_id)
    span_query = sql.SQL(
        "SELECT otel_span_id_hex(span_id) AS span_id, otel_span_id_hex(parent_span_id) AS parent_span_id,"
        " service_name, name, kind, status_code, start_time, duration_ns / 1e6::float8 AS duration_ms"
        " FROM {} WHERE trace_id = %s ORDER BY start_time, start_time_ns"
    ).format(database.qualified("otel_spans"))
    with conn.cursor(row_factory=class_row(SpanNode)) as cursor:
        spans = _span_tree(cursor.execute(span_query, (parsed,)).fetchall())
    logs = logs_for_trace(conn, database, parsed)
    hex_id = parsed.hex
    linked: sql.Composable = sql.SQL("exemplars <> '[]' AND exemplars @> %s::jsonb")
    link_param = f'[{{"trace_id": "{hex_id}"}}]'
    if spans:
        services = sorted({span.service_name for span in spans})
        started = min(span.start_time for span in spans)
        ended = max(
            span.start_time + dt.timedelta(milliseconds=span.duration_ms or 0) for span in spans
        ) + metric_slack
        where: sql.Composable = sql.SQL(
            "({linked}) OR (service_name = ANY(%s) AND time >= %s AND time <= %s)"
        ).format(linked=linked)
        params: list[Any] = [link_param, link_param, services, started, ended]
    else:
        where = linked
        params = [link_param, link_param]
    metric_query = sql.SQL(
        "SELECT time, service_name, name, type, unit, value, count, sum, attributes,"
        " coalesce(exemplars <> '[]' AND exemplars @> %s::jsonb, false) AS linked"
        " FROM {} WHERE {} ORDER BY linked DESC, time, name LIMIT %s"
    ).format(database.qualified("otel_metric_points"), where)
    with conn.cursor(row_factory=class_row(MetricPoint)) as cursor:
        metrics = cursor.execute(metric_query, [*params, metric_limit]).fetchall()
    return TraceContext(trace_id=hex_id, spans=Rows(spans, SpanNode), logs=logs,
                        metrics=Rows(metrics, MetricPoint))
