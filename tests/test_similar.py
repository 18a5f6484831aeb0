"""``similar_spans`` and ``otel-pgvector similar`` with the real model."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from pgvector.psycopg import register_vector

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.backfill import embed_missing
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

from shape_workload import REFUSALS, SUCCESSES, TIMEOUTS, SpanSpec, export_specs

_WEEK_AGO = int((dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7)).timestamp() * 1e9)


@pytest.fixture
def shop(shape_settings: PgvectorSettings, embedding_backend: Any) -> PgvectorSettings:
    """Timeouts, refusals and successes of several services, stored and embedded.

    Each success appears three times, each failure once, plus one old refusal a week ago.
    """
    specs = list(TIMEOUTS + REFUSALS + SUCCESSES * 3)
    old = SpanSpec("inventory", "SELECT stock", REFUSALS[0].kind, ConnectionRefusedError("connection refused by db-old"),
                   {"db.system.name": "postgresql"}, start_time=_WEEK_AGO)
    export_specs(shape_settings, [*specs, old])
    database = Database(shape_settings)
    embed_missing(database, embedding_backend)
    database.close()
    return shape_settings


def _span_id(conn: psycopg.Connection, exception_type: str) -> str:
    row = conn.execute("SELECT otel_span_id_hex(span_id) FROM otel_spans WHERE exception_type = %s LIMIT 1",
                       (exception_type,)).fetchone()
    return row[0]


def test_a_timeout_spans_nearest_shapes_are_other_timeouts(shop: PgvectorSettings, conn: psycopg.Connection) -> None:
    with TelemetryQuery(shop) as query:
        results = query.similar_spans(span_id=_span_id(conn, "TimeoutError"), k=10)
    assert results[0].similarity == pytest.approx(1.0, abs=1e-5)  # the span's own shape
    timeouts = [rank for rank, result in enumerate(results) if "TimeoutError" in result.text]
    successes = [rank for rank, result in enumerate(results) if result.status_code == "OK"]
    assert len(timeouts) == len(TIMEOUTS) and successes, [r.text for r in results]
    assert max(timeouts) < min(successes), [r.text for r in results]
    assert {results[rank].service_name for rank in timeouts} == {"payments", "inventory", "checkout"}
    assert all(0 <= r.similarity <= 1 for r in results)
    assert [r.similarity for r in results] == sorted((r.similarity for r in results), reverse=True)


def test_a_paraphrase_finds_differently_worded_refusals(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        results = query.similar_spans(text="database connection refused", k=10)
    texts = [result.text for result in results]
    reworded = [rank for rank, text in enumerate(texts)
                if "could not connect to server" in text or "ECONNREFUSED" in text]
    successes = [rank for rank, result in enumerate(results) if result.status_code == "OK"]
    assert len(reworded) == 2 and max(reworded) < 4, texts  # among the top few of 11 shapes
    assert max(reworded) < min(successes), texts


def test_results_carry_counts_and_an_example_of_the_window(shop: PgvectorSettings, conn: psycopg.Connection) -> None:
    with TelemetryQuery(shop) as query:
        recent = query.similar_spans(text="GET /api/products", k=1, status="ok")
        old = query.similar_spans(text="connection refused by db-old", k=1, service="inventory",
                                  until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        none = query.similar_spans(text="connection refused by db-old", k=3,
                                   since=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    (products,) = recent
    assert products.span_count == 3 and "GET /api/products" in products.text
    example = conn.execute(
        "SELECT otel_trace_id_hex(trace_id), shape_key, start_time FROM otel_spans WHERE otel_span_id_hex(span_id) = %s",
        (products.example_span_id,),
    ).fetchone()
    assert example[0] == products.example_trace_id and example[1] == products.shape_key
    assert products.first_seen <= example[2] == products.last_seen
    (only_old,) = old
    assert only_old.span_count == 1 and "db-old" in only_old.text
    assert only_old.last_seen < dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=6)
    assert none == []


def test_filters_and_thresholds(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        payments = query.similar_spans(text="timed out", service="payments", k=10)
        errors = query.similar_spans(text="timed out", status="ERROR", k=10)
        close = query.similar_spans(text="timed out", min_similarity=0.3, k=10)
    assert payments and {r.service_name for r in payments} == {"payments"}
    assert len(errors) == len(TIMEOUTS) + len(REFUSALS) + 1 and {r.status_code for r in errors} == {"ERROR"}
    assert close and all(r.similarity >= 0.3 for r in close) and len(close) < 14


def test_bad_queries_fail_clearly(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        with pytest.raises(ValueError, match="exactly one"):
            query.similar_spans(text="x", span_id="00f067aa0ba902b7")
        with pytest.raises(ValueError, match="dimensions"):
            query.similar_spans(vector=[0.1, 0.2])
        with pytest.raises(LookupError, match="00f067aa0ba902b7"):
            query.similar_spans(span_id="00f067aa0ba902b7")
        with pytest.raises(ValueError, match="status"):
            query.similar_spans(text="x", status="FAILED")


def test_every_argument_is_checked_before_the_database_is_read(settings: PgvectorSettings) -> None:
    """A bad ranking argument fails as such, not as the span lookup's NotFound; a bad query first."""
    with TelemetryQuery(settings) as query:
        with pytest.raises(ValueError, match="status"):
            query.similar_spans(span_id="00f067aa0ba902b7", status="FAILED")
        with pytest.raises(ValueError, match="k must be"):
            query.similar_spans(span_id="00f067aa0ba902b7", k=0)
        with pytest.raises(ValueError, match="exactly one"):
            query.similar_spans(text="x", span_id="00f067aa0ba902b7", k=0)


