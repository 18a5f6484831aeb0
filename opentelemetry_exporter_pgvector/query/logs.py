"""Log queries: full-text search, patterns, and the logs of one trace.

Each function returns a :mod:`plan <.plan>`, so the sync and the async client run the same
SQL; ``TelemetryQuery.search_logs`` and friends are the public entry points.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..convert.shapes import log_pattern_sql
from ..db.database import Database
from ..errors import QueryError
from .plan import Fetch, Plan, fetch_all
from .rows import Rows

# OpenTelemetry severity numbers of the named levels (the lowest number of each range).
SEVERITY_NUMBERS = {
    "TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21, "CRITICAL": 21,
}
_ZERO_TRACE = uuid.UUID(int=0)

_LOG_COLUMNS = sql.SQL(
    "time, service_name, severity_number, severity_text, body_type, body, event_name,"
    " CASE WHEN trace_id <> '00000000-0000-0000-0000-000000000000'"
    " THEN otel_trace_id_hex(trace_id) END AS trace_id,"
    " otel_span_id_hex(span_id) AS span_id, scope_name, attributes"
)


@dataclass(frozen=True)
class LogEntry:
    """One stored log record."""

    time: dt.datetime
    service_name: str
    severity_number: int | None
    severity_text: str | None
    body_type: str
    body: str | None
    event_name: str | None
    trace_id: str | None
    span_id: str | None
    scope_name: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class LogPattern:
    """Log bodies that differ only in their variable parts (numbers, ids, quoted strings)."""

    pattern: str
    count: int
    services: list[str]
    max_severity: int | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    example: str


def parse_trace_id(trace_id: str | int | uuid.UUID) -> uuid.UUID:
    """A trace id given as 32 hex digits (dashes allowed), an int or a UUID."""
    if isinstance(trace_id, uuid.UUID):
        return trace_id
    if isinstance(trace_id, int):
        return uuid.UUID(int=trace_id)
    try:
        return uuid.UUID(hex=trace_id.strip().removeprefix("0x"))
    except ValueError:
        raise QueryError(f"not a trace id (32 hex digits): {trace_id!r}") from None


def severity_number(severity: int | str | None) -> int | None:
    """A minimum severity given as a number (1-24) or a level name (``warn``, ``ERROR``...)."""
    if severity is None or isinstance(severity, int):
        return severity
    text = severity.strip().upper()
    if text.isdigit():
        return int(text)
    if text not in SEVERITY_NUMBERS:
        names = ", ".join(SEVERITY_NUMBERS)
        raise QueryError(f"unknown severity {severity!r}: use a number or one of {names}")
    return SEVERITY_NUMBERS[text]


def either_severity(min_severity: int | str | None, level: int | str | None) -> int | str | None:
    """``search_logs``' minimum severity, given by its name or by the seed's (``level``)."""
    if level is not None and min_severity is not None:
        raise QueryError("give min_severity or level (the same filter), not both")
    return min_severity if level is None else level


def _service_and_time(
    conditions: list[sql.Composable],
    params: list[Any],
    service: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    """Append the optional service and time-range filters every log query takes."""
    for value, condition in ((service, "service_name = %s"), (since, "time >= %s"), (until, "time < %s")):
        if value is not None:
            conditions.append(sql.SQL(condition))
            params.append(value)


def search_logs(
    database: Database,
    text: str | None = None,
    trace_id: str | int | uuid.UUID | None = None,
    service: str | None = None,
    min_severity: int | str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
) -> Plan[Rows[LogEntry]]:
    """Newest first. ``text`` is a web-search query (words match by English stem, ``"a phrase"``,
    ``or``, ``-word``) answered from the full-text index."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if text:
        conditions.append(sql.SQL("otel_log_tsvector(body) @@ websearch_to_tsquery('english', %s)"))
        params.append(text)
    if trace_id is not None:
        conditions.append(sql.SQL("trace_id = %s AND trace_id <> '00000000-0000-0000-0000-000000000000'"))
        params.append(parse_trace_id(trace_id))
    minimum = severity_number(min_severity)
    if minimum is not None:
        conditions.append(sql.SQL("severity_number >= %s"))
        params.append(minimum)
    _service_and_time(conditions, params, service, since, until)
    where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY time DESC, time_ns DESC LIMIT %s").format(
        _LOG_COLUMNS, database.qualified("otel_logs"), where
    )
    return fetch_all(Fetch(query, [*params, limit], LogEntry))


def logs_for_trace(database: Database, trace_id: str | int | uuid.UUID) -> Plan[Rows[LogEntry]]:
    """The records emitted within one trace's spans, oldest first."""
    parsed = parse_trace_id(trace_id)
    if parsed == _ZERO_TRACE:
        raise QueryError("the all-zero trace id marks records outside any span; it is not a trace")
    query = sql.SQL(
        "SELECT {} FROM {} WHERE trace_id = %s AND trace_id <> '00000000-0000-0000-0000-000000000000'"
        " ORDER BY time, time_ns"
    ).format(_LOG_COLUMNS, database.qualified("otel_logs"))
    return fetch_all(Fetch(query, (parsed,), LogEntry))


def log_patterns(
    database: Database,
    service: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
) -> Plan[Rows[LogPattern]]:
    """The most frequent body patterns: per-request values (numbers, ids, addresses, times,
    quoted strings) masked as in shapes (``convert/shapes.py``).

    A record with a shape (``embedding`` not ``off``) takes its pattern from the shape's text,
    masked once when it was written; others are masked here, in SQL, by the same rules, so a
    log statement's records share one pattern whether they were stored with a shape or not.
    """
    conditions: list[sql.Composable] = [sql.SQL("body IS NOT NULL")]
    params: list[Any] = []
    _service_and_time(conditions, params, service, since, None)
    query = sql.SQL(
        "SELECT pattern, count(*) AS count,"
        " array_agg(DISTINCT service_name ORDER BY service_name) AS services,"
        " max(severity_number) AS max_severity, min(time) AS first_seen, max(time) AS last_seen,"
        " min(left(body, 1000)) AS example"
        " FROM (SELECT coalesce((SELECT substr(text, strpos(text, ': ') + 2) FROM {shapes} shape"
        "  WHERE shape.shape_key = logs.shape_key), {pattern}) AS pattern,"
        "  body, service_name, severity_number, time"
        " FROM {table} logs WHERE {where}) AS masked GROUP BY pattern ORDER BY count DESC, pattern LIMIT %s"
    ).format(
        pattern=sql.SQL(log_pattern_sql("logs.body")),
        table=database.qualified("otel_logs"),
        shapes=database.qualified("otel_shapes"),
        where=sql.SQL(" AND ").join(conditions),
    )
    return fetch_all(Fetch(query, [*params, limit], LogPattern))
