"""One database as the exporters, queries and CLI of a process see it.

A :class:`Database` resolves where to connect (the user's DSN, or the embedded server),
applies the migrations once, and hands out pooled connections configured for our COPY
adapters and pgvector. The three exporters of a process that point at the same database
share one instance (:func:`acquire` / :meth:`Database.release`), so they share its pool.

Nothing connects in the constructor: ``opentelemetry-instrument`` builds exporters while the
application starts, and that must not wait for a database. The first export does it, in the
SDK's worker thread, and all of it ends by the export's deadline: connecting (wall-clock, over
every host of the DSN), checking the schema (migrating it if it is behind) and creating the
partitions around today, each statement under a lock and statement timeout of the time left
(docs/reliability.md, "Bounded DDL and connecting").

Fork safety: after ``os.fork()`` (gunicorn, multiprocessing) the child holds copies of the
parent's sockets. Closing them would send the server a Terminate message on the *parent's*
connections, so the child never touches the inherited pool: it keeps a reference to it, so no
finalizer runs, and opens a pool of its own.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager

import orjson
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from ..config import PgvectorSettings
from ..errors import DatabaseBusy, DatabaseClosed, DatabaseUnavailable
from ..forksafe import reset_after_fork
from .citus import check_coordinator, distribute
from .embedded import embedded_server_dsn
from .migrations import Migration, migrate
from .partitions import PartitionKeeper
from .shared import SharedRegistry
from .timeouts import bound_transaction

_inherited_pools: list[ConnectionPool] = []  # kept alive in forked children; see module doc

# Partition DDL waits for a lock at most this share of the export timeout: while it waits,
# writers of the partition it locks queue behind it, and an export can absorb a delay that size
# (it is the share an export waits for a pooled connection, too).
PARTITION_LOCK_SHARE = 0.1
# At a process's first use, the partitions around today may take this share of the time left;
# the export keeps the rest for its own rows, which go to the default partition if need be.
FIRST_USE_PARTITION_SHARE = 0.25


class Database:
    """Connection pool, migrations and partitions of one database and schema."""

    def __init__(self, settings: PgvectorSettings) -> None:
        self.settings = settings
        self.schema = settings.db_schema
        self.partitions = PartitionKeeper(settings.db_schema, settings.partition_days_ahead)
        self.partitioned_tables: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._conninfo: str | None = None
        self._pool: ConnectionPool | None = None
        self._migrated = False
        self._closed = False
        self._lent = 0  # pooled connections in use by this process now
        self._handed_out = 0  # pooled connections handed out so far
        self._lent_lock = threading.Lock()
        reset_after_fork(self)

    def __repr__(self) -> str:
        return f"Database({self.settings.redacted_dsn!r}, schema={self.schema!r})"

    def server_dsn(self) -> str:
        """The configured DSN, or the embedded server's (started if it is not running)."""
        return self.settings.dsn.get_secret_value() or embedded_server_dsn(self.settings.embedded_dir)

    def conninfo(self) -> str:
        """The connection string to use: the server's DSN plus our application name and timeout."""
        if self._conninfo is None:
            self._conninfo = make_conninfo(
                self.settings.with_application_name(self.server_dsn()),
                connect_timeout=max(2, math.ceil(self.settings.timeout)),
            )
        return self._conninfo

    def connect(self, timeout: float | None = None) -> psycopg.Connection:
        """A new unpooled connection, made within ``timeout`` seconds (default: the export timeout).

        The bound is wall-clock, over all the hosts of the DSN. libpq's ``connect_timeout``
        (which psycopg mimics) counts whole seconds, at least 2, per host: against a server
        that accepts TCP and never answers, a 0.5 s export waited 2 s, and 4 s with two such
        hosts. So the connect runs on a helper thread, given up past ``timeout``; the thread
        ends within ``connect_timeout`` per host and closes the connection if one comes late.
        """
        timeout = self.settings.timeout if timeout is None else timeout
        conninfo = self.conninfo()
        connected: Future[psycopg.Connection] = Future()

        def attempt() -> None:
            try:
                connected.set_result(psycopg.connect(conninfo, connect_timeout=max(2, math.ceil(timeout))))
            except Exception as error:  # noqa: BLE001 - handed to the waiting caller
                connected.set_exception(error)

        threading.Thread(target=attempt, name="otel-pgvector-connect", daemon=True).start()
        try:
            return connected.result(max(0.0, timeout))
        except FutureTimeout:
            connected.add_done_callback(_close_late_connection)
            raise DatabaseUnavailable(self._no_connection_within(timeout)) from None
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(self._describe(error)) from None

    async def connect_async(self, timeout: float | None = None) -> psycopg.AsyncConnection:
        """:meth:`connect` for asyncio (``AsyncTelemetryQuery.health``): the same bound and errors.

        Resolving the DSN may start the embedded server, a blocking step: it runs off the event
        loop. The connect itself is a coroutine, cancelled (and its connection closed) past
        ``timeout``.
        """
        timeout = self.settings.timeout if timeout is None else timeout
        conninfo = await asyncio.to_thread(self.conninfo)
        connecting = psycopg.AsyncConnection.connect(conninfo, connect_timeout=max(2, math.ceil(timeout)))
        try:
            return await asyncio.wait_for(connecting, max(0.0, timeout))
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
            raise DatabaseUnavailable(self._no_connection_within(timeout)) from None
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(self._describe(error)) from None

    def _no_connection_within(self, timeout: float) -> str:
        return f"database {self.settings.redacted_dsn} unavailable: no connection within {timeout:.2f} s"

    def migrate(self) -> list[str]:
        """Apply pending migrations and create the partitions around today; return the migrations
        applied.

        For ``otel-pgvector migrate``, and unbounded on purpose, unlike an export's first use:
        the server's own ``lock_timeout`` and ``statement_timeout`` apply (none by default), since
        a migration of a large table may take minutes and the operator who runs it can interrupt
        it. Exports stay bounded meanwhile: a COPY queued behind one of its locks is cancelled at
        the export's deadline and its batch spooled.
        """
        with self.connect() as conn:
            applied = self._prepare(conn, None)
        return [f"{migration.version:04d}_{migration.name}" for migration in applied]

    def check_citus(self) -> None:
        """Refuse (:class:`~..errors.SchemaError`, one line) a server that is not a Citus
        coordinator: ``otel-pgvector migrate --citus`` asks before it migrates anything."""
        with self.connect() as conn:
            check_coordinator(conn)

    def distribute(self) -> list[str]:
        """Distribute the migrated schema's tables on a Citus coordinator (idempotent); return a
        line per table distributed now. Unbounded, like :meth:`migrate`: tables that already
        hold rows are copied to the workers."""
        with self.connect() as conn:
            return distribute(conn, self.schema)

    def _prepare(self, conn: psycopg.Connection, deadline: float | None) -> list[Migration]:
        """Migrate, find the partitioned tables and create the partitions around today, by
        ``deadline`` (None: unbounded); a lock that is not granted in time fails the
        preparation, except for the partitions, which are left for later."""
        try:
            applied = migrate(conn, self.schema, deadline=deadline)
            with conn.transaction():
                bound_transaction(conn, deadline)
                rows = conn.execute(
                    "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
                    (self.schema,),
                ).fetchall()
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as error:
            raise DatabaseUnavailable(
                f"schema {self.schema} on {self.settings.redacted_dsn} not ready in time: a migration "
                "could not get its locks or finish by the deadline (another session holds a lock on "
                "its tables? `otel-pgvector migrate` waits as long as it takes): "
                f"{self.settings.mask_passwords(str(error).strip())}"
            ) from error
        self.partitioned_tables = tuple(name for (name,) in rows)
        if deadline is None:
            self.partitions.ensure_current(conn, self.partitioned_tables)
        else:
            now = time.monotonic()
            share_until = now + max(0.0, deadline - now) * FIRST_USE_PARTITION_SHARE
            self.partitions.ensure_current(
                conn, self.partitioned_tables, share_until, self._partition_lock_wait
            )
        self._migrated = True
        return applied

    @property
    def _partition_lock_wait(self) -> float:
        return self.settings.timeout * PARTITION_LOCK_SHARE

    def ensure_partitions(self) -> bool:
        """Create the partitions around today if they are due; False when they are left for a
        later call, True when nothing is left to do (before the schema is prepared, nothing is:
        its preparation creates them).

        For a background thread, off the export path (the delivery's replayer calls it after
        the UTC date moved on, or after the first use could not create them): its lock waits
        last at most a tenth of the export timeout, its statements (which may move many rows
        out of the default partition) the whole timeout.
        """
        if not self._migrated or not self.partitions.due():
            return True
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout
        with self.connection(timeout, deadline) as conn:
            return self.partitions.ensure_current(
                conn, self.partitioned_tables, deadline, self._partition_lock_wait
            )

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT set_config('search_path', %s, false)", (f'"{self.schema}", public',))
        register_vector(conn)
        # orjson parses the jsonb columns queries read (attributes, events...) several times
        # faster than the json module: half of a 1,000-span get_trace was json.loads
        set_json_loads(orjson.loads, conn)
        conn.commit()

    def after_fork_in_child(self) -> None:
        """Keep the parent's pool alive but unused (see the module docstring); open our own later."""
        if self._pool is not None:
            _inherited_pools.append(self._pool)
            self._pool = None
        self._lock = threading.Lock()
        self._lent = self._handed_out = 0
        self._lent_lock = threading.Lock()

    def _current_pool(self, deadline: float, prepare: bool) -> ConnectionPool:
        """The pool; with ``prepare``, the schema is prepared first (once, on a connection of its
        own, by ``deadline``), whoever opened the pool."""
        pool = self._pool
        if pool is not None and (self._migrated or not prepare):
            return pool
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise DatabaseUnavailable(f"{self!r}: another thread's preparation of the schema took too long")
        try:
            if self._closed:
                raise DatabaseClosed(f"{self!r} is closed")
            if prepare and not self._migrated:
                with self.connect(deadline - time.monotonic()) as conn:
                    self._prepare(conn, deadline)
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.conninfo(),
                    min_size=self.settings.pool_min_size,
                    max_size=self.settings.pool_max_size,
                    configure=self._configure,
                    check=ConnectionPool.check_connection,
                    name=f"otel-pgvector-{self.schema}",
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool
        finally:
            self._lock.release()

    @contextmanager
    def connection(self, timeout: float, deadline: float | None = None,
                   prepare: bool = True) -> Iterator[psycopg.Connection]:
        """A pooled connection, waiting at most ``timeout`` seconds for one.

        ``prepare=False`` is for readers (``TelemetryQuery``, the read commands): they never
        create or upgrade a schema, so a typo in ``--schema`` cannot create an empty one.

        The first call in a process starts the embedded server if needed and prepares the
        schema (:meth:`_prepare`), bounded by ``deadline`` (a ``time.monotonic()`` value;
        default: ``timeout`` from now) rather than by ``timeout``: an export waits only a tenth
        of its timeout for a connection, and a preparation that had to fit in that would fail
        the first batch of every process. The wait for the connection ends by the deadline too.

        A wait that ends without a connection raises :class:`DatabaseBusy` when it was back
        pressure: every connection of the pool was in use by this process when it ended, or
        others were handed out while it waited (the database answers, the pool is just
        shared by more callers than it has connections). Otherwise the pool could not connect,
        and it raises :class:`DatabaseUnavailable`.
        """
        if deadline is None:
            deadline = time.monotonic() + timeout
        handed_out = self._handed_out
        try:
            pool = self._current_pool(deadline, prepare)
            wait = max(0.0, min(timeout, deadline - time.monotonic()))
            with pool.connection(timeout=wait) as conn, self._lent_to_caller():
                try:
                    yield conn
                except psycopg.errors.ReadOnlySqlTransaction:
                    # A read-only session is a standby or a server mid-failover: never reuse it,
                    # so the pool reconnects (to the new primary) instead of failing forever.
                    conn.close()
                    raise
        except PoolTimeout as error:  # raised by the wait for a connection, before the body ran
            if self._lent >= self.settings.pool_max_size or self._handed_out != handed_out:
                raise DatabaseBusy(f"{self._describe(error)}: every pooled connection is in use") from error
            raise DatabaseUnavailable(self._describe(error)) from error
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(self._describe(error)) from error

    @contextmanager
    def _lent_to_caller(self) -> Iterator[None]:
        """Count a pooled connection as in use by this process while the body runs."""
        with self._lent_lock:
            self._lent += 1
            self._handed_out += 1
        try:
            yield
        finally:
            with self._lent_lock:
                self._lent -= 1

    def qualified(self, name: str) -> sql.Identifier:
        """``schema.name`` as a safely quoted identifier."""
        return sql.Identifier(self.schema, name)

    def _describe(self, error: BaseException) -> str:
        message = str(error).strip() or type(error).__name__
        return f"database {self.settings.redacted_dsn} unavailable: {self.settings.mask_passwords(message)}"

    def close(self) -> None:
        """Close the pool (in the process that opened it); idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=self.settings.timeout)

    def release(self) -> None:
        """Give back a handle from :func:`acquire`; the last one closes the pool."""
        last = _databases.release(_sharing_key(self.settings))
        if last is not None:
            last.close()


def _close_late_connection(connected: Future[psycopg.Connection]) -> None:
    """Close a connection made after its caller gave up waiting for it."""
    if connected.exception() is None:
        connected.result().close()


_databases: SharedRegistry[tuple[str, str, str], Database] = SharedRegistry()


def _sharing_key(settings: PgvectorSettings) -> tuple[str, str, str]:
    """Settings that name the same database and schema share one :class:`Database`."""
    return (settings.dsn.get_secret_value(), str(settings.embedded_dir), settings.db_schema)


def acquire(settings: PgvectorSettings) -> Database:
    """The process's shared :class:`Database` for these settings; call ``release()`` when done."""
    return _databases.acquire(_sharing_key(settings), lambda: Database(settings))
