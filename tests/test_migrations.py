"""Versioned migrations: idempotent, recorded with checksums, safe from two processes at once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest

from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.migrations import (
    _advisory_key,
    applied_version,
    available_migrations,
    latest_version,
    migrate,
)


def table_count(conn: psycopg.Connection, schema: str, name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def recorded(conn: psycopg.Connection, schema: str) -> list[tuple[int, str, str]]:
    return conn.execute(
        f'SELECT version, name, checksum FROM "{schema}".otel_schema_migrations ORDER BY version'
    ).fetchall()


def shipped() -> list[tuple[int, str, str]]:
    return [(migration.version, migration.name, migration.checksum) for migration in available_migrations()]


def test_shipped_migrations() -> None:
    migrations = available_migrations()
    assert migrations, "at least one migration is shipped"
    assert [migration.version for migration in migrations] == sorted({m.version for m in migrations})
    assert migrations[0].version == 1 and migrations[0].name == "spans"
    assert latest_version() == migrations[-1].version
    assert all(len(migration.checksum) == 64 for migration in migrations)


def test_migrate_twice_applies_nothing_the_second_time(server_dsn: str, schema: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        assert applied_version(conn, schema) == 0
        search_path = conn.execute("SHOW search_path").fetchone()
        first = migrate(conn, schema)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert applied_version(conn, schema) == latest_version()
        assert migrate(conn, schema) == []
        assert recorded(conn, schema) == shipped()
        assert conn.execute("SHOW search_path").fetchone() == search_path  # left as it was
        for table in ("otel_spans", "otel_spans_default", "otel_resources", "otel_schema_migrations"):
            assert table_count(conn, schema, table) == 1
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone() == (1,)
        # the schema's functions exist in that schema
        functions = {
            name
            for (name,) in conn.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = %s",
                (schema,),
            )
        }
        assert {"otel_span_id", "otel_span_id_hex", "otel_trace_id_hex", "otel_ensure_partition"} <= functions


def test_database_migrate_reports_names_and_creates_partitions(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    database = Database(settings)
    assert database.migrate() == [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    assert {"otel_spans", "otel_logs", "otel_metric_points"} <= set(database.partitioned_tables)
    assert Database(settings).migrate() == []
    for table in database.partitioned_tables:
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (table,)
        ).fetchone()[0]
        assert partitions == 1 + 1 + 1 + settings.partition_days_ahead  # default, yesterday, today, ahead


def test_changed_migration_is_reported_not_reapplied(
    server_dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        migrate(conn, schema)
        conn.execute(
            f'UPDATE "{schema}".otel_schema_migrations SET checksum = %s WHERE version = 1', ("0" * 64,)
        )
        with caplog.at_level(logging.WARNING):
            assert migrate(conn, schema) == []
        assert any("differs" in record.getMessage() for record in caplog.records)
        assert conn.execute(f'SELECT count(*) FROM "{schema}".otel_schema_migrations').fetchone() == (
            len(shipped()),
        )


def test_schemas_are_independent(server_dsn: str, schema: str) -> None:
    other = schema + "_other"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        try:
            assert migrate(conn, schema)
            assert migrate(conn, other)
            assert migrate(conn, schema) == [] and migrate(conn, other) == []
            assert recorded(conn, other) == shipped()
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')


CHILD = textwrap.dedent(
    """
    import json, sys
    from opentelemetry_exporter_pgvector.config import PgvectorSettings
    from opentelemetry_exporter_pgvector.db.database import Database
    database = Database(PgvectorSettings(dsn=sys.argv[1], schema=sys.argv[2], embedding="off"))
    database.connect().close()  # imported and able to connect: wait for the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(database.migrate()), flush=True)
    """
)


def test_two_processes_migrating_at_once(server_dsn: str, schema: str, conn: psycopg.Connection) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, server_dsn, schema],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:  # release both at the same moment
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    expected = [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    # each migration was applied by exactly one of the two processes
    assert sorted(outputs, key=len) == [[], expected]
    assert table_count(conn, schema, "otel_spans") == 1
    assert table_count(conn, schema, "otel_schema_migrations") == 1
    assert recorded(conn, schema) == shipped()


def test_a_slow_first_migration_is_not_counted_against_the_connection_wait(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """A process's first connection migrates before it waits for the pool; a migration longer
    than the short wait an export allows (here: held behind another migrator's lock for 0.6 s)
    must not fail that first batch with "couldn't get a connection after 0.00 sec"."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_advisory_key(schema),))
    key = _advisory_key(schema)
    unlock = threading.Timer(0.6, lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,)))
    database = Database(PgvectorSettings(dsn=server_dsn, schema=schema, timeout=10))
    try:
        unlock.start()
        started = time.monotonic()
        with database.connection(0.3) as pooled:
            assert pooled.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - started >= 0.6  # it did wait for the migration lock
        assert applied_version(conn, schema) == latest_version()
    finally:
        unlock.join()
        database.close()
