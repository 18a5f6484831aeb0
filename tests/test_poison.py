"""Poison rows: the good rows of a batch land, the bad ones go to otel_dead_letters intact."""

from __future__ import annotations

import marshal

import psycopg
from opentelemetry.sdk.trace.export import SpanExportResult
from psycopg.rows import dict_row
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import signed_span_id


def test_duplicate_span_in_the_middle_of_a_batch(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    spans = list(make_spans(511))
    poison = spans[255]
    batch = spans[:256] + [poison] + spans[256:]  # 512 rows, one a duplicate key of another
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(batch) is SpanExportResult.SUCCESS
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert stored_ids(conn) == span_ids(spans)  # all 511 distinct spans, once each
    with conn.cursor(row_factory=dict_row) as cursor:
        letters = cursor.execute("SELECT * FROM otel_dead_letters").fetchall()
    assert len(letters) == 1 and stats.rejected_rows == 1
    letter = letters[0]
    assert letter["table_name"] == "otel_spans"
    assert letter["sqlstate"] == "23505"
    assert "duplicate key" in letter["error"]
    assert letter["content"]["name"] == poison.name
    assert letter["content"]["span_id"] == signed_span_id(poison.context.span_id)
    assert letter["content"]["attributes"] == {"index": 255}
    raw = marshal.loads(letter["raw"])
    assert raw[3] == signed_span_id(poison.context.span_id) and raw[14] == poison.name
    assert conn.execute("SELECT count(*) FROM otel_batches WHERE batch_id = %s",
                        (letter["batch_id"],)).fetchone() == (1,)


def test_several_poison_rows_and_a_constraint(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    exporter = PgvectorSpanExporter(settings)
    spans = make_spans(100, "checked")
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS  # migrated
        # a constraint the operator added: names ending in 7 are rejected (SQLSTATE 23514)
        conn.execute("ALTER TABLE otel_spans ADD CONSTRAINT no_sevens CHECK (name NOT LIKE '%7')")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    expected_bad = sorted(span.name for span in spans if span.name.endswith("7"))
    stored = sorted(name for (name,) in conn.execute("SELECT name FROM otel_spans WHERE name LIKE 'checked-%'"))
    rejected = sorted(name for (name,) in conn.execute(
        "SELECT content->>'name' FROM otel_dead_letters WHERE sqlstate = '23514'"))
    assert rejected == expected_bad and len(rejected) == 10
    assert sorted(stored + rejected) == sorted(span.name for span in spans)
