"""``AsyncTelemetryQuery``: the read side for asyncio applications.

It runs the same plans as :class:`~.telemetry.TelemetryQuery` (``query/plan.py``), on a
``psycopg_pool.AsyncConnectionPool`` of its own, so the SQL, the parameters and the result
types are shared and only the driving differs. Like the sync client it never creates or
upgrades a schema, and reads in ``READ ONLY`` transactions.

Every public method of :class:`~.telemetry.TelemetryQuery` has a twin here, with the same
parameters (``tests/test_async_query.py`` fails on one without). What is not SQL is shared
too: the SQL hatch's transaction and refusals (``sql_hatch.py``), health's report of the
write path (``health.py``, on a connection of its own as in the sync client).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..db.database import Database, acquire
from ..errors import DatabaseUnavailable
from ..write.delivery import write_status
from . import health, logs, metrics, services, sql_hatch, stats, summary, trace_context, traces
from .plan import Plan, run_async
from .rows import Rows
from .schema_check import check_readable
from .sql_hatch import SqlResult
from .summary import ServiceSummary, StoredCounts
from .trace_context import MetricPoint, TraceContext

if TYPE_CHECKING:
    import pandas

    from .similar import ShapeSignal, SimilarLog, SimilarQuery, SimilarSpan, SimilarTrace

Result = TypeVar("Result")


class AsyncTelemetryQuery:
    """Read-only queries over the stored telemetry for asyncio; ``async with`` it, or ``close()``."""

    def __init__(
        self, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> None:
        self.settings = PgvectorSettings.resolve(settings, **overrides)
        self._database: Database = acquire(self.settings)
        self._pool: AsyncConnectionPool | None = None
        self._lock = asyncio.Lock()
        self._checked = False

    async def __aenter__(self) -> AsyncTelemetryQuery:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        self._database.release()

    async def _configure(self, conn: psycopg.AsyncConnection) -> None:
        search_path = f'"{self.settings.db_schema}", public'
        await conn.execute("SELECT set_config('search_path', %s, false)", (search_path,))
        await register_vector_async(conn)
        set_json_loads(orjson.loads, conn)  # as the sync pool: see Database._configure
        await conn.commit()

    async def _current_pool(self) -> AsyncConnectionPool:
        async with self._lock:
            if self._pool is None:
                # resolving the embedded server may start it: a blocking step, off the event loop
                conninfo = await asyncio.to_thread(self._database.conninfo)
                pool = AsyncConnectionPool(conninfo, min_size=0, max_size=self.settings.pool_max_size,
                                           configure=self._configure, open=False,
                                           name=f"otel-pgvector-async-{self.settings.db_schema}")
                await pool.open(wait=False)
                self._pool = pool
            return self._pool

    @asynccontextmanager
    async def _read(self, rollback: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        """A read-only transaction on a pooled connection, rolled back if ``rollback`` (see
        ``TelemetryQuery._read``); the schema is checked before the first one."""
        pool = await self._current_pool()
        try:
            async with pool.connection(timeout=self.settings.timeout) as conn, \
                    conn.transaction(force_rollback=rollback):
                await conn.execute("SET TRANSACTION READ ONLY")
                if not self._checked:
                    await run_async(conn, check_readable(self.settings.db_schema))
                    self._checked = True
                yield conn
        except psycopg.OperationalError as error:
            detail = self.settings.mask_passwords(str(error).strip())
            raise DatabaseUnavailable(
                f"database {self.settings.redacted_dsn} unavailable: {detail}"
            ) from error

    async def _run(self, plan: Plan[Result]) -> Result:
        async with self._read() as conn:
            return await run_async(conn, plan)

    async def service_summary(
        self, since: dt.datetime | None = None, resource_attributes: Mapping[str, str] | None = None
    ) -> Rows[ServiceSummary]:
        """See :meth:`TelemetryQuery.service_summary`."""
        return await self._run(summary.service_summary(self._database, since, resource_attributes))

    async def stored_counts(self, resource_attributes: Mapping[str, str] | None = None) -> StoredCounts:
        """See :meth:`TelemetryQuery.stored_counts`."""
        return await self._run(summary.stored_counts(self._database, resource_attributes))

    # Logs, metrics and trace context (query/logs.py, query/metrics.py, query/trace_context.py).

    async def search_logs(
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
        """See :meth:`TelemetryQuery.search_logs`."""
        severity = logs.either_severity(min_severity, level)
        return await self._run(logs.search_logs(self._database, text, trace_id, service, severity, since,
                                                until, limit))

    async def log_patterns(
        self, service: str | None = None, since: dt.datetime | None = None, limit: int = 50
    ) -> Rows[logs.LogPattern]:
        """See :meth:`TelemetryQuery.log_patterns`."""
        return await self._run(logs.log_patterns(self._database, service, since, limit))

    async def logs_for_trace(self, trace_id: str | int | uuid.UUID) -> Rows[logs.LogEntry]:
        """See :meth:`TelemetryQuery.logs_for_trace`."""
        return await self._run(logs.logs_for_trace(self._database, trace_id))

    async def metric_series(
        self,
        name: str,
        since: dt.datetime,
        until: dt.datetime,
        step: dt.timedelta | float,
        service: str | None = None,
        attributes: dict[str, Any] | None = None,
        agg: metrics.Aggregation = "avg",
    ) -> Rows[metrics.MetricBucket]:
        """See :meth:`TelemetryQuery.metric_series`."""
        return await self._run(metrics.metric_series(self._database, name, since, until, step, service,
                                                     attributes, agg))

    async def trace_context(self, trace_id: str | int | uuid.UUID) -> TraceContext:
        """See :meth:`TelemetryQuery.trace_context`."""
        return await self._run(trace_context.trace_context(self._database, trace_id))

    async def find_traces(self, **filters: Unpack[traces.TraceFilterArgs]) -> Rows[traces.TraceSummary]:
        """See :meth:`TelemetryQuery.find_traces`."""
        return await self._run(traces.find_traces(self._database, traces.TraceFilters(**filters)))

    async def find_spans(
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
        """See :meth:`TelemetryQuery.find_spans`."""
        filters = traces.TraceFilters(service=service, name=name, status=status, attributes=attributes,
                                      since=since, until=until, limit=limit, exception_type=exception_type)
        return await self._run(traces.find_spans(self._database, filters))

    async def spans_dataframe(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                              service: str | None = None, limit: int = 1000) -> pandas.DataFrame:
        """See :meth:`TelemetryQuery.spans_dataframe`."""
        return (await self.find_spans(service=service, since=since, until=until, limit=limit)).to_dataframe()

    async def logs_dataframe(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                             service: str | None = None, limit: int = 1000) -> pandas.DataFrame:
        """See :meth:`TelemetryQuery.logs_dataframe`."""
        since, until = traces.time_window(since, until)
        return (await self.search_logs(service=service, since=since, until=until, limit=limit)).to_dataframe()

    async def get_trace(self, trace_id: str | int | uuid.UUID, since: dt.datetime | None = None,
                        until: dt.datetime | None = None) -> traces.Trace:
        """See :meth:`TelemetryQuery.get_trace`."""
        return await self._run(traces.get_trace(self._database, trace_id, since, until))

    async def compare_traces(
        self, a: str | int | uuid.UUID, b: str | int | uuid.UUID
    ) -> traces.TraceComparison:
        """See :meth:`TelemetryQuery.compare_traces`."""
        return await self._run(traces.compare_traces(self._database, a, b))

    async def errors(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     service: str | None = None, group_by: services.ErrorGrouping = "exception_type",
                     limit: int = 50) -> Rows[services.ErrorGroup]:
        """See :meth:`TelemetryQuery.errors`."""
        return await self._run(services.errors(self._database, since, until, service, group_by, limit))

    async def red(self, by: services.RedGrouping = "service", service: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  step: dt.timedelta | None = None) -> Rows[services.RedBucket]:
        """See :meth:`TelemetryQuery.red`."""
        return await self._run(services.red(self._database, by, service, since, until, step))

    async def service_map(self, since: dt.datetime | None = None,
                          until: dt.datetime | None = None) -> Rows[services.ServiceEdge]:
        """See :meth:`TelemetryQuery.service_map`."""
        return await self._run(services.service_map(self._database, since, until))

    async def metric_points(
        self,
        name: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        service: str | None = None,
        attributes: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> Rows[MetricPoint]:
        """See :meth:`TelemetryQuery.metric_points`."""
        return await self._run(metrics.metric_points(self._database, name, since, until, service, attributes,
                                                     limit))

    # The seed's names (see TelemetryQuery).

    async def get_traces_by_error(
        self,
        error_type: str,
        service: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 20,
    ) -> Rows[traces.TraceSummary]:
        """See :meth:`TelemetryQuery.get_traces_by_error`."""
        return await self._run(services.traces_by_error(self._database, error_type, service, since, until,
                                                        limit))

    async def get_trace_context(self, trace_id: str | int | uuid.UUID) -> TraceContext:
        """See :meth:`TelemetryQuery.get_trace_context`."""
        return await self.trace_context(trace_id)

    async def get_metrics_by_time_range(
        self,
        since: dt.datetime,
        until: dt.datetime,
        name: str | None = None,
        service: str | None = None,
        limit: int = 1000,
    ) -> Rows[MetricPoint]:
        """See :meth:`TelemetryQuery.get_metrics_by_time_range`."""
        return await self.metric_points(name, since, until, service, limit=limit)

    async def metric_names(self, since: dt.datetime | None = None, until: dt.datetime | None = None,
                           service: str | None = None) -> Rows[metrics.MetricName]:
        """See :meth:`TelemetryQuery.metric_names`."""
        return await self._run(metrics.metric_names(self._database, since, until, service))

    async def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                  limit: int = 1000, timeout: float = 5.0) -> SqlResult:
        """See :meth:`TelemetryQuery.sql`: the same plan, transaction and refusals."""
        plan = sql_hatch.read_only_query(query, params, limit, timeout)
        async with self._read(rollback=True) as conn:
            with sql_hatch.refusals(timeout):  # inside: _read takes a cancelled query for a lost connection
                return await run_async(conn, plan)

    async def storage_stats(self, exact: bool = False) -> stats.StorageStats:
        """See :meth:`TelemetryQuery.storage_stats`."""
        return await self._run(stats.storage_stats(self._database, self.settings, exact))

    async def health(self) -> health.Health:
        """See :meth:`TelemetryQuery.health`: on a connection of its own, as there, not a pooled one."""
        status = await asyncio.to_thread(write_status, self._database)  # reads the spool directory
        try:
            async with await self._database.connect_async(self.settings.timeout) as conn:
                state = await run_async(conn, health.server_state(self._database))
        except Exception as failure:  # noqa: BLE001 - reported, not raised, as by the sync health()
            return health.report(status, failure)
        return health.report(status, state)

    # Similarity search (query/similar.py): the same plans as the sync client's; the model runs
    # on a worker thread, so encoding a query never blocks the event loop.

    async def similar_spans(
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
        """See :meth:`TelemetryQuery.similar_spans`."""
        from .similar import SPAN_SHAPES, span_query

        query = span_query(text=text, span_id=span_id, vector=vector, k=k, min_similarity=min_similarity,
                           service=service, status=status, since=since, until=until, method=method)
        return await self._similar(query, SPAN_SHAPES)

    async def similar_logs(
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
        """See :meth:`TelemetryQuery.similar_logs`."""
        from .similar import LOG_SHAPES, log_query

        query = log_query(text=text, vector=vector, k=k, min_similarity=min_similarity, service=service,
                          since=since, until=until, method=method)
        return await self._similar(query, LOG_SHAPES)

    async def find_similar_traces(
        self,
        embedding: Sequence[float],
        threshold: float = 0.85,
        k: int = 10,
        service: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Rows[SimilarTrace]:
        """See :meth:`TelemetryQuery.find_similar_traces`."""
        from .similar import similar_traces

        return similar_traces(await self.similar_spans(vector=embedding, k=k, min_similarity=threshold,
                                                       service=service, since=since, until=until))

    async def _similar(self, query: SimilarQuery, signal: ShapeSignal[Result]) -> Rows[Result]:
        """:func:`.similar.similar` on this client: the same plans, in one read-only transaction."""
        from ..embedding.model import configured_model_name
        from .similar import EncodedQuery, encode_query, encode_text, rank_plan, vector_plan

        encoded = None
        if query.text is not None:
            encoded = await asyncio.to_thread(encode_query, self.settings, query.text)
        async with self._read() as conn:
            if encoded is None:
                found = await run_async(conn, vector_plan(self._database, query))
                encoded = EncodedQuery(found if isinstance(found, Vector) else await asyncio.to_thread(
                    encode_text, self.settings, found))
            plan = rank_plan(self._database, configured_model_name(self.settings), encoded, query, signal)
            return await run_async(conn, plan)
