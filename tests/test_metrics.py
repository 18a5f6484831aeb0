"""PgvectorMetricExporter through real SDK pipelines, stored in the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import math
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import numpy as np
import psycopg
import pytest
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    InMemoryMetricReader,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, PgvectorMetricExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

RESOURCE = Resource.create({"service.name": "checkout"})
HOUR_AGO = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
SOON = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)


def _pipeline(exporter: PgvectorMetricExporter, *views: View) -> tuple[MeterProvider, PeriodicExportingMetricReader]:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(metric_readers=[reader], resource=RESOURCE, views=views), reader


@pytest.fixture
def exporter(settings: PgvectorSettings) -> Iterator[PgvectorMetricExporter]:
    exporter = PgvectorMetricExporter(settings)
    yield exporter
    exporter.shutdown()  # else its delivery (pool, maintenance thread) outlives the test and its schema


def test_every_point_type_round_trips_with_exact_buckets(
    exporter: PgvectorMetricExporter, conn: psycopg.Connection
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=RESOURCE,
        views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation(max_size=20))],
    )
    meter = provider.get_meter("shop", "1.0")
    meter.create_counter("orders", unit="{order}", description="orders placed").add(3, {"region": "eu"})
    meter.create_up_down_counter("queue.depth").add(-2)
    meter.create_gauge("temperature").set(21.5, {"room": "a"})
    histogram = meter.create_histogram("latency", unit="ms")
    exponential = meter.create_histogram("latency.exp", unit="ms")
    for value in (1, 7, 7, 30, 120, 9000):
        histogram.record(value)
        exponential.record(value)
    exponential.record(0)
    data = reader.get_metrics_data()
    assert exporter.export(data) == MetricExportResult.SUCCESS

    rows = {
        row["name"]: row
        for row in conn.cursor(row_factory=psycopg.rows.dict_row).execute("SELECT * FROM otel_metric_points_view")
    }
    assert set(rows) == {"orders", "queue.depth", "temperature", "latency", "latency.exp"}
    orders = rows["orders"]
    assert (orders["type"], orders["temporality"], orders["is_monotonic"], orders["value"]) == ("sum", "cumulative", True, 3.0)
    assert (orders["unit"], orders["description"], orders["attributes"]) == ("{order}", "orders placed", {"region": "eu"})
    assert (orders["service_name"], orders["scope_name"], orders["scope_version"]) == ("checkout", "shop", "1.0")
    assert orders["resource_attributes"]["service.name"] == "checkout"
    assert (rows["queue.depth"]["is_monotonic"], rows["queue.depth"]["value"]) == (False, -2.0)
    assert (rows["temperature"]["type"], rows["temperature"]["temporality"], rows["temperature"]["value"]) == ("gauge", None, 21.5)

    sdk_points = {m.name: m.data.data_points[0] for m in data.resource_metrics[0].scope_metrics[0].metrics}
    latency, expected = rows["latency"], sdk_points["latency"]
    assert latency["explicit_bounds"] == list(expected.explicit_bounds)
    assert latency["bucket_counts"] == list(expected.bucket_counts)
    assert (latency["count"], latency["sum"], latency["min"], latency["max"]) == (6, 9165.0, 1.0, 9000.0)
    exp_row, exp_point = rows["latency.exp"], sdk_points["latency.exp"]
    assert exp_row["type"] == "exponential_histogram"
    assert (exp_row["scale"], exp_row["zero_count"], exp_row["count"]) == (exp_point.scale, 1, 7)
    assert (exp_row["positive_offset"], exp_row["positive_bucket_counts"]) == (
        exp_point.positive.offset, list(exp_point.positive.bucket_counts))
    assert (exp_row["negative_offset"], exp_row["negative_bucket_counts"]) == (
        exp_point.negative.offset, list(exp_point.negative.bucket_counts))
    provider.shutdown()


def test_exemplars_link_points_to_spans(settings: PgvectorSettings, exporter: PgvectorMetricExporter) -> None:
    provider, _ = _pipeline(exporter)
    histogram = provider.get_meter("shop").create_histogram("http.server.duration", unit="ms")
    tracer = TracerProvider(resource=RESOURCE).get_tracer("shop")
    with tracer.start_as_current_span("GET /") as span:
        histogram.record(42.0, {"http.route": "/"})
    provider.force_flush()
    context = span.get_span_context()
    with TelemetryQuery(settings) as query:
        linked = [point for point in query.trace_context(f"{context.trace_id:032x}").metrics if point.linked]
    assert [(point.name, point.count) for point in linked] == [("http.server.duration", 1)]
    with psycopg.connect(settings.dsn.get_secret_value()) as conn:
        (exemplars,) = conn.execute(
            f'SELECT exemplars FROM "{settings.db_schema}".otel_metric_points'
        ).fetchone()
    assert exemplars[0]["trace_id"] == f"{context.trace_id:032x}"
    assert exemplars[0]["span_id"] == f"{context.span_id:016x}"
    assert exemplars[0]["value"] == 42.0
    provider.shutdown()


@pytest.mark.parametrize(("temporality", "expected"), [("cumulative", [3.0, 5.0]), ("delta", [3.0, 2.0])])
def test_delta_and_cumulative(settings: PgvectorSettings, conn: psycopg.Connection, temporality: str, expected: list[float]) -> None:
    exporter = PgvectorMetricExporter(settings.model_copy(update={"metrics_temporality": temporality}))
    provider, _ = _pipeline(exporter)
    counter = provider.get_meter("shop").create_counter("requests")
    counter.add(3)
    provider.force_flush()
    counter.add(2)
    provider.force_flush()
    provider.shutdown()  # the reader calls exporter.shutdown(timeout_millis=...)
    rows = conn.execute("SELECT value, temporality FROM otel_metric_points ORDER BY time").fetchall()
    assert rows[:2] == [(value, temporality) for value in expected]


def test_preferred_temporality_argument_overrides_the_setting(settings: PgvectorSettings) -> None:
    exporter = PgvectorMetricExporter(settings, preferred_temporality={Counter: AggregationTemporality.DELTA})
    assert exporter._preferred_temporality[Counter] == AggregationTemporality.DELTA
    assert exporter._preferred_temporality[Histogram] == AggregationTemporality.CUMULATIVE
    exponential = PgvectorMetricExporter(settings.model_copy(update={"metrics_histogram_aggregation": "base2_exponential_bucket_histogram"}))
    assert isinstance(exponential._preferred_aggregation[Histogram], ExponentialBucketHistogramAggregation)


_C, _D = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA


# The OTLP exporters' presets (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE), written out:
# UpDownCounters stay cumulative even under "delta" (their deltas would lose the current value).
@pytest.mark.parametrize(("preset", "expected"), [
    ("cumulative", {Counter: _C, UpDownCounter: _C, Histogram: _C, ObservableCounter: _C,
                    ObservableUpDownCounter: _C, ObservableGauge: _C}),
    ("delta", {Counter: _D, UpDownCounter: _C, Histogram: _D, ObservableCounter: _D,
               ObservableUpDownCounter: _C, ObservableGauge: _C}),
    ("lowmemory", {Counter: _D, UpDownCounter: _C, Histogram: _D, ObservableCounter: _C,
                   ObservableUpDownCounter: _C, ObservableGauge: _C}),
])
def test_temporality_presets(
    settings: PgvectorSettings, preset: str, expected: dict[type, AggregationTemporality]
) -> None:
    exporter = PgvectorMetricExporter(settings.model_copy(update={"metrics_temporality": preset}))
    assert {kind: exporter._preferred_temporality[kind] for kind in expected} == expected


def test_delta_preset_keeps_up_down_counters_cumulative(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    exporter = PgvectorMetricExporter(settings.model_copy(update={"metrics_temporality": "delta"}))
    provider, _ = _pipeline(exporter)
    meter = provider.get_meter("shop")
    in_queue, served = meter.create_up_down_counter("in_queue"), meter.create_counter("served")
    in_queue.add(5)
    served.add(5)
    provider.force_flush()
    in_queue.add(-2)
    served.add(2)
    provider.force_flush()
    provider.shutdown()
    def points(name: str) -> list[tuple[float, str]]:
        return conn.execute(
            "SELECT value, temporality FROM otel_metric_points WHERE name = %s ORDER BY time", (name,)
        ).fetchall()

    assert points("in_queue")[:2] == [(5.0, "cumulative"), (3.0, "cumulative")]  # shutdown repeats 3.0
    assert points("served") == [(5.0, "delta"), (2.0, "delta")]


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_histogram_percentiles_match_numpy(settings: PgvectorSettings, temporality: str) -> None:
    rng = np.random.default_rng(5)
    samples = rng.lognormal(mean=3.5, sigma=0.6, size=4000)
    width = 1.0
    exporter = PgvectorMetricExporter(settings.model_copy(update={"metrics_temporality": temporality}))
    provider, _ = _pipeline(exporter, View(
        instrument_name="latency",
        aggregation=ExplicitBucketHistogramAggregation(boundaries=[float(b) for b in np.arange(0, 400, width)]),
    ))
    histogram = provider.get_meter("shop").create_histogram("latency")
    for chunk in np.array_split(samples, 4):  # four collections, merged by the query
        for value in chunk:
            histogram.record(float(value))
        provider.force_flush()
    provider.shutdown()
    with TelemetryQuery(settings) as query:
        for agg, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            (bucket,) = query.metric_series("latency", HOUR_AGO, SOON, dt.timedelta(hours=3), agg=agg)
            assert abs(bucket.value - np.percentile(samples, q)) <= width, agg
        (mean,) = query.metric_series("latency", HOUR_AGO, SOON, dt.timedelta(hours=3), agg="avg")
        assert mean.value == pytest.approx(samples.mean())
        (largest,) = query.metric_series("latency", HOUR_AGO, SOON, dt.timedelta(hours=3), agg="max")
        assert largest.value == pytest.approx(samples.max())


def test_exponential_histogram_percentiles_match_numpy(settings: PgvectorSettings) -> None:
    rng = np.random.default_rng(9)
    samples = rng.exponential(scale=50.0, size=3000)
    exporter = PgvectorMetricExporter(settings)
    provider, reader = _pipeline(exporter, View(instrument_name="latency", aggregation=ExponentialBucketHistogramAggregation()))
    histogram = provider.get_meter("shop").create_histogram("latency")
    for value in samples:
        histogram.record(float(value))
    provider.force_flush()
    provider.shutdown()
    with TelemetryQuery(settings) as query, psycopg.connect(settings.dsn.get_secret_value()) as conn:
        (scale,) = conn.execute(f'SELECT scale FROM "{settings.db_schema}".otel_metric_points').fetchone()
        growth = 2.0 ** (2.0 ** -scale)  # adjacent bucket bounds differ by this factor
        for agg, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            (bucket,) = query.metric_series("latency", HOUR_AGO, SOON, 3600 * 3, agg=agg)
            expected = np.percentile(samples, q)
            assert expected / growth <= bucket.value <= expected * growth, agg


def test_sum_and_gauge_aggregations_and_rate_across_a_reset(settings: PgvectorSettings) -> None:
    exporter = PgvectorMetricExporter(settings)
    provider, _ = _pipeline(exporter)
    counter = provider.get_meter("shop").create_counter("requests")
    for increment in (5, 7, 11):
        counter.add(increment)
        provider.force_flush()
    provider.shutdown()
    # The process restarts: a new cumulative series (new start_time) counting from zero.
    restarted, _ = _pipeline(PgvectorMetricExporter(settings))
    restarted.get_meter("shop").create_counter("requests").add(4)
    restarted.shutdown()
    step = dt.timedelta(hours=3)
    with TelemetryQuery(settings) as query:
        (rate,) = query.metric_series("requests", HOUR_AGO, SOON, step, agg="rate")
        assert rate.value * step.total_seconds() == pytest.approx(5 + 7 + 11 + 4)
        (maximum,) = query.metric_series("requests", HOUR_AGO, SOON, step, agg="max")
        assert maximum.value == 23.0
        (median,) = query.metric_series("requests", HOUR_AGO, SOON, step, agg="p50", service="checkout")
        with psycopg.connect(settings.dsn.get_secret_value()) as conn:
            values = [v for (v,) in conn.execute(f'SELECT value FROM "{settings.db_schema}".otel_metric_points')]
        assert sorted(set(values)) == [4.0, 5.0, 12.0, 23.0]  # shutdown exports 23 once more
        assert median.value == pytest.approx(float(np.percentile(values, 50)))
        assert query.metric_series("requests", HOUR_AGO, SOON, step, service="nobody") == []
        with pytest.raises(ValueError):
            query.metric_series("requests", HOUR_AGO, SOON, step, agg="median")  # type: ignore[arg-type]


def test_rate_counts_the_first_point_of_a_series_that_started_before_since_only_as_a_baseline(
    exporter: PgvectorMetricExporter, settings: PgvectorSettings
) -> None:
    from opentelemetry.sdk.metrics.export import Sum

    since = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)

    def ns(moment: dt.datetime) -> int:
        return int(moment.timestamp()) * 10**9

    def point(series: str, started: dt.datetime, minutes: int, value: float) -> NumberDataPoint:
        return NumberDataPoint(attributes={"series": series}, start_time_unix_nano=ns(started),
                               time_unix_nano=ns(since + dt.timedelta(minutes=minutes)), value=value)

    points = [
        # started an hour before the window: 40 before it, then 100 and 130 in it (30 counted)
        point("old", since - dt.timedelta(hours=1), -10, 40.0),
        point("old", since - dt.timedelta(hours=1), 10, 100.0),
        point("old", since - dt.timedelta(hours=1), 20, 130.0),
        # started exactly at since: all of it is in the window (5, then 4 more)
        point("new", since, 10, 5.0),
        point("new", since, 20, 9.0),
    ]
    metric = Metric(name="served", description=None, unit=None, data=Sum(
        data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True))
    scope = ScopeMetrics(InstrumentationScope("x"), [metric], "")
    data = MetricsData([ResourceMetrics(RESOURCE, [scope], "")])
    assert exporter.export(data) is MetricExportResult.SUCCESS
    hour = dt.timedelta(hours=1)
    with TelemetryQuery(settings) as query:
        (rate,) = query.metric_series("served", since, since + hour, hour, agg="rate")
    assert rate.time == since
    assert rate.value * 3600 == pytest.approx(30 + 9)
    assert rate.points == 3  # the baseline of "old" is not a counted point


def test_nan_nul_and_bad_points_do_not_lose_the_batch(
    exporter: PgvectorMetricExporter, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    def gauge(name: str, value: float, attributes: dict[str, object]) -> Metric:
        point = NumberDataPoint(attributes=attributes, start_time_unix_nano=0, time_unix_nano=1_700_000_000_000_000_000, value=value)
        return Metric(name=name, description=None, unit=None, data=Gauge(data_points=[point]))

    metrics = [
        gauge("before", 1.0, {}),
        gauge("nan", float("nan"), {"k\x00": "v\x00", "f": float("nan")}),
        gauge("inf", float("-inf"), {"s": "\ud800"}),
        Metric(name="broken", description=None, unit=None, data=Gauge(data_points=[object()])),  # type: ignore[list-item]
        gauge("after\x00", 2.0, {}),
    ]
    data = MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope("x"), metrics, "")], "")])
    with caplog.at_level(logging.ERROR):
        assert exporter.export(data) == MetricExportResult.SUCCESS
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [
        "a data point of metric 'broken' could not be converted; it goes to otel_dead_letters"
    ]
    assert conn.execute("SELECT table_name, error FROM otel_dead_letters").fetchall() == [
        ("otel_metric_points", "could not convert a data point of metric 'broken': "
         "TypeError: unknown data point type object")
    ]
    rows = dict(conn.execute("SELECT name, value FROM otel_metric_points").fetchall())
    assert set(rows) == {"before", "nan", "inf", "after"}
    assert math.isnan(rows["nan"]) and rows["inf"] == -math.inf
    assert conn.execute("SELECT attributes FROM otel_metric_points WHERE name = 'nan'").fetchone()[0] == {"k": "v", "f": "NaN"}


class _UnknownData:
    """Metric data of no OTLP type, as a hand-built MetricsData might hold."""

    def __init__(self, points: list[NumberDataPoint]) -> None:
        self.data_points = points


def test_a_metric_of_unknown_type_goes_alone_to_the_dead_letters(
    exporter: PgvectorMetricExporter, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    def point(value: float) -> NumberDataPoint:
        return NumberDataPoint(
            attributes={}, start_time_unix_nano=0, time_unix_nano=1_700_000_000_000_000_000, value=value
        )

    metrics = [
        Metric(name="before", description=None, unit=None, data=Gauge(data_points=[point(1.0)])),
        Metric(
            name="odd", description=None, unit=None,
            data=_UnknownData([point(2.0), point(3.0)]),  # type: ignore[arg-type]
        ),
        Metric(name="after", description="d", unit="ms", data=Gauge(data_points=[point(4.0), point(5.0)])),
    ]
    data = MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope("x"), metrics, "")], "")])
    with caplog.at_level(logging.ERROR):
        assert exporter.export(data) == MetricExportResult.SUCCESS
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == [
        "a data point of metric 'odd' could not be converted; it goes to otel_dead_letters"
    ] * 2
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "unknown metric data type _UnknownData"
    letters = conn.execute("SELECT error, content->>'record' FROM otel_dead_letters ORDER BY 2").fetchall()
    assert [error for error, _ in letters] == [
        "could not convert a data point of metric 'odd': TypeError: unknown metric data type _UnknownData"
    ] * 2
    assert "value=2.0" in letters[0][1] and "value=3.0" in letters[1][1]
    rows = conn.execute("SELECT name, type, value, description, unit FROM otel_metric_points ORDER BY value")
    assert rows.fetchall() == [
        ("before", "gauge", 1.0, None, None), ("after", "gauge", 4.0, "d", "ms"), ("after", "gauge", 5.0, "d", "ms")
    ]


def test_observable_instruments_and_contract(settings: PgvectorSettings, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture) -> None:
    (entry,) = [e for e in entry_points(group="opentelemetry_metrics_exporter") if e.name == "pgvector"]
    assert entry.load() is PgvectorMetricExporter
    exporter = PgvectorMetricExporter(settings)
    provider, _ = _pipeline(exporter)
    provider.get_meter("shop").create_observable_gauge("cpu", callbacks=[lambda _options: [Observation(0.5, {"cpu": 0})]])
    provider.shutdown()
    assert conn.execute("SELECT name, value FROM otel_metric_points").fetchall() == [("cpu", 0.5)]
    exporter.shutdown(timeout_millis=1000)  # second shutdown: a warning, no error
    assert exporter.export(MetricsData([])) == MetricExportResult.FAILURE
    assert exporter.force_flush(timeout_millis=10) is True


def test_negative_exponential_buckets_round_trip_and_estimate(exporter: PgvectorMetricExporter, settings: PgvectorSettings) -> None:
    """The SDK's histogram instrument refuses negative values, but OTLP points carry them."""
    from opentelemetry.sdk.metrics.export import (
        Buckets,
        ExponentialHistogram,
        ExponentialHistogramDataPoint,
    )

    now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1e9)
    point = ExponentialHistogramDataPoint(
        attributes={}, start_time_unix_nano=now - 10**9, time_unix_nano=now, count=10, sum=-30.0,
        scale=1, zero_count=2, positive=Buckets(offset=2, bucket_counts=[3]), negative=Buckets(offset=3, bucket_counts=[1, 4]),
        flags=0, min=-5.5, max=2.5,
    )
    metric = Metric(name="offset", description=None, unit=None,
                    data=ExponentialHistogram(data_points=[point], aggregation_temporality=AggregationTemporality.DELTA))
    data = MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope("x"), [metric], "")], "")])
    assert exporter.export(data) == MetricExportResult.SUCCESS
    with psycopg.connect(settings.dsn.get_secret_value()) as conn:
        row = conn.execute(
            f'SELECT scale, zero_count, positive_offset, positive_bucket_counts, negative_offset,'
            f' negative_bucket_counts FROM "{settings.db_schema}".otel_metric_points'
        ).fetchone()
    assert row == (1, 2, 2, [3], 3, [1, 4])
    with TelemetryQuery(settings) as query:
        (median,) = query.metric_series("offset", HOUR_AGO, SOON, 3600 * 3, agg="p50")
        (p95,) = query.metric_series("offset", HOUR_AGO, SOON, 3600 * 3, agg="p95")
    # Scale 1: bucket i covers (2^(i/2), 2^((i+1)/2)]. Ascending: 4 in (-2^2.5, -4], 1 in (-4, -2^1.5],
    # 2 at zero, 3 in (2, 2^1.5]. Rank 5 of 10 is the top of the second bucket; rank 9.5 lies in the
    # positive bucket, whose top is clamped to the observed max 2.5.
    assert median.value == pytest.approx(-(2**1.5))
    assert p95.value == pytest.approx(2 + (2.5 - 2) * (9.5 - 7) / 3)


