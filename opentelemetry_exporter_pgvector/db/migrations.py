"""Versioned plain-SQL migrations, applied in order under an advisory lock.

Migrations are the ``NNNN_name.sql`` files shipped in ``db/migrations/``. Each runs in its own
transaction with ``search_path`` set to the configured schema (then ``public``, where pgvector
usually lives), and is recorded in ``otel_schema_migrations`` in that same transaction, so a
crash leaves either all of a migration or none of it. A session-level advisory lock keyed on
the schema makes two processes starting at once apply each migration exactly once; a schema
already current is recognized without it (:func:`migrate`), so a process's start never waits
for a lock.

Before any migration runs, the server and pgvector are checked against the oldest versions the
migrations and queries need, so an old server fails with one message saying what to upgrade
rather than with a syntax error halfway through the migrations.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from ..errors import PgvectorMissingError, SchemaError
from .timeouts import bound_transaction

logger = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

# SQL-standard function bodies (CREATE FUNCTION ... RETURN expression, 0003_logs.sql).
MINIMUM_POSTGRESQL = 14
# Iterative index scans (hnsw.iterative_scan), which keep similarity search's filters from
# cutting its recall.
MINIMUM_PGVECTOR = (0, 8, 0)

_PGVECTOR_VERSION = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions shipped: {versions}")
    return found


def latest_version() -> int:
    """The version the shipped migrations bring a schema to."""
    return available_migrations()[-1].version


def _advisory_key(schema: str) -> int:
    digest = hashlib.sha256(f"opentelemetry-exporter-pgvector:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def parse_pgvector_version(text: str) -> tuple[int, int, int]:
    """``"0.8.1"`` as ``(0, 8, 1)``; anything but three dot-separated numbers is refused.

    Strict on purpose: a version this cannot read could be older than the minimum, and
    guessing would let the migrations fail later with a less useful error.
    """
    match = _PGVECTOR_VERSION.fullmatch(text)
    if match is None:
        raise SchemaError(
            f"cannot read the pgvector version {text!r}: expected three numbers like '0.8.1'"
        )
    return int(match["major"]), int(match["minor"]), int(match["patch"])


def _postgresql_release(server_version_num: int) -> str:
    """``server_version_num`` as people write it: 180006 is 18.6, 90624 is 9.6.24."""
    major = server_version_num // 10000
    if major >= 10:
        return f"{major}.{server_version_num % 10000}"
    return f"{major}.{server_version_num // 100 % 100}.{server_version_num % 100}"


def check_versions(
    server_version_num: int, pgvector_installed: str | None, pgvector_default: str | None
) -> None:
    """Refuse a PostgreSQL server or pgvector older than the migrations and queries need.

    The arguments are what the catalogs say: ``server_version_num``, the installed extension's
    version, and the version ``CREATE EXTENSION vector`` would install (None: not installed,
    not available). The installed version is checked if there is one, else the one about to be
    created. One :class:`SchemaError` names the found and required versions of both, and how
    to upgrade whichever is too old. pgvector missing altogether is left to
    :func:`ensure_pgvector`, whose message says how to install it, unless the server is too old
    as well.
    """
    required_vector = ".".join(map(str, MINIMUM_PGVECTOR))
    installed = pgvector_installed is not None
    vector = pgvector_installed if installed else pgvector_default
    remedies = []
    if server_version_num // 10000 < MINIMUM_POSTGRESQL:
        remedies.append(f"upgrade the PostgreSQL server to {MINIMUM_POSTGRESQL} or later")
    if vector is None:
        found_vector = "no pgvector"
        if remedies:
            remedies.append(f"install pgvector {required_vector} or later on it")
    else:
        found_vector = f"pgvector {vector}" + ("" if installed else " (not yet created)")
        if parse_pgvector_version(vector) < MINIMUM_PGVECTOR:
            remedies.append(
                f"install pgvector {required_vector} or later on the server, then run "
                "ALTER EXTENSION vector UPDATE; in this database"
                if installed
                else f"install pgvector {required_vector} or later on the server (the exporter "
                "then creates the extension)"
            )
    if not remedies:
        return
    raise SchemaError(
        f"found PostgreSQL {_postgresql_release(server_version_num)} and {found_vector}; "
        f"opentelemetry-exporter-pgvector requires PostgreSQL {MINIMUM_POSTGRESQL} or later "
        f"(SQL-standard function bodies) and pgvector {required_vector} or later (iterative "
        "index scans): " + "; and ".join(remedies)
    )


def ensure_supported_versions(conn: psycopg.Connection) -> tuple[str, str | None]:
    """Check the server and pgvector with :func:`check_versions`, before anything is created.

    Returns the PostgreSQL release (``"18.6"``) and the pgvector version checked (installed,
    or about to be; None when the server has no pgvector).
    """
    row = conn.execute(
        "SELECT current_setting('server_version_num')::integer,"
        " (SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
        " (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')"
    ).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    server_version_num, installed, default = int(row[0]), row[1], row[2]
    check_versions(server_version_num, installed, default)
    return _postgresql_release(server_version_num), installed if installed is not None else default


def ensure_pgvector(conn: psycopg.Connection) -> None:
    """Create the vector extension if it is missing, or explain precisely why it cannot be."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
        version = conn.execute("SHOW server_version_num").fetchone()
        major = int(version[0]) // 10000 if version else "NN"
        raise PgvectorMissingError(
            "the pgvector extension is not installed on this PostgreSQL server. Install it on the "
            f"server (Debian/Ubuntu: apt install postgresql-{major}-pgvector; RHEL: dnf install "
            f"pgvector_{major}; macOS: brew install pgvector; or build it: "
            "https://github.com/pgvector/pgvector#installation), then run CREATE EXTENSION vector; "
            "or leave OTEL_EXPORTER_PGVECTOR_DSN empty to use the embedded server, which has it"
        )
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
    except psycopg.errors.InsufficientPrivilege as error:
        database = conn.info.dbname
        raise PgvectorMissingError(
            f"pgvector is installed on the server but not enabled in database {database!r}, and "
            f"this role may not create it: ask a superuser to run "
            f"CREATE EXTENSION vector; in {database!r}"
        ) from error
    except psycopg.errors.UniqueViolation:
        pass  # another process created it at the same moment


