"""What each storage option costs on the export path: LZ4 TOAST compression and each GIN index.

    python benchmarks/storage_options.py [--batches 30] [--rounds 1] [--dsn postgresql://...]

The same batches are exported into one schema per variant, the variants taking turns batch by
batch (in a rotating order), so that the load other processes put on the machine falls on all
of them alike. Variants: ``baseline`` (the schema as migrated), ``lz4`` (every jsonb column of
the span, log and metric tables compressed with LZ4 instead of pglz; PostgreSQL >= 14), and
one variant per GIN index without that index. Workloads: the realistic spans of
``export_throughput.py``, the same with a Python stack trace (about 6 KB, past the 2 KB TOAST
threshold) in an exception event of one span in ten, the log records and the metric
collections of ``log_metric_throughput.py``.

Printed per workload and variant: the median ``export()`` wall time to commit per record and
bytes per record on disk (table + indexes), each as a ratio of the baseline's in the same run.
Machines are noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_throughput import BATCH, _Collect, realistic_spans
from log_metric_throughput import RESOURCE, realistic_logs, realistic_metrics

from opentelemetry_exporter_pgvector import (
    PgvectorLogExporter,
    PgvectorMetricExporter,
    PgvectorSettings,
    PgvectorSpanExporter,
)
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory

GIN_INDEXES = {
    "otel_spans": ("otel_spans_attributes",),
    "otel_logs": ("otel_logs_search", "otel_logs_attributes"),
    "otel_metric_points": ("otel_metric_points_attributes", "otel_metric_points_exemplars"),
}


def spans_with_stack_traces(count: int) -> list[ReadableSpan]:
    """Realistic spans; one in ten records an exception with a 42-frame stack trace (about 6 KB)."""
    collector = _Collect()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("opentelemetry.instrumentation.flask", "0.66b0")
    plain = iter(realistic_spans(count))

    frames = "".join(
        f'  File "/srv/shop/.venv/lib/python3.12/site-packages/{package}/{module}.py", line {17 * n + 3}, '
        f"in {function}\n    {statement}\n"
        for n, (package, module, function, statement) in enumerate(
            [("flask", "app", "full_dispatch_request", "rv = self.dispatch_request()"),
             ("shop", "checkout", "place_order", "payment = gateway.charge(order, card)"),
             ("shop", "payments", "charge", "return self._client.post(url, json=payload, timeout=5)"),
             ("httpx", "_client", "post", "return self.request('POST', url, json=json, timeout=timeout)"),
             ("httpx", "_transports", "handle_request", "resp = self._pool.handle_request(req)"),
             ("httpcore", "_sync", "connect_tcp", "sock = socket.create_connection(address, timeout)")] * 7)
    )
    message = "connection to payments-db:5432 timed out"
    stacktrace = f"Traceback (most recent call last):\n{frames}TimeoutError: {message}"

    while len(collector.spans) < count:
        if len(collector.spans) % 10 == 0:
            with tracer.start_as_current_span("POST /api/checkout", kind=SpanKind.SERVER) as span:
                span.add_event("exception", {"exception.type": "TimeoutError", "exception.message": message,
                                             "exception.stacktrace": stacktrace})
        else:
            collector.spans.append(next(plain))
    provider.shutdown()
    return collector.spans[:count]


def variants() -> dict[str, str | None]:
    """Variant name -> the GIN index it drops, "lz4", or None for the baseline."""
    found: dict[str, str | None] = {"baseline": None, "lz4": "lz4"}
    for indexes in GIN_INDEXES.values():
        for index in indexes:
            found[f"no {index}"] = index
    return found


def apply(exporter: Any, change: str | None) -> None:
    """Turn the freshly migrated schema of ``exporter`` into the variant ``change`` names."""
    schema = exporter.settings.db_schema
    with exporter.database.connect() as conn:
        if change == "lz4":
            columns = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND data_type = 'jsonb' AND table_name = ANY(%s)", (schema, list(GIN_INDEXES))).fetchall()
            for table, column in columns:  # the partitioned table, then each partition (not inherited)
                partitions = conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits"
                                          " WHERE inhparent = %s::regclass",
                                          (f"{schema}.{table}",)).fetchall()
                for relation in [sql.Identifier(schema, table), *(sql.SQL(name) for (name,) in partitions)]:
                    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET COMPRESSION lz4").format(
                        relation, sql.Identifier(column)))
        elif change is not None:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, change)))
        conn.commit()


def bytes_per_record(exporter: Any, table: str, rows: int) -> float:
    with exporter.database.connect() as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = %s::regclass",
            (f"{exporter.settings.db_schema}.{table}",)).fetchone()
    return float(row[0]) / rows


_schemas = iter(range(1_000_000))


def measure(name: str, table: str, make: Callable[[PgvectorSettings], Any], batches: Sequence[Any],
            size: int, base: dict[str, Any], rounds: int) -> None:
    exporters = {}
    for variant, change in variants().items():
        if change not in (None, "lz4", *GIN_INDEXES[table]):
            continue
        exporter = make(PgvectorSettings(**base, schema=f"bench_opt_{os.getpid()}_{next(_schemas)}"))
        exporter.database.migrate()
        apply(exporter, change)
        exporters[variant] = exporter
    walls: dict[str, list[float]] = {variant: [] for variant in exporters}
    order = list(exporters)
    exports = 0
    for _ in range(rounds):
        for batch in batches:
            order = order[1:] + order[:1]  # rotate who goes first
            for variant in order:
                started = time.perf_counter()
                exporters[variant].export(batch)
                walls[variant].append((time.perf_counter() - started) / size * 1e6)
            exports += 1
    baseline_wall = statistics.median(walls["baseline"])
    baseline_bytes = bytes_per_record(exporters["baseline"], table, exports * size)
    print(f"\n{name}: {exports} batches of {size} records into {table}")
    print(f"  {'variant':36} {'us/record':>9} {'x base':>7} {'bytes/rec':>9} {'x base':>7}")
    for variant, exporter in exporters.items():
        wall = statistics.median(walls[variant])
        size_per = bytes_per_record(exporter, table, exports * size)
        print(f"  {variant:36} {wall:9.2f} {wall / baseline_wall:7.2f} {size_per:9.0f} "
              f"{size_per / baseline_bytes:7.2f}")
        exporter.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1, help="times every batch is exported per variant")
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    parser.add_argument("--workloads", default="spans,stacktraces,logs,metrics")
    args = parser.parse_args()
    workdir = server_parent_directory(prefix="otel-pgvector-bench-")
    base = {"dsn": args.dsn, "embedded_dir": workdir / "pg", "embedding": "off"}
    chosen = args.workloads.split(",")
    count = BATCH * args.batches

    def batched(records: list[Any]) -> list[list[Any]]:
        return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]

    if "spans" in chosen:
        measure("realistic spans", "otel_spans", PgvectorSpanExporter, batched(realistic_spans(count)), BATCH,
                base, args.rounds)
    if "stacktraces" in chosen:
        measure("spans, 1 in 10 with a 6 KB stack trace", "otel_spans", PgvectorSpanExporter,
                batched(spans_with_stack_traces(count)), BATCH, base, args.rounds)
    if "logs" in chosen:
        measure("log records", "otel_logs", PgvectorLogExporter, batched(realistic_logs(count)), BATCH,
                base, args.rounds)
    if "metrics" in chosen:
        data, points = realistic_metrics()
        measure("metric points", "otel_metric_points", PgvectorMetricExporter, [data] * args.batches, points,
                base, args.rounds)


if __name__ == "__main__":
    main()
