"""``health()``: can we write, to what, and how is the resilience machinery doing."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..db.database import Database
from ..db.migrations import latest_version
from ..write.delivery import write_status


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


def _migration_version(conn: psycopg.Connection, database: Database) -> int:
    table = database.qualified("otel_schema_migrations")
    if conn.execute("SELECT to_regclass(%s)", (table.as_string(conn),)).fetchone() == (None,):
        return 0
    row = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(table)).fetchone()
    return int(row[0]) if row else 0


def health(database: Database, timeout: float) -> Health:
    """Reachability, versions, migration, breaker and spool of ``database``; never raises for a
    server that is down."""
    status = write_status(database)
    spool = status.spool
    versions: tuple[str | None, str | None, int | None, int | None] = (None, None, None, None)
    error = None
    try:
        with database.connect(timeout) as conn:
            server = conn.execute("SHOW server_version").fetchone()
            vector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
            migration = _migration_version(conn, database)
            dead = None
            if migration >= 5:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(database.qualified("otel_dead_letters"))
                ).fetchone()
                dead = int(row[0]) if row else 0
            versions = (server[0] if server else None, vector[0] if vector else None, migration, dead)
    except Exception as failure:  # noqa: BLE001 - reported, not raised: health is asked when things go wrong
        error = str(failure)
    return Health(
        reachable=error is None,
        error=error,
        server_version=versions[0],
        pgvector_version=versions[1],
        migration_version=versions[2],
        latest_migration=latest_version(),
        breaker_state=status.breaker_state,
        queued_batches=status.queued_batches,
        spool_dir=spool.directory,
        spool_segments=spool.segments,
        spool_bytes=spool.bytes,
        spool_batches=spool.pending_batches,
        oldest_spooled_seconds=spool.oldest_age_seconds,
        spool_quarantined=spool.quarantined_records,
        dead_letter_rows=versions[3],
    )
