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
DEFAULT_ERROR_WINDOW = dt.timedelta(hours=24)
EXAMPLES = 3

_ERROR_KEYS: dict[str, str] = {
    # a span marked ERROR without an exception event is grouped by its status message
    # (otel_error_key, migration 0009, which the Grafana Overview groups by too)
    "exception_type": "otel_error_key(s.exception_type, s.status_message, s.name)",
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
    # the definition lives in SQL (migration 0009), shared with the Grafana dashboards
    statement = sql.SQL("SELECT * FROM {}(%s, %s, %s, %s, %s)").format(database.qualified("otel_red"))
    return fetch_all(Fetch(statement, [since, until, width, by == "operation", service], RedBucket))


@dataclass(frozen=True)
class ServiceEdge:
    """Calls from one service to another (or to an uninstrumented dependency)."""

    caller: str
    callee: str
    calls: int
    errors: int
    p95_ms: float | None


def service_map(
    database: Database, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> Plan[Rows[ServiceEdge]]:
    """Edges caller -> callee in the window (default: the last hour): a span whose parent is in
    another service is a call from that service (its duration and status are the call's);
    a CLIENT span no other service answered is a call to the dependency it names."""
    since, until = time_window(since, until)
    # the definition lives in SQL (migration 0009), shared with the Grafana service map
    statement = sql.SQL("SELECT * FROM {}(%s, %s)").format(database.qualified("otel_service_map"))
    return fetch_all(Fetch(statement, [since, until], ServiceEdge))
