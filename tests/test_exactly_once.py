"""The batch ledger: a batch written or replayed any number of times is stored once."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import SpanConverter
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.errors import DatabaseUnavailable
from opentelemetry_exporter_pgvector.write.retry import sqlstate_of
from opentelemetry_exporter_pgvector.write.writer import TelemetryWriter


def _writer(settings: PgvectorSettings) -> TelemetryWriter:
    database = Database(settings)
    database.migrate()
    return TelemetryWriter(database)


def test_same_batch_id_twice_stores_once(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    writer = _writer(settings)
    spans = make_spans(20)
    parts = SpanConverter(1000).convert_batch(spans)
    batch_id = uuid.uuid4().bytes
    try:
        assert writer.write(parts, 10, batch_id) is True
        assert writer.write(parts, 10, batch_id) is False  # already in the ledger
        assert writer.write(SpanConverter(1000).convert_batch(spans), 10, batch_id) is False
    finally:
        writer.database.close()
    assert stored_ids(conn) == span_ids(spans)
    assert conn.execute("SELECT count(*) FROM otel_batches WHERE batch_id = %s",
                        (uuid.UUID(bytes=batch_id),)).fetchone() == (1,)


def test_racing_replays_of_one_batch_store_it_once(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    writer = _writer(settings)
    spans = make_spans(50)
    batch_id = uuid.uuid4().bytes
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def replay() -> None:
        parts = SpanConverter(1000).convert_batch(spans)
        barrier.wait()
        results.append(writer.write(parts, 10, batch_id))

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    writer.database.close()
    assert sorted(results) == [False, False, False, True]
    assert stored_ids(conn) == span_ids(spans)


def test_a_failed_batch_leaves_no_ledger_entry(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    """The id commits with the rows or not at all, so a retry after a real failure stores them."""
    writer = _writer(settings)
    spans = make_spans(5)
    batch_id = uuid.uuid4().bytes
    conn.execute("CREATE FUNCTION fail_copy() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$")
    conn.execute("CREATE TRIGGER fail_copy BEFORE INSERT ON otel_spans FOR EACH STATEMENT EXECUTE FUNCTION fail_copy()")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            writer.write(SpanConverter(1000).convert_batch(spans), 10, batch_id)
        assert sqlstate_of(caught.value) == "40001"
        assert conn.execute("SELECT count(*) FROM otel_batches").fetchone() == (0,)
        conn.execute("DROP TRIGGER fail_copy ON otel_spans")
        assert writer.write(SpanConverter(1000).convert_batch(spans), 10, batch_id) is True
    finally:
        writer.database.close()
    assert stored_ids(conn) == span_ids(spans)
