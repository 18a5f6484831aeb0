"""A small instrumented shop, so one command shows the exporter working end to end.

Four services (frontend, checkout, payments, inventory), each with its own
``TracerProvider`` and resource, call one another within one trace, as distributed
services would. Some requests fail with recorded exceptions worded the way real libraries
word them, so later steps' similarity search has something to find.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

SERVICES = ("frontend", "checkout", "payments", "inventory")

# (service, exception type, message): failures as drivers and clients really report them.
FAILURES = (
    ("payments", TimeoutError, "connection to payments-db:5432 timed out after 5000 ms"),
    ("inventory", ConnectionRefusedError, "could not connect to server: Connection refused"),
    ("checkout", ConnectionError, "ECONNREFUSED 10.0.3.7:6379 (redis)"),
    ("payments", ValueError, "card declined: insufficient funds for order 88231"),
    ("inventory", KeyError, "sku-4412 not found in warehouse eu-west"),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced."""

    requests: int
    failed_requests: int


def run_demo(exporter_factory: Callable[[], SpanExporter], requests: int = 60, seed: int = 7) -> DemoResult:
    """Run ``requests`` shop requests through real SDK pipelines, one per service.

    ``exporter_factory`` builds one exporter per service; the providers are shut down (and
    so flushed) before this returns.
    """
    rng = random.Random(seed)
    providers = {}
    tracers: dict[str, Tracer] = {}
    for service in SERVICES:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.version": "1.0.0",
                                      "deployment.environment": "demo"})
        )
        provider.add_span_processor(BatchSpanProcessor(exporter_factory()))
        providers[service] = provider
        tracers[service] = provider.get_tracer("opentelemetry_exporter_pgvector.demo", "1.0")

    failed = 0
    for request in range(requests):
        failure = FAILURES[request % len(FAILURES)] if rng.random() < 0.25 else None
        failed += failure is not None
        _handle_request(tracers, rng, request, failure)
    for provider in providers.values():
        provider.shutdown()
    return DemoResult(requests=requests, failed_requests=failed)


def _handle_request(
    tracers: dict[str, Tracer],
    rng: random.Random,
    request: int,
    failure: tuple[str, type[Exception], str] | None,
) -> None:
    order_id = 1000 + request
    with tracers["frontend"].start_as_current_span(
        "POST /api/checkout",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": "/api/checkout",
                    "url.path": "/api/checkout", "client.address": f"203.0.113.{request % 250}"},
    ) as root:
        try:
            with tracers["checkout"].start_as_current_span(
                "checkout.place_order", kind=SpanKind.SERVER, attributes={"order.id": order_id}
            ):
                _call(tracers, "inventory", "SELECT stock", "db", failure, rng)
                _call(tracers, "checkout", "GET cart", "cache", failure, rng)
                _call(tracers, "payments", "INSERT payment", "db", failure, rng)
                with tracers["payments"].start_as_current_span(
                    "payments.authorize", kind=SpanKind.CLIENT,
                    attributes={"rpc.system": "grpc", "rpc.service": "CardGateway", "rpc.method": "Authorize"},
                ):
                    pass
            root.set_attribute("http.response.status_code", 200)
        except Exception as error:  # the failure injected below, reported like a web framework
            root.set_attribute("http.response.status_code", 500)
            root.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def _call(
    tracers: dict[str, Tracer],
    service: str,
    operation: str,
    kind: str,
    failure: tuple[str, type[Exception], str] | None,
    rng: random.Random,
) -> None:
    attributes: dict[str, str | int] = (
        {"db.system.name": "postgresql", "db.operation.name": operation.split()[0],
         "db.query.text": f"{operation} WHERE id = $1"}
        if kind == "db"
        else {"db.system.name": "redis", "db.operation.name": operation.split()[0]}
    )
    with tracers[service].start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes) as span:
        span.set_attribute("db.response.returned_rows", rng.randint(0, 20))
        if failure is not None and failure[0] == service:
            raise failure[1](failure[2])  # recorded on this span, then on every parent it crosses
