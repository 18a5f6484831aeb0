"""``MetricsData`` -> ``otel_metric_points`` rows: one row per data point, of every type.

One table holds every point type, with the value columns each type needs (the rest NULL):

* sum and gauge: ``value`` (double precision; ints are converted, one beyond a double's range
  to an infinity, the int kept in the attributes), sums with ``temporality`` and ``is_monotonic``;
* histogram: ``count``, ``sum``, ``min``, ``max``, ``explicit_bounds`` and ``bucket_counts``;
* exponential histogram: ``count``, ``sum``, ``min``, ``max``, ``scale``, ``zero_count``,
  ``positive_offset``/``positive_bucket_counts``, ``negative_offset``/``negative_bucket_counts``.

Buckets are ``double precision[]``/``bigint[]`` arrays, not jsonb: 8 bytes an element, exact,
and SQL can unnest and sum them to merge histograms. Doubles keep NaN and infinities (PostgreSQL
stores them), so such a value never fails the batch; exemplars go through the shared jsonb
sanitizing, which spells them as strings.

What a point shares with the other points of its metric (name, type, temporality, unit...) is
computed once per metric, as resource and scope columns are once per object. Timestamps and the
(indexed) name are made to fit as ``convert/limits.py`` says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    Sum,
)

from .converter import RecordConverter
from .limits import MAX_UNIX_NANOS, indexed_field, unix_nanos, with_originals
from .scope import ResourceColumns, ScopeColumns
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

METRIC_POINT_TABLE = TableSpec(
    name="otel_metric_points",
    columns=(
        Column("time", "timestamptz"),
        Column("start_time", "timestamptz"),
        Column("resource_id", "int8"),
        Column("value", "float8"),
        Column("count", "int8"),
        Column("sum", "float8"),
        Column("min", "float8"),
        Column("max", "float8"),
        Column("zero_count", "int8"),
        Column("scale", "int4"),
        Column("positive_offset", "int4"),
        Column("negative_offset", "int4"),
        Column("flags", "int4"),
        Column("is_monotonic", "bool"),
        Column("service_name", "text"),
        Column("name", "text"),
        Column("type", "text"),
        Column("temporality", "text"),
        Column("description", "text"),
        Column("unit", "text"),
        Column("scope_name", "text"),
        Column("scope_version", "text"),
        Column("attributes", "jsonb"),
        Column("explicit_bounds", "float8[]"),
        Column("bucket_counts", "int8[]"),
        Column("positive_bucket_counts", "int8[]"),
        Column("negative_bucket_counts", "int8[]"),
        Column("exemplars", "jsonb"),
        Column("scope_attributes", "jsonb"),
        Column("scope_schema_url", "text"),
    ),
)

_TEMPORALITY = {AggregationTemporality.CUMULATIVE: "cumulative", AggregationTemporality.DELTA: "delta"}


@dataclass(frozen=True)
class MetricColumns:
    """The columns every data point of a metric derives from the metric, computed once per metric."""

    name: str
    type: str
    temporality: str | None
    description: str | None
    unit: str | None
    is_monotonic: bool | None
    originals: Mapping[str, Any]  # what the columns changed (a cut name), kept in each point's attributes


@dataclass(frozen=True)
class _UnconvertibleMetric:
    """A metric whose shared columns could not be computed: each of its points fails with ``error``."""

    name: Any
    error: Exception


# What RowStream converts: one data point with everything it inherits from above.
_PointItem = tuple[ResourceColumns, ScopeColumns, "MetricColumns | _UnconvertibleMetric", Any]


def _metric_columns(metric: Metric, max_length: int) -> MetricColumns:
    """The columns the points of ``metric`` share: its name, data type, temporality and so on.

    The name is indexed: one too long for a btree row is cut, and kept whole in ``originals``.
    """
    data = metric.data
    temporality = getattr(data, "aggregation_temporality", None)
    originals: dict[str, Any] = {}
    return MetricColumns(
        name=indexed_field(clean_text(metric.name, max_length), "name", originals),
        type=_metric_type(data),
        temporality=_TEMPORALITY.get(temporality) if temporality is not None else None,
        description=clean_optional_text(metric.description or None, max_length),
        unit=clean_optional_text(metric.unit or None, max_length),
        is_monotonic=data.is_monotonic if isinstance(data, Sum) else None,
        originals=originals,
    )


def _metric_type(data: Any) -> str:
    """The ``type`` column: which of the four OTLP metric data types ``data`` is."""
    if isinstance(data, Sum):
        return "sum"
    if isinstance(data, Gauge):
        return "gauge"
    if isinstance(data, Histogram):
        return "histogram"
    if isinstance(data, ExponentialHistogram):
        return "exponential_histogram"
    raise TypeError(f"unknown metric data type {type(data).__name__}")


def _double(value: Any, field: str, originals: dict[str, Any]) -> float | None:
    """A numeric value as a double; None for a missing one.

    An integer beyond the range of a double (a counter given ``10**400``) becomes an infinity
    of its sign, and is kept in ``originals``.
    """
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:
        originals[field] = value
        return math.inf if value > 0 else -math.inf


# The columns a data point's type decides, in row order (see _point_values).
_PointValues = tuple[
    float | None, int | None, float | None, float | None, float | None, int | None, int | None, int | None,
    int | None, int, list[float] | None, list[int] | None, list[int] | None, list[int] | None,
]
# The type-decided columns after ``value`` of a sum or gauge point: all NULL, flags 0.
_NOT_A_HISTOGRAM = (None, None, None, None, None, None, None, None, 0, None, None, None, None)


def _point_values(point: Any, originals: dict[str, Any]) -> _PointValues:
    """The columns a data point's type decides, in row order; NULL where its type has none.

    ``value`` (sums and gauges); ``count``, ``sum``, ``min``, ``max`` (both histograms);
    ``zero_count``, ``scale``, ``positive_offset``, ``negative_offset``, ``flags`` (exponential
    histograms, ``flags`` 0 for the others); ``explicit_bounds`` and ``bucket_counts``
    (histograms); ``positive_bucket_counts`` and ``negative_bucket_counts`` (exponential).
    Values a double cannot hold are recorded in ``originals`` (see :func:`_double`).
    """
    if isinstance(point, NumberDataPoint):
        try:
            return (float(point.value), *_NOT_A_HISTOGRAM)
        except OverflowError:
            return (_double(point.value, "value", originals), *_NOT_A_HISTOGRAM)
    if not isinstance(point, (HistogramDataPoint, ExponentialHistogramDataPoint)):
        raise TypeError(f"unknown data point type {type(point).__name__}")
    count = point.count
    total = _double(point.sum, "sum", originals)
    minimum, maximum = _double(point.min, "min", originals), _double(point.max, "max", originals)
    zero_count = scale = positive_offset = negative_offset = None
    bounds = buckets = positive = negative = None
    flags = 0
    if isinstance(point, HistogramDataPoint):
        bounds, buckets = [float(bound) for bound in point.explicit_bounds], list(point.bucket_counts)
    else:
        scale, zero_count, flags = point.scale, point.zero_count, point.flags
        positive_offset, positive = point.positive.offset, list(point.positive.bucket_counts)
        negative_offset, negative = point.negative.offset, list(point.negative.bucket_counts)
    return (
        None, count, total, minimum, maximum, zero_count, scale, positive_offset, negative_offset, flags,
        bounds, buckets, positive, negative,
    )


def _exemplars_jsonb(exemplars: Sequence[Exemplar], max_length: int) -> bytes:
    """The ``exemplars`` jsonb of a point that has some (ids as hex, as in OTLP/JSON)."""
    entries = []
    for exemplar in exemplars:
        entry: dict[str, Any] = {"value": exemplar.value, "time_unix_nano": exemplar.time_unix_nano}
        if exemplar.trace_id:
            entry["trace_id"] = f"{exemplar.trace_id:032x}"
        if exemplar.span_id:
            entry["span_id"] = f"{exemplar.span_id:016x}"
        if exemplar.filtered_attributes:
            entry["filtered_attributes"] = attribute_mapping(exemplar.filtered_attributes)
        entries.append(entry)
    return to_jsonb(entries, max_length)


class MetricConverter(RecordConverter[_PointItem]):
    """Turns SDK metrics into ``otel_metric_points`` rows; one instance per exporter (it caches resources)."""

    table = METRIC_POINT_TABLE

    def __init__(self, max_value_length: int) -> None:
        super().__init__(max_value_length)  # data points have no shapes

    def convert(self, item: _PointItem, shapes: dict[int, Row] | None = None) -> Row:
        """The row of one data point, from what it inherits and its own values.

        ``shapes`` is unused: points have none. Pure apart from the resource/scope cache. A
        point without a usable time is timed now, as a span without a start is.
        """
        resource, scope, metric, point = item
        if isinstance(metric, _UnconvertibleMetric):
            raise metric.error
        max_length = self._max
        originals: dict[str, Any] = {}  # values changed to fit a column, kept in the attributes
        (value, count, total, minimum, maximum, zero_count, scale, positive_offset, negative_offset, flags,
         bounds, buckets, positive, negative) = _point_values(point, originals)
        attributes = attribute_mapping(point.attributes)
        timestamp = point.time_unix_nano
        start = point.start_time_unix_nano
        # ints in range nearly always (gauges have no start); any other takes the slow path
        if not (type(timestamp) is int and 0 <= timestamp <= MAX_UNIX_NANOS
                and (start is None or (type(start) is int and 0 <= start <= MAX_UNIX_NANOS))):
            timestamp = unix_nanos(timestamp, "time_unix_nano", originals)
            start = unix_nanos(start, "start_time_unix_nano", originals)
            if timestamp is None:
                timestamp = time.time_ns()
        if originals or metric.originals:
            attributes = with_originals(attributes, {**metric.originals, **originals})
        exemplars = point.exemplars
        return (
            pg_timestamp(timestamp),
            pg_timestamp(start) if start else None,
            resource.resource_id,
            value,
            count,
            total,
            minimum,
            maximum,
            zero_count,
            scale,
            positive_offset,
            negative_offset,
            flags,
            metric.is_monotonic,
            resource.service_name,
            metric.name,
            metric.type,
            metric.temporality,
            metric.description,
            metric.unit,
            scope.name,
            scope.version,
            to_jsonb(attributes, max_length) if attributes else EMPTY_JSONB_OBJECT,
            bounds,
            buckets,
            positive,
            negative,
            _exemplars_jsonb(exemplars, max_length) if exemplars else EMPTY_JSONB_ARRAY,
            scope.attributes_jsonb,
            scope.schema_url,
        )

    def _points(self, data: MetricsData) -> Iterator[_PointItem]:
        """Each data point of ``data`` with what it inherits from its resource, scope and metric.

        A metric whose columns cannot be computed still yields its points, marked: each then
        becomes a dead letter, as any point that cannot be converted.
        """
        for resource_metrics in data.resource_metrics:
            resource = self._scopes.resource(resource_metrics.resource)
            for scope_metrics in resource_metrics.scope_metrics:
                scope = self._scopes.scope(scope_metrics.scope)
                for metric in scope_metrics.metrics:
                    columns: MetricColumns | _UnconvertibleMetric
                    try:
                        columns = _metric_columns(metric, self._max)
                    except Exception as error:  # noqa: BLE001 - raised again by each point's convert()
                        columns = _UnconvertibleMetric(getattr(metric, "name", "?"), error)
                    for point in metric.data.data_points:
                        yield resource, scope, columns, point

    def convert_batch(self, data: MetricsData) -> list[TableRows]:
        """The rows of one collection: points (converted while COPY streams them) and resources."""
        return self._batch_parts(self._points(data), (entry.resource for entry in data.resource_metrics))

    def _describe(self, item: _PointItem) -> str:
        return f"a data point of metric {bounded_repr(item[2].name)}"


def point_count(data: MetricsData) -> int:
    """How many data points a collection holds (for messages)."""
    return sum(
        len(metric.data.data_points)
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )
