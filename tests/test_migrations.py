"""Versioned migrations: idempotent, recorded with checksums, safe from two processes at once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from span_factory import make_spans

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
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
    """A process's first connection migrates before it waits for the pool, bounded by the
    export's deadline, not by its short connection wait: a migration longer than that wait
    (here: held behind another migrator's lock for 0.6 s) must not fail that first batch
    with "couldn't get a connection after 0.00 sec"."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_advisory_key(schema),))
    key = _advisory_key(schema)
    unlock = threading.Timer(0.6, lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,)))
    database = Database(PgvectorSettings(dsn=server_dsn, schema=schema, timeout=10))
    try:
        unlock.start()
        started = time.monotonic()
        with database.connection(0.3, deadline=started + 10) as pooled:
            assert pooled.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - started >= 0.6  # it did wait for the migration lock
        assert applied_version(conn, schema) == latest_version()
    finally:
        unlock.join()
        database.close()


def test_a_current_schema_is_checked_without_waiting_for_the_migration_lock(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """The normal start of a process: the schema is current, and another process holds the
    migration lock (migrating another time, or stuck). The first use needs no lock: done
    within the 1 s timeout (liveness bound 1 + 2 s, where it used to wait for the lock,
    released here after 20 s)."""
    Database(PgvectorSettings(dsn=server_dsn, schema=schema)).migrate()
    key = _advisory_key(schema)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    unlock = threading.Timer(20, lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,)))
    database = Database(PgvectorSettings(dsn=server_dsn, schema=schema, timeout=1))
    try:
        unlock.start()
        started = time.monotonic()
        with database.connection(1) as pooled:
            assert pooled.execute("SELECT count(*) FROM otel_spans").fetchone() == (0,)
        assert time.monotonic() - started < 1 + 2
        assert unlock.is_alive(), "the lock was held all along"
    finally:
        unlock.cancel()
        unlock.join()
        database.close()


def test_a_migration_blocked_by_a_lock_spools_the_batch_instead_of_waiting(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """Issue 11: a process's first export must apply 0007 (which replaces otel_spans_view)
    while a session left idle in a transaction after reading the view holds a share lock on
    it. The export spools its batch within its 2 s timeout (liveness bound 2 + 2 s, where it
    used to wait as long as the reader stayed open, 20 s here); once the reader ends, the
    replayer migrates and stores the batch."""
    with psycopg.connect(server_dsn, autocommit=True) as setup:
        migrate(setup, schema, up_to=6)
    exporter = PgvectorSpanExporter(dsn=server_dsn, schema=schema, timeout=2, embedding="off",
                                    breaker_cooldown=0.2)
    try:
        with psycopg.connect(server_dsn) as reader:
            reader.execute(f'SELECT count(*) FROM "{schema}".otel_spans_view')  # now idle in transaction
            release = threading.Timer(20, reader.commit)  # unblocks the bug, which waits for it
            release.start()
            started = time.monotonic()
            result = exporter.export(make_spans(5, "blocked"))
            elapsed = time.monotonic() - started
            assert (result, exporter.delivery.stats().spool.spooled_batches) == (SpanExportResult.SUCCESS, 1)
            assert elapsed < 2 + 2
            assert applied_version(conn, schema) == 6
            assert release.is_alive(), "the reader was still open all along"
            release.cancel()
            reader.commit()
        deadline = time.monotonic() + 60  # liveness bound: the replayer retries every few tenths of a second
        while conn.execute(f'SELECT count(*) FROM "{schema}".otel_spans').fetchone() != (5,):
            assert time.monotonic() < deadline, "the spooled batch was not stored after the reader ended"
            time.sleep(0.05)
        assert applied_version(conn, schema) == latest_version()
    finally:
        exporter.shutdown()


def test_otel_pgvector_migrate_waits_for_its_locks_past_the_export_timeout(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """An operator's explicit migration is not bounded by the export timeout (0.5 s here): it
    waits for the lock another migrator holds (1.5 s) and then migrates."""
    key = _advisory_key(schema)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    unlock = threading.Timer(1.5, lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (key,)))
    try:
        unlock.start()
        started = time.monotonic()
        applied = Database(PgvectorSettings(dsn=server_dsn, schema=schema, timeout=0.5)).migrate()
        assert time.monotonic() - started >= 1.5
    finally:
        unlock.join()
    assert applied == [f"{m.version:04d}_{m.name}" for m in available_migrations()]


# Columns otel_spans_view computes or joins in, besides the span columns it passes through.
SPANS_VIEW_DERIVED = ["trace_id_hex", "span_id_hex", "parent_span_id_hex", "resource_attributes",
                      "resource_schema_url"]


def columns(conn: psycopg.Connection, schema: str, relation: str) -> list[tuple[str, str]]:
    """Name and type of each column of a table or view, in order."""
    return conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, relation),
    ).fetchall()


