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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import orjson
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..db.database import Database, acquire
from ..errors import DatabaseUnavailable
from . import services, traces
from .plan import Plan, run_async
from .schema_check import check_readable

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

    async def find_traces(self, **filters: Unpack[traces.TraceFilterArgs]) -> list[traces.TraceSummary]:
        """See :meth:`TelemetryQuery.find_traces`."""
        return await self._run(traces.find_traces(self._database, traces.TraceFilters(**filters)))

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
                     limit: int = 50) -> list[services.ErrorGroup]:
        """See :meth:`TelemetryQuery.errors`."""
        return await self._run(services.errors(self._database, since, until, service, group_by, limit))

    async def red(self, by: services.RedGrouping = "service", service: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  step: dt.timedelta | None = None) -> list[services.RedBucket]:
        """See :meth:`TelemetryQuery.red`."""
        return await self._run(services.red(self._database, by, service, since, until, step))

    async def service_map(self, since: dt.datetime | None = None,
                          until: dt.datetime | None = None) -> list[services.ServiceEdge]:
        """See :meth:`TelemetryQuery.service_map`."""
        return await self._run(services.service_map(self._database, since, until))
