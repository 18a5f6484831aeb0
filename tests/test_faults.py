"""Fault tests against real PostgreSQL servers: outage, crashes, lost COMMIT acks, bad databases.

Each prints its figures (records produced, stored, duplicated, lost; max export() latency;
spool bytes at peak), recorded in docs/reliability.md. Run with ``-s`` to see them.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fault_load import SignalLoad, run_load
from fault_server import CommitCuttingProxy, FaultServer
from opentelemetry.sdk.trace.export import SpanExportResult
from psycopg.conninfo import make_conninfo
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorMetricExporter, PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.write.delivery import Outcome
from opentelemetry_exporter_pgvector.write.spool import inspect_directory

_schemas = itertools.count()


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    server = FaultServer(tmp_path_factory.mktemp("fault"))
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass  # a test left it stopped


@pytest.fixture
def fault_schema(fault_server: FaultServer) -> str:
    return f"fault_{os.getpid()}_{next(_schemas)}"


def wait_drained(exporter: PgvectorSpanExporter, limit: float = 40) -> int:
    """Wait until the batches queued for the spool are in it and it is replayed; return its peak bytes."""
    assert exporter.force_flush(int(limit * 1000))
    deadline = time.monotonic() + limit
    directory = exporter.delivery.spool.directory
    while time.monotonic() < deadline:
        stats = exporter.delivery.stats()
        if not stats.spool.pending_batches and not inspect_directory(directory).pending_batches:
            break
        time.sleep(0.1)
    assert inspect_directory(directory).pending_batches == 0, stats
    return stats.spool.peak_bytes


def percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"p50 {p50 * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms, max {ordered[-1] * 1000:.3f} ms"


def figures(name: str, produced: list[int], stored: list[int], max_latency: float, peak: int) -> dict[str, float]:
    counts = collections.Counter(stored)
    result = {
        "produced": len(produced), "stored": len(counts),
        "duplicated": sum(count - 1 for count in counts.values()),
        "lost": len(set(produced) - set(counts)),
        "max_export_ms": round(max_latency * 1000, 1), "spool_peak_bytes": peak,
    }
    print(f"\n[{name}] " + ", ".join(f"{key}={value}" for key, value in result.items()))
    return result


def test_outage_in_the_middle_of_a_steady_load(fault_server: FaultServer, fault_schema: str) -> None:
    settings = PgvectorSettings(dsn=fault_server.dsn, schema=fault_schema, timeout=3, breaker_threshold=3,
                                breaker_cooldown=0.5, dlq_replay_rate=50)
    exporter = PgvectorSpanExporter(settings)
    log_exporter, metric_exporter = PgvectorLogExporter(settings), PgvectorMetricExporter(settings)
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS
        with SignalLoad(log_exporter, metric_exporter, log_rate=500) as signals:
            report = run_load(exporter, rate=2000, seconds=20,
                              during=[(7.5, fault_server.stop), (12.5, fault_server.start)],
                              breaker=exporter.delivery.breaker)
        peak = wait_drained(exporter)
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
        log_exporter.shutdown()
        metric_exporter.shutdown()
    with psycopg.connect(fault_server.dsn) as conn:
        stored = stored_ids(conn, f'"{fault_schema}".otel_spans WHERE name LIKE \'load-%\'')
        bodies = [body for (body,) in conn.execute(f'SELECT body FROM "{fault_schema}".otel_logs')]
        points, total = conn.execute(
            f'SELECT count(*), sum(value) FROM "{fault_schema}".otel_metric_points WHERE name = %s',
            ("load.requests",),
        ).fetchone()
    result = figures("outage", span_ids(report.produced), stored, max(report.latencies), peak)
    open_latencies = sorted(report.latencies_while_open)
    print(f"outage, spans: {len(open_latencies)} exports while the breaker was open: wall "
          f"{percentiles(open_latencies)}; exporting thread's CPU {percentiles(report.cpu_times_while_open)}")
    logs = collections.Counter(bodies)
    print(f"outage, logs: produced {len(signals.report.log_bodies)} stored {len(logs)} duplicated "
          f"{sum(logs.values()) - len(logs)}; metric points: exported {signals.report.metric_points} "
          f"stored {points}; max export() {max(signals.report.latencies) * 1000:.0f} ms")
    assert set(report.results) == {SpanExportResult.SUCCESS}
    assert stats.breaker.opened >= 1 and stats.spool.spooled_batches > 0  # the outage was real
    assert len(open_latencies) > 20  # most of the 5 s outage's exports were kept off the network
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["stored"] == result["produced"]
    assert max(report.latencies) < settings.timeout
    # logs and metrics rode through the same outage, exactly once
    assert sorted(logs) == sorted(signals.report.log_bodies) and set(logs.values()) == {1}
    assert points == signals.report.metric_points and total == len(signals.report.log_bodies)
    assert {result.name for result in signals.report.results} == {"SUCCESS"}
    assert max(signals.report.latencies) < settings.timeout


def test_ambiguous_commit_is_not_stored_twice(fault_server: FaultServer, fault_schema: str) -> None:
    proxy = CommitCuttingProxy(fault_server.port)
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
    exporter = PgvectorSpanExporter(dsn=dsn, schema=fault_schema, timeout=10, pool_min_size=0)
    spans = make_spans(200, "ambiguous")
    try:
        assert exporter.export(make_spans(1, "warmup")) is SpanExportResult.SUCCESS
        proxy.cut_after_commit.set()
        outcome = exporter.delivery.deliver(lambda: exporter._converter.convert_batch(spans), 10)
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
        proxy.close()
    assert proxy.cuts == 1
    assert outcome is Outcome.DUPLICATE  # the retry found its id in the ledger
    with psycopg.connect(fault_server.dsn) as conn:
        stored = stored_ids(conn, f'"{fault_schema}".otel_spans WHERE name LIKE \'ambiguous-%\'')
    result = figures("ambiguous commit", span_ids(spans), stored, 0, stats.spool.peak_bytes)
    assert result["lost"] == 0 and result["duplicated"] == 0


_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorMetricExporter, PgvectorSpanExporter
    from opentelemetry_exporter_pgvector.convert.spans import signed_span_id
    from span_factory import make_spans
    exporter = PgvectorSpanExporter(dsn={dsn!r}, schema={schema!r}, timeout=2, breaker_threshold=1,
                                    breaker_cooldown={cooldown}, dlq_fsync_interval=0, dlq_replay_rate={rate})
    if {mode!r} == "append":
        for number in range(100000):
            spans = make_spans(20, "crash-%d" % number)
            exporter.export(spans)
            print(" ".join(str(signed_span_id(s.context.span_id)) for s in spans), flush=True)
    else:
        print("replaying", flush=True)
        time.sleep(60)
""")


