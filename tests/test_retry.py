"""The SQLSTATE classification table, row by row, with real server errors; transient errors
retried end to end; and the backoff."""

from __future__ import annotations

import random
import threading

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from psycopg import sql
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.table import Column, TableSpec
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.errors import (
    DatabaseBusy,
    DatabaseClosed,
    DatabaseUnavailable,
    UnsendableRow,
)
from opentelemetry_exporter_pgvector.write.copy import copy_rows, copy_statement
from opentelemetry_exporter_pgvector.write.retry import (
    CLASSIFICATION,
    Action,
    Backoff,
    classify,
    is_refusal,
    sqlstate_of,
)

# One real SQLSTATE per table row (the row's own code, or a member of its class), and the
# action the table must give it, written out here rather than read from the table.
_EXAMPLES = {
    "08": ("08006", Action.RETRY), "40001": ("40001", Action.RETRY), "40P01": ("40P01", Action.RETRY),
    "57P01": ("57P01", Action.RETRY), "57P02": ("57P02", Action.RETRY), "57P03": ("57P03", Action.RETRY),
    "53300": ("53300", Action.RETRY), "53": ("53100", Action.RETRY), "25006": ("25006", Action.RETRY),
    "57014": ("57014", Action.RETRY), "55P03": ("55P03", Action.RETRY), "58": ("58030", Action.RETRY),
    "22": ("22012", Action.ISOLATE), "23": ("23505", Action.ISOLATE),
    "54": ("54000", Action.ISOLATE), "42": ("42501", Action.FAIL), "28": ("28000", Action.FAIL),
}


def raise_from_server(conn: psycopg.Connection, code: str) -> psycopg.Error:
    """The exception psycopg raises for an error with SQLSTATE ``code`` sent by the server."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$")
    return caught.value


def test_every_row_of_the_table_has_an_expected_code() -> None:
    """A row added to CLASSIFICATION without its expected action written here fails."""
    assert set(CLASSIFICATION) == set(_EXAMPLES)


@pytest.mark.parametrize("key", sorted(CLASSIFICATION))
def test_classification_row_with_a_real_server_error(conn: psycopg.Connection, key: str) -> None:
    code, action = _EXAMPLES[key]
    error = raise_from_server(conn, code)
    assert error.sqlstate == code
    assert classify(error) is action


def test_an_index_row_too_large_is_a_poison_row(conn: psycopg.Connection) -> None:
    """The issue's own 54000: a text of about 3,000 incompressible characters in a btree index."""
    conn.execute("CREATE TABLE indexed (name text); CREATE INDEX ON indexed (name)")
    with pytest.raises(psycopg.Error) as caught:
        conn.execute("INSERT INTO indexed VALUES (%s)", (random.Random(5).randbytes(1500).hex(),))
    assert caught.value.sqlstate == "54000" and "exceeds btree" in str(caught.value)
    assert classify(caught.value) is Action.ISOLATE and is_refusal(caught.value)


# Faults for the end-to-end test: PL/pgSQL run by the first batch transaction only.
_TRANSIENT_FAULTS = {
    code: f"RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'"
    for code in ("25006", "40001", "40P01", "57P01", "57P03", "53300", "57014")
} | {"57P01-terminated": "PERFORM pg_terminate_backend(pg_backend_pid())"}  # the server ends the session


def fail_first_batch(conn: psycopg.Connection, schema: str, fault: str) -> None:
    """Make the first transaction that writes the ``otel_batches`` ledger run ``fault``; later ones pass.

    A sequence counts the transactions: ``nextval`` is not rolled back with the one that fails.
    """
    conn.execute(sql.SQL(
        "CREATE SEQUENCE {sequence};"
        " CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF nextval({sequence_name}) = 1 THEN {fault}; END IF; RETURN NULL; END $$;"
        " CREATE TRIGGER fail_first BEFORE INSERT ON {ledger}"
        " FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    ).format(
        sequence=sql.Identifier(schema, "batch_transactions"), function=sql.Identifier(schema, "fail_first"),
        sequence_name=sql.Literal(f'"{schema}".batch_transactions'),
        fault=sql.SQL(fault),  # type: ignore[arg-type]
        ledger=sql.Identifier(schema, "otel_batches"),
    ))


@pytest.mark.parametrize("fault", sorted(_TRANSIENT_FAULTS))
def test_a_transient_error_is_retried_and_the_batch_lands(
    settings: PgvectorSettings, schema: str, conn: psycopg.Connection, fault: str
) -> None:
    """Retried at once, within the same export: stored when export() returns, never spooled."""
    Database(settings).migrate()
    fail_first_batch(conn, schema, _TRANSIENT_FAULTS[fault])
    spans = make_spans(20, "retried")
    exporter = PgvectorSpanExporter(settings.model_copy(update={"breaker_cooldown": 600}))
    try:
        result = exporter.export(spans)
        spooled = exporter.delivery.stats().spool.spooled_batches
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    assert spooled == 0
    assert stored_ids(conn) == span_ids(spans)
    assert conn.execute("SELECT last_value FROM batch_transactions").fetchone() == (2,)  # failed, then stored