def test_filtered_search_keeps_recall_against_an_exact_scan(shape_settings: PgvectorSettings,
                                                            conn: psycopg.Connection) -> None:
    """A filter matching 1% of 3000 shapes still returns the exact nearest ones of that service."""
    Database(shape_settings).migrate()
    register_vector(conn)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    services = ["rare" if i % 100 == 0 else f"svc{i % 7}" for i in range(3000)]
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO otel_shapes (shape_key, service_name, kind, status_code, model, text, embedding)"
            " VALUES (%s, %s, 'INTERNAL', 'OK', 'all-MiniLM-L6-v2', %s, %s)",
            [(i, services[i], f"shape {i}", vectors[i]) for i in range(3000)],
        )
        cursor.executemany(
            "INSERT INTO otel_spans (start_time, span_id, resource_id, trace_id, service_name, name, kind,"
            " status_code, shape_key) VALUES (now(), %s, 1, gen_random_uuid(), %s, 'x', 'INTERNAL', 'OK', %s)",
            [(i, services[i], i) for i in range(3000)],
        )
    query_vector = vectors[500] + rng.normal(scale=0.5, size=384).astype(np.float32)
    rare = [i for i in range(3000) if services[i] == "rare"]
    exact = sorted(rare, key=lambda i: -float(vectors[i] @ query_vector))[:10]
    with TelemetryQuery(shape_settings) as query:
        results = query.similar_spans(vector=query_vector.tolist(), service="rare", k=10)
    assert [r.shape_key for r in results] == exact


