"""While the breaker is open, export() hands batches to the write-behind thread and returns.

What is queued is converted off the caller's thread, spooled, and replayed exactly once into
the real database; the queue is bounded (a full queue makes the caller spool the batch itself);
force_flush() and shutdown() wait for it, and a shutdown that runs out of time counts what it
abandons as lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fork_helpers import wait_for_child
from opentelemetry.sdk.trace.export import SpanExportResult
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.query.health import health
from opentelemetry_exporter_pgvector.write.breaker import BreakerState
from opentelemetry_exporter_pgvector.write.delivery import Outcome
from opentelemetry_exporter_pgvector.write.spool import inspect_directory
from opentelemetry_exporter_pgvector.write.write_behind import WriteBehind

DEAD_DSN = "postgresql://u@127.0.0.1:1/db"


FIRST = make_spans(1, "first")


def held_open(**settings: Any) -> PgvectorSpanExporter:
    """A span exporter (of the unreachable DSN unless ``settings`` say otherwise) whose breaker
    is open, as after a failed batch, and stays so for ten minutes, and whose spool has taken a
    batch (``FIRST``: one span, its resource), so that the next ones are queued.

    Until the spool has taken a batch, export() spools each batch itself: none is acknowledged
    before it is written to a spool not known to take it.
    """
    exporter = PgvectorSpanExporter(**{"dsn": DEAD_DSN, "breaker_threshold": 1, "breaker_cooldown": 600,
                                       **settings})
    exporter.delivery.breaker.record_failure()
    assert exporter.delivery.breaker.state is BreakerState.OPEN
    assert exporter.delivery.deliver(lambda: exporter._converter.convert_batch(FIRST), 5) is Outcome.SPOOLED
    return exporter


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Set it to let a write-behind thread blocked by ``block_writer`` go on."""
    event = threading.Event()
    yield event
    event.set()


def block_writer(exporter: PgvectorSpanExporter, gate: threading.Event) -> None:
    """Occupy the write-behind thread (and one slot of its queue) until ``gate`` is set."""
    assert exporter.delivery.write_behind.submit(lambda: None if gate.wait(30) else None)


def test_queued_batches_reach_the_database_exactly_once(server_dsn: str, schema: str,
                                                       conn: psycopg.Connection) -> None:
    exporter = held_open(dsn=server_dsn, schema=schema, embedding="off")
    batches = [make_spans(7, f"queued{n}") for n in range(5)]
    try:
        assert [exporter.export(batch) for batch in batches] == [SpanExportResult.SUCCESS] * 5
        assert exporter.force_flush(10_000)
        stats = exporter.delivery.stats()
        assert stats.queued_batches == 0 and stats.spool.spooled_batches == 1 + 5
        assert stats.breaker.short_circuited == 1 + 5  # no attempt touched the network
        exporter.delivery.breaker.record_success()  # the database is back: the replayer drains
        deadline = time.monotonic() + 20
        while exporter.delivery.stats().spool.pending_batches and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        exporter.shutdown()
    assert stored_ids(conn) == span_ids([*FIRST, *(span for batch in batches for span in batch)])


def test_conversion_of_a_queued_batch_runs_off_the_callers_thread(server_dsn: str, schema: str) -> None:
    exporter = held_open(dsn=server_dsn, schema=schema, embedding="off")
    spans = make_spans(3, "thread")
    converted_on: list[str] = []

    def convert():  # type: ignore[no-untyped-def]
        converted_on.append(threading.current_thread().name)
        return exporter._converter.convert_batch(spans)

    try:
        assert exporter.delivery.deliver(convert, 5) is Outcome.QUEUED
        assert exporter.delivery.flush(5)
        spooled = exporter.delivery.stats().spool
    finally:
        exporter.shutdown()
    assert len(converted_on) == 1 and converted_on[0] != threading.current_thread().name
    assert converted_on[0].startswith("otel-pgvector-spooler")
    # FIRST's span and its resource, then three spans and their resource
    assert (spooled.spooled_batches, spooled.spooled_rows) == (2, 1 + 1 + 3 + 1)


def test_a_full_queue_makes_export_spool_the_batch_itself(gate: threading.Event) -> None:
    exporter = held_open(dlq_write_behind_batches=2)
    try:
        block_writer(exporter, gate)  # slot 1 of 2
        assert exporter.export(make_spans(4, "queued")) is SpanExportResult.SUCCESS  # slot 2 of 2
        assert exporter.export(make_spans(4, "full")) is SpanExportResult.SUCCESS  # spooled by the caller
        stats = exporter.delivery.stats()
        assert stats.queued_batches == 2 and stats.spool.spooled_batches == 1 + 1
        gate.set()
        assert exporter.force_flush(10_000)
        assert exporter.delivery.stats().spool.spooled_batches == 1 + 2
    finally:
        exporter.shutdown()


