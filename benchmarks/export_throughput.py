"""Span export cost against the OTLP protobuf encoding of the same spans, measured in one run.

    python benchmarks/export_throughput.py [--batches 40] [--dsn postgresql://...] [--embedding deferred]

Realistic traces (an HTTP server span with a few attributes and three DB child spans with
an event each) in 512-span batches, embeddings off unless ``--embedding deferred`` (every span
then also gets its shape key, and new shapes are inserted). Prints per-span figures and ratios:

* baseline: ``encode_spans(batch).SerializeToString()`` CPU time per span;
* exporter CPU per span (``time.process_time()``, so the server's work is excluded);
* ``export()`` wall time per span until the batch is committed;
* the floor: a raw binary COPY of pre-built rows into the same table;
* bytes per span on disk (table + indexes).

Machines are noisy: compare the ratios, which are measured in the same run, not the times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from opentelemetry_exporter_pgvector import PgvectorSettings, PgvectorSpanExporter
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory
from opentelemetry_exporter_pgvector.write.copy import copy_rows, copy_statement

BATCH = 512


class _Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def realistic_spans(count: int) -> list[ReadableSpan]:
    """``count`` spans: traces of one HTTP server span and three DB client spans."""
    collector = _Collect()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "prod",
             "host.name": "web-7f9c", "process.pid": 4242}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("opentelemetry.instrumentation.flask", "0.66b0")
    request = 0
    while len(collector.spans) < count:
        request += 1
        with tracer.start_as_current_span(
            "GET /api/orders/{order_id}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": "/api/orders/{order_id}",
                "url.path": f"/api/orders/{request}",
                "http.response.status_code": 200,
                "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
                "client.address": "10.1.2.3",
            },
        ):
            for statement in ("SELECT orders", "SELECT order_items", "UPDATE orders"):
                with tracer.start_as_current_span(
                    statement,
                    kind=SpanKind.CLIENT,
                    attributes={
                        "db.system.name": "postgresql",
                        "db.namespace": "shop",
                        "db.operation.name": statement.split()[0],
                        "db.query.text": f"{statement} WHERE id = $1",
                        "server.address": "db.internal",
                    },
                ) as child:
                    child.add_event("db.rows_fetched", {"db.response.returned_rows": 3})
                    child.set_status(Status(StatusCode.OK))
    provider.shutdown()
    return collector.spans[:count]


def per_span(measure: Callable[[], None], clock: Callable[[], float], spans: int) -> float:
    started = clock()
    measure()
    return (clock() - started) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    parser.add_argument("--embedding", choices=("off", "deferred"), default="off")
    args = parser.parse_args()

    workdir = server_parent_directory(prefix="otel-pgvector-bench-")  # reachable by the server as root
    base = dict(dsn=args.dsn, embedded_dir=workdir / "pg", embedding=args.embedding)
    *spans, warm_up = realistic_spans(BATCH * args.batches + 1)
    batches = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]

    exporter = PgvectorSpanExporter(PgvectorSettings(**base, schema="bench_export"))
    floor = PgvectorSpanExporter(PgvectorSettings(**base, schema="bench_floor"))
    exporter.export([warm_up])  # start the server, migrate, open the pool: not measured
    floor.export([warm_up])

    otlp_cpu, export_cpu, export_wall, copy_wall = [], [], [], []
    converter = floor._converter
    statement = copy_statement("bench_floor", converter.table)
    for batch in batches:
        otlp_cpu.append(per_span(lambda: encode_spans(batch).SerializeToString(), time.process_time, len(batch)))
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        exporter.export(batch)
        export_cpu.append((time.process_time() - started_cpu) / len(batch) * 1e6)
        export_wall.append((time.perf_counter() - started_wall) / len(batch) * 1e6)
        rows = [converter.convert(span) for span in batch]
        with floor.database.connection(30) as conn:
            copy_wall.append(
                per_span(lambda: (copy_rows(conn, statement, converter.table, rows), conn.commit()),
                         time.perf_counter, len(batch))
            )

    with exporter.database.connect() as conn:
        stored, size = conn.execute(
            "SELECT (SELECT count(*) - 1 FROM bench_export.otel_spans),"
            " (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            "  WHERE inhparent = 'bench_export.otel_spans'::regclass)"
        ).fetchone()
    exporter.shutdown()
    floor.shutdown()

    baseline = statistics.median(otlp_cpu)
    print(f"spans: {len(spans)} in {len(batches)} batches of {BATCH}; stored {stored}")
    print(f"{'measure':42} {'us/span':>9} {'x OTLP encode':>14}")
    for label, values in (
        ("OTLP protobuf encode (CPU, baseline)", otlp_cpu),
        ("export() exporter CPU", export_cpu),
        ("export() wall to commit", export_wall),
        ("raw binary COPY of built rows (wall)", copy_wall),
    ):
        value = statistics.median(values)
        print(f"{label:42} {value:9.2f} {value / baseline:14.2f}")
    print(f"bytes per span on disk (table + indexes): {size / stored:.0f}")


if __name__ == "__main__":
    main()
