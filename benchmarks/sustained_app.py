"""The instrumented WSGI app that ``benchmarks/sustained.py`` runs under gunicorn, and its hooks.

This file is both the gunicorn config (``-c``: the ``post_fork`` and ``worker_exit`` hooks)
and the app module (``sustained_app:app``). Every worker builds its own tracer, logger and
meter providers in ``post_fork``, after the fork, as an application must: an exporter's pool,
threads and spool belong to one process. At ``worker_exit`` the providers are shut down (the
batch processors flush their queues) and the worker writes what it counted to a JSON file in
``$KNEE_STATS_DIR``, which the benchmark adds up.

Configured by the environment the benchmark gives gunicorn: ``KNEE_EXPORTER`` (``pgvector``,
set up from ``OTEL_EXPORTER_PGVECTOR_*``, or ``noop``, the baseline: the same app and SDK
pipeline with exporters that discard their batches) and ``KNEE_STATS_DIR``.

Each request is a small order page: a SERVER span with four children (three database calls and
a payment API call, each with the attributes their instrumentations set, one in fifty failing),
three log lines (one with the order's id, inside the span) and four metric updates (request
counter, request duration, two database call durations), plus rendering a 20-item JSON body.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

# Periodic metric export: the SDK's default (60 s) would export only at shutdown in a short step.
METRIC_INTERVAL_MS = 2000
SPANS_PER_REQUEST = 5
LOGS_PER_REQUEST = 3


class Timed:
    """Wraps an exporter: counts the records handed to ``export()`` and times each call.

    What the batch processor dropped is what was produced and never reached ``export()``.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0
        self.seconds: list[float] = []

    def export(self, batch: Sequence[Any]) -> Any:
        started = time.perf_counter()
        result = self.inner.export(batch)
        self.seconds.append(time.perf_counter() - started)
        self.exported += len(batch)
        if result not in (SpanExportResult.SUCCESS, LogRecordExportResult.SUCCESS):
            self.failed += len(batch)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.inner.shutdown()


class _DiscardSpans:
    def export(self, batch: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class _DiscardLogs:
    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class _DiscardMetrics(MetricExporter):
    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class _CountEnded(SpanProcessor):
    """Counts the spans the app produced (ended), before any queue can drop them."""

    def __init__(self) -> None:
        self.ended = 0
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1


class _Telemetry:
    """One worker's providers, instruments and counters."""

    def __init__(self, kind: str) -> None:
        resource = Resource.create({"service.name": "shop-orders", "service.version": "2.3.1",
                                    "deployment.environment": "bench", "process.pid": os.getpid()})
        if kind == "pgvector":
            from opentelemetry_exporter_pgvector import (
                PgvectorLogExporter,
                PgvectorMetricExporter,
                PgvectorSpanExporter,
            )

            spans: Any = PgvectorSpanExporter()
            logs: Any = PgvectorLogExporter()
            metrics: MetricExporter = PgvectorMetricExporter()
        else:
            spans, logs, metrics = _DiscardSpans(), _DiscardLogs(), _DiscardMetrics()
        self.spans, self.logs = Timed(spans), Timed(logs)
        self.ended = _CountEnded()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(self.ended)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.spans))  # SDK defaults
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(self.logs))
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[PeriodicExportingMetricReader(metrics,
                                                          export_interval_millis=METRIC_INTERVAL_MS)],
        )
        self.tracer = self.tracer_provider.get_tracer("opentelemetry.instrumentation.wsgi", "0.66b0")
        meter = self.meter_provider.get_meter("opentelemetry.instrumentation.wsgi", "0.66b0")
        self.requests_counter = meter.create_counter("http.server.requests")
        self.duration = meter.create_histogram("http.server.request.duration", unit="s")
        self.db_duration = meter.create_histogram("db.client.operation.duration", unit="s")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handler = LoggingHandler(logger_provider=self.logger_provider)
        self.logger = logging.getLogger("shop.orders")
        self.logger.handlers = [handler]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.requests = 0
        self.logs_produced = 0
        self._lock = threading.Lock()

    def finish(self, stats_dir: str) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()
        stats = {
            "pid": os.getpid(), "requests": self.requests,
            "spans_produced": self.ended.ended, "spans_exported": self.spans.exported,
            "spans_failed": self.spans.failed, "span_export_seconds": self.spans.seconds,
            "logs_produced": self.logs_produced, "logs_exported": self.logs.exported,
            "logs_failed": self.logs.failed,
        }
        with open(os.path.join(stats_dir, f"worker-{os.getpid()}.json"), "w") as handle:
            json.dump(stats, handle)


