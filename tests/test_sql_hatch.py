"""The SQL escape hatch reads, and refuses every way of writing, against the real server;
the async client's as the sync one's."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from trace_factory import TRACE_A, checkout_trace, export

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, TelemetryQuery
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.errors import QueryError


@pytest.fixture
def stored(settings: PgvectorSettings, conn: psycopg.Connection) -> PgvectorSettings:
    export(settings, checkout_trace(TRACE_A, 10))
    conn.execute("CREATE TABLE victim (id int)")
    conn.execute("CREATE SEQUENCE victim_seq")
    conn.execute("CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql"
                 " AS 'INSERT INTO victim VALUES (1) RETURNING 1'")
    return settings


def test_reads_with_parameters_and_a_row_limit(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        result = query.sql("SELECT service_name, count(*) AS spans FROM otel_spans GROUP BY 1 ORDER BY 1")
        assert result.columns == ["service_name", "spans"]
        assert result.rows == [("checkout", 1), ("frontend", 1), ("inventory", 1), ("payments", 1)]
        assert not result.truncated
        limited = query.sql("SELECT name FROM otel_spans WHERE service_name <> %s ORDER BY name",
                            ["inventory"], limit=2)
        assert limited.rows == [("POST /checkout",), ("charge",)] and limited.truncated
        assert query.sql("-- a comment first\nWITH x AS (SELECT 1 AS one) SELECT one FROM x;").rows == [(1,)]


WRITES = [
    "INSERT INTO victim VALUES (1)",
    "UPDATE otel_spans SET name = 'x'",
    "DELETE FROM otel_spans",
    "DROP TABLE otel_spans",
    "CREATE TABLE t (i int)",
    "TRUNCATE otel_spans",
    "ALTER TABLE otel_spans ADD COLUMN x int",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/otel-pgvector-pwned'",
    "SET TRANSACTION READ WRITE",
    "SET search_path TO x",
    "DO $$ BEGIN INSERT INTO victim VALUES (1); END $$",
    "SELECT 1; DELETE FROM otel_spans",
    "select 1;DROP TABLE victim",
    "WITH gone AS (DELETE FROM otel_spans RETURNING 1) SELECT count(*) FROM gone",
    "SELECT set_config('transaction_read_only', 'off', false), sneaky()",
    "SELECT sneaky()",
    "SELECT nextval('victim_seq')",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT lo_export(0, '/tmp/otel-pgvector-pwned')",
    "SELECT pg_reload_conf()",
    "EXPLAIN ANALYZE DELETE FROM otel_spans",
    "/* hidden */ DELETE FROM otel_spans",
    "",
]


def _nothing_written(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (4,)
    assert conn.execute("SELECT count(*) FROM victim").fetchone() == (0,)
    assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


@pytest.mark.parametrize("statement", WRITES)
def test_every_way_of_writing_is_refused(
    stored: PgvectorSettings, conn: psycopg.Connection, statement: str
) -> None:
    with TelemetryQuery(stored) as query, pytest.raises(QueryError):
        query.sql(statement)
    _nothing_written(conn)


@pytest.mark.parametrize("statement", WRITES)
def test_the_async_client_refuses_them_alike(
    stored: PgvectorSettings, conn: psycopg.Connection, statement: str
) -> None:
    with TelemetryQuery(stored) as query, pytest.raises(QueryError) as sync_refusal:
        query.sql(statement)

    async def refusal() -> str:
        async with AsyncTelemetryQuery(stored) as query:
            with pytest.raises(QueryError) as refused:
                await query.sql(statement)
            return str(refused.value)

    assert asyncio.run(refusal()) == str(sync_refusal.value)
    _nothing_written(conn)


def test_the_pooled_connection_keeps_nothing_the_query_changed(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        query.sql("SELECT set_config('search_path', 'pg_catalog', false)")
        assert query.sql("SELECT count(*) FROM otel_spans").rows == [(4,)]  # still our schema


def test_a_slow_query_is_cancelled(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query, pytest.raises(QueryError, match=r"longer than 0\.2 s"):
        query.sql("SELECT pg_sleep(5)", timeout=0.2)


def test_the_async_client_cancels_a_slow_query_and_keeps_its_connection(stored: PgvectorSettings) -> None:
    async def ask() -> list[tuple[object, ...]]:
        async with AsyncTelemetryQuery(stored.model_copy(update={"pool_max_size": 1})) as query:
            with pytest.raises(QueryError, match=r"longer than 0\.2 s"):
                await query.sql("SELECT pg_sleep(5)", timeout=0.2)
            await query.sql("SELECT set_config('search_path', 'pg_catalog', false)")
            # the one pooled connection: usable after the cancel, and still on our schema
            return (await query.sql("SELECT count(*) FROM otel_spans")).rows

    assert asyncio.run(ask()) == [(4,)]
