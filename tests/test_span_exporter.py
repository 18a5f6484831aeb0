"""PgvectorSpanExporter end to end: real SDK pipelines into the real database, read back."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import span_factory
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from psycopg.rows import dict_row

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import signed_span_id, unsigned_span_id
from opentelemetry_exporter_pgvector.convert.values import TRUNCATION_MARK
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.write.spool import inspect_directory

RESOURCE = Resource.create({"service.name": "exporter-test", "service.version": "2.0", "team.size": 4})


def make_spans(count: int, prefix: str = "span", resource: Resource = RESOURCE) -> tuple[ReadableSpan, ...]:
    """``count`` finished SDK spans, each its own trace."""
    return span_factory.make_spans(count, prefix, resource)


def stored_span_ids(conn: psycopg.Connection) -> list[int]:
    return [span_id for (span_id,) in conn.execute("SELECT span_id FROM otel_spans ORDER BY span_id")]


@pytest.fixture
def exporter(settings: PgvectorSettings) -> Iterator[PgvectorSpanExporter]:
    instance = PgvectorSpanExporter(settings)
    yield instance
    instance.shutdown()


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_through_batch_span_processor(
    settings: PgvectorSettings, conn: psycopg.Connection, schema: str
) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(BatchSpanProcessor(PgvectorSpanExporter(settings)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("round.trip", "0.9", attributes={"scope.k": "scope-v"})
    link_context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0xFFFF_FFFF_0000_0001,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("congo", "t61rcWkgMzE")]),
    )
    attributes = {
        "str": "text",
        "bool": True,
        "false": False,
        "int": 42,
        "neg": -7,
        "float": 1.5,
        "strs": ["a", "b"],
        "bools": [True, False],
        "ints": [1, 2, 3],
        "floats": [0.5, 2.25],
        "http.response.status_code": 502,
        "http.route": "/orders/{id}",
    }
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER):
        with tracer.start_as_current_span(
            "child", kind=SpanKind.CLIENT, attributes=attributes, links=[Link(link_context, {"link.k": 1})]
        ) as child:
            child.add_event("retry", {"attempt": 2, "ok": False})
            child.record_exception(ConnectionResetError("peer reset"))
            child.set_status(Status(StatusCode.ERROR, "upstream failed"))
    provider.shutdown()

    expected = {span.name: span for span in memory.get_finished_spans()}
    child_span, parent_span = expected["child"], expected["parent"]
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = {row["name"]: row for row in cursor.execute("SELECT * FROM otel_spans")}
    assert set(rows) == {"parent", "child"}
    row = rows["child"]

    assert row["trace_id"].int == child_span.context.trace_id == parent_span.context.trace_id
    assert row["span_id"] == signed_span_id(child_span.context.span_id)
    assert unsigned_span_id(row["span_id"]) == child_span.context.span_id
    assert row["parent_span_id"] == rows["parent"]["span_id"]
    assert rows["parent"]["parent_span_id"] is None
    assert row["duration_ns"] == child_span.end_time - child_span.start_time
    assert row["start_time_ns"] == child_span.start_time % 1000
    assert row["flags"] == int(child_span.context.trace_flags) | 0x100
    assert row["kind"] == "CLIENT" and rows["parent"]["kind"] == "SERVER"
    assert row["status_code"] == "ERROR" and row["status_message"] == "upstream failed"
    assert rows["parent"]["status_code"] == "UNSET"
    assert row["exception_type"] == "ConnectionResetError"
    assert row["http_status_code"] == 502
    assert row["http_route"] == "/orders/{id}"
    assert row["service_name"] == "exporter-test"
    assert row["scope_name"] == "round.trip" and row["scope_version"] == "0.9"
    assert row["scope_attributes"] == {"scope.k": "scope-v"}
    assert (row["dropped_attributes_count"], row["dropped_events_count"], row["dropped_links_count"]) == (
        0,
        0,
        0,
    )
    assert row["attributes"] == attributes  # psycopg loads jsonb: bool stays bool, int stays int, lists
    assert [event["name"] for event in row["events"]] == ["retry", "exception"]
    assert row["events"][0] == {
        "name": "retry",
        "time_unix_nano": child_span.events[0].timestamp,
        "attributes": {"attempt": 2, "ok": False},
    }
    assert row["events"][1]["attributes"]["exception.message"] == "peer reset"
    assert row["links"] == [
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "ffffffff00000001",
            "flags": 0x301,
            "trace_state": "congo=t61rcWkgMzE",
            "attributes": {"link.k": 1},
        }
    ]

    # exact nanosecond reconstruction of the SDK timestamps
    for name, span in expected.items():
        start_ns, end_ns = conn.execute(
            "SELECT (extract(epoch FROM start_time) * 1e6)::bigint * 1000 + start_time_ns,"
            " (extract(epoch FROM start_time) * 1e6)::bigint * 1000 + start_time_ns + duration_ns"
            " FROM otel_spans WHERE name = %s",
            (name,),
        ).fetchone()
        assert start_ns == span.start_time
        assert end_ns == span.end_time
        end_micros = conn.execute(
            "SELECT (extract(epoch FROM end_time) * 1e6)::bigint FROM otel_spans WHERE name = %s", (name,)
        ).fetchone()[0]
        assert end_micros == span.end_time // 1000

    # jsonb types as PostgreSQL sees them
    types = conn.execute(
        "SELECT jsonb_typeof(attributes->'bool'), jsonb_typeof(attributes->'int'),"
        " jsonb_typeof(attributes->'float'),"
        " jsonb_typeof(attributes->'strs'), (attributes->>'float')::float8, (attributes->>'int')::int"
        " FROM otel_spans WHERE name = 'child'"
    ).fetchone()
    assert types == ("boolean", "number", "number", "array", 1.5, 42)
    assert conn.execute(
        'SELECT count(*) FROM otel_spans WHERE attributes @> \'{"bool": true, "ints": [2]}\''
    ).fetchone() == (1,)

    # trace id as a 32-hex-digit literal, and the id helper functions
    trace_hex = f"{child_span.context.trace_id:032x}"
    span_hex = f"{child_span.context.span_id:016x}"
    assert conn.execute("SELECT count(*) FROM otel_spans WHERE trace_id = %s", (trace_hex,)).fetchone() == (
        2,
    )
    assert conn.execute(f"SELECT count(*) FROM otel_spans WHERE trace_id = '{trace_hex}'").fetchone() == (2,)
    assert conn.execute(
        "SELECT name FROM otel_spans WHERE span_id = otel_span_id(%s)", (span_hex,)
    ).fetchone() == ("child",)
    assert conn.execute(
        "SELECT otel_span_id_hex(span_id), otel_trace_id_hex(trace_id) FROM otel_spans WHERE name = 'child'"
    ).fetchone() == (span_hex, trace_hex)

    # the view: hex ids and resource attributes inline
    view = conn.execute(
        "SELECT trace_id_hex, span_id_hex, parent_span_id_hex, resource_attributes, name"
        " FROM otel_spans_view WHERE name = 'child'"
    ).fetchone()
    assert view == (
        trace_hex,
        span_hex,
        f"{parent_span.context.span_id:016x}",
        dict(RESOURCE.attributes),
        "child",
    )

    # the resource, stored once
    resources = conn.execute(
        "SELECT resource_id, service_name, attributes, schema_url FROM otel_resources"
    ).fetchall()
    assert len(resources) == 1
    assert resources[0][0] == row["resource_id"]
    assert resources[0][1:] == ("exporter-test", dict(RESOURCE.attributes), None)


def test_span_ids_above_2_63_and_hex_functions(
    exporter: PgvectorSpanExporter, conn: psycopg.Connection
) -> None:
    spans = [
        ReadableSpan(
            name=f"id-{span_id:x}",
            context=SpanContext(2**128 - 1, span_id, is_remote=False),
            resource=RESOURCE,
            start_time=time.time_ns(),
            end_time=time.time_ns() + 5,
        )
        for span_id in (1, 2**63 - 1, 2**63, 2**64 - 1)
    ]
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    rows = conn.execute(
        "SELECT name, span_id, otel_span_id_hex(span_id), otel_trace_id_hex(trace_id) FROM otel_spans"
    ).fetchall()
    assert len(rows) == 4
    for name, stored, hex_id, trace_hex in rows:
        assert name == f"id-{unsigned_span_id(stored):x}"
        assert hex_id == f"{unsigned_span_id(stored):016x}"
        assert conn.execute("SELECT otel_span_id(%s)", (hex_id,)).fetchone() == (stored,)
        assert trace_hex == "f" * 32


def test_resource_rows_are_not_duplicated(exporter: PgvectorSpanExporter, conn: psycopg.Connection) -> None:
    other = Resource.create({"service.name": "other-service"})
    assert exporter.export(make_spans(3)) is SpanExportResult.SUCCESS
    assert exporter.export(make_spans(3) + make_spans(2, resource=other)) is SpanExportResult.SUCCESS
    # a second exporter does not know which resources the first stored
    second = PgvectorSpanExporter(exporter.settings)
    try:
        assert second.export(make_spans(1)) is SpanExportResult.SUCCESS
    finally:
        second.shutdown()
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (9,)
    assert sorted(conn.execute("SELECT service_name FROM otel_resources").fetchall()) == [
        ("exporter-test",),
        ("other-service",),
    ]
    assert conn.execute(
        "SELECT count(*) FROM otel_spans s LEFT JOIN otel_resources r USING (resource_id)"
        " WHERE r.resource_id IS NULL"
    ).fetchone() == (0,)


def test_dictionary_rows_of_a_rolled_back_batch_are_written_again(
    settings: PgvectorSettings, schema: str, conn: psycopg.Connection
) -> None:
    """Resource and shape keys count as stored only once their transaction commits: a batch
    rolled back at COMMIT must not leave the next batch with the same resource and shape
    skipping their rows (spans whose resource_id and shape_key point at nothing)."""
    shaped = settings.model_copy(update={"embedding": "deferred", "breaker_cooldown": 600})
    Database(shaped).migrate()
    # The first transaction that stores a resource fails at COMMIT, after every part was written;
    # 42501 from a row's trigger is a refusal, so the batch is written again, isolating rows, in
    # a new transaction (a sequence is not rolled back with the first one).
    conn.execute(
        "CREATE SEQUENCE commits;"
        " CREATE FUNCTION refuse_first_commit() RETURNS trigger LANGUAGE plpgsql"
        f" SET search_path = \"{schema}\" AS $$"
        " BEGIN IF nextval('commits') = 1 THEN RAISE EXCEPTION 'refused' USING ERRCODE = '42501'; END IF;"
        " RETURN NULL; END $$;"
        " CREATE CONSTRAINT TRIGGER refuse_first_commit AFTER INSERT ON otel_resources"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_first_commit()"
    )
    exporter = PgvectorSpanExporter(shaped)
    try:
        assert exporter.export(make_spans(3, "same")) is SpanExportResult.SUCCESS
        assert exporter.delivery.stats().spool.spooled_batches == 0  # rewritten after the rollback
        assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (3,)
        assert exporter.export(make_spans(3, "same")) is SpanExportResult.SUCCESS  # same resource and shapes
    finally:
        exporter.shutdown()
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (6,)
    assert conn.execute("SELECT count(*) FROM otel_resources").fetchone() == (1,)
    assert conn.execute("SELECT count(DISTINCT shape_key) FROM otel_spans").fetchone() == (1,)  # same-<num>
    assert conn.execute(
        "SELECT count(*) FILTER (WHERE r.resource_id IS NULL), count(*) FILTER (WHERE h.shape_key IS NULL)"
        " FROM otel_spans s LEFT JOIN otel_resources r USING (resource_id)"
        " LEFT JOIN otel_shapes h ON h.shape_key = s.shape_key"
    ).fetchone() == (0, 0)


def test_empty_batch_touches_no_database(exporter: PgvectorSpanExporter, conn: psycopg.Connection) -> None:
    assert exporter.export([]) is SpanExportResult.SUCCESS
    assert conn.execute("SELECT to_regclass('otel_spans')").fetchone() == (None,)  # not even migrated


def test_no_argument_constructor_reads_env(
    monkeypatch: pytest.MonkeyPatch, server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_DSN", server_dsn)
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_SCHEMA", schema)
    exporter = PgvectorSpanExporter()
    try:
        assert exporter.settings.db_schema == schema
        assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (2,)
    with pytest.raises(TypeError):
        PgvectorSpanExporter(exporter.settings, timeout=3)


# --- sanitization end to end --------------------------------------------------------------------


def test_batch_with_hostile_values_stores_every_span(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    settings = PgvectorSettings(
        dsn=server_dsn, schema=schema, timeout=10, embedding="off", max_value_length=100
    )
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc\x00\ud800"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("hostile")
    tracer.start_span("ok-before").end()
    bad = tracer.start_span(
        "bad\x00name\udc00" + "n" * 200,
        attributes={
            "nul": "a\x00b",
            "surrogate": "x\ud800y",
            "nan": float("nan"),
            "inf": float("inf"),
            "huge": "h" * 10_000,
            "list": [float("nan"), 1.0],
            "strs": ["\x00", "\udfff"],
            "k\x00": "v",
        },
    )
    bad.add_event("ev\x00", {"e": "\x00\ud800", "f": float("-inf")})
    bad.set_status(Status(StatusCode.ERROR, "desc\x00\ud800"))
    bad.end()
    tracer.start_span("ok-after").end()
    provider.shutdown()

    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    names = sorted(name for (name,) in conn.execute("SELECT name FROM otel_spans"))
    assert len(names) == 3
    assert names[1:] == ["ok-after", "ok-before"]
    bad_name = names[0]
    assert (
        bad_name.startswith("badname\ufffd") and bad_name.endswith(TRUNCATION_MARK) and len(bad_name) <= 100
    )
    attributes, events, status_message, service = conn.execute(
        "SELECT attributes, events, status_message, service_name FROM otel_spans WHERE name = %s", (bad_name,)
    ).fetchone()
    assert attributes["nul"] == "ab"
    assert attributes["surrogate"] == "x\ufffdy"
    assert attributes["nan"] == "NaN"
    assert attributes["inf"] == "Infinity"
    assert len(attributes["huge"]) == 100 and attributes["huge"].endswith(TRUNCATION_MARK)
    assert attributes["list"] == ["NaN", 1.0]
    assert attributes["strs"] == ["", "\ufffd"]
    assert attributes["k"] == "v"
    assert events[0]["name"] == "ev"
    assert events[0]["attributes"] == {"e": "\ufffd", "f": "-Infinity"}
    assert status_message == "desc\ufffd"
    assert service == "svc\ufffd"


# --- lifecycle ----------------------------------------------------------------------------------


def test_force_flush_and_export_after_shutdown(
    settings: PgvectorSettings, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = PgvectorSpanExporter(settings)
    assert exporter.force_flush() is True
    assert exporter.force_flush(timeout_millis=10) is True
    assert exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
    exporter.shutdown()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE
        assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert "shutdown" in warnings[0].getMessage()
    exporter.shutdown()  # a second shutdown is safe
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (1,)


def test_shutdown_without_any_export(settings: PgvectorSettings) -> None:
    exporter = PgvectorSpanExporter(settings)
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE


def test_exporters_share_the_database_until_the_last_shutdown(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    first = PgvectorSpanExporter(settings)
    second = PgvectorSpanExporter(settings)
    assert first.database is second.database
    assert first.export(make_spans(1, "first")) is SpanExportResult.SUCCESS
    first.shutdown()
    assert second.export(make_spans(1, "second")) is SpanExportResult.SUCCESS  # the shared pool still works
    second.shutdown()
    third = PgvectorSpanExporter(settings)
    try:
        assert third.database is not first.database
        assert third.export(make_spans(1, "third")) is SpanExportResult.SUCCESS
    finally:
        third.shutdown()
    assert sorted(name for (name,) in conn.execute("SELECT name FROM otel_spans")) == [
        "first-0",
        "second-0",
        "third-0",
    ]


def test_concurrent_exports_store_every_span_once(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    exporter = PgvectorSpanExporter(settings)
    batches = [make_spans(40, f"thread{index}") for index in range(8)]
    results: list[Any] = [None] * 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        try:
            barrier.wait()
            results[index] = exporter.export(batches[index])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    exporter.shutdown()
    assert not errors
    assert results == [SpanExportResult.SUCCESS] * 8
    expected = sorted(signed_span_id(span.context.span_id) for batch in batches for span in batch)
    assert conn.execute("SELECT count(*), count(DISTINCT span_id) FROM otel_spans").fetchone() == (320, 320)
    assert stored_span_ids(conn) == expected
    assert conn.execute("SELECT count(*) FROM otel_resources").fetchone() == (1,)


def test_simple_span_processor_from_many_threads(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(PgvectorSpanExporter(settings)))
    tracer = provider.get_tracer("threads")

    def work(index: int) -> None:
        for number in range(10):
            tracer.start_span(f"t{index}-{number}").end()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    provider.shutdown()
    assert conn.execute(
        "SELECT count(*), count(DISTINCT span_id), count(DISTINCT name) FROM otel_spans"
    ).fetchone() == (80, 80, 80)


def test_unreachable_database_spools_within_timeout(caplog: pytest.LogCaptureFixture) -> None:
    """Not delivered but durably spooled for replay: SUCCESS (docs/reliability.md), within the timeout."""
    exporter = PgvectorSpanExporter(dsn="postgresql://u:pw@127.0.0.1:1/db", timeout=2)
    try:
        with caplog.at_level(logging.WARNING):  # spooled, not lost: a warning
            started = time.monotonic()
            result = exporter.export(make_spans(2))
            elapsed = time.monotonic() - started
        spool = exporter.delivery.stats().spool
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    assert (spool.spooled_batches, spool.spooled_rows) == (1, 4)  # two spans, their resource and shape
    assert elapsed < 2 + 8
    assert any("spooling it" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("hosts", [1, 2])
def test_silent_server_spools_within_timeout(hosts: int) -> None:
    """Servers that accept TCP connections but never answer must not hold the exporter past its
    timeout, 0.5 s, however many of them the DSN lists. The bound asserted, timeout + 1 s, is
    a liveness bound: libpq's connect_timeout, whole seconds and at least 2 per host, made it
    2 s with one host and 4 s with two."""
    with contextlib.ExitStack() as stack:
        listeners = [stack.enter_context(socket.create_server(("127.0.0.1", 0))) for _ in range(hosts)]
        ports = ",".join(f"127.0.0.1:{listener.getsockname()[1]}" for listener in listeners)
        exporter = PgvectorSpanExporter(dsn=f"postgresql://u:pw@{ports}/db", timeout=0.5)
        try:
            started = time.monotonic()
            result = exporter.export(make_spans(1))
            elapsed = time.monotonic() - started
            spooled = exporter.delivery.stats().spool.spooled_batches
        finally:
            exporter.shutdown()
    assert (result, spooled) == (SpanExportResult.SUCCESS, 1)
    assert elapsed < 0.5 + 1, elapsed


def test_shutdown_waits_for_export_in_flight(
    settings: PgvectorSettings, server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    exporter = PgvectorSpanExporter(settings)
    assert exporter.export(make_spans(1, "first")) is SpanExportResult.SUCCESS
    outcome: dict[str, Any] = {}

    def export() -> None:
        try:
            outcome["export"] = exporter.export(
                make_spans(5, "in-flight", Resource.create({"service.name": "new"}))
            )
        except BaseException as error:  # noqa: BLE001
            outcome["export_error"] = error

    def shutdown() -> None:
        try:
            exporter.shutdown()
            outcome["shutdown"] = True
        except BaseException as error:  # noqa: BLE001
            outcome["shutdown_error"] = error

    with psycopg.connect(server_dsn) as blocker:
        # hold a lock the export needs, so it is certainly in flight when shutdown starts
        blocker.execute(f'LOCK TABLE "{schema}".otel_resources IN ACCESS EXCLUSIVE MODE')
        export_thread = threading.Thread(target=export)
        export_thread.start()
        deadline = time.monotonic() + 10
        while not conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            (f'"{schema}".otel_resources',),
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the export never reached the lock"
            time.sleep(0.02)
        shutdown_thread = threading.Thread(target=shutdown)
        shutdown_thread.start()
        shutdown_thread.join(0.5)
        assert shutdown_thread.is_alive(), "shutdown must wait for the export in flight"
        blocker.rollback()
    export_thread.join(30)
    shutdown_thread.join(30)
    assert not export_thread.is_alive() and not shutdown_thread.is_alive()
    assert "export_error" not in outcome and "shutdown_error" not in outcome
    assert outcome == {"export": SpanExportResult.SUCCESS, "shutdown": True}
    assert conn.execute("SELECT count(*) FROM otel_spans WHERE name LIKE 'in-flight-%'").fetchone() == (5,)
    assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE


def test_shutdown_during_busy_exports_does_not_raise(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """Whatever the interleaving of the exports and shutdown(): an export that returned SUCCESS
    is stored completely and once, one that returned FAILURE stored nothing. Each export has
    spans of its own, so the count holds however many exports shutdown() let through."""
    exporter = PgvectorSpanExporter(settings)
    batches = {(index, attempt): make_spans(200, f"busy{index}-{attempt}")
               for index in range(4) for attempt in range(3)}
    results: dict[tuple[int, int], SpanExportResult] = {}
    errors: list[BaseException] = []
    started = threading.Event()

    def work(index: int) -> None:
        try:
            started.set()
            for attempt in range(3):
                results[index, attempt] = exporter.export(batches[index, attempt])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    started.wait(10)
    exporter.shutdown()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(results) == 12
    assert set(results.values()) <= {SpanExportResult.SUCCESS, SpanExportResult.FAILURE}
    assert inspect_directory(exporter.delivery.spool.directory).pending_batches == 0  # SUCCESS meant stored
    exported = [key for key, result in results.items() if result is SpanExportResult.SUCCESS]
    expected = sorted(signed_span_id(span.context.span_id) for key in exported for span in batches[key])
    assert stored_span_ids(conn) == expected