_telemetry: _Telemetry | None = None


def start() -> None:
    global _telemetry
    _telemetry = _Telemetry(os.environ.get("KNEE_EXPORTER", "pgvector"))


# The hooks run in the copy of this file gunicorn loaded as its config; the app is the module
# ``sustained_app`` (on PYTHONPATH), imported in the worker: the state lives there.
def post_fork(server: Any, worker: Any) -> None:
    """gunicorn hook, in the new worker: its own providers and exporters."""
    import sustained_app

    sustained_app.start()


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the worker as it exits: flush everything, then write the counts."""
    import sustained_app

    if sustained_app._telemetry is not None:
        sustained_app._telemetry.finish(os.environ["KNEE_STATS_DIR"])


def _database_call(telemetry: _Telemetry, statement: str, table: str, rows: int) -> None:
    started = time.perf_counter()
    with telemetry.tracer.start_as_current_span(
        f"{statement} {table}", kind=SpanKind.CLIENT,
        attributes={"db.system.name": "postgresql", "db.namespace": "shop", "db.operation.name": statement,
                    "db.collection.name": table, "db.query.text": f"{statement} {table} WHERE order_id = $1",
                    "server.address": "db.internal", "server.port": 5432},
    ) as span:
        span.add_event("db.rows_fetched", {"db.response.returned_rows": rows})
    telemetry.db_duration.record(time.perf_counter() - started, {"db.operation.name": statement})


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """An order page: five spans, three log lines, four metric updates, a 20-item JSON body."""
    telemetry = _telemetry
    assert telemetry is not None, "post_fork did not run: start with -c benchmarks/sustained_app.py"
    started = time.perf_counter()
    with telemetry._lock:
        telemetry.requests += 1
        number = telemetry.requests * 1000 + os.getpid() % 1000
    failed = number % 50 == 0
    path = environ.get("PATH_INFO", "/")
    with telemetry.tracer.start_as_current_span(
        "GET /api/orders/{order_id}", kind=SpanKind.SERVER,
        attributes={"http.request.method": "GET", "http.route": "/api/orders/{order_id}", "url.path": path,
                    "user_agent.original": environ.get("HTTP_USER_AGENT", ""), "client.address": "127.0.0.1",
                    "server.address": "shop.internal", "network.protocol.version": "1.1"},
    ) as server_span:
        _database_call(telemetry, "SELECT", "orders", 1)
        _database_call(telemetry, "SELECT", "order_items", 20)
        telemetry.logger.info("order %d loaded with %d items", number, 20)
        with telemetry.tracer.start_as_current_span(
            "POST", kind=SpanKind.CLIENT,
            attributes={"http.request.method": "POST", "url.full": "https://payments.internal/v1/authorize",
                        "server.address": "payments.internal",
                        "http.response.status_code": 502 if failed else 200},
        ) as payment:
            if failed:
                payment.set_status(Status(StatusCode.ERROR, "payment gateway returned 502"))
        if failed:
            telemetry.logger.error("payment for order %d failed: gateway returned %d", number, 502)
        else:
            telemetry.logger.info("payment for order %d authorised in %d ms", number, 40 + number % 200)
        _database_call(telemetry, "UPDATE", "orders", 1)
        items = [{"sku": f"SKU-{i:05d}", "quantity": 1 + i % 3, "price": round(9.99 + i * 1.25, 2)}
                 for i in range(20)]
        body = json.dumps({"order": number, "items": items})
        status = 500 if failed else 200
        server_span.set_attribute("http.response.status_code", status)
        if failed:
            server_span.set_status(Status(StatusCode.ERROR))
        telemetry.logger.info("GET %s %d in %.1f ms", path, status, (time.perf_counter() - started) * 1000)
    with telemetry._lock:
        telemetry.logs_produced += LOGS_PER_REQUEST
    attributes = {"http.route": "/api/orders/{order_id}", "http.response.status_code": status}
    telemetry.requests_counter.add(1, attributes)
    telemetry.duration.record(time.perf_counter() - started, attributes)
    encoded = body.encode()
    start_response(f"{status} {'Internal Server Error' if failed else 'OK'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))])
    return [encoded]


if __name__ == "__main__":
    sys.exit("run by benchmarks/sustained.py under gunicorn, not directly")
