"""No spooled batch blocks the ones after it: replay against the real database.

Rows the database refuses when a batch is replayed go to otel_dead_letters and the rest land;
a batch the database refuses as a whole stays spooled, set behind the others; a record that
does not decode is quarantined. Before, the replayer retried the oldest batch for ever, and
every batch spooled after it (an outage's worth) never landed.
"""

from __future__ import annotations

import contextlib
import marshal
import struct
import time
import zlib
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.write.delivery import spool_directory
from opentelemetry_exporter_pgvector.write.spool import inspect_directory


def log_records(bodies: list[str]) -> tuple[ReadableLogRecord, ...]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    for body in bodies:
        provider.get_logger("replay").emit(LogRecord(body=body, severity_number=SeverityNumber.INFO))
    provider.shutdown()
    return memory.get_finished_logs()


def open_breaker(exporter: PgvectorSpanExporter | PgvectorLogExporter) -> None:
    """Open the breaker for ten minutes, as an outage would: batches go to the spool."""
    breaker = exporter.delivery.breaker
    for _ in range(exporter.settings.breaker_threshold):
        breaker.record_failure()
    breaker._cooldown = 600  # held open for the test


def wait_replayed(exporter: PgvectorSpanExporter, limit: float = 30) -> None:
    """Liveness bound: the replayer drains three small batches in well under a second."""
    deadline = time.monotonic() + limit
    while exporter.delivery.stats().spool.pending_batches and time.monotonic() < deadline:
        time.sleep(0.05)


REFUSE_ROWS = """
CREATE FUNCTION refuse_sevens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name LIKE 'mixed-%7' THEN
        RAISE EXCEPTION 'span % refused', NEW.name USING ERRCODE = '{code}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_sevens BEFORE INSERT ON otel_spans FOR EACH ROW EXECUTE FUNCTION refuse_sevens();
"""


@pytest.mark.parametrize("code", ["54000", "P0001", "42501"])
def test_rows_refused_on_replay_are_dead_lettered_and_the_batches_after_them_land(
    server_dsn: str, schema: str, conn: psycopg.Connection, code: str
) -> None:
    """A trigger refuses some rows of the oldest spooled batch: with 54000 (program limit
    exceeded, as a text too long for its index), P0001 (a class the retry table does not know)
    or 42501 (as a row-level security policy would). Each used to stop the replay for ever."""
    exporter = PgvectorSpanExporter(dsn=server_dsn, schema=schema, timeout=10, embedding="off")
    mixed = make_spans(20, "mixed")  # mixed-7 and mixed-17 are refused
    later = [make_spans(10, f"later{n}") for n in range(2)]
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS  # migrated
        open_breaker(exporter)
        assert [exporter.export(batch) for batch in [mixed, *later]] == [SpanExportResult.SUCCESS] * 3
        assert exporter.force_flush(10_000)
        assert exporter.delivery.stats().spool.pending_batches == 3
        conn.execute(REFUSE_ROWS.format(code=code))
        exporter.delivery.breaker.record_success()  # the database is back: the replayer drains
        wait_replayed(exporter)
        spool = exporter.delivery.stats().spool
    finally:
        exporter.shutdown()
    assert (spool.pending_batches, spool.replayed_batches, spool.set_aside_batches) == (0, 3, 0)
    kept = [span for span in mixed if span.name not in ("mixed-7", "mixed-17")]
    stored = sorted(name for (name,) in conn.execute("SELECT name FROM otel_spans WHERE name <> 'warmup-0'"))
    assert stored == sorted(span.name for span in [*kept, *later[0], *later[1]])  # 18 + 10 + 10, once each
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            "SELECT sqlstate, error, content FROM otel_dead_letters ORDER BY content->>'name'"
        ).fetchall()
    assert [(row["sqlstate"], row["content"]["name"]) for row in rows] == [(code, "mixed-17"),
                                                                            (code, "mixed-7")]
    assert "span mixed-17 refused" in rows[0]["error"]


@contextlib.contextmanager
def role_without_insert_on_logs(conn: psycopg.Connection, server_dsn: str, schema: str) -> Iterator[str]:
    """A login role that may write every table of ``schema`` but otel_logs; yields its DSN."""
    role = f"nolog_{schema}"
    conn.execute(f'CREATE ROLE "{role}" LOGIN; GRANT ALL ON SCHEMA "{schema}" TO "{role}";'
                 f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";'
                 f'REVOKE INSERT ON "{schema}".otel_logs FROM "{role}"')
    try:
        yield make_conninfo(server_dsn, user=role)
    finally:
        conn.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