def test_full_code_takes_precedence_over_its_class(conn: psycopg.Connection) -> None:
    # 53300 and 53100 share class 53; 57014 and 57P01 share nothing with an entry "57"
    assert classify(raise_from_server(conn, "53300")) is Action.RETRY
    assert classify(raise_from_server(conn, "57000")) is Action.FAIL  # operator intervention, no row


def test_unknown_sqlstate_is_not_retried(conn: psycopg.Connection) -> None:
    assert classify(raise_from_server(conn, "P0001")) is Action.FAIL


def test_refusals_are_what_the_server_answered_for_good(conn: psycopg.Connection) -> None:
    """Refused: bisected (poison.isolate asks the table), not retried, not a failure to the breaker."""
    for code in ("22012", "23505", "54000", "42501", "42703", "P0001", "XX000"):
        assert is_refusal(raise_from_server(conn, code)), code
    for code in ("08006", "40001", "57P01", "53100", "25006", "57014", "55P03", "58030"):
        assert not is_refusal(raise_from_server(conn, code)), code
    for error in (DatabaseUnavailable("down"), DatabaseClosed("closed"), ValueError("bug"),
                  DatabaseBusy("all in use")):
        assert not is_refusal(error), error
    try:  # as Database._prepare reports a migration that did not get its locks in time
        raise DatabaseUnavailable("schema not ready in time") from raise_from_server(conn, "55P03")
    except DatabaseUnavailable as wrapped:
        assert classify(wrapped) is Action.RETRY and not is_refusal(wrapped)


def test_a_busy_pool_is_back_pressure_not_a_failure() -> None:
    assert classify(DatabaseBusy("every pooled connection in use")) is Action.WAIT


def test_a_value_the_client_cannot_send_is_the_rows_fault(conn: psycopg.Connection) -> None:
    table = TableSpec("pair", (Column("a", "int8"), Column("b", "text")))
    conn.execute("CREATE TABLE pair (a int8, b text)")
    for row in [(2**70, "x"), ("not a number", "x"), (1, 2)]:
        with pytest.raises(UnsendableRow) as caught, conn.transaction():
            copy_rows(conn, copy_statement(None, table), table, [row])
        assert classify(caught.value) is Action.ISOLATE and is_refusal(caught.value)
    with pytest.raises(psycopg.DataError) as short, conn.transaction():  # psycopg's own check, client-side
        copy_rows(conn, copy_statement(None, table), table, [(1,)])
    assert short.value.sqlstate is None and classify(short.value) is Action.ISOLATE
    assert conn.execute("SELECT count(*) FROM pair").fetchone() == (0,)


def test_connection_failures_without_sqlstate_are_retried() -> None:
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect("postgresql://u@127.0.0.1:1/db", connect_timeout=2)
    assert sqlstate_of(caught.value) is None
    assert classify(caught.value) is Action.RETRY
    assert classify(DatabaseUnavailable("down")) is Action.RETRY
    assert classify(TimeoutError()) is Action.RETRY


def test_sqlstate_is_found_through_wrapping_exceptions(conn: psycopg.Connection) -> None:
    original = raise_from_server(conn, "40P01")
    try:
        raise DatabaseUnavailable("wrapped") from original
    except DatabaseUnavailable as wrapped:
        assert sqlstate_of(wrapped) == "40P01"


def test_the_sqlstate_search_ends_on_a_cycle_of_causes() -> None:
    """A chain of exceptions that loops (a cause set by hand) is walked once, not for ever."""
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__cause__, second.__context__ = second, first
    answer: list[str | None] = []
    walker = threading.Thread(target=lambda: answer.append(sqlstate_of(first)), daemon=True)
    walker.start()
    walker.join(10)  # a liveness bound: the walk takes microseconds, the loop it guards never ends
    assert answer == [None]


def test_a_closed_database_is_never_retried() -> None:
    """Closed stays closed: unlike an unreachable server, no later attempt can succeed."""
    assert classify(DatabaseClosed("closed")) is Action.FAIL
    assert classify(DatabaseUnavailable("down")) is Action.RETRY


def test_programming_errors_are_not_retried() -> None:
    assert classify(ValueError("bug")) is Action.FAIL
    assert classify(TypeError("bug")) is Action.FAIL
    assert classify(psycopg.ProgrammingError("no SQLSTATE")) is Action.FAIL


def test_a_driver_interface_error_without_sqlstate_is_retried() -> None:
    """Client side, no SQLSTATE: retried, unlike other psycopg errors without one (above)."""
    assert classify(psycopg.InterfaceError("connection already closed")) is Action.RETRY


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(0.05, 1.0, random.Random(7))
    for attempt in range(12):
        ceiling = min(1.0, 0.05 * 2 ** attempt)
        pauses = [backoff.pause(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= pause <= ceiling for pause in pauses)
        assert len(set(pauses)) > 1  # jittered, not synchronized across processes
