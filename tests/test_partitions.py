"""Daily partitions: created ahead, default partition as catch-all, rows moved on creation."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

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


def _zone_on_another_date() -> str:
    """A time zone whose local date differs from the UTC date now (UTC+14 in the afternoon
    UTC, UTC-12 in the morning), so that dating partitions by local time shows."""
    return "Etc/GMT-14" if dt.datetime.now(dt.timezone.utc).hour >= 12 else "Etc/GMT+12"


@pytest.fixture(autouse=True, params=["UTC", "away"])
def _time_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test here runs twice: with the process (``TZ``) and its sessions (``PGTZ``) in
    UTC, and in a zone where the local date is another day. Partitions follow the UTC date."""
    zone = "UTC" if request.param == "UTC" else _zone_on_another_date()
    previous = os.environ.get("TZ")
    monkeypatch.setenv("PGTZ", zone)
    os.environ["TZ"] = zone
    time.tzset()
    yield zone
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


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


def test_rows_at_the_bounds_of_a_day_move_with_it(
    settings: PgvectorSettings, schema: str, conn: psycopg.Connection
) -> None:
    """A day is [00:00, 24:00) UTC: a row at exactly midnight moves into that day's partition
    when it is created (left in the default partition, it would make creating it fail for good),
    one a microsecond earlier or at the next midnight stays in the default partition."""
    day = utc_today() + dt.timedelta(days=30)
    midnight_ns = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    exporter = PgvectorSpanExporter(settings)
    try:
        spans = [span_at("at-midnight", midnight_ns), span_at("before-midnight", midnight_ns - 1000),
                 span_at("next-midnight", midnight_ns + DAY_NS)]
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert {partition_of(conn, span.name) for span in spans} == {"otel_spans_default"}
    parent = f"{schema}.otel_spans"
    ensure = "SELECT otel_ensure_partition(%s::regclass, %s)"
    assert conn.execute(ensure, (parent, day)).fetchone() == (True,)
    assert partition_of(conn, "at-midnight") == f"otel_spans_{day:%Y%m%d}"
    assert partition_of(conn, "before-midnight") == "otel_spans_default"
    assert partition_of(conn, "next-midnight") == "otel_spans_default"
    next_day = day + dt.timedelta(days=1)
    assert conn.execute(ensure, (parent, next_day)).fetchone() == (True,)
    assert partition_of(conn, "next-midnight") == f"otel_spans_{next_day:%Y%m%d}"


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


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll ``condition`` until it holds; a liveness bound, far above what it takes."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


def days_around(day: dt.date, days_ahead: int) -> list[str]:
    return [f"otel_spans_{day + dt.timedelta(days=offset):%Y%m%d}" for offset in range(-1, days_ahead + 1)]


def test_partitions_follow_the_utc_date(
    settings: PgvectorSettings, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the date moves on, the export only notices; the replayer thread creates them."""
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export([span_at("day1", time.time_ns())]) is SpanExportResult.SUCCESS
        later = utc_today() + dt.timedelta(days=10)
        monkeypatch.setattr(partitions, "_today", lambda: later)  # the process runs on, ten days later
        assert exporter.export([span_at("day2", time.time_ns())]) is SpanExportResult.SUCCESS
        wait_until(lambda: set(days_around(later, settings.partition_days_ahead)) <= set(
            partitions_with_bounds(conn)), "the partitions of the new day")
    finally:
        exporter.shutdown()


def at_noon(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc).timestamp()) * 10**9


@pytest.mark.parametrize("first_use", [False, True], ids=["running-process", "first-use"])
@pytest.mark.parametrize("timeout", [1.0, 3.0])
def test_a_reader_idle_in_transaction_does_not_hold_up_exports_on_a_new_day(
    server_dsn: str, schema: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, timeout: float, first_use: bool,
) -> None:
    """Issue 11: a session left idle in a transaction after reading otel_spans holds a share
    lock on every partition, and creating a day's partition (ATTACH PARTITION locks the default
    partition exclusively) must wait for it. Exports of the new day's spans, by a process that
    runs on past midnight or one whose first export it is, are stored anyway, in the default
    partition, each within its timeout: the bound asserted, timeout + 2 s, is a liveness bound
    where the exports used to wait as long as the reader stayed open (20 s here). Once the
    reader ends, the replayer creates the partitions and moves the rows into the new day's."""
    settings = PgvectorSettings(dsn=server_dsn, schema=schema, timeout=timeout, embedding="off",
                                breaker_cooldown=0.2)
    later = utc_today() + dt.timedelta(days=10)
    exporter = PgvectorSpanExporter(settings)
    try:
        if first_use:
            Database(settings).migrate()  # an earlier process made today's partitions
        else:
            assert exporter.export([span_at("today", time.time_ns())]) is SpanExportResult.SUCCESS
        with caplog.at_level(logging.WARNING), psycopg.connect(server_dsn) as reader:
            reader.execute(f'SELECT count(*) FROM "{schema}".otel_spans')  # now idle in transaction
            release = threading.Timer(20, reader.commit)  # unblocks the bug, which waits for it
            release.start()
            monkeypatch.setattr(partitions, "_today", lambda: later)  # UTC midnight, ten days on
            elapsed = []
            for number in range(3):
                started = time.monotonic()
                result = exporter.export([span_at(f"new-day-{number}", at_noon(later) + number)])
                elapsed.append(time.monotonic() - started)
                assert result is SpanExportResult.SUCCESS
            assert max(elapsed) < timeout + 2, elapsed
            # stored, not spooled: in the default partition, while the reader is still open
            stored_in = [partition_of(conn, f"new-day-{number}") for number in range(3)]
            assert stored_in == ["otel_spans_default"] * 3
            assert exporter.delivery.stats().spool.spooled_batches == 0
            wait_until(lambda: any("not created yet" in record.getMessage() for record in caplog.records),
                       "an attempt to create the partitions that gave up on the lock")
            assert release.is_alive(), "the reader was still open all along"
            release.cancel()
            reader.commit()
        new_day = f"otel_spans_{later:%Y%m%d}"

        def where_new_day_spans_are() -> list[str]:  # a moment's query may miss rows being moved
            return [row[0] for row in conn.execute(
                "SELECT tableoid::regclass::text FROM otel_spans WHERE name LIKE 'new-day-%'")]

        wait_until(lambda: where_new_day_spans_are() == [new_day] * 3, "the rows moved into their partition")
        assert conn.execute("SELECT count(*) FROM otel_spans_default").fetchone() == (0,)
        assert set(days_around(later, settings.partition_days_ahead)) <= set(partitions_with_bounds(conn))
    finally:
        exporter.shutdown()


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