def test_a_batch_refused_as_a_whole_is_set_aside_and_replays_once_permitted(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """The oldest spooled batch is of log records, which the role may not insert (42501 on the
    table: no row to blame). `dlq replay` stores the span batches spooled after it, says the
    log batch stays spooled (exit status 1), and stores it once INSERT is granted."""
    Database(PgvectorSpanExporter(dsn=server_dsn, schema=schema).settings).migrate()
    bodies = [f"held-{n}" for n in range(5)]
    spans = [make_spans(8, f"after{n}") for n in range(2)]
    with role_without_insert_on_logs(conn, server_dsn, schema) as dsn:
        options = {"dsn": dsn, "schema": schema, "timeout": 10, "embedding": "off"}
        # one delivery, so one breaker and one spool, as in a process
        logs, traces = PgvectorLogExporter(**options), PgvectorSpanExporter(**options)
        open_breaker(traces)
        assert logs.export(log_records(bodies)) is LogRecordExportResult.SUCCESS
        assert [traces.export(batch) for batch in spans] == [SpanExportResult.SUCCESS] * 2
        logs.shutdown()
        traces.shutdown()  # the process exits, its spool is left for `dlq replay`
        args = ["--dsn", dsn, "--schema", schema]
        first = CliRunner().invoke(cli, [*args, "dlq", "replay"])
        assert first.exit_code == 1, first.output
        assert "replayed 2 batches (18 rows), 0 already stored; 1 left" in first.output
        assert "refused 1 spooled batches as a whole" in first.output
        assert stored_ids(conn) == span_ids([*spans[0], *spans[1]])
        assert conn.execute("SELECT count(*) FROM otel_logs").fetchone() == (0,)
        directory = spool_directory(traces.settings)
        assert inspect_directory(directory).pending_batches == 1
        conn.execute(f'GRANT INSERT ON "{schema}".otel_logs TO "nolog_{schema}"')
        second = CliRunner().invoke(cli, [*args, "dlq", "replay"])
    assert second.exit_code == 0, second.output
    assert "replayed 1 batches (6 rows), 0 already stored; 0 left" in second.output
    assert sorted(body for (body,) in conn.execute("SELECT body FROM otel_logs")) == bodies
    assert conn.execute("SELECT count(*) FROM otel_dead_letters").fetchone() == (0,)
    assert inspect_directory(directory).pending_batches == 0


def test_undecodable_records_are_quarantined_shown_and_the_records_after_them_replay(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """A spool left by an exited process holds, between good batches, a record of a later format
    and one whose rows do not match their columns (both with a valid CRC)."""
    exporter = PgvectorSpanExporter(dsn=server_dsn, schema=schema, timeout=10, embedding="off")
    batches = [make_spans(4, f"around{n}") for n in range(3)]
    open_breaker(exporter)
    assert [exporter.export(batch) for batch in batches] == [SpanExportResult.SUCCESS] * 3
    exporter.shutdown()
    (segment,) = spool_directory(exporter.settings).glob("*.seg")
    records = _split_records(segment.read_bytes())
    future = _framed(marshal.dumps((2, b"f" * 16, ()), 4), 0)
    short_row = _framed(marshal.dumps((1, b"s" * 16, (("otel_spans", (("name", "text"),), False, [()]),)), 4),
                        1)
    segment.write_bytes(records[0] + future + records[1] + short_row + records[2])
    args = ["--dsn", server_dsn, "--schema", schema]
    replay = CliRunner().invoke(cli, [*args, "dlq", "replay"])
    assert replay.exit_code == 0, replay.output
    assert "replayed 3 batches" in replay.output and "0 left" in replay.output
    assert stored_ids(conn) == span_ids([span for batch in batches for span in batch])
    quarantine = spool_directory(exporter.settings) / "quarantine"
    assert sorted(path.read_bytes() for path in quarantine.iterdir()) == sorted([future, short_row])
    status = CliRunner().invoke(cli, [*args, "dlq", "status"])
    assert status.exit_code == 0, status.output
    header, _, row = status.output.splitlines()[:3]
    column = header.index("quarantined")
    assert row[column:].split()[0] == "2"


def _framed(payload: bytes, rows: int) -> bytes:
    return struct.pack("<4sIII", b"OTPS", len(payload), zlib.crc32(payload), rows) + payload


def _split_records(data: bytes) -> list[bytes]:
    """The records of a segment written by the spool, by their headers' lengths."""
    records, offset = [], 0
    while offset < len(data):
        end = offset + 16 + struct.unpack_from("<I", data, offset + 4)[0]
        records.append(data[offset:end])
        offset = end
    return records

