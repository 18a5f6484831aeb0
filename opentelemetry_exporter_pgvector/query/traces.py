"""Traces: search with span- and trace-level filters, one trace as a tree, two traces compared.

Every function returns a :mod:`plan <.plan>`, so the sync and the async client run the same
SQL. Searches are bounded by a time window (default: the last hour) on ``start_time``, the
partition key, so they touch only the partitions and index ranges of that window.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import sql
from typing_extensions import TypedDict

from ..db.database import Database
from ..errors import NotFound, QueryError
from .logs import parse_trace_id
from .plan import Fetch, Plan, fetch_all
from .rows import Rows

DEFAULT_WINDOW = dt.timedelta(hours=1)
# A trace found by a span in the window is assembled from its spans up to this far outside it
# (a request that started just before ``since``); longer traces are cut at the margin.
TRACE_MARGIN = dt.timedelta(minutes=15)
STATUSES = ("UNSET", "OK", "ERROR")


def time_window(since: dt.datetime | None, until: dt.datetime | None,
                default: dt.timedelta = DEFAULT_WINDOW) -> tuple[dt.datetime, dt.datetime]:
    """``(since, until)`` with the defaults every search uses: until now, ``default`` back."""
    until = until or dt.datetime.now(dt.timezone.utc)
    since = since or until - default
    if since >= until:
        raise QueryError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return since, until


def _nanoseconds(value: dt.timedelta | float | None, name: str) -> int | None:
    """A duration given as a timedelta or as milliseconds, in nanoseconds."""
    if value is None:
        return None
    milliseconds = value.total_seconds() * 1000 if isinstance(value, dt.timedelta) else float(value)
    if not milliseconds >= 0:
        raise QueryError(f"{name} must be a non-negative duration, got {value!r}")
    return int(milliseconds * 1_000_000)


def typed_value(text: str) -> Any:
    """An attribute value as its type is spelled: ``500`` an int, ``0.5`` a float, ``true`` and
    ``false`` booleans, ``["gift", "eu"]`` an array; anything else, and ``"500"`` in double
    quotes, a string (stored attributes keep their types: 500 does not match "500"). The CLI's
    ``--attr KEY=VALUE`` and the UI's attribute field both read values this way."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):  # NaN, Infinity, 1e999
        return text
    return value if isinstance(value, (str, int, float, bool, list)) else text


def attribute_filter(attributes: Mapping[str, Any] | None) -> str | None:
    """``attributes`` as the jsonb a ``@>`` containment test takes, typed as given.

    ``{"http.response.status_code": 500}`` matches the integer 500, not the string "500";
    a list value matches arrays containing those elements. Served by the GIN
    (``jsonb_path_ops``) index on ``attributes``.
    """
    if not attributes:
        return None
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, list, tuple)):
            raise QueryError(f"attribute {key!r}: filter values are strings, numbers, booleans or lists")
    return orjson.dumps({key: list(value) if isinstance(value, tuple) else value
                         for key, value in attributes.items()}).decode()


@dataclass(frozen=True)
class TraceSummary:
    """One trace found by :func:`find_traces`."""

    trace_id: str
    root_service: str
    root_name: str
    start_time: dt.datetime
    duration_ms: float | None
    span_count: int
    error_count: int
    services: list[str]


class TraceFilterArgs(TypedDict, total=False):
    """The keywords of ``find_traces`` (sync and async alike); see :class:`TraceFilters`."""

    service: str | None
    name: str | None
    status: str | None
    min_duration: dt.timedelta | float | None
    max_duration: dt.timedelta | float | None
    attributes: Mapping[str, Any] | None
    root_name: str | None
    min_trace_duration: dt.timedelta | float | None
    since: dt.datetime | None
    until: dt.datetime | None
    limit: int
    exception_type: str | None


@dataclass(frozen=True)
class TraceFilters:
    """What :func:`find_traces` looks for; span-level filters must all hold for one span."""

    service: str | None = None
    name: str | None = None
    status: str | None = None
    min_duration: dt.timedelta | float | None = None  # a span at least this long (ms if a number)
    max_duration: dt.timedelta | float | None = None
    attributes: Mapping[str, Any] | None = None
    root_name: str | None = None  # trace level: the root span's name
    min_trace_duration: dt.timedelta | float | None = None  # trace level: first start to last end
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 20
    exception_type: str | None = None  # the promoted exception.type of the span's first exception event

    def span_conditions(self) -> tuple[list[sql.Composable], list[Any]]:
        status = self.status.upper() if self.status else None
        if status is not None and status not in STATUSES:
            raise QueryError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not 1 <= self.limit <= 10_000:
            raise QueryError(f"limit must be between 1 and 10000, got {self.limit}")
        since, until = time_window(self.since, self.until)
        conditions: list[sql.Composable] = [sql.SQL("start_time >= %s"), sql.SQL("start_time < %s")]
        params: list[Any] = [since, until]
        for column, value in (("service_name", self.service), ("name", self.name), ("status_code", status),
                              ("exception_type", self.exception_type)):
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        bounds = ((sql.SQL("duration_ns >= %s"), _nanoseconds(self.min_duration, "min_duration")),
                  (sql.SQL("duration_ns <= %s"), _nanoseconds(self.max_duration, "max_duration")))
        for condition, nanoseconds in bounds:
            if nanoseconds is not None:
                conditions.append(condition)
                params.append(nanoseconds)
        attributes = attribute_filter(self.attributes)
        if attributes is not None:
            conditions.append(sql.SQL("attributes @> %s::jsonb"))
            params.append(attributes)
        return conditions, params


