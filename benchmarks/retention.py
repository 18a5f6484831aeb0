"""What retention costs the exports running beside it.

    python benchmarks/retention.py [--rounds 6] [--seconds 5] [--every 0.1] [--dry-run]

One thread exports batches of 64 new spans back to back. Before that, expired daily
partitions of otel_spans are created, 1,000 rows each. The run alternates, --rounds times,
between a baseline phase (nothing else) and a retention phase, in which another thread
applies retention every --every seconds with a window one day shorter each time, so that
each pass counts and drops one partition: thousands of times more often than the exporters'
hourly pass, to put as many drops as possible beside the exports. Prints export() p50 / p99 /
max of each kind of phase and their ratios, and what the passes did. Interleaving the phases
in one run keeps machine noise out of the ratios. ``--dry-run`` is the control: each pass does
the same work (connect, read the catalog, count the oldest partition's rows) but drops nothing
and takes no lock, so what it costs the exports is the work, not the lock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import embedded_server_dsn
from opentelemetry_exporter_pgvector.db.retention import apply_retention, retention_policy

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from span_factory import make_spans
from telemetry_rows import at_six, days_ago, insert_rows, utc_today


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("--dry-run", action="store_true", help="count the oldest partition, drop nothing")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="otel-pgvector-bench-"))  # kept: the server runs until exit
    dsn = embedded_server_dsn(workdir / "pg")
    settings = PgvectorSettings(dsn=dsn, schema="bench_retention", embedding="off", dlq_dir=workdir / "spool")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_retention CASCADE")
    database = Database(settings)
    database.migrate()
    passes_wanted = int(args.rounds * args.seconds / args.every) + 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('SET search_path TO "bench_retention", public')
        days = [days_ago(10 + offset, utc_today()) for offset in range(passes_wanted)]
        database.partitions.ensure(conn, ["otel_spans"], days)
        for day in days:
            insert_rows(conn, "otel_spans", at_six(day), 1000)
    exporter = PgvectorSpanExporter(settings)
    latencies: dict[str, list[float]] = {"baseline": [], "retention": []}
    passes: list[tuple[float, int, int]] = []  # seconds, dropped, skipped
    phase = {"name": "baseline"}
    stop = threading.Event()
    retaining = threading.Event()

    def export_loop() -> None:
        number = 0
        while not stop.is_set():
            batch = make_spans(64, f"bench{number}")
            number += 1
            started = time.perf_counter()
            assert exporter.export(batch).name == "SUCCESS"
            latencies[phase["name"]].append(time.perf_counter() - started)

    def retention_loop() -> None:
        # The oldest partition is 9 + passes_wanted days back; a window one day shorter expires
        # it alone, and each shorter window the next one.
        keep = 8 + passes_wanted
        while not stop.is_set() and keep >= 9:
            if not retaining.wait(0.1):
                continue
            policy = retention_policy(settings, dt.timedelta(days=keep), ["spans"])
            started = time.perf_counter()
            report = apply_retention(database, policy, dry_run=args.dry_run)
            passes.append((time.perf_counter() - started, report.dropped_partitions, report.skipped))
            keep -= 0 if args.dry_run else 1
            stop.wait(args.every)

    threads = [threading.Thread(target=export_loop), threading.Thread(target=retention_loop)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(args.rounds):
            for name in ("baseline", "retention"):
                phase["name"] = name
                (retaining.set if name == "retention" else retaining.clear)()
                time.sleep(args.seconds)
    finally:
        retaining.clear()
        stop.set()
        for thread in threads:
            thread.join()
        stats = exporter.delivery.stats()
        exporter.shutdown()
        database.close()

    def row(name: str) -> tuple[float, float, float]:
        values = latencies[name]
        return percentile(values, 0.5) * 1e3, percentile(values, 0.99) * 1e3, max(values) * 1e3

    base, during = row("baseline"), row("retention")
    print(f"exports: {sum(map(len, latencies.values()))}, spooled batches {stats.spool.spooled_batches}, "
          f"lost {stats.lost_batches}, rows rejected {stats.rejected_rows}")
    for name, (p50, p99, worst) in (("baseline", base), ("retention", during)):
        print(f"{name:9}  {len(latencies[name]):6d} exports  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
              f"  max {worst:8.3f} ms")
    print(f"ratio      p50 {during[0] / base[0]:.2f}x  p99 {during[1] / base[1]:.2f}x"
          f"  max {during[2] / base[2]:.2f}x")
    seconds = [s for s, _, _ in passes]
    print(f"retention passes: {len(passes)}, partitions dropped {sum(d for _, d, _ in passes)}, "
          f"skipped {sum(k for _, _, k in passes)}, p50 {percentile(seconds, 0.5) * 1e3:.1f} ms, "
          f"max {max(seconds) * 1e3:.1f} ms per pass (counting 1,000 rows"
          f"{'' if args.dry_run else ' and dropping a partition'})")


if __name__ == "__main__":
    main()