def test_the_readers_shorter_timeout_bounds_the_export(exporter: PgvectorMetricExporter) -> None:
    """PeriodicExportingMetricReader passes timeout_millis; a shorter one than the exporter's wins."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader], resource=RESOURCE).get_meter("shop")
    meter.create_counter("orders").add(1)
    assert exporter.export(reader.get_metrics_data(), timeout_millis=10_000) == MetricExportResult.SUCCESS
    assert exporter.delivery.stats().spool.spooled_batches == 0  # stored within 10 s

    meter.create_counter("refunds").add(1)
    started = time.monotonic()
    # 1 ms is too short to write anything: the collection goes to the spool instead of waiting
    assert exporter.export(reader.get_metrics_data(), timeout_millis=1) == MetricExportResult.SUCCESS
    assert time.monotonic() - started < exporter.settings.timeout
    # spooled rather than written (the background replayer may store it a moment later)
    assert exporter.delivery.stats().spool.spooled_batches == 1
    exporter.shutdown()


def test_metric_names_list_each_metric_with_its_series_and_points(settings: PgvectorSettings) -> None:
    """Two services record one counter (three attribute sets in all) and one a histogram; each
    is collected twice and once more at shutdown, so every series has three cumulative points."""
    providers = {}
    for service in ("checkout", "payments"):
        reader = PeriodicExportingMetricReader(PgvectorMetricExporter(settings),
                                               export_interval_millis=3_600_000)
        providers[service] = MeterProvider(metric_readers=[reader],
                                           resource=Resource.create({"service.name": service}))
    orders = {service: provider.get_meter("shop").create_counter("shop.orders", unit="{order}",
                                                                  description="orders placed")
              for service, provider in providers.items()}
    meter = providers["checkout"].get_meter("shop")
    latency = meter.create_histogram("http.server.request.duration", unit="s")
    for _ in range(2):
        orders["checkout"].add(1, {"outcome": "placed"})
        orders["checkout"].add(1, {"outcome": "failed"})
        orders["payments"].add(1, {"outcome": "placed"})  # checkout's attributes, another resource
        latency.record(0.25, {"http.route": "/api/checkout"})
        for provider in providers.values():
            provider.force_flush()
    for provider in providers.values():
        provider.shutdown()
    with TelemetryQuery(settings) as query:
        names = query.metric_names()
        of_payments = query.metric_names(service="payments")
        later = query.metric_names(since=SOON, until=SOON + dt.timedelta(hours=1))
    assert [(m.name, m.type, m.unit, m.description, m.services, m.series, m.points) for m in names] == [
        ("http.server.request.duration", "histogram", "s", None, ["checkout"], 1, 3),
        ("shop.orders", "sum", "{order}", "orders placed", ["checkout", "payments"], 3, 9),
    ]
    assert all(HOUR_AGO < m.last_seen < SOON for m in names)
    assert [(m.name, m.services, m.series, m.points) for m in of_payments] == [
        ("shop.orders", ["payments"], 1, 3)
    ]
    assert later == []

    async def ask() -> list[Any]:
        async with AsyncTelemetryQuery(settings) as query:
            return await query.metric_names()

    assert asyncio.run(ask()) == names