def find_traces(database: Database, filters: TraceFilters) -> Plan[Rows[TraceSummary]]:
    """Traces with a span matching the span-level filters in the window, newest first.

    One row per trace: its root (the span without a parent, else the earliest), start,
    duration (first start to last end), span and error counts, services touched.
    """
    conditions, params = filters.span_conditions()
    since, until = params[0], params[1]
    having: list[sql.Composable] = []
    having_params: list[Any] = []
    if filters.root_name is not None:
        having.append(sql.SQL("root_name = %s"))
        having_params.append(filters.root_name)
    min_trace = _nanoseconds(filters.min_trace_duration, "min_trace_duration")
    if min_trace is not None:
        having.append(sql.SQL("duration_ns >= %s"))
        having_params.append(min_trace)
    spans = database.qualified("otel_spans")
    statement = sql.SQL(
        "WITH matching AS (SELECT DISTINCT trace_id FROM {spans} WHERE {conditions}),"
        " traces AS ("
        " SELECT s.trace_id, min(s.start_time) AS start_time,"
        "  (extract(epoch FROM max(coalesce(s.end_time, s.start_time)) - min(s.start_time))"
        "   * 1e9)::bigint"
        "   AS duration_ns,"
        "  (array_agg(s.service_name ORDER BY s.parent_span_id IS NOT NULL, s.start_time))[1]"
        "   AS root_service,"
        "  (array_agg(s.name ORDER BY s.parent_span_id IS NOT NULL, s.start_time))[1] AS root_name,"
        "  count(*) AS span_count, count(*) FILTER (WHERE s.status_code = 'ERROR') AS error_count,"
        "  array_agg(DISTINCT s.service_name ORDER BY s.service_name) AS services"
        " FROM {spans} s JOIN matching USING (trace_id)"
        " WHERE s.start_time >= %s AND s.start_time < %s GROUP BY s.trace_id)"
        " SELECT otel_trace_id_hex(trace_id) AS trace_id, root_service, root_name, start_time,"
        "  duration_ns / 1e6::float8 AS duration_ms, span_count, error_count, services"
        " FROM traces {having} ORDER BY start_time DESC LIMIT %s"
    ).format(
        spans=spans,
        conditions=sql.SQL(" AND ").join(conditions),
        having=sql.SQL("WHERE ") + sql.SQL(" AND ").join(having) if having else sql.SQL(""),
    )
    return fetch_all(Fetch(statement, [*params, since - TRACE_MARGIN, until + TRACE_MARGIN, *having_params,
                                       filters.limit], TraceSummary))


