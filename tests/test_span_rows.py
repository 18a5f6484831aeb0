"""ReadableSpan -> otel_spans row: every field in its column. Pure conversion, no database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from opentelemetry_exporter_pgvector.convert.dead_letters import DEAD_LETTER_TABLE
from opentelemetry_exporter_pgvector.convert.scope import RESOURCE_TABLE, ScopeCache, resource_id
from opentelemetry_exporter_pgvector.convert.shapes import ShapeBuilder
from opentelemetry_exporter_pgvector.convert.spans import (
    SPAN_TABLE,
    SpanConverter,
    signed_span_id,
    span_flags,
    unsigned_span_id,
)
from opentelemetry_exporter_pgvector.convert.table import RowStream
from opentelemetry_exporter_pgvector.convert.values import TRUNCATION_MARK

COLUMNS = SPAN_TABLE.column_names
RESOURCE = Resource.create({"service.name": "rows-service", "host.name": "h1"})


class Spans:
    """A real SDK pipeline whose finished spans are kept in memory."""

    def __init__(self, resource: Resource = RESOURCE, **provider_args: Any) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=resource, **provider_args)
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer(
            "rows.scope",
            "1.2.3",
            schema_url="https://opentelemetry.io/schemas/1.30.0",
            attributes={"scope.attr": "sv"},
        )

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.memory.get_finished_spans()

    def one(self, name: str) -> ReadableSpan:
        (span,) = [span for span in self.finished() if span.name == name]
        return span


@pytest.fixture
def spans() -> Iterator[Spans]:
    pipeline = Spans()
    yield pipeline
    pipeline.provider.shutdown()


def columns(span: ReadableSpan, max_length: int = 65536) -> dict[str, Any]:
    row = SpanConverter(max_length).convert(span)
    assert len(row) == len(COLUMNS)
    return dict(zip(COLUMNS, row))


# Rows hold PostgreSQL binary wire values; these decode them independently of the package.
PG_EPOCH_MICROS = 946_684_800 * 1_000_000  # 2000-01-01 UTC in Unix microseconds


def unix_nanos(pg_micros: int, below_micro: int = 0) -> int:
    """A binary timestamptz (microseconds since 2000) plus the nanoseconds below, as Unix ns."""
    return (pg_micros + PG_EPOCH_MICROS) * 1000 + below_micro


def jsonb(value: bytes) -> Any:
    """Binary jsonb: a version byte 1, then the JSON text."""
    assert isinstance(value, bytes) and value[:1] == b"\x01", value
    return json.loads(value[1:])


def trace_int(value: bytes) -> int:
    """A binary uuid: 16 big-endian bytes."""
    assert isinstance(value, bytes) and len(value) == 16
    return int.from_bytes(value, "big")


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("span_id", [1, 2**62, 2**63 - 1, 2**63, 2**63 + 12345, 2**64 - 1])
def test_span_id_round_trip(span_id: int) -> None:
    stored = signed_span_id(span_id)
    assert -(2**63) <= stored < 2**63
    assert unsigned_span_id(stored) == span_id
    assert (stored < 0) == (span_id >= 2**63)
    assert stored.to_bytes(8, "big", signed=True) == span_id.to_bytes(8, "big")


class FixedIds(RandomIdGenerator):
    def __init__(self, span_ids: list[int], trace_id: int) -> None:
        self._span_ids = iter(span_ids)
        self._trace_id = trace_id

    def generate_span_id(self) -> int:
        return next(self._span_ids)

    def generate_trace_id(self) -> int:
        return self._trace_id


def test_ids_at_and_above_2_63() -> None:
    trace_id = 2**128 - 2
    pipeline = Spans(id_generator=FixedIds([2**64 - 1, 2**63], trace_id))
    with pipeline.tracer.start_as_current_span("parent"):
        with pipeline.tracer.start_as_current_span("child"):
            pass
    parent = columns(pipeline.one("parent"))
    child = columns(pipeline.one("child"))
    assert parent["span_id"] == -1
    assert unsigned_span_id(parent["span_id"]) == 2**64 - 1
    assert child["span_id"] == -(2**63)
    assert unsigned_span_id(child["span_id"]) == 2**63
    assert child["parent_span_id"] == parent["span_id"]
    assert parent["parent_span_id"] is None
    assert trace_int(parent["trace_id"]) == trace_int(child["trace_id"]) == trace_id


# --- every field of a recorded span -------------------------------------------------------------


def test_every_field_of_a_span(spans: Spans) -> None:
    link_context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value")]),
    )
    with spans.tracer.start_as_current_span("root"):
        span = spans.tracer.start_span(
            "GET /users/{id}",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/users/{id}", "http.response.status_code": 404, "s": "x", "n": [1, 2]},
            links=[Link(link_context, {"link.attr": "la"})],
        )
        span.add_event("cache.miss", {"key": "user:1", "size": 3})
        span.add_event("plain")
        span.set_status(Status(StatusCode.ERROR, "not found"))
        span.end()
    readable = spans.one("GET /users/{id}")
    root = spans.one("root")
    col = columns(readable)

    assert unix_nanos(col["start_time"], col["start_time_ns"]) == readable.start_time
    assert unix_nanos(col["end_time"]) == readable.end_time // 1000 * 1000
    assert col["duration_ns"] == readable.end_time - readable.start_time
    assert col["start_time_ns"] == readable.start_time % 1000
    assert col["span_id"] == signed_span_id(readable.context.span_id)
    assert col["parent_span_id"] == signed_span_id(root.context.span_id)
    assert trace_int(col["trace_id"]) == readable.context.trace_id == root.context.trace_id
    assert col["kind"] == "SERVER"
    assert col["status_code"] == "ERROR"
    assert col["status_message"] == "not found"
    assert col["name"] == "GET /users/{id}"
    assert col["service_name"] == "rows-service"
    assert col["http_status_code"] == 404
    assert col["http_route"] == "/users/{id}"
    assert col["exception_type"] is None
    assert col["trace_state"] is None
    assert col["scope_name"] == "rows.scope"
    assert col["scope_version"] == "1.2.3"
    assert col["scope_schema_url"] == "https://opentelemetry.io/schemas/1.30.0"
    assert jsonb(col["scope_attributes"]) == {"scope.attr": "sv"}
    assert jsonb(col["attributes"]) == {
        "http.route": "/users/{id}",
        "http.response.status_code": 404,
        "s": "x",
        "n": [1, 2],
    }
    assert (col["dropped_attributes_count"], col["dropped_events_count"], col["dropped_links_count"]) == (
        0,
        0,
        0,
    )
    # local parent: remoteness known (bit 8), not remote (bit 9)
    assert col["flags"] == int(readable.context.trace_flags) | 0x100
    assert col["flags"] & 0xFF == int(readable.context.trace_flags)
    assert col["flags"] & TraceFlags.SAMPLED

    events = jsonb(col["events"])
    assert events == [
        {
            "name": "cache.miss",
            "time_unix_nano": readable.events[0].timestamp,
            "attributes": {"key": "user:1", "size": 3},
        },
        {"name": "plain", "time_unix_nano": readable.events[1].timestamp},
    ]
    links = jsonb(col["links"])
    assert links == [
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "flags": 0x301,
            "trace_state": "vendor=value",
            "attributes": {"link.attr": "la"},
        }
    ]
    resource = SpanConverter(65536)._scopes.resource(RESOURCE)  # noqa: SLF001 - compare to a fresh cache
    assert col["resource_id"] == resource.resource_id


def test_root_span_defaults(spans: Spans) -> None:
    spans.tracer.start_span("root").end()
    col = columns(spans.one("root"))
    assert col["parent_span_id"] is None
    assert col["kind"] == "INTERNAL"
    assert col["status_code"] == "UNSET"
    assert col["status_message"] is None
    assert jsonb(col["attributes"]) == {}
    assert jsonb(col["events"]) == []
    assert jsonb(col["links"]) == []
    assert col["http_status_code"] is None and col["http_route"] is None
    assert col["flags"] & 0x300 == 0x100


@pytest.mark.parametrize("kind", list(SpanKind))
def test_kind(spans: Spans, kind: SpanKind) -> None:
    spans.tracer.start_span("k", kind=kind).end()
    assert columns(spans.one("k"))["kind"] == kind.name


@pytest.mark.parametrize("code", [StatusCode.UNSET, StatusCode.OK, StatusCode.ERROR])
def test_status(spans: Spans, code: StatusCode) -> None:
    span = spans.tracer.start_span("st")
    span.set_status(Status(code, "why" if code is StatusCode.ERROR else None))
    span.end()
    col = columns(spans.one("st"))
    assert col["status_code"] == code.name
    assert col["status_message"] == ("why" if code is StatusCode.ERROR else None)


def test_remote_parent_flags_and_trace_state(spans: Spans) -> None:
    remote = SpanContext(
        trace_id=0x1234,
        span_id=2**63 + 5,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("k", "v"), ("a", "b")]),
    )
    context = trace_api.set_span_in_context(NonRecordingSpan(remote))
    spans.tracer.start_span("from-remote", context=context).end()
    readable = spans.one("from-remote")
    col = columns(readable)
    assert col["flags"] & 0x300 == 0x300
    assert col["flags"] == int(readable.context.trace_flags) | 0x300
    assert col["parent_span_id"] == signed_span_id(2**63 + 5) < 0
    assert trace_int(col["trace_id"]) == 0x1234
    assert col["trace_state"] == "k=v,a=b"


def test_span_flags_function() -> None:
    sampled = SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(1))
    remote = SpanContext(1, 3, is_remote=True, trace_flags=TraceFlags(0))
    assert span_flags(sampled, None) == 0x101
    assert span_flags(sampled, remote) == 0x301
    assert span_flags(sampled, sampled) == 0x101
    assert span_flags(None, None) == 0x100


def test_dropped_counts() -> None:
    limits = SpanLimits(
        max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1, max_link_attributes=1
    )
    pipeline = Spans(span_limits=limits)
    link_context = SpanContext(0xABC, 0xDEF, is_remote=False)
    span = pipeline.tracer.start_span(
        "limited",
        attributes={"a": 1, "b": 2, "c": 3, "d": 4},
        links=[Link(link_context), Link(link_context), Link(link_context, {"x": 1, "y": 2})],
    )
    span.add_event("e1", {"p": 1, "q": 2, "r": 3})
    span.add_event("e2")
    span.add_event("e3")
    span.end()
    col = columns(pipeline.one("limited"))
    assert col["dropped_attributes_count"] == 2
    assert col["dropped_events_count"] == 2
    assert col["dropped_links_count"] == 2
    assert len(jsonb(col["attributes"])) == 2
    (event,) = jsonb(col["events"])
    # max_events=1 keeps the newest event; its attributes were never over the limit
    assert event["name"] == "e3"
    (link,) = jsonb(col["links"])
    assert link["dropped_attributes_count"] == 1
    assert len(link["attributes"]) == 1


def test_event_dropped_attributes_recorded() -> None:
    pipeline = Spans(span_limits=SpanLimits(max_event_attributes=1))
    span = pipeline.tracer.start_span("ev")
    span.add_event("e", {"p": 1, "q": 2, "r": 3})
    span.end()
    (event,) = jsonb(columns(pipeline.one("ev"))["events"])
    assert event["dropped_attributes_count"] == 2
    assert len(event["attributes"]) == 1


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"http.response.status_code": 503}, 503),
        ({"http.status_code": 201}, 201),
        ({"http.status_code": "302"}, 302),
        ({"http.response.status_code": 500, "http.status_code": 200}, 500),
        ({"http.response.status_code": "abc"}, None),
        ({"http.response.status_code": 99999}, None),
        ({"http.response.status_code": -1}, None),
        ({}, None),
    ],
)
def test_http_status_code(spans: Spans, attributes: dict, expected: int | None) -> None:
    spans.tracer.start_span("h", attributes=attributes).end()
    assert columns(spans.one("h"))["http_status_code"] == expected


def test_http_route_only_from_strings(spans: Spans) -> None:
    spans.tracer.start_span("r1", attributes={"http.route": "/a/{b}"}).end()
    spans.tracer.start_span("r2", attributes={"http.route": 5}).end()
    assert columns(spans.one("r1"))["http_route"] == "/a/{b}"
    assert columns(spans.one("r2"))["http_route"] is None


def test_exception_type_from_recorded_exception(spans: Spans) -> None:
    class ShopError(Exception):
        pass

    with pytest.raises(ShopError):
        with spans.tracer.start_as_current_span("fails"):
            raise ShopError("boom")
    readable = spans.one("fails")
    col = columns(readable)
    recorded_type = readable.events[0].attributes["exception.type"]
    assert recorded_type.endswith("ShopError")
    assert col["exception_type"] == recorded_type
    assert col["status_code"] == "ERROR"
    (event,) = jsonb(col["events"])
    assert event["name"] == "exception"
    assert event["attributes"]["exception.message"] == "boom"


def test_first_exception_wins(spans: Spans) -> None:
    span = spans.tracer.start_span("two-exceptions")
    span.record_exception(KeyError("k"))
    span.record_exception(ValueError("v"))
    span.end()
    assert columns(spans.one("two-exceptions"))["exception_type"] == "KeyError"


def test_the_exception_is_the_first_exception_event_with_a_type(spans: Spans) -> None:
    span = spans.tracer.start_span("typed-second")
    span.add_event("exception", {"exception.message": "no type here"})
    span.add_event("exception", {"exception.type": 42, "exception.message": "type is not text"})
    span.record_exception(ValueError("v"))
    span.record_exception(KeyError("k"))
    span.end()
    readable = spans.one("typed-second")
    assert columns(readable)["exception_type"] == "ValueError"
    parts = SpanConverter(65536, ShapeBuilder("test-model")).convert_batch([readable])
    (shape,) = parts[2].rows
    assert shape[-1] == "ValueError: v | rows-service INTERNAL typed-second | UNSET"
    assert columns(spans.one("typed-second"))["shape_key"] is None  # no ShapeBuilder, no shape


def test_span_without_end_time() -> None:
    context = SpanContext(0xAB, 0xCD, is_remote=False, trace_flags=TraceFlags(1))
    span = ReadableSpan(
        name="unfinished", context=context, start_time=1_700_000_000_123_456_789, end_time=None
    )
    col = columns(span)
    assert col["start_time_ns"] == 789
    assert unix_nanos(col["start_time"], col["start_time_ns"]) == 1_700_000_000_123_456_789
    assert col["end_time"] is None
    assert col["duration_ns"] is None
    assert col["span_id"] == 0xCD
    assert trace_int(col["trace_id"]) == 0xAB
    assert col["service_name"] == Resource.create({}).attributes["service.name"]  # the SDK default
    assert col["scope_name"] is None and col["scope_attributes"] is None


def test_span_without_start_time_uses_end_time() -> None:
    context = SpanContext(0xAB, 0xCE, is_remote=False)
    col = columns(ReadableSpan(name="no-start", context=context, start_time=None, end_time=5_000))
    assert unix_nanos(col["start_time"], col["start_time_ns"]) == 5_000
    assert col["duration_ns"] == 0


def test_name_and_attributes_sanitized(spans: Spans) -> None:
    spans.tracer.start_span(
        "bad\x00name\ud800" + "x" * 100,
        attributes={"nul": "a\x00b", "nan": float("nan"), "inf": float("-inf"), "long": "y" * 100},
    ).end()
    (readable,) = spans.finished()
    col = columns(readable, max_length=64)
    assert "\x00" not in col["name"] and "\ufffd" in col["name"]
    assert len(col["name"]) <= 64 and col["name"].endswith(TRUNCATION_MARK)
    attributes = jsonb(col["attributes"])
    assert attributes["nul"] == "ab"
    assert attributes["nan"] == "NaN"
    assert attributes["inf"] == "-Infinity"
    assert len(attributes["long"]) == 64 and attributes["long"].endswith(TRUNCATION_MARK)


# --- resources and scopes: serialized once ------------------------------------------------------


def test_resource_serialized_once_per_object(spans: Spans) -> None:
    for index in range(50):
        spans.tracer.start_span(f"s{index}").end()
    batch = spans.finished()
    converter = SpanConverter(65536)
    span_part, resource_part, letter_part = converter.convert_batch(batch)
    assert list(letter_part.rows) == []
    assert span_part.table is SPAN_TABLE
    assert resource_part.table is RESOURCE_TABLE and resource_part.insert_if_absent
    resource_rows = list(resource_part.rows)
    assert len(resource_rows) == 1
    (resource_row,) = resource_rows
    assert resource_row[0] == resource_id(resource_row[2], resource_row[3])
    assert resource_row[1] == "rows-service"
    assert jsonb(resource_row[2]) == dict(RESOURCE.attributes)
    rows = list(span_part.rows)
    assert len(rows) == 50
    assert {row[COLUMNS.index("resource_id")] for row in rows} == {resource_row[0]}
    # the same Resource object gives the identical cached row, batch after batch
    (again,) = converter.convert_batch(batch[:3])[1].rows
    assert again is resource_row


def test_scope_cache_identity_and_distinct_resources() -> None:
    cache = ScopeCache(65536)
    first = cache.resource(RESOURCE)
    assert cache.resource(RESOURCE) is first
    assert first.row is cache.resource(RESOURCE).row
    equal_copy = Resource.create({"service.name": "rows-service", "host.name": "h1"})
    # an equal resource hashes to the same id; a different one does not
    assert cache.resource(equal_copy).resource_id == first.resource_id
    other = cache.resource(Resource.create({"service.name": "other"}))
    assert other.resource_id != first.resource_id
    with_schema = cache.resource(Resource({"service.name": "rows-service"}, schema_url="https://x"))
    without_schema = cache.resource(Resource({"service.name": "rows-service"}))
    assert with_schema.resource_id != without_schema.resource_id
    assert cache.resource(Resource({})).service_name == "unknown_service"


def test_batch_with_two_resources_has_two_resource_rows() -> None:
    first, second = Spans(), Spans(Resource.create({"service.name": "second"}))
    first.tracer.start_span("a").end()
    second.tracer.start_span("b").end()
    first.tracer.start_span("c").end()
    batch = [*first.finished(), *second.finished()]
    span_part, resource_part, _ = SpanConverter(65536).convert_batch(batch)
    assert sorted(row[1] for row in resource_part.rows) == ["rows-service", "second"]
    assert len(list(span_part.rows)) == 3


# --- one bad span does not cost the batch -------------------------------------------------------


class Broken(ReadableSpan):
    """A span whose ``failing`` property raises, as a buggy custom span might."""

    failing = "attributes"

    def __getattribute__(self, name: str) -> Any:
        if name == type(self).failing:
            raise RuntimeError(f"broken {name}")
        return super().__getattribute__(name)


@pytest.mark.parametrize("failing", ["attributes", "events", "status", "links"])
def test_span_failing_conversion_becomes_a_dead_letter(
    spans: Spans, failing: str, caplog: pytest.LogCaptureFixture
) -> None:
    spans.tracer.start_span("before").end()
    spans.tracer.start_span("after").end()
    before, after = spans.finished()
    broken_class = type("BrokenSpan", (Broken,), {"failing": failing})
    broken = broken_class(
        name="broken", context=SpanContext(1, 2, is_remote=False), resource=RESOURCE, start_time=1, end_time=2
    )
    converter = SpanConverter(65536)
    with pytest.raises(RuntimeError):
        converter.convert(broken)
    with caplog.at_level(logging.ERROR):
        span_part, resource_part, letter_part = converter.convert_batch([before, broken, after])
        rows = list(span_part.rows)
    assert [row[COLUMNS.index("name")] for row in rows] == ["before", "after"]
    assert len(list(resource_part.rows)) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert "span 'broken' could not be converted; it goes to otel_dead_letters" in messages
    assert letter_part.table is DEAD_LETTER_TABLE and not letter_part.insert_if_absent
    ((batch_id, table, sqlstate, error, content, raw),) = letter_part.rows
    assert (batch_id, table, sqlstate, raw) == (bytes(16), "otel_spans", None, b"")
    assert error == f"could not convert span 'broken': RuntimeError: broken {failing}"
    assert jsonb(content)["record"].startswith("BrokenSpan(_name='broken', ")


def test_row_stream_converts_each_item_once() -> None:
    calls: list[int] = []

    def convert(item: int) -> tuple[int] | None:
        calls.append(item)
        return None if item == 2 else (item,)

    stream = RowStream([1, 2, 3, 4], convert)
    iterator = iter(stream)
    assert next(iterator) == (1,)
    assert list(stream) == [(1,), (3,), (4,)]  # resumes where conversion stopped
    assert list(stream) == [(1,), (3,), (4,)]
    assert stream.materialize() == [(1,), (3,), (4,)]
    assert calls == [1, 2, 3, 4]
