"""``TelemetryQuery``: typed answers to the questions people ask of their telemetry.

It reads through the same :class:`Database` (settings, env vars, embedded default) as the
exporters, always in read-only transactions. The CLI only renders what this returns.

Every list answer is a :class:`~.rows.Rows`, a list with ``to_dataframe()``; pandas (the
``dataframes`` extra) is imported only when a DataFrame is asked for.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..db.database import Database, acquire
from . import logs, metrics, services, sql_hatch, stats, summary, trace_context, traces
from .health import Health, health
from .plan import Plan, run
from .rows import Rows
from .schema_check import check_readable
from .sql_hatch import SqlResult
from .summary import ServiceSummary, StoredCounts
from .trace_context import MetricPoint, TraceContext

if TYPE_CHECKING:
    import pandas

    from .similar import SimilarLog, SimilarSpan, SimilarTrace


Result = TypeVar("Result")


class TelemetryQuery:
    """Read-only queries over the stored telemetry. ``TelemetryQuery()`` uses the env settings."""

    def __init__(
        self, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> None:
        self.settings = PgvectorSettings.resolve(settings, **overrides)
        self._database: Database = acquire(self.settings)
        self._checked = False

    def close(self) -> None:
        self._database.release()

    def __enter__(self) -> TelemetryQuery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; the schema is checked (never created) before the first one."""
        with self._database.connection(self.settings.timeout, prepare=False) as conn:
            if not self._checked:
                with conn.transaction():
                    run(conn, check_readable(self.settings.db_schema))
                self._checked = True
            yield conn

    @contextmanager
    def _read(self, rollback: bool = False) -> Iterator[psycopg.Connection]:
        """A read-only transaction on a pooled connection; ``rollback``: whatever happens in it
        (the SQL hatch's, so settings a query changed do not stay on the pooled connection)."""
        with self._connection() as conn, conn.transaction(force_rollback=rollback):
            conn.execute("SET TRANSACTION READ ONLY")
            yield conn

    def _run(self, plan: Plan[Result]) -> Result:
        with self._read() as conn:
            return run(conn, plan)

    def service_summary(
        self, since: dt.datetime | None = None, resource_attributes: Mapping[str, str] | None = None
    ) -> Rows[ServiceSummary]:
        """Per service: spans, traces, errors and duration percentiles, busiest first.

        ``resource_attributes`` keeps only spans whose resource has all of them (the demo
        summarizes its own run by its ``demo.run_id``).
        """
        return self._run(summary.service_summary(self._database, since, resource_attributes))

    def similar_spans(
        self,
        text: str | None = None,
        span_id: str | int | None = None,
        vector: Sequence[float] | None = None,
        k: int = 10,
        min_similarity: float | None = None,
        service: str | None = None,
        status: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        method: str = "hybrid",
    ) -> Rows[SimilarSpan]:
        """The shapes of span nearest ``text``, a stored span's shape or ``vector``; see ``query/similar.py``.

        Imported on first use: searching by text loads the embedding model (``embeddings`` extra).
        """
        from .similar import SPAN_SHAPES, similar, span_query

        query = span_query(text=text, span_id=span_id, vector=vector, k=k, min_similarity=min_similarity,
                           service=service, status=status, since=since, until=until, method=method)
        return similar(self._read, self._database, self.settings, query, SPAN_SHAPES)

    def similar_logs(
        self,
        text: str | None = None,
        vector: Sequence[float] | None = None,
        k: int = 10,
        min_similarity: float | None = None,
        service: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        method: str = "hybrid",
    ) -> Rows[SimilarLog]:
        """The log-body shapes nearest ``text`` or ``vector``, with their record counts and an example;
        see ``query/similar.py``. Needs the shapes embedded, as :meth:`similar_spans` does."""
        from .similar import LOG_SHAPES, log_query, similar

        query = log_query(text=text, vector=vector, k=k, min_similarity=min_similarity, service=service,
                          since=since, until=until, method=method)
        return similar(self._read, self._database, self.settings, query, LOG_SHAPES)

    # Logs, metrics and trace context (query/logs.py, query/metrics.py, query/trace_context.py).

    def stored_counts(self, resource_attributes: Mapping[str, str] | None = None) -> StoredCounts:
        """Rows in the span, log and metric point tables, or only of resources with these attributes."""
        return self._run(summary.stored_counts(self._database, resource_attributes))

    def search_logs(
        self,
        text: str | None = None,
        trace_id: str | int | uuid.UUID | None = None,
        service: str | None = None,
        min_severity: int | str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        level: int | str | None = None,
    ) -> Rows[logs.LogEntry]:
        """Log records, newest first; ``text`` is matched by word stem through the full-text index.

        ``level`` is the seed's name of ``min_severity`` (a number or a level name: ``warn``
        keeps WARN and above), so ``search_logs(trace_id=..., level="error")`` reads as it did.
        """
        return self._run(logs.search_logs(self._database, text, trace_id, service,
                                          logs.either_severity(min_severity, level), since, until, limit))

    def log_patterns(
        self, service: str | None = None, since: dt.datetime | None = None, limit: int = 50
    ) -> Rows[logs.LogPattern]:
        """The most frequent log body patterns with their counts."""
        return self._run(logs.log_patterns(self._database, service, since, limit))

    def logs_for_trace(self, trace_id: str | int | uuid.UUID) -> Rows[logs.LogEntry]:
        """The log records emitted within one trace, oldest first."""
        return self._run(logs.logs_for_trace(self._database, trace_id))

    def metric_series(
        self,
        name: str,
        since: dt.datetime,
        until: dt.datetime,
        step: dt.timedelta | float,
        service: str | None = None,
        attributes: dict[str, Any] | None = None,
        agg: metrics.Aggregation = "avg",
    ) -> Rows[metrics.MetricBucket]:
        """One metric in time buckets of ``step``: avg, sum, max, rate, p50, p95 or p99."""
        return self._run(metrics.metric_series(self._database, name, since, until, step, service, attributes,
                                               agg))

    def metric_points(
        self,
        name: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        service: str | None = None,
        attributes: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> Rows[MetricPoint]:
        """The metric points stored for a time range (default: the last hour), oldest first."""
        return self._run(metrics.metric_points(self._database, name, since, until, service, attributes,
                                               limit))

    def metric_names(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     service: str | None = None) -> Rows[metrics.MetricName]:
        """The metrics with points in the window (default: the last hour): type, unit, description,
        services, series and point counts."""
        return self._run(metrics.metric_names(self._database, since, until, service))

    def trace_context(self, trace_id: str | int | uuid.UUID) -> TraceContext:
        """A trace's spans as a tree, its logs, and the metric points around it."""
        return self._run(trace_context.trace_context(self._database, trace_id))

    # Traces (query/traces.py): the plans run here and in AsyncTelemetryQuery alike.

    def find_traces(self, **filters: Unpack[traces.TraceFilterArgs]) -> Rows[traces.TraceSummary]:
        """Traces with a span matching every span-level filter in the window (default: the last
        hour), newest first; durations are timedeltas or milliseconds. See ``query/traces.py``."""
        return self._run(traces.find_traces(self._database, traces.TraceFilters(**filters)))

    def find_spans(
        self,
        service: str | None = None,
        name: str | None = None,
        status: str | None = None,
        exception_type: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1000,
    ) -> Rows[traces.SpanRecord]:
        """Spans matching every filter in the window (default: the last hour), newest first,
        one row each with ids in hex and attributes, events, links and resource as stored."""
        filters = traces.TraceFilters(service=service, name=name, status=status, attributes=attributes,
                                      since=since, until=until, limit=limit, exception_type=exception_type)
        return self._run(traces.find_spans(self._database, filters))

    def get_trace(self, trace_id: str | int | uuid.UUID, since: dt.datetime | None = None,
                  until: dt.datetime | None = None) -> traces.Trace:
        """One trace as a tree of spans with their attributes, events, links and resource."""
        return self._run(traces.get_trace(self._database, trace_id, since, until))

    def compare_traces(self, a: str | int | uuid.UUID, b: str | int | uuid.UUID) -> traces.TraceComparison:
        """Two traces span by span: duration deltas, status changes, spans only one has."""
        return self._run(traces.compare_traces(self._database, a, b))

    # Services (query/services.py): errors grouped, RED, the service map.

    def errors(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
               service: str | None = None, group_by: services.ErrorGrouping = "exception_type",
               limit: int = 50) -> Rows[services.ErrorGroup]:
        """Failed spans grouped by exception type, span name, service or shape (default: last 24 h)."""
        return self._run(services.errors(self._database, since, until, service, group_by, limit))

    def red(self, by: services.RedGrouping = "service", service: str | None = None,
            since: dt.datetime | None = None, until: dt.datetime | None = None,
            step: dt.timedelta | None = None) -> Rows[services.RedBucket]:
        """Rate, errors and p50/p95/p99 of entry (SERVER, CONSUMER) spans per service or operation."""
        return self._run(services.red(self._database, by, service, since, until, step))

    def service_map(self, since: dt.datetime | None = None,
                    until: dt.datetime | None = None) -> Rows[services.ServiceEdge]:
        """Caller -> callee edges with call count, errors and p95 (default: the last hour)."""
        return self._run(services.service_map(self._database, since, until))

    # DataFrames (the ``dataframes`` extra): Phoenix's get_spans_dataframe, for spans and logs.

    def spans_dataframe(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                        service: str | None = None, limit: int = 1000) -> pandas.DataFrame:
        """One row per span in the window (default: the last hour), newest first, with the
        columns of :class:`~.traces.SpanRecord`; ``find_spans(...).to_dataframe()`` for more filters."""
        return self.find_spans(service=service, since=since, until=until, limit=limit).to_dataframe()

    def logs_dataframe(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                       service: str | None = None, limit: int = 1000) -> pandas.DataFrame:
        """One row per log record in the window (default: the last hour), newest first, with the
        columns of :class:`~.logs.LogEntry`; ``search_logs(...).to_dataframe()`` for more filters."""
        since, until = traces.time_window(since, until)
        return self.search_logs(service=service, since=since, until=until, limit=limit).to_dataframe()

    # The seed's names: each one of the methods above under the name it had, with its arguments.

    def find_similar_traces(
        self,
        embedding: Sequence[float],
        threshold: float = 0.85,
        k: int = 10,
        service: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Rows[SimilarTrace]:
        """Traces holding a span whose shape is at least ``threshold`` similar to ``embedding`` (a
        vector of the shapes' dimension), most similar first: :meth:`similar_spans` by vector,
        each similar shape's latest span's trace with the shape's similarity."""
        from .similar import similar_traces

        return similar_traces(self.similar_spans(vector=embedding, k=k, min_similarity=threshold,
                                                 service=service, since=since, until=until))

    def get_traces_by_error(
        self,
        error_type: str,
        service: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 20,
    ) -> Rows[traces.TraceSummary]:
        """Traces with a span whose first exception is of type ``error_type`` (exactly), newest
        first, in the last 24 hours unless told: :meth:`find_traces` by ``exception_type``."""
        return self._run(services.traces_by_error(self._database, error_type, service, since, until, limit))

    def get_trace_context(self, trace_id: str | int | uuid.UUID) -> TraceContext:
        """A trace's spans, logs and metric points: :meth:`trace_context`."""
        return self.trace_context(trace_id)

    def get_metrics_by_time_range(
        self,
        since: dt.datetime,
        until: dt.datetime,
        name: str | None = None,
        service: str | None = None,
        limit: int = 1000,
    ) -> Rows[MetricPoint]:
        """The metric points of ``[since, until)``, oldest first: :meth:`metric_points`."""
        return self.metric_points(name, since, until, service, limit=limit)

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None, limit: int = 1000,
            timeout: float = 5.0) -> SqlResult:
        """Any read-only query (one statement), at most ``limit`` rows and ``timeout`` seconds;
        writes are refused however they are spelled (see ``query/sql_hatch.py``)."""
        plan = sql_hatch.read_only_query(query, params, limit, timeout)
        with self._read(rollback=True) as conn, sql_hatch.refusals(timeout):
            return run(conn, plan)

    def storage_stats(self, exact: bool = False) -> stats.StorageStats:
        """Rows and bytes per table and partition, each signal's oldest and newest record and the
        rows retention leaves in its default partition, shapes and their vector coverage.

        Rows are the planner's estimates unless ``exact`` (a scan of every table); see ``query/stats.py``.
        """
        return self._run(stats.storage_stats(self._database, self.settings, exact))

    def health(self) -> Health:
        """Reachability, server and pgvector versions, migration, breaker state and spool size."""
        return health(self._database, self.settings.timeout)
