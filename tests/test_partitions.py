"""Daily partitions: created ahead, default partition as catch-all, rows moved on creation."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db import partitions
from opentelemetry_exporter_pgvector.db.database import Database

DAY_NS = 86_400 * 10**9


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def span_at(name: str, start_ns: int) -> ReadableSpan:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "partitions"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("p").start_span(name, start_time=start_ns, attributes={"k": name}).end(
        end_time=start_ns + 1500
    )
    provider.shutdown()
    (span,) = memory.get_finished_spans()
    return span


def day_of(start_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(start_ns / 1e9, dt.timezone.utc).date()


def partition_of(conn: psycopg.Connection, name: str) -> str:
    row = conn.execute("SELECT tableoid::regclass::text FROM otel_spans WHERE name = %s", (name,)).fetchone()
    assert row is not None, f"span {name} not stored"
    return row[0]


def partitions_with_bounds(conn: psycopg.Connection) -> dict[str, str]:
    conn.execute("SET TimeZone = 'UTC'")
    return dict(
        conn.execute(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'otel_spans'::regclass"
        ).fetchall()
    )


def test_partitions_around_today_exist_after_first_export(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export([span_at("now", time.time_ns())]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    today = utc_today()
    found = partitions_with_bounds(conn)
    assert found.pop("otel_spans_default") == "DEFAULT"
    expected_days = [
        today + dt.timedelta(days=offset) for offset in range(-1, settings.partition_days_ahead + 1)
    ]
    assert sorted(found) == [f"otel_spans_{day:%Y%m%d}" for day in expected_days]
    for day in expected_days:
        assert found[f"otel_spans_{day:%Y%m%d}"] == (
            f"FOR VALUES FROM ('{day} 00:00:00+00') TO ('{day + dt.timedelta(days=1)} 00:00:00+00')"
        )
    assert f"otel_spans_{today + dt.timedelta(days=1):%Y%m%d}" in found  # tomorrow
    assert partition_of(conn, "now") == f"otel_spans_{day_of(time.time_ns()):%Y%m%d}"


def test_no_partitions_ahead_when_configured(server_dsn: str, schema: str, conn: psycopg.Connection) -> None:
    settings = PgvectorSettings(dsn=server_dsn, schema=schema, embedding="off", partition_days_ahead=0)
    Database(settings).migrate()
    today = utc_today()
    assert sorted(partitions_with_bounds(conn)) == sorted(
        [
            "otel_spans_default",
            f"otel_spans_{today - dt.timedelta(days=1):%Y%m%d}",
            f"otel_spans_{today:%Y%m%d}",
        ]
    )


def test_future_span_moves_into_its_new_partition(
    settings: PgvectorSettings, schema: str, conn: psycopg.Connection
) -> None:
    future_ns = time.time_ns() + 30 * DAY_NS
    future_day = day_of(future_ns)
    exporter = PgvectorSpanExporter(settings)
    try:
        assert (
            exporter.export([span_at("future", future_ns), span_at("present", time.time_ns())])
            is SpanExportResult.SUCCESS
        )
        assert partition_of(conn, "future") == "otel_spans_default"
        before = conn.execute("SELECT count(*) FROM otel_spans").fetchone()
        row_before = conn.execute(
            "SELECT span_id, start_time, start_time_ns, attributes FROM otel_spans WHERE name = 'future'"
        ).fetchone()

        created = conn.execute(
            "SELECT otel_ensure_partition(%s::regclass, %s)", (f"{schema}.otel_spans", future_day)
        ).fetchone()
        assert created == (True,)
        assert partition_of(conn, "future") == f"otel_spans_{future_day:%Y%m%d}"
        assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == before
        assert conn.execute("SELECT count(*) FROM otel_spans_default").fetchone() == (0,)
        assert (
            conn.execute(
                "SELECT span_id, start_time, start_time_ns, attributes FROM otel_spans WHERE name = 'future'"
            ).fetchone()
            == row_before
        )
        # a second call finds the partition and changes nothing
        assert conn.execute(
            "SELECT otel_ensure_partition(%s::regclass, %s)", (f"{schema}.otel_spans", future_day)
        ).fetchone() == (False,)
        # later spans of that day go straight into it
        assert exporter.export([span_at("future-2", future_ns + 1000)]) is SpanExportResult.SUCCESS
        assert partition_of(conn, "future-2") == f"otel_spans_{future_day:%Y%m%d}"
    finally:
        exporter.shutdown()


def test_old_span_is_stored_in_default_partition(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    old_ns = time.time_ns() - 20 * DAY_NS
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export([span_at("old", old_ns)]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert partition_of(conn, "old") == "otel_spans_default"
    start_ns = conn.execute(
        "SELECT (extract(epoch FROM start_time) * 1e6)::bigint * 1000 + start_time_ns"
        " FROM otel_spans WHERE name = 'old'"
    ).fetchone()
    assert start_ns == (old_ns,)


def test_ensure_partition_rejects_unpartitioned_table(
    settings: PgvectorSettings, schema: str, conn: psycopg.Connection
) -> None:
    Database(settings).migrate()
    with pytest.raises(psycopg.errors.RaiseException, match="not a partitioned table"):
        conn.execute(
            "SELECT otel_ensure_partition(%s::regclass, current_date)", (f"{schema}.otel_resources",)
        )


def test_partitions_follow_the_utc_date(
    settings: PgvectorSettings, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export([span_at("day1", time.time_ns())]) is SpanExportResult.SUCCESS
        later = utc_today() + dt.timedelta(days=10)
        monkeypatch.setattr(partitions, "_today", lambda: later)  # the process runs on, ten days later
        assert exporter.export([span_at("day2", time.time_ns())]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    names = partitions_with_bounds(conn)
    for offset in range(-1, settings.partition_days_ahead + 1):
        assert f"otel_spans_{later + dt.timedelta(days=offset):%Y%m%d}" in names


def test_concurrent_partition_creation(settings: PgvectorSettings, server_dsn: str, schema: str) -> None:
    """A session waiting for another's creation of the same partition sees it, instead of failing."""
    Database(settings).migrate()
    day = utc_today() + dt.timedelta(days=40)
    statement = f'SELECT "{schema}".otel_ensure_partition(%s::regclass, %s)'
    parent = f"{schema}.otel_spans"
    outcome: dict[str, object] = {}
    with psycopg.connect(server_dsn) as first, psycopg.connect(server_dsn) as second:
        assert first.execute(statement, (parent, day)).fetchone() == (True,)  # uncommitted, holds the lock

        def wait_for_first() -> None:
            try:
                outcome["result"] = second.execute(statement, (parent, day)).fetchone()
                second.commit()
            except psycopg.Error as error:
                outcome["error"] = error

        thread = threading.Thread(target=wait_for_first)
        thread.start()
        deadline = time.monotonic() + 10
        with psycopg.connect(server_dsn, autocommit=True) as observer:
            while not observer.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the second session never waited"
                time.sleep(0.02)
        first.commit()
        thread.join(30)
        assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"] == (False,)
    with psycopg.connect(server_dsn) as check:
        count = check.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (parent,)
        ).fetchone()
    assert count is not None and count[0] == 1 + 1 + 1 + settings.partition_days_ahead + 1
