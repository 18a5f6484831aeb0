"""A small instrumented shop, so one command shows the exporters working end to end.

Four services (frontend, checkout, payments, inventory), each with its own providers and
resource, call one another within one trace, as distributed services would. Some requests
fail with recorded exceptions worded the way real libraries word them, so later steps'
similarity search has something to find. Given log and metric exporters too, every service
logs what it does inside its spans (so records carry the trace id) and records request and
database durations and an order counter (exemplars link those points to the spans).

Every run tags its resources with a fresh ``demo.run_id``, so its summary counts what this run
stored even in a schema that holds earlier runs, and it reports example traces to look at: the
first failed request (always a payments timeout) and one deliberately slow request.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.metrics import Meter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

SERVICES = ("frontend", "checkout", "payments", "inventory")
RUN_ID_ATTRIBUTE = "demo.run_id"
FAILURE_RATE = 0.25
# One request's SELECT stock takes this long (seconds): it stands out among sub-millisecond
# spans, and the demo stays quick.
SLOW_QUERY_SECONDS = 0.25
# The bucket bounds the semantic conventions advise for these durations in seconds: with the
# SDK's millisecond defaults every request would land in the first bucket, percentiles would
# say nothing, and the slow request would not keep an exemplar of its own.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DB_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

# (service, exception type, message): failures as drivers and clients really report them, in
# the order they occur (so a run's first failure is the payments timeout).
FAILURES = (
    ("payments", TimeoutError, "connection to payments-db:5432 timed out after 5000 ms"),
    ("inventory", ConnectionRefusedError, "could not connect to server: Connection refused"),
    ("checkout", ConnectionError, "ECONNREFUSED 10.0.3.7:6379 (redis)"),
    ("payments", ValueError, "card declined: insufficient funds for order 88231"),
    ("inventory", KeyError, "sku-4412 not found in warehouse eu-west"),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: its run id (resource attribute ``demo.run_id``) and example traces.

    Trace ids are 32 hex digits: the first failed request (a payments timeout; None if no
    request failed) and the request whose ``SELECT stock`` took ``SLOW_QUERY_SECONDS``.
    """

    run_id: str
    requests: int
    failed_requests: int
    failing_trace_id: str | None
    slow_trace_id: str | None


class _Service:
    """One service's tracer, and its logger and meter instruments when those signals are on."""

    def __init__(self, tracer: Tracer, logger: Logger | None, meter: Meter | None) -> None:
        self.tracer = tracer
        self.logger = logger
        self.duration = meter.create_histogram(
            "http.server.request.duration", "s", explicit_bucket_boundaries_advisory=HTTP_DURATION_BUCKETS
        ) if meter else None
        self.db_duration = meter.create_histogram(
            "db.client.operation.duration", "s", explicit_bucket_boundaries_advisory=DB_DURATION_BUCKETS
        ) if meter else None
        self.orders = meter.create_counter("shop.orders", unit="{order}") if meter else None

    def log(self, severity: SeverityNumber, body: str, **attributes: str | int) -> None:
        if self.logger is not None:  # inside a span, so the record carries its trace and span ids
            self.logger.emit(severity_number=severity, severity_text=severity.name.rstrip("0123456789"),
                             body=body, attributes=attributes)


def run_demo(
    exporter_factory: Callable[[], SpanExporter],
    requests: int = 60,
    seed: int = 7,
    log_exporter_factory: Callable[[], LogRecordExporter] | None = None,
    metric_exporter_factory: Callable[[], MetricExporter] | None = None,
) -> DemoResult:
    """Run ``requests`` shop requests through real SDK pipelines, one per service.

    The factories build one exporter per service and signal (logs and metrics are optional);
    the providers are shut down (and so flushed) before this returns. The request in the
    middle is the slow one, and never fails.
    """
    rng = random.Random(seed)
    run_id = str(uuid.uuid4())
    providers: list[TracerProvider | LoggerProvider | MeterProvider] = []
    services: dict[str, _Service] = {}
    scope = "opentelemetry_exporter_pgvector.demo"
    for service in SERVICES:
        resource = Resource.create({"service.name": service, "service.version": "1.0.0",
                                    "deployment.environment": "demo", RUN_ID_ATTRIBUTE: run_id})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter_factory()))
        providers.append(tracer_provider)
        logger = meter = None
        if log_exporter_factory is not None:
            logger_provider = LoggerProvider(resource=resource)
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter_factory()))
            providers.append(logger_provider)
            logger = logger_provider.get_logger(f"shop.{service}", "1.0")
        if metric_exporter_factory is not None:
            reader = PeriodicExportingMetricReader(
                metric_exporter_factory(), export_interval_millis=3_600_000
            )
            meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
            providers.append(meter_provider)
            meter = meter_provider.get_meter(f"shop.{service}", "1.0")
        services[service] = _Service(tracer_provider.get_tracer(scope, "1.0"), logger, meter)

    failed = 0
    failing_trace_id: str | None = None
    slow_trace_id: str | None = None
    slow_request = requests // 2
    for request in range(requests):
        fails = rng.random() < FAILURE_RATE and request != slow_request
        failure = FAILURES[failed % len(FAILURES)] if fails else None
        delay = SLOW_QUERY_SECONDS if request == slow_request else 0.0
        trace_id = _handle_request(services, rng, request, failure, delay)
        if failure is not None and failing_trace_id is None:
            failing_trace_id = trace_id
        if delay:
            slow_trace_id = trace_id
        failed += failure is not None
    for provider in providers:
        provider.shutdown()
    return DemoResult(run_id=run_id, requests=requests, failed_requests=failed,
                      failing_trace_id=failing_trace_id, slow_trace_id=slow_trace_id)


