"""One database as the exporters, queries and CLI of a process see it.

A :class:`Database` resolves where to connect (the user's DSN, or the embedded server),
applies the migrations once, and hands out pooled connections configured for our COPY
adapters and pgvector. The three exporters of a process that point at the same database
share one instance (:func:`acquire` / :meth:`Database.release`), so they share its pool.

Nothing connects in the constructor: ``opentelemetry-instrument`` builds exporters while the
application starts, and that must not wait for a database. The first export does it, in the
SDK's worker thread, bounded by the export timeout.

Fork safety: after ``os.fork()`` (gunicorn, multiprocessing) the child holds copies of the
parent's sockets. Closing them would send the server a Terminate message on the *parent's*
connections, so the child never touches the inherited pool: it keeps a reference to it, so no
finalizer runs, and opens a pool of its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from ..config import PgvectorSettings, redact_dsn
from ..errors import DatabaseClosed, DatabaseUnavailable
from ..forksafe import reset_after_fork
from .embedded import embedded_server_dsn
from .migrations import migrate
from .partitions import PartitionKeeper
from .shared import SharedRegistry

_inherited_pools: list[ConnectionPool] = []  # kept alive in forked children; see module doc


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
        reset_after_fork(self)

    def __repr__(self) -> str:
        return f"Database({self.settings.redacted_dsn!r}, schema={self.schema!r})"

    def server_dsn(self) -> str:
        """The configured DSN, or the embedded server's (started if it is not running)."""
        return self.settings.dsn or embedded_server_dsn(self.settings.embedded_dir)

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
            raise DatabaseUnavailable(
                f"database {self.settings.redacted_dsn} unavailable: no connection within {timeout:.2f} s"
            ) from None
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(self._describe(error)) from None

    def migrate(self) -> list[str]:
        """Apply pending migrations and create today's partitions; return the migrations applied."""
        with self.connect() as conn:
            applied = migrate(conn, self.schema)
            rows = conn.execute(
                "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
                (self.schema,),
            ).fetchall()
            self.partitioned_tables = tuple(name for (name,) in rows)
            self.partitions.ensure_current(conn, self.partitioned_tables)
        self._migrated = True
        return [f"{migration.version:04d}_{migration.name}" for migration in applied]

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT set_config('search_path', %s, false)", (f'"{self.schema}", public',))
        register_vector(conn)
        conn.commit()

    def after_fork_in_child(self) -> None:
        """Keep the parent's pool alive but unused (see the module docstring); open our own later."""
        if self._pool is not None:
            _inherited_pools.append(self._pool)
            self._pool = None
        self._lock = threading.Lock()

    def _current_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._closed:
                raise DatabaseClosed(f"{self!r} is closed")
            if self._pool is None:
                if not self._migrated:
                    self.migrate()
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

    @contextmanager
    def connection(self, timeout: float) -> Iterator[psycopg.Connection]:
        """A pooled connection, waiting at most ``timeout`` seconds for one.

        The first call in a process starts the embedded server if needed and migrates; that is
        not part of the wait, or a migration longer than the short wait an export allows for a
        connection would fail the first batch of every process.
        """
        try:
            pool = self._current_pool()
            with pool.connection(timeout=timeout) as conn:
                try:
                    yield conn
                except psycopg.errors.ReadOnlySqlTransaction:
                    # A read-only session is a standby or a server mid-failover: never reuse it,
                    # so the pool reconnects (to the new primary) instead of failing forever.
                    conn.close()
                    raise
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(self._describe(error)) from error

    def qualified(self, name: str) -> sql.Identifier:
        """``schema.name`` as a safely quoted identifier."""
        return sql.Identifier(self.schema, name)

    def _describe(self, error: BaseException) -> str:
        message = str(error).strip() or type(error).__name__
        return f"database {self.settings.redacted_dsn} unavailable: {redact_dsn(message)}"

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
    return (settings.dsn, str(settings.embedded_dir), settings.db_schema)


def acquire(settings: PgvectorSettings) -> Database:
    """The process's shared :class:`Database` for these settings; call ``release()`` when done."""
    return _databases.acquire(_sharing_key(settings), lambda: Database(settings))