def test_no_write_behind_spools_before_export_returns() -> None:
    exporter = held_open(dlq_write_behind_batches=0)
    try:
        assert exporter.export(make_spans(4)) is SpanExportResult.SUCCESS
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert (stats.queued_batches, stats.spool.spooled_batches) == (0, 1 + 1)


def test_force_flush_times_out_while_the_writer_is_stuck(gate: threading.Event) -> None:
    exporter = held_open()
    try:
        block_writer(exporter, gate)
        exporter.export(make_spans(2))
        started = time.monotonic()
        assert exporter.force_flush(200) is False
        assert time.monotonic() - started < 5
        gate.set()
        assert exporter.force_flush(10_000) is True
    finally:
        exporter.shutdown()


def test_shutdown_spools_what_is_queued(gate: threading.Event, _private_spool_dir: object) -> None:
    exporter = held_open(timeout=10)
    block_writer(exporter, gate)
    for n in range(3):
        assert exporter.export(make_spans(2, f"s{n}")) is SpanExportResult.SUCCESS
    directory = exporter.delivery.spool.directory
    assert inspect_directory(directory).pending_batches == 1  # FIRST; all three still in memory
    threading.Timer(0.2, gate.set).start()
    exporter.shutdown()
    assert inspect_directory(directory).pending_batches == 1 + 3
    assert exporter.delivery.stats().lost_batches == 0


