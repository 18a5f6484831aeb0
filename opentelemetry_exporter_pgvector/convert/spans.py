"""``ReadableSpan`` -> ``otel_spans`` row: a pure function of the span, every field kept.

Rows are tuples in :data:`SPAN_TABLE` column order, following the row conventions of
``convert/table.py``; span ids are stored as signed 64-bit ints. Unless embeddings are off,
each span also gets its shape key, and each batch the ``otel_shapes`` rows of its shapes
(``convert/shapes.py``). Timestamps and the name are made to fit as ``convert/limits.py`` says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode

from .converter import RecordConverter
from .limits import INDEX_SAFE_CHARS, MAX_UNIX_NANOS, indexed_field, unix_nanos, with_originals
from .shapes import SHAPE_ATTRIBUTES
from .table import Column, Row, TableRows, TableSpec, pg_timestamp
from .values import (
    EMPTY_JSONB_ARRAY,
    EMPTY_JSONB_OBJECT,
    attribute_mapping,
    bounded_repr,
    clean_optional_text,
    clean_text,
    to_jsonb,
)

SPAN_TABLE = TableSpec(
    name="otel_spans",
    columns=(
        Column("start_time", "timestamptz"),
        Column("end_time", "timestamptz"),
        Column("duration_ns", "int8"),
        Column("span_id", "int8"),
        Column("resource_id", "int8"),
        Column("parent_span_id", "int8"),
        Column("trace_id", "uuid"),
        Column("flags", "int4"),
        Column("start_time_ns", "int2"),
        Column("http_status_code", "int2"),
        Column("dropped_attributes_count", "int4"),
        Column("dropped_events_count", "int4"),
        Column("dropped_links_count", "int4"),
        Column("service_name", "text"),
        Column("name", "text"),
        Column("kind", "text"),
        Column("status_code", "text"),
        Column("status_message", "text"),
        Column("exception_type", "text"),
        Column("http_route", "text"),
        Column("trace_state", "text"),
        Column("scope_name", "text"),
        Column("scope_version", "text"),
        Column("attributes", "jsonb"),
        Column("events", "jsonb"),
        Column("links", "jsonb"),
        Column("scope_attributes", "jsonb"),
        Column("scope_schema_url", "text"),
        Column("shape_key", "int8"),
    ),
)


_INT64_SIGN = 1 << 63
_UINT64 = 1 << 64
# OTLP Span.flags bits for the parent's remoteness (SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK etc.).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")


# Enum.name is a slow descriptor; these run once per span.
_KIND_NAMES = {kind: kind.name for kind in SpanKind}
_STATUS_NAMES = {code: code.name for code in StatusCode}


def _span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    # ReadableSpan.attributes wraps the same object in a MappingProxyType on every access.
    return attribute_mapping(getattr(span, "_attributes", None) or span.attributes)


def signed_span_id(span_id: int) -> int:
    """A 64-bit span id as the signed value a PostgreSQL ``bigint`` holds."""
    return span_id - _UINT64 if span_id >= _INT64_SIGN else span_id


def unsigned_span_id(stored: int) -> int:
    """Inverse of :func:`signed_span_id`."""
    return stored + _UINT64 if stored < 0 else stored


def span_flags(context: SpanContext | None, parent: SpanContext | None) -> int:
    """OTLP ``Span.flags``: trace flags plus whether the parent is known to be remote."""
    trace_flags = int(context.trace_flags) if context is not None else 0
    remote = _IS_REMOTE if parent is not None and parent.is_remote else 0
    return trace_flags | _HAS_IS_REMOTE | remote


def _http_status_code(attributes: Mapping[str, Any]) -> int | None:
    for key in _HTTP_STATUS_KEYS:
        value = attributes.get(key)
        if value is None:
            continue
        try:
            code = int(value)
        except (TypeError, ValueError):
            return None
        return code if 0 <= code <= 32767 else None
    return None


def _str_attribute(attributes: Mapping[str, Any], key: str, max_length: int) -> str | None:
    value = attributes.get(key)
    return clean_text(value, max_length) if isinstance(value, str) else None


# The events column and exception of a span without events.
_NO_EVENTS: tuple[bytes, str | None, Any] = (EMPTY_JSONB_ARRAY, None, None)


def _events_and_exception(events: Sequence[Event], max_length: int) -> tuple[bytes, str | None, Any]:
    """The ``events`` jsonb, and the type and message of the exception the events record.

    The exception is the first ``exception`` event whose ``exception.type`` is a string (until
    one is, the message of the latest ``exception`` event is kept). Its type is a column,
    cleaned like all text; its message only feeds the shape, which masks it, so it stays raw.
    """
    exception_type = exception_message = None
    entries = []
    for event in events:
        attributes = event.attributes
        entry: dict[str, Any] = {"name": event.name, "time_unix_nano": event.timestamp}
        if attributes:
            entry["attributes"] = attribute_mapping(attributes)
            if exception_type is None and event.name == "exception":
                exception_type = _str_attribute(attributes, "exception.type", max_length)
                exception_message = attributes.get("exception.message")
        if event.dropped_attributes:
            entry["dropped_attributes_count"] = event.dropped_attributes
        entries.append(entry)
    return to_jsonb(entries, max_length), exception_type, exception_message


def _link_json(link: Link) -> dict[str, Any]:
    context = link.context
    entry: dict[str, Any] = {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "flags": span_flags(context, context),
    }
    if context.trace_state:
        entry["trace_state"] = context.trace_state.to_header()
    if link.attributes:
        entry["attributes"] = attribute_mapping(link.attributes)
    if link.dropped_attributes:
        entry["dropped_attributes_count"] = link.dropped_attributes
    return entry


class SpanConverter(RecordConverter[ReadableSpan]):
    """Turns SDK spans into ``otel_spans`` rows; one instance per exporter (it caches resources).

    With a :class:`ShapeBuilder` each row carries its shape key; without one (embeddings off)
    ``shape_key`` is NULL.
    """

    table = SPAN_TABLE

    def convert(self, span: ReadableSpan, shapes: dict[int, Row] | None = None) -> Row:
        """The row for one span; its shape's row is added to ``shapes`` when given.

        Pure apart from the resource/scope and shape caches.
        """
        max_length = self._max
        context = span.context
        parent = span.parent
        attributes = _span_attributes(span)
        resource = self._scopes.resource(span.resource)
        scope = self._scopes.scope(span.instrumentation_scope)
        originals: dict[str, Any] = {}  # values changed to fit a column, kept in the attributes
        start = span.start_time
        end = span.end_time
        # ints in range nearly always; any other (a float, None, out of range) takes the slow path
        if not (type(start) is type(end) is int and 0 <= start <= MAX_UNIX_NANOS
                and 0 <= end <= MAX_UNIX_NANOS):
            start = unix_nanos(start, "start_time_unix_nano", originals)
            end = unix_nanos(end, "end_time_unix_nano", originals)
        if start is None:  # never started properly: keep it, timed at its end or now
            start = end if end is not None else time.time_ns()
        duration = end - start if end is not None else None
        name = clean_text(span.name, max_length)
        if len(name) > INDEX_SAFE_CHARS:
            name = indexed_field(name, "name", originals)
        events = span.events
        events_jsonb, exception_type, exception_message = (
            _events_and_exception(events, max_length) if events else _NO_EVENTS
        )
        links: Sequence[Link] = span.links
        status = span.status
        trace_state = context.trace_state.to_header() if context and context.trace_state else None
        kind = _KIND_NAMES[span.kind]
        status_code = _STATUS_NAMES[status.status_code]
        shape_key = None
        if originals:
            attributes = with_originals(attributes, originals)
        if self._shapes is not None:  # the raw components, in the order ShapeBuilder.shape documents
            shape = self._shapes.shape((
                resource.service_name, span.name, kind, status_code, status.description,
                exception_type, exception_message, tuple(map(attributes.get, SHAPE_ATTRIBUTES)),
            ))
            shape_key = self._collect_shape(shape, shapes)
        return (
            pg_timestamp(start),
            pg_timestamp(end) if end is not None else None,
            duration,
            signed_span_id(context.span_id) if context else 0,
            resource.resource_id,
            signed_span_id(parent.span_id) if parent is not None else None,
            (context.trace_id if context else 0).to_bytes(16, "big"),
            span_flags(context, parent),
            start % 1000,
            _http_status_code(attributes),
            span.dropped_attributes,
            span.dropped_events,
            span.dropped_links,
            resource.service_name,
            name,
            kind,
            status_code,
            clean_optional_text(status.description, max_length),
            exception_type,
            _str_attribute(attributes, "http.route", max_length),
            clean_optional_text(trace_state, max_length),
            scope.name,
            scope.version,
            to_jsonb(attributes, max_length) if attributes else EMPTY_JSONB_OBJECT,
            events_jsonb,
            to_jsonb([_link_json(link) for link in links], max_length) if links else EMPTY_JSONB_ARRAY,
            scope.attributes_jsonb,
            scope.schema_url,
            shape_key,
        )

    def convert_batch(self, spans: Sequence[ReadableSpan]) -> list[TableRows]:
        """The rows of a batch: spans (converted while COPY streams them), their resources and shapes."""
        return self._batch_parts(spans, (span.resource for span in spans))

    def _describe(self, span: ReadableSpan) -> str:
        return f"span {bounded_repr(getattr(span, 'name', '?'))}"
