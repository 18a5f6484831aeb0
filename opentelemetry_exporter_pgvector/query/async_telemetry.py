"""``AsyncTelemetryQuery``: the read side for asyncio applications.

It runs the same plans as :class:`~.telemetry.TelemetryQuery` (``query/plan.py``), on a
``psycopg_pool.AsyncConnectionPool`` of its own, so the SQL, the parameters and the result
types are shared and only the driving differs. Like the sync client it never creates or
upgrades a schema, and reads in ``READ ONLY`` transactions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..db.database import Database, acquire
from ..errors import DatabaseUnavailable
from . import metrics, services, traces
from .plan import Plan, run_async
from .rows import Rows
from .schema_check import check_readable
from .trace_context import MetricPoint

if TYPE_CHECKING:
    import pandas

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
    async def _read(self) -> AsyncIterator[psycopg.AsyncConnection]:
        pool = await self._current_pool()
        try:
            async with pool.connection(timeout=self.settings.timeout) as conn, conn.transaction():
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

    # The seed's names (see TelemetryQuery) of the queries that are plans.

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