def _migrations_table_exists(conn: psycopg.Connection, schema: str) -> bool:
    row = conn.execute(
        "SELECT to_regclass(format('%%I.otel_schema_migrations', %s::text))", (schema,)
    ).fetchone()
    return row is not None and row[0] is not None


def applied_version(conn: psycopg.Connection, schema: str) -> int:
    """The highest migration version applied to ``schema``, 0 when none is."""
    if not _migrations_table_exists(conn, schema):
        return 0
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.otel_schema_migrations").format(
            sql.Identifier(schema)
        )
    ).fetchone()
    return int(row[0]) if row else 0


def _recorded(conn: psycopg.Connection, schema: str) -> dict[int, str]:
    """Version to checksum of the migrations applied to ``schema`` (none: not even its table)."""
    if not _migrations_table_exists(conn, schema):
        return {}
    return dict(
        conn.execute(
            sql.SQL("SELECT version, checksum FROM {}.otel_schema_migrations").format(sql.Identifier(schema))
        ).fetchall()
    )


def migrate(
    conn: psycopg.Connection, schema: str, up_to: int | None = None, deadline: float | None = None
) -> list[Migration]:
    """Bring ``schema`` up to the latest version; return the migrations this call applied.

    Idempotent and safe to run from several processes at once. ``conn`` must not be inside a
    transaction; every step runs in a transaction of its own (autocommit or not), and ``conn``
    is left with its original settings. ``up_to`` stops after that version, leaving the
    schema as an older release of the package did (to test upgrades).

    A schema already current (the normal start of a process) is recognized from
    ``otel_schema_migrations`` alone, without the advisory lock or any DDL, so no lock held
    elsewhere can delay it. With a ``deadline`` (``time.monotonic()``), each transaction's
    lock waits and statements end by it (:func:`~.timeouts.bound_transaction`): a migration
    that cannot get its locks in time fails with 55P03 or 57014, having applied each earlier
    migration wholly or not at all, and the next call carries on.
    """
    wanted = [m for m in available_migrations() if up_to is None or m.version <= up_to]
    with conn.transaction():
        bound_transaction(conn, deadline)
        ensure_supported_versions(conn)
        done = _recorded(conn, schema)
    for migration in wanted:
        if done.get(migration.version, migration.checksum) != migration.checksum:
            logger.warning(
                "migration %04d_%s in schema %s differs from the one shipped now",
                migration.version, migration.name, schema,
            )
    if all(migration.version in done for migration in wanted):
        return []
    key = _advisory_key(schema)
    with conn.transaction():
        bound_transaction(conn, deadline)
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))  # session-level: outlives this transaction
    try:
        with conn.transaction():
            bound_transaction(conn, deadline)
            ensure_pgvector(conn)
            schema_id = sql.Identifier(schema)
            # Create only what is missing, so an up-to-date schema needs no CREATE privilege.
            if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
            if not _migrations_table_exists(conn, schema):
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {}.otel_schema_migrations ("
                        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(schema_id)
                )
            done = _recorded(conn, schema)  # another process may have migrated while we waited
        applied = []
        for migration in wanted:
            if migration.version in done:
                continue
            with conn.transaction():
                bound_transaction(conn, deadline)
                # On a distributed schema (Citus) a migration that changes a distributed table and
                # creates a function, as most do, must use one connection per worker, or Citus
                # refuses the function. Without Citus the setting is an inert placeholder.
                conn.execute(
                    "SELECT set_config('search_path', %s, true),"
                    " set_config('citus.multi_shard_modify_mode', 'sequential', true)",
                    (f'"{schema}", public',),
                )
                conn.execute(migration.sql.encode())
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.otel_schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)"
                    ).format(schema_id),
                    (migration.version, migration.name, migration.checksum),
                )
            logger.info("applied migration %04d_%s to schema %s", migration.version, migration.name, schema)
            applied.append(migration)
        return applied
    finally:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