def _handle_request(
    services: dict[str, _Service],
    rng: random.Random,
    request: int,
    failure: tuple[str, type[Exception], str] | None,
    delay: float,
) -> str:
    """One checkout across the services; returns its trace id (32 hex digits)."""
    order_id = 1000 + request
    frontend, checkout = services["frontend"], services["checkout"]
    with frontend.tracer.start_as_current_span(
        "POST /api/checkout",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "POST",
            "http.route": "/api/checkout",
            "url.path": "/api/checkout",
            "client.address": f"203.0.113.{request % 250}",
        },
    ) as root:
        try:
            with checkout.tracer.start_as_current_span(
                "checkout.place_order", kind=SpanKind.SERVER, attributes={"order.id": order_id}
            ):
                checkout.log(SeverityNumber.INFO, f"placing order {order_id}", **{"order.id": order_id})
                _call(services, "inventory", "SELECT stock", "db", failure, rng, delay)
                _call(services, "checkout", "GET cart", "cache", failure, rng)
                _call(services, "payments", "INSERT payment", "db", failure, rng)
                with services["payments"].tracer.start_as_current_span(
                    "payments.authorize",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "rpc.system": "grpc",
                        "rpc.service": "CardGateway",
                        "rpc.method": "Authorize",
                    },
                ):
                    services["payments"].log(SeverityNumber.INFO, f"card authorized for order {order_id}")
                if checkout.orders is not None:
                    checkout.orders.add(1, {"outcome": "placed"})
            root.set_attribute("http.response.status_code", 200)
            status = 200
        except Exception as error:  # noqa: BLE001 - the failure injected below, reported like a web framework
            root.set_attribute("http.response.status_code", 500)
            root.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            frontend.log(
                SeverityNumber.ERROR,
                f"POST /api/checkout failed: {type(error).__name__}: {error}",
                **{"exception.type": type(error).__name__},
            )
            status = 500
        if frontend.duration is not None:  # inside the server span: its exemplar links to the trace
            frontend.duration.record(
                rng.lognormvariate(-3.0, 0.5) + delay,
                {"http.route": "/api/checkout", "http.response.status_code": status},
            )
        return f"{root.get_span_context().trace_id:032x}"


def _call(
    services: dict[str, _Service],
    service: str,
    operation: str,
    kind: str,
    failure: tuple[str, type[Exception], str] | None,
    rng: random.Random,
    delay: float = 0.0,
) -> None:
    attributes: dict[str, str | int] = (
        {
            "db.system.name": "postgresql",
            "db.operation.name": operation.split()[0],
            "db.query.text": f"{operation} WHERE id = $1",
        }
        if kind == "db"
        else {"db.system.name": "redis", "db.operation.name": operation.split()[0]}
    )
    caller = services[service]
    with caller.tracer.start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes) as span:
        span.set_attribute("db.response.returned_rows", rng.randint(0, 20))
        if delay:  # a query that really takes this long, so every span around it does too
            time.sleep(delay)
            caller.log(SeverityNumber.WARN, f"slow query: {operation} took {delay * 1000:.0f} ms")
        if caller.db_duration is not None:
            caller.db_duration.record(
                rng.lognormvariate(-6.0, 0.8) + delay, {"db.operation.name": operation.split()[0]}
            )
        if failure is not None and failure[0] == service:
            caller.log(SeverityNumber.WARN, f"{operation} failed: {failure[2]}")
            raise failure[1](failure[2])  # recorded on this span, then on every parent it crosses
