"""Citus: whether a database is a Citus coordinator, and distributing a schema's tables on it.

The distribution itself is ``otel_distribute()`` (migration ``0010_citus.sql``, which says what
goes where and why): SQL, so it runs on the coordinator in one transaction and an operator can
call it from psql as well. This module checks first that the server can take it, so a wrong
server fails with one line saying what is missing, before any migration creates tables there.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from typing_extensions import LiteralString

from ..errors import SchemaError

logger = logging.getLogger(__name__)


# Whether the connected database has Citus: one boolean.
HAS_CITUS: LiteralString = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"


def has_citus(conn: psycopg.Connection) -> bool:
    """Whether the Citus extension is created in the connected database."""
    row = conn.execute(HAS_CITUS).fetchone()
    return bool(row and row[0])


def size_expression(citus: bool) -> LiteralString:
    """SQL for the bytes on disk of relation ``c.oid`` (heap, indexes, TOAST); with ``citus``
    (the database has it), of a distributed or reference table's shards on every node, since
    the coordinator holds an empty shell of it (``citus_total_relation_size``, named only where
    Citus is there to resolve it)."""
    if not citus:
        return "pg_total_relation_size(c.oid)"
    return ("CASE WHEN c.oid IN (SELECT logicalrelid FROM pg_dist_partition)"
            " THEN citus_total_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END")


def check_coordinator(conn: psycopg.Connection) -> None:
    """Refuse, with one line, a server that is not a Citus coordinator."""
    if not has_citus(conn):
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citus'").fetchone()
        raise SchemaError(
            f"--citus needs a Citus coordinator, and database {conn.info.dbname!r} on this server has no "
            + ("Citus extension: run CREATE EXTENSION citus; in it (with citus in shared_preload_libraries)"
               if available else "Citus installed: install Citus (https://docs.citusdata.com) or migrate "
               "without --citus")
        )
    row = conn.execute("SELECT citus_is_coordinator()").fetchone()
    if not (row and row[0]):
        raise SchemaError("--citus: this server is a Citus worker; run the migration on the coordinator")


def distribute(conn: psycopg.Connection, schema: str) -> list[str]:
    """Distribute ``schema``'s tables (already migrated) on the coordinator ``conn`` is connected to.

    One transaction; idempotent: returns a line per table distributed now, none when all were.
    """
    check_coordinator(conn)
    with conn.transaction():
        rows = conn.execute(
            sql.SQL("SELECT {}(%s)").format(sql.Identifier(schema, "otel_distribute")), (schema,)
        ).fetchall()
    done = [str(line) for (line,) in rows]
    for line in done:
        logger.info("schema %s: %s", schema, line)
    return done