@dataclass(frozen=True)
class SpanRecord:
    """One stored span as :func:`find_spans` lists it: a row of ``spans_dataframe()``."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service_name: str
    name: str
    kind: str
    status_code: str
    status_message: str | None
    exception_type: str | None
    start_time: dt.datetime
    end_time: dt.datetime | None
    duration_ms: float | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource: dict[str, Any]
    scope_name: str | None


def find_spans(database: Database, filters: TraceFilters) -> Plan[Rows[SpanRecord]]:
    """The spans matching every span-level filter in the window, newest first, at most ``limit``.

    The trace-level filters (``root_name``, ``min_trace_duration``) do not apply to spans and
    are ignored. The newest ``limit`` spans are picked before their resources are joined.
    """
    conditions, params = filters.span_conditions()
    statement = sql.SQL(
        "SELECT otel_trace_id_hex(s.trace_id) AS trace_id, otel_span_id_hex(s.span_id) AS span_id,"
        " otel_span_id_hex(s.parent_span_id) AS parent_span_id, s.service_name, s.name, s.kind,"
        " s.status_code, s.status_message, s.exception_type, s.start_time, s.end_time,"
        " s.duration_ns / 1e6::float8 AS duration_ms, s.attributes, s.events, s.links,"
        " r.attributes AS resource, s.scope_name"
        " FROM (SELECT * FROM {spans} WHERE {conditions}"
        "  ORDER BY start_time DESC, start_time_ns DESC LIMIT %s) s"
        " JOIN {resources} r USING (resource_id) ORDER BY s.start_time DESC, s.start_time_ns DESC"
    ).format(spans=database.qualified("otel_spans"), resources=database.qualified("otel_resources"),
             conditions=sql.SQL(" AND ").join(conditions))
    return fetch_all(Fetch(statement, [*params, filters.limit], SpanRecord))


@dataclass(frozen=True)
class TraceSpan:
    """One span of a trace, in tree order, with everything stored about it."""

    span_id: str
    parent_span_id: str | None
    service_name: str
    name: str
    kind: str
    status_code: str
    status_message: str | None
    start_time: dt.datetime
    end_time: dt.datetime | None
    duration_ms: float | None
    offset_ms: float  # start relative to the trace's first span
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource: dict[str, Any]
    scope_name: str | None
    depth: int = 0
    orphan: bool = False  # its parent is not stored: shown under the root

    @property
    def exceptions(self) -> list[dict[str, Any]]:
        """The span's exception events' attributes (type, message, stacktrace)."""
        return [event.get("attributes", {}) for event in self.events if event.get("name") == "exception"]


@dataclass(frozen=True)
class Trace:
    """A trace's spans depth-first (parents before children, siblings by start)."""

    trace_id: str
    spans: Rows[TraceSpan] = field(default_factory=lambda: Rows(row_type=TraceSpan))

    @property
    def root(self) -> TraceSpan:
        return self.spans[0]

    @property
    def duration_ms(self) -> float:
        return max((span.offset_ms + (span.duration_ms or 0) for span in self.spans), default=0.0)


def span_tree(rows: list[dict[str, Any]]) -> list[TraceSpan]:
    """The spans of ``rows`` (a trace's, in start order) depth-first, each with its depth.

    Order comes from the parent links, never from clocks, so a child whose service's clock
    runs early still sits under its parent. A span whose parent is not stored (not exported,
    or not yet) is attached under the first root with ``orphan=True``; without any root,
    the earliest span stands in for it. Each span is built once, with its place in the tree
    (a 1,000-span trace is common enough for the copies to show).
    """
    ids = {row["span_id"] for row in rows}
    roots = [row for row in rows if row["parent_span_id"] is None] or rows[:1]
    root_ids = {row["span_id"] for row in roots}
    children: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    for row in rows:
        if row["span_id"] in root_ids:
            continue
        parent, orphan = row["parent_span_id"], row["parent_span_id"] not in ids
        children.setdefault(roots[0]["span_id"] if orphan else parent, []).append((row, orphan))
    ordered: list[TraceSpan] = []
    stack = [(root, False, 0) for root in reversed(roots)]
    while stack:
        row, orphan, depth = stack.pop()
        ordered.append(TraceSpan(**row, depth=depth, orphan=orphan))
        for child, child_orphan in reversed(children.get(row["span_id"], ())):
            stack.append((child, child_orphan, depth + 1))
    return ordered


def get_trace(database: Database, trace_id: str | int | uuid.UUID,
              since: dt.datetime | None = None, until: dt.datetime | None = None) -> Plan[Trace]:
    """One trace as a tree; :class:`NotFound` when none of its spans is stored.

    A trace id alone is looked up through each daily partition's primary-key index;
    ``since``/``until`` (when the trace is known to lie in them) prune the partitions.
    """
    return _get_trace(database, parse_trace_id(trace_id), since, until)


def _get_trace(database: Database, parsed: uuid.UUID, since: dt.datetime | None,
               until: dt.datetime | None) -> Plan[Trace]:
    return trace_of(parsed.hex, (yield from trace_spans(database, parsed, since, until)))


def trace_of(trace_id: str, spans: Rows[TraceSpan]) -> Trace:
    """The trace of ``spans`` (:func:`trace_spans`' answer); :class:`NotFound` when there are none."""
    if not spans:
        raise NotFound(f"no spans of trace {trace_id} are stored")
    return Trace(trace_id, spans)


