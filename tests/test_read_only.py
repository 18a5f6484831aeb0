"""Reading never changes the database: no schema is created or upgraded by a query or a read
command; an unknown or out-of-date schema is a clear error instead."""

from __future__ import annotations

import psycopg
import pytest

from opentelemetry_exporter_pgvector import TelemetryQuery
from opentelemetry_exporter_pgvector.cli.main import main
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.migrations import available_migrations, latest_version
from opentelemetry_exporter_pgvector.errors import NotFound, SchemaError

READ_COMMANDS = [["logs"], ["logs", "--patterns"], ["trace", "4bf92f3577b34da6a3ce929d0e0e4736"],
                 ["metrics", "x"], ["similar", "--span-id", "00f067aa0ba902b7"], ["traces"],
                 ["compare", "4bf92f3577b34da6a3ce929d0e0e4736", "5bf92f3577b34da6a3ce929d0e0e4736"],
                 ["errors"], ["services"], ["latency", "--service", "x"], ["metrics", "--list"],
                 ["sql", "select 1"]]


def schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda command: command[0])
def test_a_read_command_on_a_missing_schema_creates_nothing(
    command: list[str], server_dsn: str, schema: str, conn: psycopg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = PgvectorSettings(dsn=server_dsn, schema=f"{schema}_real")
    Database(other).migrate()  # a schema that does hold telemetry, to be named in the message
    try:
        with pytest.raises(SystemExit) as done:
            main(["--dsn", server_dsn, "--schema", f"{schema}_typo", *command])
        err = capsys.readouterr().err
        assert done.value.code == 1
        assert err.startswith(f"otel-pgvector: schema '{schema}_typo' holds no telemetry (schemas that do: ")
        assert f"{schema}_real" in err and err.count("\n") == 1
        assert not schema_exists(conn, f"{schema}_typo")
    finally:
        conn.execute(f'DROP SCHEMA "{schema}_real" CASCADE')


def test_an_out_of_date_schema_is_not_upgraded_by_a_reader(settings: PgvectorSettings,
                                                          conn: psycopg.Connection) -> None:
    from opentelemetry_exporter_pgvector.db.migrations import migrate

    previous = available_migrations()[-2].version  # versions may skip numbers (parallel branches)
    with psycopg.connect(settings.dsn.get_secret_value(), autocommit=True) as admin:
        migrate(admin, settings.db_schema, up_to=previous)
    with (
        TelemetryQuery(settings) as query,
        pytest.raises(
            SchemaError,
            match=f"is at migration {previous} of {latest_version()}: run otel-pgvector migrate",
        ),
    ):
        query.search_logs("anything")
    assert conn.execute("SELECT max(version) FROM otel_schema_migrations").fetchone() == (previous,)


def test_the_query_api_raises_not_found_for_a_missing_schema(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    with TelemetryQuery(settings) as query, pytest.raises(NotFound, match="holds no telemetry"):
        query.find_traces()
    assert not schema_exists(conn, settings.db_schema)
