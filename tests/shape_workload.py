"""Spans of known shapes made by a real SDK pipeline, for the shape and similarity tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from opentelemetry_exporter_pgvector import PgvectorSettings, PgvectorSpanExporter


@dataclass(frozen=True)
class SpanSpec:
    """One span to make: an exception makes it an ERROR span with the exception recorded."""

    service: str
    name: str
    kind: SpanKind = SpanKind.INTERNAL
    exception: BaseException | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    start_time: int | None = None


def make_spans(specs: Sequence[SpanSpec]) -> list[ReadableSpan]:
    """Run ``specs`` through TracerProviders (one per service) and return the finished spans."""
    collected = InMemorySpanExporter()
    tracers = {}
    for service in dict.fromkeys(spec.service for spec in specs):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(collected))
        tracers[service] = provider.get_tracer("tests.shapes")
    for spec in specs:
        span = tracers[spec.service].start_span(
            spec.name, kind=spec.kind, attributes=spec.attributes, start_time=spec.start_time
        )
        if spec.exception is not None:
            span.record_exception(spec.exception)
            span.set_status(Status(StatusCode.ERROR, f"{type(spec.exception).__name__}: {spec.exception}"))
        else:
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=None if spec.start_time is None else spec.start_time + 1_000_000)
    return list(collected.get_finished_spans())


def export_specs(settings: PgvectorSettings, specs: Sequence[SpanSpec], times: int = 1) -> None:
    """Export the spans of ``specs`` ``times`` times (one batch each) through a fresh exporter."""
    exporter = PgvectorSpanExporter(settings)
    try:
        for _ in range(times):
            assert exporter.export(make_spans(specs)).name == "SUCCESS"
    finally:
        exporter.shutdown()


# Failures worded differently by different services and libraries, and unrelated successes.
TIMEOUTS = (
    SpanSpec("payments", "INSERT payment", SpanKind.CLIENT,
             TimeoutError("connection to payments-db:5432 timed out after 5000 ms"),
             {"db.system.name": "postgresql", "db.operation.name": "INSERT"}),
    SpanSpec("inventory", "GET /stock", SpanKind.CLIENT,
             TimeoutError("read timed out (read timeout=30) while waiting for inventory-api"),
             {"http.request.method": "GET", "http.response.status_code": 504}),
    SpanSpec("checkout", "redis GET", SpanKind.CLIENT,
             TimeoutError("Timeout reading from socket after 2.5 seconds"),
             {"db.system.name": "redis", "db.operation.name": "GET"}),
)
REFUSALS = (
    SpanSpec("inventory", "SELECT stock", SpanKind.CLIENT,
             ConnectionRefusedError("could not connect to server: Connection refused"),
             {"db.system.name": "postgresql", "db.operation.name": "SELECT"}),
    SpanSpec("checkout", "GET cart", SpanKind.CLIENT,
             ConnectionError("ECONNREFUSED 10.0.3.7:6379 (redis)"),
             {"db.system.name": "redis", "db.operation.name": "GET"}),
)
SUCCESSES = (
    SpanSpec("frontend", "GET /api/products", SpanKind.SERVER, None,
             {"http.request.method": "GET", "http.route": "/api/products", "http.response.status_code": 200}),
    SpanSpec("checkout", "checkout.place_order", SpanKind.INTERNAL, None, {"order.items": 3}),
    SpanSpec("payments", "payments.authorize", SpanKind.CLIENT, None,
             {"rpc.system": "grpc", "rpc.service": "CardGateway", "rpc.method": "Authorize"}),
    SpanSpec("inventory", "render product page", SpanKind.INTERNAL, None, {}),
    SpanSpec("frontend", "POST /api/cart/items", SpanKind.SERVER, None,
             {"http.request.method": "POST", "http.route": "/api/cart/items", "http.response.status_code": 201}),
)
