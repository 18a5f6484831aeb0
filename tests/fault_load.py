"""Steady loads for fault tests: spans (and beside them logs and metrics) exported in batches.

Like ``BatchSpanProcessor`` but with an unbounded queue, so that every span produced reaches
``export()`` and what the test measures is the exporter alone; every export's latency is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricExporter
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from span_factory import RESOURCE

from opentelemetry_exporter_pgvector.write.breaker import BreakerStats, BreakerState, CircuitBreaker


@dataclass
class LoadReport:
    produced: list[ReadableSpan] = field(default_factory=list)
    results: list[SpanExportResult] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    # exports that found the breaker open and left it so without a probe (short-circuited):
    # wall time, and the exporting thread's CPU time, which leaves out waits for the GIL
    latencies_while_open: list[float] = field(default_factory=list)
    cpu_times_while_open: list[float] = field(default_factory=list)


class _Collect(SpanProcessor):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        with self.lock:
            self.pending.append(span)

    def take(self) -> list[ReadableSpan]:
        with self.lock:
            taken, self.pending = self.pending, []
            return taken


def run_load(exporter: SpanExporter, rate: int, seconds: float, batch_interval: float = 0.05,
             during: list[tuple[float, object]] | None = None,
             breaker: CircuitBreaker | None = None) -> LoadReport:
    """Produce ``rate`` spans/s for ``seconds``; call each ``(at, action)`` at its time.

    With ``breaker``, the latencies of exports it short-circuited are also kept apart.
    """
    report = LoadReport()
    collect = _Collect()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(collect)
    tracer = provider.get_tracer("fault.load")
    done = threading.Event()

    def export_loop() -> None:
        while True:
            finished = done.is_set()
            batch = collect.take()
            if batch:
                before = breaker.stats() if breaker is not None else None
                cpu_started, started = time.thread_time(), time.monotonic()
                report.results.append(exporter.export(batch))
                latency, cpu = time.monotonic() - started, time.thread_time() - cpu_started
                report.latencies.append(latency)
                report.produced.extend(batch)
                if breaker is not None and before is not None and _short_circuited(before, breaker.stats()):
                    report.latencies_while_open.append(latency)
                    report.cpu_times_while_open.append(cpu)
            elif finished:
                return
            else:
                time.sleep(batch_interval)

    worker = threading.Thread(target=export_loop)
    worker.start()
    actions = sorted(during or [], key=lambda item: item[0])
    started = time.monotonic()
    made = 0
    while (elapsed := time.monotonic() - started) < seconds:
        while actions and actions[0][0] <= elapsed:
            threading.Thread(target=actions.pop(0)[1]).start()  # type: ignore[arg-type]
        due = int(elapsed * rate)
        for _ in range(due - made):
            tracer.start_span(f"load-{made}").end()
            made += 1
        time.sleep(0.005)
    done.set()
    worker.join()
    return report


def _short_circuited(before: BreakerStats, after: BreakerStats) -> bool:
    """Open before and after, and no probe in between (by this export or a sibling's): the
    export was kept off the network."""
    return before.state is after.state is BreakerState.OPEN and before.probes == after.probes


@dataclass
class SignalLoadReport:
    """Log records and metric points a :class:`SignalLoad` exported, with every latency."""

    log_bodies: list[str] = field(default_factory=list)
    metric_points: int = 0
    results: list[object] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


class SignalLoad:
    """Log records at a steady rate and a metric collection every ``metric_interval``, exported
    on a thread of their own beside a span load, through real SDK providers."""

    def __init__(self, log_exporter: LogRecordExporter, metric_exporter: MetricExporter, log_rate: int,
                 metric_interval: float = 0.25) -> None:
        self.report = SignalLoadReport()
        self._log_exporter, self._metric_exporter = log_exporter, metric_exporter
        self._log_rate, self._metric_interval = log_rate, metric_interval
        self._logs = InMemoryLogRecordExporter()
        self._log_provider = LoggerProvider(resource=RESOURCE)
        self._log_provider.add_log_record_processor(SimpleLogRecordProcessor(self._logs))
        self._reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
        self._meter_provider = MeterProvider(metric_readers=[self._reader], resource=RESOURCE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> SignalLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _timed(self, export: Callable[[], object]) -> None:
        started = time.monotonic()
        self.report.results.append(export())
        self.report.latencies.append(time.monotonic() - started)

    def _run(self) -> None:
        logger = self._log_provider.get_logger("fault.load.logs")
        counter = self._meter_provider.get_meter("fault.load.metrics").create_counter("load.requests")
        started = last_metrics = time.monotonic()
        made = 0
        while not self._stop.is_set():
            for _ in range(int((time.monotonic() - started) * self._log_rate) - made):
                body = f"load-log-{made}"
                logger.emit(LogRecord(body=body, severity_number=SeverityNumber.INFO))
                self.report.log_bodies.append(body)
                counter.add(1, {"route": f"/r{made % 4}"})
                made += 1
            self._export_logs()
            if time.monotonic() - last_metrics >= self._metric_interval:
                last_metrics = time.monotonic()
                self._export_metrics()
            time.sleep(0.05)
        self._export_logs()  # what was made since the last round, so every record is exported
        self._export_metrics()

    def _export_logs(self) -> None:
        batch = self._logs.get_finished_logs()
        self._logs.clear()
        if batch:
            self._timed(lambda: self._log_exporter.export(batch))

    def _export_metrics(self) -> None:
        data = self._reader.get_metrics_data()
        points = sum(len(metric.data.data_points) for resource_metrics in data.resource_metrics
                     for scope_metrics in resource_metrics.scope_metrics
                     for metric in scope_metrics.metrics) if data else 0
        if points:
            self.report.metric_points += points
            self._timed(lambda: self._metric_exporter.export(data))
