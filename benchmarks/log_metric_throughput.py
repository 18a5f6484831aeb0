"""Log and metric export cost against the OTLP protobuf encoding of the same records, in one run.

    python benchmarks/log_metric_throughput.py [--batches 40] [--dsn postgresql://...]

Logs: records as a web service emits them through ``logging`` (a formatted message, the
handler's code attributes, one in three inside a span), in 512-record batches. Metrics: one
collection of a service with 64 attribute sets of a counter, a gauge and a 16-bucket latency
histogram (192 points), exported ``--batches`` times. Prints per-record figures and ratios:

* baseline: ``encode_logs(batch)`` / ``encode_metrics(data)`` + ``SerializeToString()`` CPU;
* exporter CPU per record (``time.process_time()``, so the server's work is excluded);
* ``export()`` wall time per record until the batch is committed;
* bytes per record on disk (table + indexes).

Machines are noisy: compare the ratios, which are measured in the same run, not the times.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorMetricExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory

BATCH = 512
RESOURCE = Resource.create(
    {"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "prod",
     "host.name": "web-7f9c", "process.pid": 4242}
)


def realistic_logs(count: int) -> list[ReadableLogRecord]:
    """``count`` records from stdlib ``logging`` through the SDK's handler."""
    collector = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(collector))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("shop.checkout")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    tracer = TracerProvider(resource=RESOURCE).get_tracer("shop")
    for number in range(count):
        if number % 3 == 0:
            with tracer.start_as_current_span("POST /api/checkout"):
                logger.warning("payment for order %d took %d ms (gateway %s)", number, 120 + number % 900, "eu-2")
        else:
            logger.info("order %d placed by customer %d with %d items", number, number * 7, number % 9 + 1)
    logger.removeHandler(handler)
    provider.shutdown()
    return list(collector.get_finished_logs())[:count]


def realistic_metrics() -> tuple[MetricsData, int]:
    """One collection of 64 series each of a counter, a gauge and a histogram; and its point count."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("opentelemetry.instrumentation.flask", "0.66b0")
    requests = meter.create_counter("http.server.requests")
    in_flight = meter.create_gauge("http.server.active_requests")
    duration = meter.create_histogram("http.server.request.duration", unit="ms")
    for series in range(64):
        attributes = {"http.route": f"/api/route/{series % 16}", "http.request.method": "GET",
                      "http.response.status_code": 200 + (series // 16) * 100}
        for sample in range(20):
            requests.add(1, attributes)
            duration.record(5.0 + (series * 13 + sample * 37) % 900, attributes)
        in_flight.set(series % 7, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    points = sum(len(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
    return data, points


def measure(
    batches: Sequence[Any], size: int, encode: Callable[[Any], bytes], export: Callable[[Any], object]
) -> dict[str, float]:
    otlp, cpu, wall = [], [], []
    for batch in batches:
        started = time.process_time()
        encode(batch)
        otlp.append((time.process_time() - started) / size * 1e6)
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        export(batch)
        cpu.append((time.process_time() - started_cpu) / size * 1e6)
        wall.append((time.perf_counter() - started_wall) / size * 1e6)
    return {"otlp": statistics.median(otlp), "cpu": statistics.median(cpu), "wall": statistics.median(wall)}


def disk_bytes(exporter: PgvectorLogExporter | PgvectorMetricExporter, table: str) -> tuple[int, int]:
    with exporter.database.connect() as conn:
        row = conn.execute(
            f"SELECT (SELECT count(*) FROM {exporter.settings.db_schema}.{table}),"
            " (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            f"  WHERE inhparent = '{exporter.settings.db_schema}.{table}'::regclass)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()

    workdir = server_parent_directory(prefix="otel-pgvector-bench-")  # reachable by the server as root
    base = dict(dsn=args.dsn, embedded_dir=workdir / "pg", embedding="off")
    *records, warm_up = realistic_logs(BATCH * args.batches + 1)
    log_batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    metrics_data, points = realistic_metrics()

    log_exporter = PgvectorLogExporter(PgvectorSettings(**base, schema="bench_logs"))
    metric_exporter = PgvectorMetricExporter(PgvectorSettings(**base, schema="bench_metrics"))
    log_exporter.export([warm_up])  # start the server, migrate, open the pool: not measured
    metric_exporter.export(metrics_data)

    logs = measure(log_batches, BATCH, lambda b: encode_logs(b).SerializeToString(), log_exporter.export)
    metrics = measure([metrics_data] * args.batches, points,
                      lambda d: encode_metrics(d).SerializeToString(), metric_exporter.export)
    log_rows, log_size = disk_bytes(log_exporter, "otel_logs")
    point_rows, point_size = disk_bytes(metric_exporter, "otel_metric_points")
    log_exporter.shutdown()
    metric_exporter.shutdown()

    print(f"logs: {len(records)} records in {len(log_batches)} batches of {BATCH}; "
          f"metrics: {args.batches} collections of {points} points")
    print(f"{'measure':50} {'us/record':>10} {'x OTLP encode':>14}")
    for signal, figures in (("log record", logs), ("metric point", metrics)):
        baseline = figures["otlp"]
        for label, key in (("OTLP protobuf encode (CPU, baseline)", "otlp"), ("export() exporter CPU", "cpu"),
                           ("export() wall to commit", "wall")):
            print(f"{signal + ': ' + label:50} {figures[key]:10.2f} {figures[key] / baseline:14.2f}")
    print(f"bytes per log record on disk (table + indexes): {log_size / log_rows:.0f}")
    print(f"bytes per metric point on disk (table + indexes): {point_size / point_rows:.0f}")


if __name__ == "__main__":
    main()
