"""The SQLSTATE classification table, row by row, with real server errors; and the backoff."""

from __future__ import annotations

import random

import psycopg
import pytest

from opentelemetry_exporter_pgvector.errors import DatabaseClosed, DatabaseUnavailable
from opentelemetry_exporter_pgvector.write.retry import CLASSIFICATION, Action, Backoff, classify, sqlstate_of

# One real SQLSTATE per table row: the row's own code, or a member of its class.
_EXAMPLES = {
    "08": "08006", "40001": "40001", "40P01": "40P01", "57P01": "57P01", "57P02": "57P02", "57P03": "57P03",
    "53300": "53300", "53": "53100", "25006": "25006", "57014": "57014", "22": "22012", "23": "23505",
    "42": "42501", "28": "28000",
}


def raise_from_server(conn: psycopg.Connection, code: str) -> psycopg.Error:
    """The exception psycopg raises for an error with SQLSTATE ``code`` sent by the server."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$")
    return caught.value


def test_every_row_has_an_example() -> None:
    assert set(_EXAMPLES) == set(CLASSIFICATION)


@pytest.mark.parametrize("key", sorted(CLASSIFICATION))
def test_classification_row_with_a_real_server_error(conn: psycopg.Connection, key: str) -> None:
    error = raise_from_server(conn, _EXAMPLES[key])
    assert error.sqlstate == _EXAMPLES[key]
    assert classify(error) is CLASSIFICATION[key][0]


def test_full_code_takes_precedence_over_its_class(conn: psycopg.Connection) -> None:
    # 53300 and 53100 share class 53; 57014 and 57P01 share nothing with an entry "57"
    assert classify(raise_from_server(conn, "53300")) is Action.RETRY
    assert classify(raise_from_server(conn, "57000")) is Action.FAIL  # operator intervention, no row


def test_unknown_sqlstate_is_not_retried(conn: psycopg.Connection) -> None:
    assert classify(raise_from_server(conn, "P0001")) is Action.FAIL


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


def test_a_closed_database_is_never_retried() -> None:
    """Closed stays closed: unlike an unreachable server, no later attempt can succeed."""
    assert classify(DatabaseClosed("closed")) is Action.FAIL
    assert classify(DatabaseUnavailable("down")) is Action.RETRY


def test_programming_errors_are_not_retried() -> None:
    assert classify(ValueError("bug")) is Action.FAIL
    assert classify(TypeError("bug")) is Action.FAIL


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(0.05, 1.0, random.Random(7))
    for attempt in range(12):
        ceiling = min(1.0, 0.05 * 2 ** attempt)
        pauses = [backoff.pause(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= pause <= ceiling for pause in pauses)
        assert len(set(pauses)) > 1  # jittered, not synchronized across processes
