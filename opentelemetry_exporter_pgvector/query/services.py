"""Services: errors grouped, RED (rate, errors, duration) per service or operation, and the
service map. Plans (see ``plan.py``), each bounded by a time window on ``start_time``.

RED counts *entry* spans: ``SERVER`` and ``CONSUMER`` spans, the requests and messages a
service handles. Its ``CLIENT``, ``PRODUCER`` and ``INTERNAL`` spans are work done while
handling them; counting them too would count one request several times.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from ..db.database import Database
from ..errors import QueryError
from .plan import Fetch, Plan, fetch_all
from .rows import Rows
from .traces import TraceFilters, TraceSummary, find_traces, time_window

ErrorGrouping = Literal["exception_type", "name", "service", "shape"]
RedGrouping = Literal["service", "operation"]
ENTRY_KINDS = ("SERVER", "CONSUMER")
DEFAULT_ERROR_WINDOW = dt.timedelta(hours=24)
EXAMPLES = 3

_ERROR_KEYS: dict[str, str] = {
    # a span marked ERROR without an exception event is grouped by its status message
    "exception_type": "coalesce(s.exception_type,"
    " '(no exception) ' || left(coalesce(s.status_message, s.name), 80))",
    "name": "s.service_name || ' ' || s.name",
    "service": "s.service_name",
    "shape": "coalesce(sh.text, '(no shape) ' || s.service_name || ' ' || s.name)",
}


@dataclass(frozen=True)
class ErrorGroup:
    """Failed spans sharing a key: how many, when, where, an example message and traces."""

    key: str
    count: int
    services: list[str]
    first_seen: dt.datetime
    last_seen: dt.datetime
    sample_message: str | None
    example_trace_ids: list[str]


def errors(
    database: Database,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    service: str | None = None,
    group_by: ErrorGrouping = "exception_type",
    limit: int = 50,
) -> Plan[Rows[ErrorGroup]]:
    """Spans with status ERROR in the window (default: the last 24 hours), grouped, most
    frequent first; the partial index on failed spans serves the scan."""
    if group_by not in _ERROR_KEYS:
        raise QueryError(f"group_by must be one of {', '.join(_ERROR_KEYS)}, got {group_by!r}")
    if not 1 <= limit <= 10_000:
        raise QueryError(f"limit must be between 1 and 10000, got {limit}")
    since, until = time_window(since, until, DEFAULT_ERROR_WINDOW)
    conditions = [
        sql.SQL("s.status_code = 'ERROR'"),
        sql.SQL("s.start_time >= %s"),
        sql.SQL("s.start_time < %s"),
    ]
    params: list[Any] = [since, until]
    if service is not None:
        conditions.append(sql.SQL("s.service_name = %s"))
        params.append(service)
    join = sql.SQL("LEFT JOIN {} sh ON sh.shape_key = s.shape_key").format(database.qualified("otel_shapes"))
    statement = sql.SQL(
        "SELECT {key} AS key, count(*) AS count,"
        " array_agg(DISTINCT s.service_name ORDER BY s.service_name) AS services,"
        " min(s.start_time) AS first_seen, max(s.start_time) AS last_seen,"
        " (array_agg(coalesce(s.events -> 0 -> 'attributes' ->> 'exception.message', s.status_message)"
        "   ORDER BY s.start_time DESC))[1] AS sample_message,"
        " (array_agg(DISTINCT otel_trace_id_hex(s.trace_id)))[1:%s] AS example_trace_ids"
        " FROM {spans} s {join} WHERE {conditions}"
        " GROUP BY 1 ORDER BY count DESC, key LIMIT %s"
    ).format(
        key=sql.SQL(_ERROR_KEYS[group_by]),
        spans=database.qualified("otel_spans"),
        join=join if group_by == "shape" else sql.SQL(""),
        conditions=sql.SQL(" AND ").join(conditions),
    )
    return fetch_all(Fetch(statement, [EXAMPLES, *params, limit], ErrorGroup))


def traces_by_error(
    database: Database,
    error_type: str,
    service: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 20,
) -> Plan[Rows[TraceSummary]]:
    """Traces with a span whose first exception is of type ``error_type`` (the promoted
    ``exception_type``, matched exactly), newest first, in the window of :func:`errors`
    (default: the last 24 hours): the traces behind one of its ``exception_type`` groups."""
    since, until = time_window(since, until, DEFAULT_ERROR_WINDOW)
    return find_traces(database, TraceFilters(service=service, exception_type=error_type, since=since,
                                              until=until, limit=limit))


@dataclass(frozen=True)
class RedBucket:
    """One time bucket of one service (and operation): rate, errors and duration."""

    time: dt.datetime
    service_name: str
    operation: str | None  # the span name, when grouped by operation
    requests: int
    errors: int
    rate_per_second: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def red(
    database: Database,
    by: RedGrouping = "service",
    service: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    step: dt.timedelta | None = None,
) -> Plan[Rows[RedBucket]]:
    """Request rate, error rate and p50/p95/p99 duration of entry spans per ``step`` bucket
    (default: the whole window, default the last hour), per service or per operation.

    Percentiles are continuous (``percentile_cont``, interpolated as numpy's default).
    """
    if by not in ("service", "operation"):
        raise QueryError(f"by must be service or operation, got {by!r}")
    since, until = time_window(since, until)
    width = step if step is not None else until - since
    if width <= dt.timedelta(0):
        raise QueryError("step must be positive")
    # the kinds as literals, so the planner matches the partial index otel_spans_entry_red
    # (migration 0008) in a generic plan too, where a parameter could be anything
    entry = sql.SQL("kind IN ({})").format(sql.SQL(", ").join(sql.Literal(kind) for kind in ENTRY_KINDS))
    conditions = [entry, sql.SQL("start_time >= %s"), sql.SQL("start_time < %s")]
    params: list[Any] = [since, until]
    if service is not None:
        conditions.append(sql.SQL("service_name = %s"))
        params.append(service)
    operation = sql.SQL("name" if by == "operation" else "NULL::text")
    statement = sql.SQL(
        "SELECT date_bin(%s, start_time, %s) AS time, service_name, {operation} AS operation,"
        " count(*) AS requests, count(*) FILTER (WHERE status_code = 'ERROR') AS errors,"
        " count(*) / extract(epoch FROM %s::interval)::float8 AS rate_per_second,"
        " (count(*) FILTER (WHERE status_code = 'ERROR'))::float8 / count(*) AS error_rate,"
        " percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p50_ms,"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95_ms,"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p99_ms"
        " FROM {spans} WHERE {conditions} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).format(
        operation=operation,
        spans=database.qualified("otel_spans"),
        conditions=sql.SQL(" AND ").join(conditions),
    )
    return fetch_all(Fetch(statement, [width, since, width, *params], RedBucket))


@dataclass(frozen=True)
class ServiceEdge:
    """Calls from one service to another (or to an uninstrumented dependency)."""

    caller: str
    callee: str
    calls: int
    errors: int
    p95_ms: float | None


# A CLIENT span with no child in another service calls something that does not trace itself
# (a database, a cache, a third-party API): named by the first of these attributes it has.
_PEER = (
    "coalesce(c.attributes ->> 'peer.service', c.attributes ->> 'db.system.name',"
    " c.attributes ->> 'db.system', c.attributes ->> 'rpc.service', c.attributes ->> 'server.address',"
    " c.attributes ->> 'messaging.system')"
)


def service_map(
    database: Database, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> Plan[Rows[ServiceEdge]]:
    """Edges caller -> callee in the window (default: the last hour): a span whose parent is in
    another service is a call from that service (its duration and status are the call's);
    a CLIENT span no other service answered is a call to the dependency it names."""
    since, until = time_window(since, until)
    spans = database.qualified("otel_spans")
    statement = sql.SQL(
        "WITH window_spans AS (SELECT trace_id, span_id, parent_span_id, service_name, kind, status_code,"
        "  duration_ns, attributes FROM {spans} WHERE start_time >= %s AND start_time < %s),"
        " crossing AS (SELECT p.service_name AS caller, c.service_name AS callee, c.status_code,"
        "  c.duration_ns, p.span_id AS parent_id, p.trace_id"
        "  FROM window_spans c JOIN window_spans p"
        "  ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id AND p.service_name <> c.service_name),"
        " dependencies AS (SELECT c.service_name AS caller, " + _PEER + " AS callee, c.status_code,"
        "  c.duration_ns FROM window_spans c WHERE c.kind = 'CLIENT' AND NOT EXISTS ("
        "  SELECT 1 FROM crossing x WHERE x.trace_id = c.trace_id AND x.parent_id = c.span_id))"
        " SELECT caller, callee, count(*) AS calls, count(*) FILTER (WHERE status_code = 'ERROR') AS errors,"
        "  percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95_ms"
        " FROM (SELECT caller, callee, status_code, duration_ns FROM crossing"
        "  UNION ALL SELECT caller, callee, status_code, duration_ns FROM dependencies"
        "  WHERE callee IS NOT NULL)"
        "  AS calls GROUP BY caller, callee ORDER BY caller, callee"
    ).format(spans=spans)
    return fetch_all(Fetch(statement, [since, until], ServiceEdge))
