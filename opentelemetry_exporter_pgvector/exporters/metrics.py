"""``PgvectorMetricExporter``: metric data points into ``otel_metric_points``."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from typing_extensions import Unpack

from ..config import HistogramAggregation, MetricsTemporality, PgvectorSettings, SettingsOverrides
from ..convert.metrics import MetricConverter, point_count
from .base import PgvectorExporterBase

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_DELTA = AggregationTemporality.DELTA
# The OTLP exporters' presets (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
_TEMPORALITY_PRESETS: dict[str, dict[type, AggregationTemporality]] = {
    "cumulative": {
        Counter: _CUMULATIVE, UpDownCounter: _CUMULATIVE, Histogram: _CUMULATIVE,
        ObservableCounter: _CUMULATIVE, ObservableUpDownCounter: _CUMULATIVE, ObservableGauge: _CUMULATIVE,
    },
    "delta": {
        Counter: _DELTA, UpDownCounter: _CUMULATIVE, Histogram: _DELTA,
        ObservableCounter: _DELTA, ObservableUpDownCounter: _CUMULATIVE, ObservableGauge: _CUMULATIVE,
    },
    "lowmemory": {
        Counter: _DELTA, UpDownCounter: _CUMULATIVE, Histogram: _DELTA,
        ObservableCounter: _CUMULATIVE, ObservableUpDownCounter: _CUMULATIVE, ObservableGauge: _CUMULATIVE,
    },
}


def _temporality(
    preset: MetricsTemporality, overrides: dict[type, AggregationTemporality] | None
) -> dict[type, AggregationTemporality]:
    """The temporality per instrument: the preset, then the caller's overrides."""
    return {**_TEMPORALITY_PRESETS[preset], **(overrides or {})}


def _aggregation(
    histogram: HistogramAggregation, overrides: dict[type, Aggregation] | None
) -> dict[type, Aggregation]:
    """The aggregation per instrument: histograms as configured, then the caller's overrides."""
    default: Aggregation = (
        ExponentialBucketHistogramAggregation()
        if histogram == "base2_exponential_bucket_histogram"
        else ExplicitBucketHistogramAggregation()
    )
    return {Histogram: default, **(overrides or {})}


class PgvectorMetricExporter(PgvectorExporterBase, MetricExporter):
    """Writes each collection of metric points to PostgreSQL with one COPY, in one transaction.

    Use it with ``PeriodicExportingMetricReader``, or ``OTEL_METRICS_EXPORTER=pgvector``.
    ``preferred_temporality`` and ``preferred_aggregation`` work as in ``OTLPMetricExporter``:
    cumulative by default (``OTEL_EXPORTER_PGVECTOR_METRICS_TEMPORALITY=delta`` or a
    per-instrument mapping for delta), explicit bucket histograms unless
    ``OTEL_EXPORTER_PGVECTOR_METRICS_HISTOGRAM_AGGREGATION`` says otherwise.
    """

    signal = "metric points"

    def __init__(
        self,
        settings: PgvectorSettings | None = None,
        *,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
        **overrides: Unpack[SettingsOverrides],
    ) -> None:
        PgvectorExporterBase.__init__(self, settings, **overrides)
        MetricExporter.__init__(
            self,
            preferred_temporality=_temporality(self.settings.metrics_temporality, preferred_temporality),
            preferred_aggregation=_aggregation(
                self.settings.metrics_histogram_aggregation, preferred_aggregation
            ),
        )
        self._converter = MetricConverter(self.settings.max_value_length)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Write one collection, within the export timeout or the reader's ``timeout_millis``,
        whichever is shorter."""
        ok = self._export(
            point_count(metrics_data), lambda: self._converter.convert_batch(metrics_data), timeout_millis
        )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE
