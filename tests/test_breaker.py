"""The circuit breaker: its states on a controlled clock, and shared by exporters of a database."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.errors import DatabaseBusy, DatabaseUnavailable
from opentelemetry_exporter_pgvector.write.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_opens_with_one_probe() -> None:
    clock = Clock()
    closed: list[bool] = []
    breaker = CircuitBreaker(3, 5.0, on_close=lambda: closed.append(True), clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()  # a success resets the count: failures must be consecutive
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow() and not breaker.ready()
    clock.now = 5.0
    assert breaker.ready()
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()  # the probe failed: open for another cool-down
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and closed == [True]
    counters = breaker.stats()
    assert (counters.opened, counters.closed, counters.probes) == (1, 1, 2)
    assert counters.short_circuited == 3


def test_every_outage_is_counted_and_named_once_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Two outages: the counters add up, each warning names the breaker, the last error and,
    when ``on_close`` says what waits, that note (no note, no dangling separator)."""
    clock = Clock()
    quiet = CircuitBreaker(1, 1.0, name="db-a", clock=clock)
    noted = CircuitBreaker(1, 1.0, name="db-b", on_close=lambda: "3 batches spooled", clock=clock)
    with caplog.at_level(logging.WARNING, logger="opentelemetry_exporter_pgvector.write.breaker"):
        for outage in range(2):
            for breaker in (quiet, noted):
                breaker.record_failure(ConnectionError(f"refused #{outage}"))
            clock.now += 1.0
            for breaker in (quiet, noted):
                assert breaker.allow()
                breaker.record_success()
    assert [(s.opened, s.closed, s.probes) for s in (quiet.stats(), noted.stats())] == [(2, 2, 2)] * 2
    assert [record.getMessage() for record in caplog.records] == [
        f"circuit breaker for {name} {event}"
        for outage in range(2)
        for event, names in (
            (f"open after 1 consecutive failed batches: spooling to disk, probing again every 1.0 s"
             f" (last error: refused #{outage})", ("db-a", "db-b")),
            ("closed: the database accepts writes again", ("db-a",)),
            ("closed: the database accepts writes again; 3 batches spooled", ("db-b",)),
        )
        for name in names
    ]


def test_an_opening_without_an_error_names_none(caplog: pytest.LogCaptureFixture) -> None:
    breaker = CircuitBreaker(1, 2.5, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="opentelemetry_exporter_pgvector.write.breaker"):
        breaker.record_failure()
    assert [record.getMessage() for record in caplog.records] == [
        "circuit breaker for database open after 1 consecutive failed batches: spooling to disk,"
        " probing again every 2.5 s"
    ]


def test_a_probe_that_never_reports_back_expires() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, probe_timeout=3.0, clock=clock)
    breaker.record_failure()
    clock.now = 1.0
    assert breaker.allow()  # probe taken, and its thread dies
    clock.now = 3.5
    assert not breaker.allow()
    clock.now = 4.0
    assert breaker.allow()


def test_state_changes_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 1.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="opentelemetry_exporter_pgvector.write.breaker"):
        for _ in range(50):
            if breaker.allow():
                breaker.record_failure()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "open after 2 consecutive" in messages[0]
    clock.now = 1.0
    with caplog.at_level(logging.INFO, logger="opentelemetry_exporter_pgvector.write.breaker"):
        assert breaker.allow()
    assert caplog.records[-1].getMessage() == "circuit breaker for database half-open: probing with one batch"


def test_exporters_of_one_database_share_the_breaker_and_spool_when_it_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {"dsn": "postgresql://u@127.0.0.1:1/db", "timeout": 2, "breaker_threshold": 2,
                "breaker_cooldown": 600, "retry_max_attempts": 1}
    first = PgvectorSpanExporter(**settings)
    second = PgvectorSpanExporter(**settings)
    try:
        assert first.delivery is second.delivery
        with caplog.at_level(logging.WARNING):
            results = [exporter.export(make_spans(3)) for exporter in (first, second) * 10]
        assert first.force_flush()  # the batches queued for the spool while it was open are in it
        stats = first.delivery.stats()
    finally:
        first.shutdown()
        second.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 20  # every batch is in the spool
    assert stats.breaker.state is BreakerState.OPEN and stats.breaker.opened == 1
    assert stats.breaker.short_circuited == 18  # two tries opened it; the rest never touched the network
    assert stats.spool.spooled_batches == 20
    assert stats.spool.pending_rows == 20 * (3 + 1 + 1)  # three spans, their resource row and their one shape row
    opened = [r for r in caplog.records if "circuit breaker" in r.getMessage() and "open" in r.getMessage()]
    assert len(opened) == 1


def test_the_replayer_leaves_a_batch_that_just_failed_alone_for_a_cool_down() -> None:
    """Retrying a batch the moment its own attempts failed only loads a failing server (and
    would count towards the breaker a failure no export made)."""
    exporter = PgvectorSpanExporter(dsn="postgresql://u@127.0.0.1:1/db", timeout=2, breaker_threshold=5,
                                    breaker_cooldown=600, retry_max_attempts=1)
    try:
        assert exporter.export(make_spans(3)) is SpanExportResult.SUCCESS  # spooled after one failure
        time.sleep(0.5)  # the replayer thread, started by the spooling, has had its chance
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert stats.breaker.consecutive_failures == 1  # the export's attempt only
    assert (stats.spool.pending_batches, stats.spool.replayed_batches) == (1, 0)


def test_shutdown_interrupts_a_retry_back_off_and_spools_the_batch() -> None:
    """As the OTLP exporters do: shutdown never waits out a back-off (here 30-60 s)."""
    exporter = PgvectorSpanExporter(dsn="postgresql://u@127.0.0.1:1/db", timeout=600,
                                    retry_initial_backoff=60, retry_max_backoff=60)
    results: list[SpanExportResult] = []
    export = threading.Thread(target=lambda: results.append(exporter.export(make_spans(3, "backoff"))))
    export.start()
    # one refused connection counted: the export now sleeps in its first back-off
    deadline = time.monotonic() + 30
    while exporter.delivery.breaker.stats().consecutive_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.delivery.breaker.stats().consecutive_failures == 1
    shutdown = threading.Thread(target=exporter.shutdown)
    shutdown.start()
    export.join(20)
    shutdown.join(20)
    assert not export.is_alive() and not shutdown.is_alive()  # a waited-out back-off takes 30 s or more
    assert results == [SpanExportResult.SUCCESS]
    stats = exporter.delivery.stats()
    assert stats.spool.spooled_batches == 1 and stats.lost_batches == 0
    assert stats.breaker.consecutive_failures == 1  # no second attempt after shutdown


def test_closing_says_how_much_the_outage_left_in_the_spool(
    settings: PgvectorSettings, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = PgvectorSpanExporter(settings)
    try:
        exporter.delivery.breaker._state = BreakerState.OPEN  # as if the database had failed
        exporter.delivery.breaker._opened_at = float("inf")
        for batch in range(3):
            assert exporter.export(make_spans(5, f"outage-{batch}")) is SpanExportResult.SUCCESS
        assert exporter.force_flush()
        with caplog.at_level(logging.WARNING, logger="opentelemetry_exporter_pgvector.write.breaker"):
            exporter.delivery.breaker.record_success()
        closed = [record.getMessage() for record in caplog.records if "closed" in record.getMessage()]
        assert len(closed) == 1 and closed[0].endswith("; 3 spooled batches (18 rows) are being replayed")
    finally:
        exporter.shutdown()


# --- a busy pool is back pressure, not a failure ------------------------------------------------

SLOW_SPAN_INSERTS = """
CREATE FUNCTION slow_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
CREATE TRIGGER slow_statement AFTER INSERT ON otel_spans FOR EACH STATEMENT EXECUTE FUNCTION slow_statement();
"""


def test_a_wait_for_a_pool_whose_connections_are_all_in_use_is_not_an_outage(server_dsn: str,
                                                                              schema: str) -> None:
    busy = Database(PgvectorSettings(dsn=server_dsn, schema=schema, pool_max_size=2, embedding="off"))
    down = Database(PgvectorSettings(dsn="postgresql://u@127.0.0.1:1/db", pool_max_size=2))
    try:
        # both connections lent out, then a third wanted
        with busy.connection(10), busy.connection(10), pytest.raises(DatabaseBusy), busy.connection(0.3):
            pass
        with busy.connection(10):  # free again
            pass
        with pytest.raises(DatabaseUnavailable) as unreachable, down.connection(0.3, prepare=False):
            pass
        assert not isinstance(unreachable.value, DatabaseBusy)  # nothing handed out: the pool cannot connect
    finally:
        busy.close()
        down.close()


def test_a_busy_pool_never_opens_the_breaker_and_every_span_is_stored(
    server_dsn: str, schema: str, conn: psycopg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    """16 threads share 2 pooled connections, each export holding one for over 100 ms, so an
    export waits up to about 0.8 s for a connection, longer than its first wait (a tenth of the
    3 s timeout). That wait counted as a failure of the database: the breaker opened and batches
    took the spool detour (the issue: 64 threads, the breaker opened 4 times, 932 batches)."""
    exporter = PgvectorSpanExporter(dsn=server_dsn, schema=schema, timeout=3, embedding="off",
                                    pool_max_size=2, breaker_threshold=3)
    batches = [[make_spans(5, f"t{thread}-{n}") for n in range(4)] for thread in range(16)]
    results: list[SpanExportResult] = []
    barrier = threading.Barrier(16)

    def work(thread: int) -> None:
        barrier.wait()
        results.extend(exporter.export(batch) for batch in batches[thread])

    try:
        warmup = make_spans(1, "warmup")
        assert exporter.export(warmup) is SpanExportResult.SUCCESS  # migrated
        conn.execute(SLOW_SPAN_INSERTS)
        threads = [threading.Thread(target=work, args=(thread,)) for thread in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        spooled = exporter.delivery.stats().spool.spooled_batches  # a batch whose 3 s ran out, if any
        deadline = time.monotonic() + 60  # liveness bound for the replay of such batches
        while exporter.delivery.stats().spool.pending_batches and time.monotonic() < deadline:
            time.sleep(0.1)
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    with capsys.disabled():
        print(f"\n[busy pool] 64 exports, spooled {spooled} (their time ran out), breaker {stats.breaker}")
    assert results == [SpanExportResult.SUCCESS] * 64
    assert (stats.breaker.opened, stats.breaker.consecutive_failures) == (0, 0)
    sent = [span for thread in batches for batch in thread for span in batch]
    assert stored_ids(conn) == span_ids([*warmup, *sent])  # 321 spans, once each
