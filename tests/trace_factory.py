"""Finished spans with explicit ids, parents, services and times, for the read-side tests."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings

MS = 1_000_000
NOW = time.time_ns() - 60 * 1_000_000_000  # a minute ago: inside the default one-hour window
SCOPE = InstrumentationScope("tests.traces", "1.0")


def span(
    trace: int,
    span_id: int,
    parent: int | None,
    service: str,
    name: str,
    start_ms: float,
    duration_ms: float,
    kind: SpanKind = SpanKind.INTERNAL,
    error: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ReadableSpan:
    """A finished span of ``trace``; times in ms after NOW."""
    context = SpanContext(trace, span_id, is_remote=False, trace_flags=TraceFlags(1))
    parent_context = SpanContext(trace, parent, is_remote=False) if parent is not None else None
    start = NOW + int(start_ms * MS)
    events = ()
    if error is not None:
        events = (
            Event(
                "exception",
                {"exception.type": error, "exception.message": f"{error} happened"},
                timestamp=start,
            ),
        )
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent_context,
        resource=Resource.create({"service.name": service}),
        attributes=dict(attributes or {}),
        events=events,
        kind=kind,
        status=Status(StatusCode.ERROR, f"{error} happened") if error else Status(StatusCode.UNSET),
        start_time=start,
        end_time=start + int(duration_ms * MS),
        instrumentation_scope=SCOPE,
    )


def export(settings: PgvectorSettings, *batches: Sequence[ReadableSpan]) -> None:
    exporter = PgvectorSpanExporter(settings)
    try:
        for batch in batches:
            assert exporter.export(batch).name == "SUCCESS"
    finally:
        exporter.shutdown()


TRACE_A = 0xA0000000000000000000000000000001
TRACE_B = 0xB0000000000000000000000000000002
TRACE_C = 0xC0000000000000000000000000000003  # its root was never exported


def checkout_trace(trace: int, payment_ms: float, payment_error: str | None = None) -> list[ReadableSpan]:
    """frontend -> checkout -> (inventory, payments); payments' clock runs 5 ms early."""
    return [
        span(
            trace,
            1,
            None,
            "frontend",
            "POST /checkout",
            0,
            20 + payment_ms,
            SpanKind.SERVER,
            attributes={
                "http.route": "/checkout",
                "http.response.status_code": 500 if payment_error else 200,
            },
        ),
        span(
            trace,
            2,
            1,
            "checkout",
            "place_order",
            2,
            15 + payment_ms,
            SpanKind.SERVER,
            attributes={"order.express": True, "order.total": 12.5, "order.tags": ["gift", "eu"]},
        ),
        span(trace, 3, 2, "inventory", "SELECT stock", 3, 4, SpanKind.CLIENT),
        span(trace, 4, 2, "payments", "charge", 1, payment_ms, SpanKind.SERVER, error=payment_error),
    ]
