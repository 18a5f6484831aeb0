"""Finished SDK spans for the tests."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_exporter_pgvector.convert.spans import signed_span_id

RESOURCE = Resource.create({"service.name": "resilience-test"})


def make_spans(count: int, prefix: str = "span", resource: Resource = RESOURCE) -> tuple[ReadableSpan, ...]:
    """``count`` finished spans named ``<prefix>-<n>``, each its own trace."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("resilience.test")
    for index in range(count):
        tracer.start_span(f"{prefix}-{index}", attributes={"index": index}).end()
    provider.shutdown()
    return memory.get_finished_spans()


def span_ids(spans: Sequence[ReadableSpan]) -> list[int]:
    return sorted(signed_span_id(span.context.span_id) for span in spans)


def stored_ids(conn: psycopg.Connection, table: str = "otel_spans") -> list[int]:
    """Every stored span id, duplicates included."""
    return [row[0] for row in conn.execute(f"SELECT span_id FROM {table} ORDER BY span_id")]
