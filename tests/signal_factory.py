"""Log records and metric points with explicit times, services and trace ids, beside
trace_factory's spans: the shop whose answers the DataFrame and seed-name tests write out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from trace_factory import MS, NOW, TRACE_A, TRACE_B, checkout_trace, export

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorMetricExporter, PgvectorSettings


class Log(NamedTuple):
    """A record of ``service`` at ``at_ms`` after NOW, inside span ``span`` of ``trace`` if given."""

    service: str
    at_ms: float
    severity: SeverityNumber
    body: str
    trace: int | None = None
    span: int | None = None


class Point(NamedTuple):
    """A gauge point of ``service`` at ``at_ms`` after NOW; ``linked`` to ``(trace, span)`` by an exemplar."""

    service: str
    name: str
    at_ms: float
    value: float
    attributes: dict[str, Any]
    linked: tuple[int, int] | None = None


def export_logs(settings: PgvectorSettings, records: Sequence[Log]) -> None:
    for service in sorted({record.service for record in records}):
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(PgvectorLogExporter(settings)))
        logger = provider.get_logger("tests.signals")
        for record in (record for record in records if record.service == service):
            context = None
            if record.trace is not None and record.span is not None:
                span = NonRecordingSpan(SpanContext(record.trace, record.span, False, TraceFlags(1)))
                context = trace.set_span_in_context(span)
            at = NOW + int(record.at_ms * MS)
            logger.emit(body=record.body, timestamp=at, observed_timestamp=at, context=context,
                        severity_number=record.severity, severity_text=record.severity.name)
        provider.shutdown()


def export_points(settings: PgvectorSettings, points: Sequence[Point]) -> None:
    resources = []
    for service in sorted({point.service for point in points}):
        metrics = []
        for point in (point for point in points if point.service == service):
            at = NOW + int(point.at_ms * MS)
            exemplars = [] if point.linked is None else [
                Exemplar({}, point.value, at, span_id=point.linked[1], trace_id=point.linked[0])]
            data = Gauge([NumberDataPoint(point.attributes, 0, at, point.value, exemplars)])
            metrics.append(Metric(point.name, None, "1", data))
        scope = ScopeMetrics(InstrumentationScope("tests.signals"), metrics, "")
        resources.append(ResourceMetrics(Resource.create({"service.name": service}), [scope], ""))
    exporter = PgvectorMetricExporter(settings)
    try:
        assert exporter.export(MetricsData(resources)) == MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()


LOGS = [
    Log("payments", 1, SeverityNumber.INFO, "charging card", TRACE_B, 4),
    Log("payments", 200, SeverityNumber.WARN, "gateway slow", TRACE_B, 4),
    Log("payments", 251, SeverityNumber.ERROR, "charge timed out", TRACE_B, 4),
    Log("payments", 2, SeverityNumber.INFO, "charging card", TRACE_A, 4),
    Log("checkout", 300, SeverityNumber.INFO, "heartbeat"),
]
POINTS = [
    Point("payments", "queue.depth", -30 * 60_000, 9.0, {"queue": "charges"}),  # half an hour earlier
    Point("payments", "queue.depth", 0, 3.0, {"queue": "charges"}),
    Point("payments", "queue.depth", 1_000, 5.0, {"queue": "charges"}, linked=(TRACE_B, 4)),
    Point("checkout", "orders.open", 2_000, 7.0, {}),
]


def export_shop(settings: PgvectorSettings) -> None:
    """Traces A (fast) and B (payments times out), with LOGS and POINTS."""
    export(settings, checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError"))
    export_logs(settings, LOGS)
    export_points(settings, POINTS)
