"""One trace with what surrounds it: its spans as a tree, its logs, and the metric points
linked to it by exemplars or recorded by its services while it ran.

The spans are ``get_trace``'s (:func:`.traces.trace_spans`: one query, one tree, orphans
placed the same way) and the logs ``logs_for_trace``'s; only the metric points are asked
for here. A plan (``plan.py``), so the sync and the async client answer alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..db.database import Database
from .logs import LogEntry, logs_for_trace, parse_trace_id
from .plan import Fetch, Plan
from .rows import Rows
from .traces import Trace, TraceSpan, trace_of, trace_spans

# A periodic reader exports every 60 s by default: a point recorded while the trace ran is
# stamped up to one interval after the trace ended.
DEFAULT_METRIC_SLACK = dt.timedelta(seconds=60)


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
    """A trace's spans (depth-first, parents before children, as ``get_trace`` orders them),
    logs and metric points; empty lists when nothing of the trace is stored."""

    trace_id: str
    spans: Rows[TraceSpan]
    logs: Rows[LogEntry]
    metrics: Rows[MetricPoint]

    def as_trace(self) -> Trace:
        """The spans as ``get_trace`` answers them (:class:`NotFound` when none is stored): the
        ``trace`` command draws its waterfall from this, without asking for the spans again."""
        return trace_of(self.trace_id, self.spans)


def trace_context(
    database: Database,
    trace_id: str | int | uuid.UUID,
    metric_slack: dt.timedelta = DEFAULT_METRIC_SLACK,
    metric_limit: int = 200,
) -> Plan[TraceContext]:
    """Everything stored about one trace; the all-zero id is refused (by ``logs_for_trace``)."""
    parsed = parse_trace_id(trace_id)
    logs_plan = logs_for_trace(database, parsed)  # refuses the all-zero id before any query
    return _trace_context(database, parsed, logs_plan, metric_slack, metric_limit)


def _trace_context(database: Database, parsed: uuid.UUID, logs_plan: Plan[Rows[LogEntry]],
                   metric_slack: dt.timedelta, metric_limit: int) -> Plan[TraceContext]:
    spans = yield from trace_spans(database, parsed)
    logs = yield from logs_plan
    link_param = f'[{{"trace_id": "{parsed.hex}"}}]'
    linked: sql.Composable = sql.SQL("exemplars <> '[]' AND exemplars @> %s::jsonb")
    if spans:
        started = min(span.start_time for span in spans)
        ended = max(span.end_time or span.start_time for span in spans) + metric_slack
        where: sql.Composable = sql.SQL(
            "({linked}) OR (service_name = ANY(%s) AND time >= %s AND time <= %s)"
        ).format(linked=linked)
        params: list[Any] = [link_param, link_param, sorted({span.service_name for span in spans}),
                             started, ended]
    else:
        where = linked
        params = [link_param, link_param]
    metric_query = sql.SQL(
        "SELECT time, service_name, name, type, unit, value, count, sum, attributes,"
        " coalesce(exemplars <> '[]' AND exemplars @> %s::jsonb, false) AS linked"
        " FROM {} WHERE {} ORDER BY linked DESC, time, name LIMIT %s"
    ).format(database.qualified("otel_metric_points"), where)
    metrics = yield Fetch(metric_query, [*params, metric_limit], MetricPoint)
    return TraceContext(trace_id=parsed.hex, spans=spans, logs=logs, metrics=Rows(metrics, MetricPoint))
