"""SQLAlchemy models of the stored telemetry, so an application joins its own models with it.

``models(schema)`` maps ``otel_resources``, ``otel_spans``, ``otel_logs``,
``otel_metric_points`` and ``otel_shapes`` of one schema (``OTEL_EXPORTER_PGVECTOR_SCHEMA``,
default ``public``) and returns the mapped classes::

    telemetry = models("public")
    failed = session.execute(
        select(Order, telemetry.Span)
        .join(telemetry.Span, telemetry.Span.attributes["order.id"].as_integer() == Order.id)
        .where(telemetry.Span.status_code == "ERROR")
    )

This module needs the ``sqlalchemy`` extra and nothing in the package imports it. The models
are read-only by convention: the exporters write the rows (binary COPY into daily partitions,
the exactly-once ledger, shapes), which an ORM insert would bypass. ``tests/test_orm.py`` checks
every column against a freshly migrated schema, both ways, so a migration that changes a
table fails until the model follows it.

Design notes:

* The columns are declared once, on unmapped classes (``SpanColumns``...), and ``models()``
  maps them per schema on a fresh declarative base, so several schemas coexist in one process
  and the attributes stay statically typed (``models(...).Span`` is a ``type[SpanColumns]``).
* ``otel_logs`` and ``otel_metric_points`` have no key: several records may share every
  scalar column (two identical log lines in one microsecond). The ORM identifies an object
  by its primary key and would fold such rows into one, silently, so these two are mapped on
  PostgreSQL's system columns ``(tableoid, ctid)``, which tell any two rows of a partitioned
  table apart (a row's partition and its place in it) and are never part of CREATE TABLE.
* Ids are stored as the database holds them: ``trace_id`` a ``uuid.UUID`` (``.hex`` is the
  32 hex digits), span ids signed 64-bit integers (``otel_span_id_hex()`` in SQL, or
  ``f"{span_id & (2**64 - 1):016x}"`` in Python).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, Boolean, DateTime, Double, Integer, MetaData, SmallInteger, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

# all-MiniLM-L6-v2's dimension, the one the migrations create otel_shapes.embedding with
DEFAULT_DIMENSION = 384

_TIMESTAMPTZ = DateTime(timezone=True)


class ResourceColumns:
    """``otel_resources``: each distinct resource once; signal rows point to it by ``resource_id``."""

    __tablename__ = "otel_resources"

    resource_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_name: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    schema_url: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ)


class ShapeColumns:
    """``otel_shapes``: each distinct shape text of span or log body, embedded once."""

    __tablename__ = "otel_shapes"
    embedding_dimension: ClassVar[int] = DEFAULT_DIMENSION

    shape_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signal: Mapped[str] = mapped_column(Text)
    service_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ)
    embedded_at: Mapped[dt.datetime | None] = mapped_column(_TIMESTAMPTZ)

    @declared_attr
    def embedding(cls) -> Mapped[list[float] | None]:
        """The shape's vector (pgvector's ``Vector`` type: ``cosine_distance()`` and friends)."""
        return mapped_column(Vector(cls.embedding_dimension))


class _SignalRelations:
    """The resource and shape a span or log record points to, loaded on access."""

    @declared_attr
    def resource(cls: type[Any]) -> Mapped[ResourceColumns]:
        return relationship("Resource", viewonly=True,
                            primaryjoin=f"foreign({cls.__name__}.resource_id) == Resource.resource_id")

    @declared_attr
    def shape(cls: type[Any]) -> Mapped[ShapeColumns | None]:
        return relationship("Shape", viewonly=True,
                            primaryjoin=f"foreign({cls.__name__}.shape_key) == Shape.shape_key")


class _SystemKey:
    """The ORM identity of a row in a table without a key: see the module docstring."""

    tableoid: Mapped[int] = mapped_column(Integer, system=True, primary_key=True)
    ctid: Mapped[str] = mapped_column(Text, system=True, primary_key=True)


class SpanColumns(_SignalRelations):
    """``otel_spans`` (docs/schema.md): one row per span, keyed by trace, span and start."""

    __tablename__ = "otel_spans"

    start_time: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ, primary_key=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(_TIMESTAMPTZ)
    duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    span_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resource_id: Mapped[int] = mapped_column(BigInteger)
    parent_span_id: Mapped[int | None] = mapped_column(BigInteger)
    trace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    flags: Mapped[int] = mapped_column(Integer)
    start_time_ns: Mapped[int] = mapped_column(SmallInteger)
    http_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    dropped_attributes_count: Mapped[int] = mapped_column(Integer)
    dropped_events_count: Mapped[int] = mapped_column(Integer)
    dropped_links_count: Mapped[int] = mapped_column(Integer)
    service_name: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status_code: Mapped[str] = mapped_column(Text)
    status_message: Mapped[str | None] = mapped_column(Text)
    exception_type: Mapped[str | None] = mapped_column(Text)
    http_route: Mapped[str | None] = mapped_column(Text)
    trace_state: Mapped[str | None] = mapped_column(Text)
    scope_name: Mapped[str | None] = mapped_column(Text)
    scope_version: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    scope_attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    scope_schema_url: Mapped[str | None] = mapped_column(Text)
    shape_key: Mapped[int | None] = mapped_column(BigInteger)


class LogColumns(_SystemKey, _SignalRelations):
    """``otel_logs``: one row per log record; ``trace_id`` is all zeros outside any span."""

    __tablename__ = "otel_logs"

    time: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ)
    observed_time: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ)
    resource_id: Mapped[int] = mapped_column(BigInteger)
    span_id: Mapped[int | None] = mapped_column(BigInteger)
    shape_key: Mapped[int | None] = mapped_column(BigInteger)
    trace_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    flags: Mapped[int] = mapped_column(Integer)
    dropped_attributes_count: Mapped[int] = mapped_column(Integer)
    time_ns: Mapped[int] = mapped_column(SmallInteger)
    severity_number: Mapped[int | None] = mapped_column(SmallInteger)
    service_name: Mapped[str] = mapped_column(Text)
    severity_text: Mapped[str | None] = mapped_column(Text)
    event_name: Mapped[str | None] = mapped_column(Text)
    body_type: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    body_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    scope_name: Mapped[str | None] = mapped_column(Text)
    scope_version: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    scope_attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    scope_schema_url: Mapped[str | None] = mapped_column(Text)


class MetricPointColumns(_SystemKey):
    """``otel_metric_points``: one row per data point of any metric type."""

    __tablename__ = "otel_metric_points"

    time: Mapped[dt.datetime] = mapped_column(_TIMESTAMPTZ)
    start_time: Mapped[dt.datetime | None] = mapped_column(_TIMESTAMPTZ)
    resource_id: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Double)
    count: Mapped[int | None] = mapped_column(BigInteger)
    sum: Mapped[float | None] = mapped_column(Double)
    min: Mapped[float | None] = mapped_column(Double)
    max: Mapped[float | None] = mapped_column(Double)
    zero_count: Mapped[int | None] = mapped_column(BigInteger)
    scale: Mapped[int | None] = mapped_column(Integer)
    positive_offset: Mapped[int | None] = mapped_column(Integer)
    negative_offset: Mapped[int | None] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer)
    is_monotonic: Mapped[bool | None] = mapped_column(Boolean)
    service_name: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    temporality: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    scope_name: Mapped[str | None] = mapped_column(Text)
    scope_version: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    explicit_bounds: Mapped[list[float] | None] = mapped_column(ARRAY(Double))
    bucket_counts: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    positive_bucket_counts: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    negative_bucket_counts: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    exemplars: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    scope_attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    scope_schema_url: Mapped[str | None] = mapped_column(Text)

    @declared_attr
    def resource(cls) -> Mapped[ResourceColumns]:
        return relationship("Resource", viewonly=True,
                            primaryjoin="foreign(MetricPoint.resource_id) == Resource.resource_id")


@dataclass(frozen=True)
class TelemetryModels:
    """The mapped classes of one schema, on one ``metadata`` of their own."""

    metadata: MetaData
    Resource: type[ResourceColumns]
    Span: type[SpanColumns]
    Log: type[LogColumns]
    MetricPoint: type[MetricPointColumns]
    Shape: type[ShapeColumns]


@functools.cache
def models(schema: str = "public", dimension: int = DEFAULT_DIMENSION) -> TelemetryModels:
    """The telemetry tables of ``schema`` as mapped classes (the same ones on every call).

    ``dimension`` is that of ``otel_shapes.embedding`` (384 unless the column was changed for
    another model).
    """

    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema)

    class Resource(ResourceColumns, Base):
        pass

    class Shape(ShapeColumns, Base):
        embedding_dimension = dimension

    class Span(SpanColumns, Base):
        pass

    class Log(LogColumns, Base):
        pass

    class MetricPoint(MetricPointColumns, Base):
        pass

    return TelemetryModels(Base.metadata, Resource, Span, Log, MetricPoint, Shape)
