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
from opentelemetry_exporter_pgvector.convert.table import Column, TableRows, TableSpec
from opentelemetry_exporter_pgvector.db.database import acquire
from opentelemetry_exporter_pgvector.write.delivery import Delivery, Outcome, replay_spooled
from opentelemetry_exporter_pgvector.write.poison import readable_value


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


def test_rows_a_trigger_refuses_with_a_class_the_table_does_not_know(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """P0001 (a plain RAISE EXCEPTION) is no data error by its class; the table takes an empty
    COPY, so the rows are at fault: they are dead-lettered at once, not spooled."""
    exporter = PgvectorSpanExporter(settings)
    spans = make_spans(30, "triggered")
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS  # migrated
        conn.execute("""
            CREATE FUNCTION refuse_fives() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.name LIKE '%5' THEN RAISE EXCEPTION 'no fives'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_fives BEFORE INSERT ON otel_spans
                FOR EACH ROW EXECUTE FUNCTION refuse_fives();
        """)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert (stats.spool.spooled_batches, stats.rejected_rows, stats.breaker.consecutive_failures) == (0, 3, 0)
    rejected = sorted(name for (name,) in conn.execute(
        "SELECT content->>'name' FROM otel_dead_letters WHERE sqlstate = 'P0001' AND error LIKE 'no fives%'"))
    assert rejected == ["triggered-15", "triggered-25", "triggered-5"]
    stored = {name for (name,) in conn.execute("SELECT name FROM otel_spans WHERE name LIKE 'triggered-%'")}
    assert stored == {span.name for span in spans} - set(rejected)


def test_a_table_that_refuses_every_write_keeps_the_batch_whole(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """A statement trigger refuses even an empty COPY: the table, not a row, is at fault, so
    no row is dead-lettered; the batch is spooled whole and lands once the table takes rows."""
    exporter = PgvectorSpanExporter(settings)
    spans = make_spans(12, "closed")
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS  # migrated
        conn.execute("""
            CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'spans are closed for maintenance'; END $$;
            CREATE TRIGGER refuse_all BEFORE INSERT ON otel_spans
                FOR EACH STATEMENT EXECUTE FUNCTION refuse_all();
        """)
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # spooled durably
        refused = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert (refused.spool.spooled_batches, refused.rejected_rows) == (1, 0)
    assert conn.execute("SELECT count(*) FROM otel_dead_letters").fetchone() == (0,)
    conn.execute("DROP TRIGGER refuse_all ON otel_spans")
    database = acquire(settings)
    try:
        replayed = replay_spooled(database)
    finally:
        database.release()
    assert (replayed.replayed_batches, replayed.set_aside_batches, replayed.left_batches) == (1, 0, 0)
    stored = [span_id for (span_id,) in conn.execute(
        "SELECT span_id FROM otel_spans WHERE name LIKE 'closed-%' ORDER BY span_id")]
    assert stored == span_ids(spans)


def test_a_value_the_wire_cannot_carry_costs_only_its_row(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """Rows as a spool record of an older release could hold them: an integer beyond int8."""
    table = TableSpec("pairs", (Column("id", "int8"), Column("label", "text")))
    database = acquire(settings)
    database.migrate()
    conn.execute("CREATE TABLE pairs (id int8, label text)")
    rows = [(1, "one"), (2**70, "too large"), (3, "three")]
    delivery = Delivery(database, settings, background=False)
    try:
        outcome = delivery.deliver(lambda: [TableRows(table, rows)], 10)
        stats = delivery.stats()
    finally:
        delivery.close(10)
        database.release()
    assert (outcome, stats.rejected_rows) == (Outcome.STORED, 1)
    assert conn.execute("SELECT id, label FROM pairs ORDER BY id").fetchall() == [(1, "one"), (3, "three")]
    letter = conn.execute("SELECT table_name, sqlstate, error, content FROM otel_dead_letters").fetchone()
    assert letter[:2] == ("pairs", None) and "cannot be sent" in letter[2]
    assert letter[3] == {"id": 2**70, "label": "too large"}


def test_data_exceptions_are_bisected_too(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    """Class 22 (data exception), not only class 23, goes through bisection end to end."""
    exporter = PgvectorSpanExporter(settings)
    spans = make_spans(100, "divided")
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS  # migrated
        # names ending in 7 make the check divide by zero: SQLSTATE 22012, a data exception
        conn.execute("ALTER TABLE otel_spans ADD CONSTRAINT no_sevens"
                     " CHECK (1 / (CASE WHEN name LIKE '%7' THEN 0 ELSE 1 END) = 1)")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        spooled = exporter.delivery.stats().spool.spooled_batches
    finally:
        exporter.shutdown()
    assert spooled == 0
    expected_bad = sorted(span.name for span in spans if span.name.endswith("7"))
    stored = sorted(name for (name,) in conn.execute(
        "SELECT name FROM otel_spans WHERE name LIKE 'divided-%'"))
    rejected = sorted(name for (name,) in conn.execute(
        "SELECT content->>'name' FROM otel_dead_letters WHERE sqlstate = '22012'"))
    assert rejected == expected_bad and len(rejected) == 10
    assert stored == sorted(set(span.name for span in spans) - set(expected_bad))


def test_dead_letter_content_is_readable(conn: psycopg.Connection) -> None:
    """Wire values become what a person reads: a timestamp as PostgreSQL prints it in UTC,
    jsonb as JSON, bytes in hex, each element of an array by the element's type."""
    conn.execute("SET TIME ZONE 'UTC'")
    micros = conn.execute(
        "SELECT (extract(epoch FROM t - '2000-01-01 00:00:00+00') * 1000000)::int8, to_jsonb(t)"
        " FROM (SELECT timestamptz '2024-02-29 13:14:15.123456+00' AS t) AS s").fetchone()
    assert micros is not None
    assert readable_value(micros[0], "timestamptz") == "2024-02-29T13:14:15.123456+00:00" == micros[1]
    assert readable_value([micros[0], None], "timestamptz[]") == ["2024-02-29T13:14:15.123456+00:00", None]
    assert readable_value(micros[0], "int8") == micros[0]  # only a timestamptz column is a time
    assert readable_value(b"\x01" + b'{"a": [1, "x"]}', "jsonb") == {"a": [1, "x"]}
    assert readable_value(b"\x01not json", "jsonb") == b"\x01not json".hex()
    assert readable_value(b"\x00\xff", "bytea") == "00ff"
    assert readable_value(b"\x00\xff", "uuid") == "00ff"
    assert readable_value(2**62, "timestamptz") == 2**62  # beyond datetime: kept as the number
