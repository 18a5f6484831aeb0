"""A steady span load for fault tests: spans produced at a fixed rate, exported in batches.

Like ``BatchSpanProcessor`` but with an unbounded queue, so that every span produced reaches
``export()`` and what the test measures is the exporter alone; every export's latency is kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from span_factory import RESOURCE


@dataclass
class LoadReport:
    produced: list[ReadableSpan] = field(default_factory=list)
    results: list[SpanExportResult] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


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
             during: list[tuple[float, object]] | None = None) -> LoadReport:
    """Produce ``rate`` spans/s for ``seconds``; call each ``(at, action)`` at its time."""
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
                started = time.monotonic()
                report.results.append(exporter.export(batch))
                report.latencies.append(time.monotonic() - started)
                report.produced.extend(batch)
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
