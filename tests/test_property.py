"""Property test through the whole pipeline: arbitrary names, attributes and bodies never lose a span."""

from __future__ import annotations

import secrets

import psycopg
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import signed_span_id

_text = st.text(st.characters(codec=None), max_size=200)  # NUL, lone surrogates, anything
_scalar = st.one_of(_text, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True))
_value = st.one_of(_scalar, st.lists(_text, max_size=5), st.lists(st.floats(), max_size=5))


class _SecretIds(IdGenerator):
    """Ids from the OS: hypothesis reseeds the ``random`` module the SDK's ids come from for
    every example, so examples would repeat each other's ids in the shared table."""

    def generate_span_id(self) -> int:
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return secrets.randbits(128) or 1


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=st.lists(st.tuples(_text, st.dictionaries(_text, _value, max_size=6), _text), min_size=1, max_size=8))
def test_arbitrary_spans_land_intact_or_sanitized(settings: PgvectorSettings, conn: psycopg.Connection,
                                                  spans: list[tuple[str, dict[str, object], str]]) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(id_generator=_SecretIds())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("property")
    for name, attributes, body in spans:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            span.add_event("log", {"body": body})
    provider.shutdown()
    finished = memory.get_finished_spans()
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(finished) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    ids = [signed_span_id(span.context.span_id) for span in finished]
    stored = dict(conn.execute("SELECT span_id, name FROM otel_spans WHERE span_id = ANY(%s)", (ids,)).fetchall())
    dead = conn.execute("SELECT count(*) FROM otel_dead_letters").fetchone()[0]
    assert len(stored) + dead == len(finished) and dead == 0  # sanitized, never rejected
    for span in finished:
        name = stored[signed_span_id(span.context.span_id)]
        expected = span.name.replace("\x00", "")
        if expected.isascii() or all(not 0xD800 <= ord(char) <= 0xDFFF for char in expected):
            assert name == expected[: settings.max_value_length]
        else:
            assert len(name) == len(expected) and "\ufffd" in name