def test_shutdown_out_of_time_counts_the_abandoned_batches_as_lost(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = held_open(timeout=0.5)
    block_writer(exporter, gate)
    for n in range(3):
        exporter.export(make_spans(2, f"a{n}"))
    exporter.shutdown()  # the writer is stuck past the 0.5 s timeout
    assert exporter.delivery.stats().lost_batches == 3
    assert "lost 3 batches queued for the spool" in caplog.text
    assert exporter.delivery.write_behind.submit(lambda: None) is False  # closed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")
def test_a_forked_child_leaves_the_parents_queue_to_the_parent(gate: threading.Event) -> None:
    exporter = held_open()
    try:
        block_writer(exporter, gate)
        exporter.export(make_spans(2, "parent"))
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                delivery = exporter.delivery
                fresh = delivery.write_behind.waiting == 0
                queued = delivery.deliver(lambda: exporter._converter.convert_batch(make_spans(1)), 5)
                flushed = exporter.force_flush(10_000)
                code = 0 if fresh and queued is Outcome.QUEUED and flushed else 1
            finally:
                os._exit(code)
        assert wait_for_child(pid) == 0
        assert exporter.delivery.stats().queued_batches == 2  # the parent's, untouched by the child
        gate.set()
        assert exporter.force_flush(10_000)
        assert exporter.delivery.stats().spool.spooled_batches == 1 + 1
    finally:
        exporter.shutdown()


def test_health_reports_the_batches_queued_in_memory(gate: threading.Event) -> None:
    exporter = held_open()
    try:
        block_writer(exporter, gate)
        exporter.export(make_spans(2))
        report = health(exporter.database, 2)
        assert (report.breaker_state, report.queued_batches) == ("open", 2)  # the blocker and the batch
        gate.set()
        assert exporter.force_flush(10_000)
        assert health(exporter.database, 2).queued_batches == 0
    finally:
        exporter.shutdown()
    assert health(exporter.database, 2).queued_batches is None  # no exporter of this process uses it


def _failing_conversion(spans: object) -> list[object]:
    raise RuntimeError("converter bug")


def test_a_conversion_error_is_reported_never_raised(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    exporter = PgvectorSpanExporter(dsn=DEAD_DSN, breaker_threshold=1, breaker_cooldown=600)
    converter = exporter._converter
    monkeypatch.setattr(converter, "convert_batch", _failing_conversion)
    try:
        # breaker closed: converted on this thread, before any connection is tried
        assert exporter.export(make_spans(2)) is SpanExportResult.FAILURE
        exporter.delivery.breaker.record_failure()  # open
        # breaker open, a spool that has taken nothing yet: export() spools the batch itself
        assert exporter.export(make_spans(2)) is SpanExportResult.FAILURE
        monkeypatch.undo()
        assert exporter.export(FIRST) is SpanExportResult.SUCCESS  # spooled: the spool takes batches
        monkeypatch.setattr(converter, "convert_batch", _failing_conversion)
        assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS  # queued: converted later
        assert exporter.force_flush(10_000)
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    assert stats.lost_batches == 3 and stats.spool.spooled_batches == 1
    assert caplog.text.count("lost a batch: its records could not be converted") == 3
    assert "converter bug" in caplog.text


_EXITING_APP = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from span_factory import make_spans
    from opentelemetry_exporter_pgvector import PgvectorSpanExporter
    exporter = PgvectorSpanExporter(dsn={dsn!r}, breaker_threshold=1, breaker_cooldown=600)
    exporter.delivery.breaker.record_failure()  # the database is down
    exporter.export(make_spans(3, "queued"))  # queued for the spool while the app runs
    provider = TracerProvider()  # shutdown_on_exit: the SDK's atexit hook exports what is left
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    for n in range(5):
        provider.get_tracer("exit").start_span("at-exit-%d" % n).end()
""")


def test_an_exiting_app_spools_what_was_queued_and_what_the_sdk_exports_at_exit(
    _private_spool_dir: Path,
) -> None:
    """At interpreter exit the write-behind thread is finished and takes no more work: the
    SDK's last export spools its batch itself instead of losing it."""
    code = _EXITING_APP.format(tests=str(Path(__file__).parent), dsn=DEAD_DSN)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Failed to export" not in done.stderr, done.stderr
    (directory,) = _private_spool_dir.iterdir()
    spool = inspect_directory(directory)
    # 3 spans + resource + shape, and 5 spans + resource + shape (deferred mode: one shape each)
    assert (spool.pending_batches, spool.pending_rows) == (2, 5 + 7)


# --- what export() promises while the breaker is open (docs/reliability.md) ----------------------


def spooled_on_disk(exporter: PgvectorSpanExporter) -> int:
    directory = exporter.delivery.spool.directory
    return inspect_directory(directory).pending_batches if directory.is_dir() else 0


@pytest.mark.parametrize("spool", ["under a regular file", "smaller than one batch"])
def test_a_spool_that_takes_nothing_fails_every_batch_from_the_first(tmp_path: Path, spool: str) -> None:
    """With the default write-behind queue, the batches were acknowledged (SUCCESS) and then lost
    by the spool writer: 83 of 150 and 145 of 150 in the issue. Here the spool cannot take a
    single one: a directory whose parent is a file (root cannot write there either), or a bound
    smaller than one batch."""
    (tmp_path / "file").write_text("not a directory")
    where = {"dlq_dir": tmp_path / "file" / "spool"} if spool.startswith("under") else {"dlq_max_bytes": 4096}
    exporter = PgvectorSpanExporter(dsn=DEAD_DSN, breaker_threshold=1, breaker_cooldown=600, **where)
    exporter.delivery.breaker.record_failure()  # open, as after a failed batch
    try:
        results = [exporter.export(make_spans(50, f"b{n}")) for n in range(20)]
        assert exporter.force_flush(10_000)
        stats = exporter.delivery.stats()
        on_disk = spooled_on_disk(exporter)
    finally:
        exporter.shutdown()
    assert results == [SpanExportResult.FAILURE] * 20
    assert (stats.lost_batches, stats.spool.spooled_batches, on_disk) == (20, 0, 0)
    assert stats.breaker.short_circuited == 20  # the breaker stayed open: every batch went the spool's way


def test_failure_comes_from_the_first_batch_the_spool_cannot_take() -> None:
    """A spool of 64 KiB takes a batch of 1 span (1.4 KB) and one of 200 spans (38 KB), not one of
    400 (75 KB). The 400-span export must say FAILURE, not queue the batch and lose it; every
    export that said SUCCESS has its batch on disk. (force_flush between exports only makes the
    order of the appends certain; the queue is what is under test.)"""
    exporter = PgvectorSpanExporter(dsn=DEAD_DSN, breaker_threshold=1, breaker_cooldown=600,
                                    dlq_max_bytes=64 * 1024)
    exporter.delivery.breaker.record_failure()
    results = []
    try:
        for count in (1, 200, 400, 10, 10):
            results.append(exporter.export(make_spans(count, f"n{count}")))
            assert exporter.force_flush(10_000)
        stats = exporter.delivery.stats()
        on_disk = spooled_on_disk(exporter)
    finally:
        exporter.shutdown()
    success, failure = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
    assert results == [success, success, failure, success, success]
    assert (on_disk, stats.spool.spooled_batches, stats.lost_batches) == (4, 4, 1)
    assert stats.spool.dropped_batches == 1  # the one refused, counted by the spool too


def test_a_job_that_raises_is_logged_with_its_traceback_and_leaves_the_queue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    behind = WriteBehind(2, "test-write-behind")
    try:
        assert behind.submit(broken)
        assert behind.flush(10)
    finally:
        behind.close(10)
    assert behind.waiting == 0
    failures = [record for record in caplog.records if record.getMessage() == "background spool write failed"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], OSError)


def test_close_leaves_a_running_job_to_its_thread_and_cancels_the_waiting_ones() -> None:
    started, release, ran = threading.Event(), threading.Event(), []
    behind = WriteBehind(3, "test-write-behind")

    def stuck() -> None:
        started.set()
        release.wait(60)
        ran.append("stuck")

    assert behind.submit(stuck) and started.wait(10)
    assert behind.submit(lambda: ran.append("queued"))
    abandoned = behind.close(0.1)  # returns while the stuck job still waits for release
    ran_when_closed = list(ran)
    release.set()
    assert (abandoned, ran_when_closed) == (1, [])
    deadline = time.monotonic() + 10
    while ran != ["stuck"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["stuck"]  # finished on its thread; the cancelled one never ran