def test_similar_command_prints_a_table_and_json(shop: PgvectorSettings) -> None:
    base = ["--dsn", shop.dsn.get_secret_value(), "--schema", shop.db_schema]
    env = {"OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(shop.embedding_cache_dir)}
    table = CliRunner().invoke(cli, [*base, "similar", "payments database timed out", "-k", "2"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["similarity", "spans", "shape", "example", "trace"]
    rows = [line for line in lines[2:] if re.match(r" +[01]\.\d\d +\d+ ", line)]  # a shape wraps onto more lines
    assert len(rows) == 2 and rows[0] == lines[2] and re.search(r" timeout \(the call .* [0-9a-f]{32}$", rows[0])
    as_json = CliRunner().invoke(cli, [*base, "similar", "payments database timed out", "-k", "2", "--json",
                                       "--service", "payments"], env=env)
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.output)
    assert len(records) == 2 and {record["service_name"] for record in records} == {"payments"}
    assert "connection to payments-db:<num> timed out" in records[0]["text"]
    missing = CliRunner().invoke(cli, [*base, "similar"], env=env)
    assert missing.exit_code == 2 and "TEXT or --span-id" in missing.output


DECLINES_TRACE = 0xD0000000000000000000000000000004


def _log(settings: PgvectorSettings, service: str, severity: SeverityNumber, *bodies: str,
         trace_id: int | None = None) -> None:
    """Log ``bodies`` as ``service`` (inside a span of ``trace_id`` when given), exported with ``settings``."""
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(PgvectorLogExporter(settings)))
    context = None
    if trace_id is not None:
        span = NonRecordingSpan(SpanContext(trace_id, 0x42, is_remote=False, trace_flags=TraceFlags(1)))
        context = trace.set_span_in_context(span)
    logger = provider.get_logger("tests.similar")
    for body in bodies:
        logger.emit(body=body, severity_number=severity, severity_text=severity.name.rstrip("0123456789"),
                    context=context)
    provider.shutdown()


def test_similar_logs_find_log_lines_by_meaning(shape_settings: PgvectorSettings, embedding_backend: Any) -> None:
    """Log-body shapes are embedded like span shapes; a paraphrase finds its statement's records."""
    _log(shape_settings, "payments", SeverityNumber.WARN, "card declined: insufficient funds for order 88231",
         "card declined: insufficient funds for order 1207")
    _log(shape_settings, "payments", SeverityNumber.WARN, "card declined: insufficient funds for order 5",
         trace_id=DECLINES_TRACE)  # the latest of the three: the example
    _log(shape_settings, "payments", SeverityNumber.WARN, "connection to payments-db:5432 timed out after 5000 ms")
    _log(shape_settings, "checkout", SeverityNumber.INFO, "placing order 1001", "placing order 1002")
    _log(shape_settings, "inventory", SeverityNumber.ERROR, "sku-4412 not found in warehouse eu-west")
    database = Database(shape_settings)
    assert embed_missing(database, embedding_backend) == 4  # four statements, four log shapes
    database.close()
    with TelemetryQuery(shape_settings) as query:
        found = query.similar_logs(text="the bank refused the card payment", k=4)
        of_checkout = query.similar_logs(text="the bank refused the card payment", service="checkout")
        later = query.similar_logs(text="the bank refused the card payment",
                                   since=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
        spans = query.similar_spans(text="the bank refused the card payment")
    assert [r.text for r in found][0] == "payments WARN: card declined: insufficient funds for order <num>"
    declines = found[0]
    assert (declines.service_name, declines.severity_text, declines.record_count) == ("payments", "WARN", 3)
    assert declines.example_body == "card declined: insufficient funds for order 5"
    assert declines.example_trace_id == f"{DECLINES_TRACE:032x}"
    assert declines.first_seen < declines.last_seen
    assert len(found) == 4 and all(0 <= r.similarity <= 1 for r in found)
    assert found[-1].example_trace_id is None  # logged outside any span
    assert [(r.service_name, r.record_count) for r in of_checkout] == [("checkout", 2)]
    assert later == [] and spans == []  # log shapes are not span shapes


def test_logs_similar_command_prints_a_table_and_json(shape_settings: PgvectorSettings,
                                                      embedding_backend: Any) -> None:
    _log(shape_settings, "payments", SeverityNumber.WARN, "card declined: insufficient funds for order 7",
         trace_id=DECLINES_TRACE)
    _log(shape_settings, "checkout", SeverityNumber.INFO, "placing order 1001")
    database = Database(shape_settings)
    embed_missing(database, embedding_backend)
    database.close()
    base = ["--dsn", shape_settings.dsn.get_secret_value(), "--schema", shape_settings.db_schema]
    env = {"OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(shape_settings.embedding_cache_dir)}
    table = CliRunner().invoke(cli, [*base, "logs", "--similar", "the bank refused the card payment"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["similarity", "records", "log", "shape", "example", "trace"]
    # the shape wraps within its column, the trace id stays whole on the row's first line
    assert re.fullmatch(rf" +0\.\d\d +1 +payments WARN: card declined: [a-z ]+ {DECLINES_TRACE:032x}", lines[2])
    assert re.fullmatch(r" {21}[a-z ]*funds for order <num>", lines[3]), lines
    assert re.fullmatch(r" +0\.\d\d +1 +checkout INFO: placing order <num>", lines[4]), lines
    as_json = CliRunner().invoke(cli, [*base, "logs", "--similar", "card declined", "--json", "--limit", "1"],
                                 env=env)
    assert as_json.exit_code == 0, as_json.output
    (record,) = json.loads(as_json.stdout)
    assert record["text"] == "payments WARN: card declined: insufficient funds for order <num>"
    assert record["record_count"] == 1 and record["example_trace_id"] == f"{DECLINES_TRACE:032x}"
    none = CliRunner().invoke(cli, [*base, "logs", "--similar", "card declined", "--service", "nobody"], env=env)
    assert none.exit_code == 1 and none.stderr.startswith("otel-pgvector: no log shapes match"), none.output