def _child(tests: Path, dsn: str, schema: str, mode: str, rate: float, spool_dir: Path,
           write_behind: int = 0) -> subprocess.Popen[str]:
    # appending: the breaker stays open (no probes); replaying: a failed first try is retried soon
    code = _CHILD.format(tests=str(tests), dsn=dsn, schema=schema, mode=mode, rate=rate,
                         cooldown=600 if mode == "append" else 0.5)
    env = {**os.environ, "OTEL_EXPORTER_PGVECTOR_DLQ_DIR": str(spool_dir),
           "OTEL_EXPORTER_PGVECTOR_DLQ_WRITE_BEHIND_BATCHES": str(write_behind)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("write_behind", [0, 8], ids=["spooled-before-ack", "write-behind"])
def test_sigkill_while_spooling_and_while_replaying(fault_server: FaultServer, fault_schema: str,
                                                    _private_spool_dir: Path, write_behind: int) -> None:
    """With no write-behind, every acknowledged batch survives; with it, at most the batches
    queued for the spool at the kill are lost. Never a duplicate."""
    tests = Path(__file__).parent
    fault_server.stop()
    try:
        appender = _child(tests, fault_server.dsn, fault_schema, "append", 20, _private_spool_dir, write_behind)
        acknowledged: list[int] = []
        assert appender.stdout is not None
        while len(acknowledged) < 100 * 20:
            line = appender.stdout.readline()
            assert line, "the appending child exited early"
            acknowledged.extend(int(value) for value in line.split())
        appender.send_signal(signal.SIGKILL)  # while it appends
        rest, _ = appender.communicate()
        acknowledged.extend(int(value) for line in rest.splitlines() for value in line.split())
    finally:
        fault_server.start()
    replayer = _child(tests, fault_server.dsn, fault_schema, "replay", 40, _private_spool_dir)
    assert replayer.stdout is not None and replayer.stdout.readline().strip() == "replaying"
    deadline = time.monotonic() + 20
    with psycopg.connect(fault_server.dsn, autocommit=True) as conn:
        def partial() -> int:
            try:
                return conn.execute(f'SELECT count(*) FROM "{fault_schema}".otel_batches').fetchone()[0]
            except psycopg.errors.UndefinedTable:
                return 0
        while partial() < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        replayer.send_signal(signal.SIGKILL)  # while it replays
        replayer.wait()
        replayed_before_kill = partial()
    assert 0 < replayed_before_kill < len(acknowledged) // 20
    exporter = PgvectorSpanExporter(dsn=fault_server.dsn, schema=fault_schema, timeout=5, dlq_replay_rate=200)
    try:
        peak = wait_drained(exporter)
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    with psycopg.connect(fault_server.dsn) as conn:
        stored = stored_ids(conn, f'"{fault_schema}".otel_spans')
    result = figures(f"sigkill, write-behind {write_behind}", acknowledged, stored, 0, peak)
    print(f"[sigkill] replayed before the kill: {replayed_before_kill} batches; torn records: "
          f"{stats.spool.corrupt_records}; duplicates skipped by the ledger: {stats.spool.duplicate_batches}")
    assert result["duplicated"] == 0
    assert result["lost"] <= write_behind * 20  # acknowledged but still queued for the spool at the kill
    assert result["lost"] % 20 == 0  # whole batches: a torn record never loses part of one
    unacknowledged = set(stored) - set(acknowledged)  # at most the batch being appended
    assert len(unacknowledged) in (0, 20)


@contextlib.contextmanager
def _login_role(conn: psycopg.Connection, server_dsn: str, role: str, *grants: str) -> Iterator[str]:
    """A login role with only ``grants`` (no CREATE on the database: an up-to-date schema must
    not need it), dropped afterwards; yields its DSN."""
    conn.execute(f'CREATE ROLE "{role}" LOGIN; ' + "; ".join(grant.format(role=f'"{role}"') for grant in grants))
    try:
        yield make_conninfo(server_dsn, user=role)
    finally:
        conn.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


def test_read_only_then_writable_database(settings: PgvectorSettings, server_dsn: str, schema: str,
                                          conn: psycopg.Connection) -> None:
    role = f"ro_{schema}"
    Database(settings).migrate()
    spans = make_spans(30, "readonly")
    with _login_role(conn, server_dsn, role, f'GRANT ALL ON SCHEMA "{schema}" TO {{role}}',
                     f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO {{role}}',
                     "ALTER ROLE {role} SET default_transaction_read_only = on") as dsn:
        exporter = PgvectorSpanExporter(dsn=dsn, schema=schema, timeout=3, breaker_cooldown=0.3,
                                        retry_max_attempts=2)
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS  # spooled: 25006 is a failover
            assert exporter.delivery.stats().spool.spooled_batches == 1
            assert stored_ids(conn) == []
            conn.execute(f'ALTER ROLE "{role}" RESET default_transaction_read_only')  # failover done
            peak = wait_drained(exporter)
        finally:
            exporter.shutdown()
    result = figures("read-only", span_ids(spans), stored_ids(conn), 0, peak)
    assert result["lost"] == 0 and result["duplicated"] == 0


def test_permission_denied_is_not_retried_and_replays_after_grant(
    settings: PgvectorSettings, server_dsn: str, schema: str, conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    role = f"np_{schema}"
    Database(settings).migrate()
    spans = make_spans(10, "denied")
    with _login_role(conn, server_dsn, role, f'GRANT ALL ON SCHEMA "{schema}" TO {{role}}',
                     f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {{role}}') as dsn:
        exporter = PgvectorSpanExporter(dsn=dsn, schema=schema, timeout=3, breaker_threshold=5,
                                        breaker_cooldown=0.3)
        try:
            with caplog.at_level(logging.INFO):
                assert exporter.export(spans) is SpanExportResult.SUCCESS
            stats = exporter.delivery.stats()
            # 42501 on the table itself: a refusal, not retried, and no sign that the database is down
            assert "retrying" not in caplog.text and stats.breaker.consecutive_failures == 0
            assert stats.spool.spooled_batches == 1
            conn.execute(f'GRANT INSERT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            peak = wait_drained(exporter)
        finally:
            exporter.shutdown()
    result = figures("permission denied", span_ids(spans), stored_ids(conn), 0, peak)
    assert result["lost"] == 0 and result["duplicated"] == 0


def test_tiny_spool_drops_oldest_and_counts_exactly() -> None:
    exporter = PgvectorSpanExporter(dsn="postgresql://u@127.0.0.1:1/db", timeout=2, breaker_threshold=1,
                                    breaker_cooldown=600, dlq_max_bytes=16384)
    try:
        results = [exporter.export(make_spans(10, f"tiny{n}")) for n in range(60)]
        assert exporter.force_flush()
        stats = exporter.delivery.stats()
    finally:
        exporter.shutdown()
    spool = stats.spool
    print(f"\n[tiny spool] batches={len(results)} spooled={spool.spooled_batches} kept={spool.pending_batches} "
          f"dropped={spool.dropped_batches} dropped_rows={spool.dropped_rows} peak_bytes={spool.peak_bytes}")
    assert results == [SpanExportResult.SUCCESS] * 60
    assert spool.dropped_batches > 0 and spool.peak_bytes <= 16384
    assert spool.pending_batches + spool.dropped_batches == spool.spooled_batches == 60
    assert spool.dropped_rows == 12 * spool.dropped_batches  # ten spans, a resource and a shape row each