def trace_spans(database: Database, parsed: uuid.UUID, since: dt.datetime | None = None,
                until: dt.datetime | None = None) -> Plan[Rows[TraceSpan]]:
    """The stored spans of a trace as :func:`span_tree` orders them; none when none is stored.

    The one query of a trace's spans: :func:`get_trace` and ``trace_context`` both build on it.
    """
    conditions = [sql.SQL("s.trace_id = %s")]
    params: list[Any] = [parsed]
    for value, condition in ((since, "s.start_time >= %s"), (until, "s.start_time < %s")):
        if value is not None:
            conditions.append(sql.SQL(condition))
            params.append(value)
    statement = sql.SQL(
        "SELECT otel_span_id_hex(s.span_id) AS span_id, otel_span_id_hex(s.parent_span_id) AS parent_span_id,"
        " s.service_name, s.name, s.kind, s.status_code, s.status_message, s.start_time, s.end_time,"
        " s.duration_ns / 1e6::float8 AS duration_ms,"
        " extract(epoch FROM s.start_time - min(s.start_time) OVER ()) * 1e3::float8"
        "  + (s.start_time_ns - first_value(s.start_time_ns) OVER (ORDER BY s.start_time, s.start_time_ns))"
        "  / 1e6::float8 AS offset_ms,"
        " s.attributes, s.events, s.links, r.attributes AS resource, s.scope_name"
        " FROM {spans} s JOIN {resources} r USING (resource_id)"
        " WHERE {conditions} ORDER BY s.start_time, s.start_time_ns"
    ).format(spans=database.qualified("otel_spans"), resources=database.qualified("otel_resources"),
             conditions=sql.SQL(" AND ").join(conditions))
    rows: list[dict[str, Any]] = yield Fetch(statement, params, dict)
    return Rows(span_tree(rows), TraceSpan)


@dataclass(frozen=True)
class SpanDelta:
    """One span position of two traces compared; durations in ms, None where absent."""

    service_name: str
    name: str
    path: str  # "service:name > service:name > ..." from the root, with an occurrence index
    depth: int
    a_duration_ms: float | None
    b_duration_ms: float | None
    a_status: str | None
    b_status: str | None

    @property
    def delta_ms(self) -> float | None:
        if self.a_duration_ms is None or self.b_duration_ms is None:
            return None
        return self.b_duration_ms - self.a_duration_ms

    @property
    def status_changed(self) -> bool:
        return None not in (self.a_status, self.b_status) and self.a_status != self.b_status


@dataclass(frozen=True)
class TraceComparison:
    """Two traces span by span: matched positions with deltas, and what only one has."""

    a: str
    b: str
    a_duration_ms: float
    b_duration_ms: float
    spans: Rows[SpanDelta]

    @property
    def only_in_a(self) -> list[SpanDelta]:
        return [span for span in self.spans if span.b_duration_ms is None and span.b_status is None]

    @property
    def only_in_b(self) -> list[SpanDelta]:
        return [span for span in self.spans if span.a_duration_ms is None and span.a_status is None]

    def slowest_changes(self, count: int = 5) -> list[SpanDelta]:
        """The matched spans whose duration grew most from ``a`` to ``b``."""
        matched = [span for span in self.spans if span.delta_ms is not None]
        return sorted(matched, key=lambda span: span.delta_ms or 0.0, reverse=True)[:count]


def _positions(trace: Trace) -> dict[str, TraceSpan]:
    """Each span keyed by its path of (service:name) from the root, and its index among
    siblings with the same service and name, so repeated calls match in order."""
    keyed: dict[str, TraceSpan] = {}
    path_of: dict[str, str] = {}
    seen: dict[str, int] = {}
    for span in trace.spans:
        parent_path = path_of.get(span.parent_span_id or "", "") if not span.orphan else path_of.get(
            trace.root.span_id, "")
        step = f"{span.service_name}:{span.name}"
        base = f"{parent_path} > {step}" if parent_path else step
        index = seen.get(base, 0)
        seen[base] = index + 1
        path = f"{base}#{index}" if index else base
        path_of[span.span_id] = path
        keyed[path] = span
    return keyed


def compare(a: Trace, b: Trace) -> TraceComparison:
    """``a`` and ``b`` matched on service, name and position in the tree, in ``a``'s order then
    ``b``'s extra spans; the answer to "why was this request slow and that one not"."""
    left, right = _positions(a), _positions(b)
    spans = []
    for path in [*left, *(path for path in right if path not in left)]:
        first, second = left.get(path), right.get(path)
        span = first or second
        assert span is not None
        spans.append(SpanDelta(
            span.service_name, span.name, path, span.depth,
            first.duration_ms if first else None, second.duration_ms if second else None,
            first.status_code if first else None, second.status_code if second else None,
        ))
    return TraceComparison(a.trace_id, b.trace_id, a.duration_ms, b.duration_ms, Rows(spans, SpanDelta))


def compare_traces(database: Database, a: str | int | uuid.UUID, b: str | int | uuid.UUID
                   ) -> Plan[TraceComparison]:
    """Both traces fetched (through :func:`get_trace`) and compared."""
    plans = get_trace(database, a), get_trace(database, b)  # both ids checked before any query
    return _compare_plans(*plans)


def _compare_plans(a: Plan[Trace], b: Plan[Trace]) -> Plan[TraceComparison]:
    first = yield from a
    second = yield from b
    return compare(first, second)
