"""``MetricsData`` -> ``otel_metric_points`` rows: one row per data point, of every type.

One table holds every point type, with the value columns each type needs (the rest NULL):

* sum and gauge: ``value`` (double precision; ints are converted), sums with
  ``temporality`` and ``is_monotonic``;
* histogram: ``count``, ``sum``, ``min``, ``max``, ``explicit_bounds`` and ``bucket_counts``;
* exponential histogram: ``count``, ``sum``, ``min``, ``max``, ``scale``, ``zero_count``,
  ``positive_offset``/``positive_bucket_counts``, ``negative_offset``/``negative_bucket_counts``.

Buckets are ``double precision[]``/``bigint[]`` arrays, not jsonb: 8 bytes an element, exact,
and SQL can unnest and sum them to merge histograms. Doubles keep NaN and infinities (PostgreSQL
stores them), so such a value never fails the batch; exemplars go through the shared jsonb
sanitizing, which spells them as strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
from .scope import ResourceColumns, ScopeColumns
from .table import Column, Row, TableRows, TableSpec, pg_timestamp
from .values import (
    EMPTY_JSONB_ARRAY,
    EMPTY_JSONB_OBJECT,
    attribute_mapping,
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

# What RowStream converts: one data point with everything it inherits from above.
_PointItem = tuple[ResourceColumns, ScopeColumns, Metric, Any]


def _float(value: Any) -> float | None:
    """A numeric value as a double; None for a missing one."""
    return None if value is None else float(value)


def _exemplars_jsonb(exemplars: Sequence[Exemplar], max_length: int) -> bytes:
    if not exemplars:
        return EMPTY_JSONB_ARRAY
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
        """The row of one data point of ``metric`` (``shapes`` is unused: points have none).

        Pure apart from the resource/scope cache.
        """
        resource, scope, metric, point = item
        max_length = self._max
        data = metric.data
        value = count = total = minimum = maximum = zero_count = None
        scale = positive_offset = negative_offset = None
        bounds = buckets = positive = negative = None
        flags = 0
        if isinstance(point, NumberDataPoint):
            value = float(point.value)
        elif isinstance(point, HistogramDataPoint):
            count, total = point.count, _float(point.sum)
            minimum, maximum = _float(point.min), _float(point.max)
            bounds, buckets = [float(bound) for bound in point.explicit_bounds], list(point.bucket_counts)
        elif isinstance(point, ExponentialHistogramDataPoint):
            count, total = point.count, _float(point.sum)
            minimum, maximum = _float(point.min), _float(point.max)
            scale, zero_count, flags = point.scale, point.zero_count, point.flags
            positive_offset, positive = point.positive.offset, list(point.positive.bucket_counts)
            negative_offset, negative = point.negative.offset, list(point.negative.bucket_counts)
        else:
            raise TypeError(f"unknown data point type {type(point).__name__}")
        if isinstance(data, Sum):
            kind = "sum"
        elif isinstance(data, Gauge):
            kind = "gauge"
        elif isinstance(data, Histogram):
            kind = "histogram"
        elif isinstance(data, ExponentialHistogram):
            kind = "exponential_histogram"
        else:
            raise TypeError(f"unknown metric data type {type(data).__name__}")
        temporality = getattr(data, "aggregation_temporality", None)
        attributes = attribute_mapping(point.attributes)
        start = point.start_time_unix_nano
        return (
            pg_timestamp(point.time_unix_nano),
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
            data.is_monotonic if isinstance(data, Sum) else None,
            resource.service_name,
            clean_text(metric.name, max_length),
            kind,
            _TEMPORALITY.get(temporality) if temporality is not None else None,
            clean_optional_text(metric.description or None, max_length),
            clean_optional_text(metric.unit or None, max_length),
            scope.name,
            scope.version,
            to_jsonb(attributes, max_length) if attributes else EMPTY_JSONB_OBJECT,
            bounds,
            buckets,
            positive,
            negative,
            _exemplars_jsonb(point.exemplars, max_length),
            scope.attributes_jsonb,
            scope.schema_url,
        )

    def _points(self, data: MetricsData) -> Iterator[_PointItem]:
        for resource_metrics in data.resource_metrics:
            resource = self._scopes.resource(resource_metrics.resource)
            for scope_metrics in resource_metrics.scope_metrics:
                scope = self._scopes.scope(scope_metrics.scope)
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        yield resource, scope, metric, point

    def convert_batch(self, data: MetricsData) -> list[TableRows]:
        """The rows of one collection: points (converted while COPY streams them) and resources."""
        return self._batch_parts(self._points(data), (entry.resource for entry in data.resource_metrics))

    def _describe(self, item: _PointItem) -> str:
        return f"a data point of metric {item[2].name!r}"


def point_count(data: MetricsData) -> int:
    """How many data points a collection holds (for messages)."""
    return sum(
        len(metric.data.data_points)
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )
