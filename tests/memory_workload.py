"""Memory of a process exporting spans and logs with huge unique texts, run as a child process.

    python tests/memory_workload.py DSN SCHEMA EMBEDDING [SPANS] [LOGS]

Exports SPANS spans (default 1,000), each with a unique 1 MB status message, then LOGS log
records (default 5,000), each with a unique 60 KB body, through the real exporters, in
batches that are dropped once exported (the application keeps nothing). Prints one JSON
line: the growth of Python's traced memory and of RSS over a warmed-up baseline, with the
exporters alive and after their shutdown, in bytes. Run as a child so that RSS is this
workload's alone.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSettings, PgvectorSpanExporter

RESOURCE = Resource.create({"service.name": "memory"})
SPAN_BATCH = 50
LOG_BATCH = 250


def rss() -> int:
    """Resident set size of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure() -> tuple[int, int]:
    gc.collect()
    return tracemalloc.get_traced_memory()[0], rss()


def span_batches(count: int) -> Iterator[list[ReadableSpan]]:
    """``count`` spans, ``SPAN_BATCH`` at a time, each with a unique 1 MB status message."""
    for first in range(0, count, SPAN_BATCH):
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("memory")
        for index in range(first, min(first + SPAN_BATCH, count)):
            span = tracer.start_span("checkout")
            span.set_status(Status(StatusCode.ERROR, f"request {index} failed: " + "y" * 1_000_000))
            span.end()
        provider.shutdown()
        yield list(memory.get_finished_spans())


def log_batches(count: int) -> Iterator[list[ReadableLogRecord]]:
    """``count`` log records, ``LOG_BATCH`` at a time, each with a unique 60 KB body."""
    for first in range(0, count, LOG_BATCH):
        memory = InMemoryLogRecordExporter()
        provider = LoggerProvider(resource=RESOURCE)
        provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logger = provider.get_logger("memory")
        for index in range(first, min(first + LOG_BATCH, count)):
            logger.emit(body=f"order {index} failed: " + "lorem ipsum " * 5_000, severity_text="ERROR")
        provider.shutdown()
        yield list(memory.get_finished_logs())


def export_all(exporter: PgvectorSpanExporter | PgvectorLogExporter, batches: Iterator[list[Any]]) -> None:
    """Export each batch; none is referenced once exported, as in an application."""
    for batch in batches:
        assert exporter.export(batch).name == "SUCCESS"


def main() -> None:
    dsn, schema, embedding = sys.argv[1:4]
    spans, logs = (int(arg) for arg in (sys.argv[4:6] or ("1000", "5000")))
    settings = PgvectorSettings(dsn=dsn, schema=schema, embedding=embedding, timeout=60)
    span_exporter = PgvectorSpanExporter(settings)
    log_exporter = PgvectorLogExporter(settings)
    # warm up: server, migrations, pool, caches of the code paths, then the baseline
    export_all(span_exporter, span_batches(1))
    export_all(log_exporter, log_batches(1))
    tracemalloc.start()
    traced_before, rss_before = measure()
    export_all(span_exporter, span_batches(spans))
    export_all(log_exporter, log_batches(logs))
    traced_alive, rss_alive = measure()
    span_exporter.shutdown()
    log_exporter.shutdown()
    traced_after, rss_after = measure()
    print(json.dumps({
        "traced_alive": traced_alive - traced_before, "traced_after": traced_after - traced_before,
        "rss_alive": rss_alive - rss_before, "rss_after": rss_after - rss_before,
    }))


if __name__ == "__main__":
    main()
