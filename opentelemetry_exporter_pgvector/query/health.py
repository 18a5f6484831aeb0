"""``health()``: can we write, to what, and how is the resilience machinery doing.

Two sources: ``write.delivery.write_status()`` (this process's breaker, queue and spool, no
I/O to the database) and a plan (``plan.py``) of what the server says about itself, run on
a connection of its own (not a pooled one, which a busy pool may not give). :func:`report`
puts them together, so the sync and the async client report alike; a server that cannot be
reached is a report, never an exception, since health is asked when things go wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..db.database import Database
from ..db.migrations import latest_version
from ..write.delivery import WriteStatus, write_status
from .plan import Fetch, Plan, run

# otel_dead_letters arrived with this migration
_DEAD_LETTERS_SINCE = 5


@dataclass(frozen=True)
class Health:
    """The state of one database as this process sees it."""

    reachable: bool
    error: str | None
    server_version: str | None
    pgvector_version: str | None
    migration_version: int | None
    latest_migration: int
    breaker_state: str | None  # None when no exporter of this process writes to the database
    queued_batches: int | None  # waiting in memory for the spool writer; None likewise
    spool_dir: str
    spool_segments: int
    spool_bytes: int
    spool_batches: int
    oldest_spooled_seconds: float | None
    spool_quarantined: int  # records that do not decode, kept in the spool's quarantine/ directory
    dead_letter_rows: int | None


@dataclass(frozen=True)
class ServerState:
    """What the server says: its version, pgvector's, the schema's migration, dead letters."""

    server_version: str | None
    pgvector_version: str | None
    migration_version: int
    dead_letter_rows: int | None  # None before the migration that made the table


def server_state(database: Database) -> Plan[ServerState]:
    """The server's side of :class:`Health`, for any schema state (a missing one is migration 0)."""
    [(server,)] = yield Fetch(sql.SQL("SHOW server_version"))
    vector = yield Fetch(sql.SQL("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    [(table,)] = yield Fetch(sql.SQL("SELECT to_regclass(format('%%I.otel_schema_migrations', %s::text))"),
                             (database.schema,))
    migration, dead = 0, None
    if table is not None:
        [(migration,)] = yield Fetch(sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
            database.qualified("otel_schema_migrations")))
    if migration >= _DEAD_LETTERS_SINCE:
        [(dead,)] = yield Fetch(sql.SQL("SELECT count(*) FROM {}").format(
            database.qualified("otel_dead_letters")))
    return ServerState(server, vector[0][0] if vector else None, int(migration),
                       None if dead is None else int(dead))


def report(status: WriteStatus, server: ServerState | BaseException) -> Health:
    """:class:`Health` of the write path's ``status`` and the server's state, or why it is unknown."""
    spool = status.spool
    known = server if isinstance(server, ServerState) else None
    return Health(
        reachable=known is not None,
        error=None if known is not None else str(server),
        server_version=known.server_version if known else None,
        pgvector_version=known.pgvector_version if known else None,
        migration_version=known.migration_version if known else None,
        latest_migration=latest_version(),
        breaker_state=status.breaker_state,
        queued_batches=status.queued_batches,
        spool_dir=spool.directory,
        spool_segments=spool.segments,
        spool_bytes=spool.bytes,
        spool_batches=spool.pending_batches,
        oldest_spooled_seconds=spool.oldest_age_seconds,
        spool_quarantined=spool.quarantined_records,
        dead_letter_rows=known.dead_letter_rows if known else None,
    )


def health(database: Database, timeout: float) -> Health:
    """Reachability, versions, migration, breaker and spool of ``database``; never raises for a
    server that is down."""
    status = write_status(database)
    try:
        with database.connect(timeout) as conn:
            state = run(conn, server_state(database))
    except Exception as failure:  # noqa: BLE001 - reported, not raised: health is asked when things go wrong
        return report(status, failure)
    return report(status, state)