def spans_view_pass_through(conn: psycopg.Connection, schema: str) -> list[tuple[str, str]]:
    """The span columns otel_spans_view passes through, in its order."""
    view = columns(conn, schema, "otel_spans_view")
    return [column for column in view if column[0] not in SPANS_VIEW_DERIVED]


@dataclass(frozen=True)
class CatalogFacts:
    """What migration 0007 corrects, as the catalog of one schema shows it."""

    table: list[tuple[str, str]]
    view: list[tuple[str, str]]
    indexes: dict[str, str]  # name: definition, without the schema name
    shapes_comment: str
    view_comment: str | None


def catalog_facts(conn: psycopg.Connection, schema: str) -> CatalogFacts:
    indexes = conn.execute(
        "SELECT indexname, replace(indexdef, %s, '') FROM pg_indexes"
        " WHERE schemaname = %s AND tablename = 'otel_spans'",
        (f"{schema}.", schema),
    ).fetchall()
    comments = conn.execute(
        "SELECT obj_description(format('%%I.otel_shapes', %s::text)::regclass, 'pg_class'),"
        " obj_description(format('%%I.otel_spans_view', %s::text)::regclass, 'pg_class')",
        (schema, schema),
    ).fetchone()
    assert comments is not None
    return CatalogFacts(
        table=columns(conn, schema, "otel_spans"),
        view=columns(conn, schema, "otel_spans_view"),
        indexes=dict(indexes),
        shapes_comment=comments[0],
        view_comment=comments[1],
    )


def test_spans_view_passes_every_span_column_through(server_dsn: str, schema: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        migrate(conn, schema, up_to=6)
        table = columns(conn, schema, "otel_spans")
        # the schema as 0006 left it: s.* of 0001 never picked up the shape_key 0002 added
        assert table[-1] == ("shape_key", "bigint")
        assert spans_view_pass_through(conn, schema) == table[:-1]
        migrate(conn, schema)
        assert spans_view_pass_through(conn, schema) == table
        view = [name for name, _ in columns(conn, schema, "otel_spans_view")]
        assert view[:3] == ["trace_id_hex", "span_id_hex", "parent_span_id_hex"]
        assert sorted(set(view) - {name for name, _ in table}) == sorted(SPANS_VIEW_DERIVED)
        assert len(view) == len(table) + len(SPANS_VIEW_DERIVED)


def test_index_and_comments_say_what_they_are(server_dsn: str, schema: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        migrate(conn, schema)
        facts = catalog_facts(conn, schema)
    assert "otel_spans_service_name_time" not in facts.indexes
    assert facts.indexes["otel_spans_service_name_name_time"].endswith(
        "USING btree (service_name, name, start_time)"
    )
    assert "later" not in facts.shapes_comment
    assert "span shapes (signal 'span') and log-body shapes (signal 'log')" in facts.shapes_comment
    assert facts.view_comment is not None and "column list is explicit" in facts.view_comment


def test_a_schema_upgraded_from_0006_matches_a_fresh_one(server_dsn: str, schema: str) -> None:
    fresh = schema + "_fresh"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        try:
            migrate(conn, fresh)
            migrate(conn, schema, up_to=6)
            assert applied_version(conn, schema) == 6
            conn.execute(f'SET search_path TO "{schema}", public')
            # an upgraded schema holds partitions and rows: the renamed index must keep them
            conn.execute("SELECT otel_ensure_partition('otel_spans', (now() AT TIME ZONE 'UTC')::date)")
            conn.execute("INSERT INTO otel_resources (resource_id, service_name, attributes)"
                         " VALUES (7, 'checkout', '{}')")
            conn.execute(
                "INSERT INTO otel_spans (start_time, span_id, resource_id, trace_id, service_name, name,"
                " kind, status_code, shape_key) VALUES (now(), 1, 7, '4bf92f3577b34da6a3ce929d0e0e4736',"
                " 'checkout', 'GET /cart', 'SERVER', 'OK', 42)"
            )
            assert [m.version for m in migrate(conn, schema)] == [
                m.version for m in available_migrations() if m.version > 6
            ]
            assert recorded(conn, schema) == recorded(conn, fresh) == shipped()
            assert catalog_facts(conn, schema) == catalog_facts(conn, fresh)
            rows = conn.execute("SELECT name, shape_key FROM otel_spans_view").fetchall()
            assert rows == [("GET /cart", 42)]
            # both partitions' indexes (default and today's) still hang off the renamed one
            assert conn.execute(
                "SELECT count(*) FROM pg_inherits"
                " WHERE inhparent = 'otel_spans_service_name_name_time'::regclass"
            ).fetchone() == (2,)
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
