"""Metric queries: the metrics stored, one metric as a series of time buckets, and the
stored points of a time range.

``metric_names`` (a :mod:`plan <.plan>`) lists each metric of a window with its type, unit,
description and how many series (resource and attribute combinations) and points it has.


``metric_series`` answers ``avg``, ``sum``, ``max``, ``rate`` and ``p50``/``p95``/``p99``:

* Sums and gauges with avg/sum/max/pNN aggregate the point values in SQL (NaN points, which
  the table keeps, are left out).
* ``rate`` is the per-second increase of a sum: delta points count as they are; cumulative
  points count as the difference to the previous point of their series (resource and
  attributes), and a new ``start_time`` or a drop in value is a reset, after which the whole
  value counts. The first point of a series that started before ``since`` is only a baseline.
* Histograms (explicit and exponential) are turned into per-interval increments the same
  way, merged per time bucket, and percentiles are estimated from the merged buckets by
  linear interpolation within the bucket holding the rank, clamped by the observed min and
  max (tighter than the open-ended first and last buckets). ``avg`` is sum / count, ``sum``
  the sum of observations, ``max`` the largest ``max`` (for cumulative points, since the
  series started).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from psycopg import sql

from ..db.database import Database
from ..errors import QueryError
from .plan import Fetch, Plan, fetch_all
from .rows import Rows
from .trace_context import MetricPoint
from .traces import attribute_filter, time_window

Aggregation = Literal["avg", "sum", "max", "rate", "p50", "p95", "p99"]
AGGREGATIONS: tuple[str, ...] = ("avg", "sum", "max", "rate", "p50", "p95", "p99")
_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_HISTOGRAMS = ("histogram", "exponential_histogram")

# A histogram as {(lower, upper): count}; the zero bucket of exponential histograms is (0, 0).
Buckets = dict[tuple[float, float], int]


@dataclass(frozen=True)
class MetricBucket:
    """One time bucket of a metric series; ``value`` is None when nothing could be computed."""

    time: dt.datetime
    value: float | None
    points: int


@dataclass(frozen=True)
class MetricName:
    """A metric stored in the window: what it measures, who records it, how much of it there is.

    A metric whose services declare different types or units is listed once per combination.
    """

    name: str
    type: str
    unit: str | None
    description: str | None
    services: list[str]
    series: int  # distinct (resource, attributes) combinations: the lines a chart would draw
    points: int
    last_seen: dt.datetime


def metric_names(database: Database, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 service: str | None = None) -> Plan[Rows[MetricName]]:
    """The metrics with points in the window (default: the last hour), by name."""
    since, until = time_window(since, until)
    conditions = [sql.SQL("time >= %s"), sql.SQL("time < %s")]
    params: list[Any] = [since, until]
    if service is not None:
        conditions.append(sql.SQL("service_name = %s"))
        params.append(service)
    statement = sql.SQL(
        "SELECT name, type, unit, max(nullif(description, '')) AS description,"
        " array_agg(DISTINCT service_name ORDER BY service_name) AS services,"
        " count(DISTINCT (resource_id, attributes)) AS series, count(*) AS points, max(time) AS last_seen"
        " FROM {} WHERE {} GROUP BY name, type, unit ORDER BY name, type, unit"
    ).format(database.qualified("otel_metric_points"), sql.SQL(" AND ").join(conditions))
    return fetch_all(Fetch(statement, params, MetricName))


def _step(step: dt.timedelta | float) -> dt.timedelta:
    step = step if isinstance(step, dt.timedelta) else dt.timedelta(seconds=step)
    if step <= dt.timedelta(0):
        raise QueryError("step must be positive")
    return step


def metric_series(
    database: Database,
    name: str,
    since: dt.datetime,
    until: dt.datetime,
    step: dt.timedelta | float,
    service: str | None = None,
    attributes: dict[str, Any] | None = None,
    agg: Aggregation = "avg",
) -> Plan[Rows[MetricBucket]]:
    """Buckets of ``step`` from ``since`` to ``until`` (empty buckets left out), oldest first.

    Two statements: the metric's type (of its first point) decides whether SQL aggregates the
    values or the points are fetched for the increments and histograms computed here."""
    if agg not in AGGREGATIONS:
        raise QueryError(f"unknown aggregation {agg!r}: use one of {', '.join(AGGREGATIONS)}")
    step = _step(step)
    conditions: list[sql.Composable] = [sql.SQL("name = %s AND time >= %s AND time < %s")]
    params: list[Any] = [name, since, until]
    if service is not None:
        conditions.append(sql.SQL("service_name = %s"))
        params.append(service)
    if attributes:
        conditions.append(sql.SQL("attributes @> %s::jsonb"))
        params.append(orjson.dumps(attributes).decode())
    where = sql.SQL(" AND ").join(conditions)
    table = database.qualified("otel_metric_points")
    return _metric_series(table, where, params, since, step, agg)


def _metric_series(table: sql.Identifier, where: sql.Composable, params: list[Any], since: dt.datetime,
                   step: dt.timedelta, agg: str) -> Plan[Rows[MetricBucket]]:
    found = yield Fetch(sql.SQL("SELECT type FROM {} WHERE {} LIMIT 1").format(table, where), params)
    if not found:
        return Rows([], MetricBucket)
    bucket = sql.SQL("date_bin(%s, time, %s)")
    if found[0][0] not in _HISTOGRAMS and agg != "rate":
        expression = {
            "avg": "avg(value)",
            "sum": "sum(value)",
            "max": "max(value)",
        }.get(agg) or f"percentile_cont({_QUANTILES[agg]}) WITHIN GROUP (ORDER BY value)"
        query = sql.SQL(
            "SELECT {bucket} AS bucket, {expression}, count(*) FROM {table}"
            " WHERE {where} AND value <> 'NaN' GROUP BY 1 ORDER BY 1"
        ).format(bucket=bucket, expression=sql.SQL(expression), table=table, where=where)
        result = yield Fetch(query, [step, since, *params])
        return Rows([MetricBucket(time, None if value is None else float(value), count)
                     for time, value, count in result], MetricBucket)
    query = sql.SQL(
        "SELECT {bucket} AS bucket, resource_id, attributes::text AS series, start_time, type, temporality,"
        " value, count, sum, min, max, explicit_bounds, bucket_counts, scale, zero_count,"
        " positive_offset, positive_bucket_counts, negative_offset, negative_bucket_counts"
        " FROM {table} WHERE {where} ORDER BY resource_id, series, time"
    ).format(bucket=bucket, table=table, where=where)
    points = yield Fetch(query, [step, since, *params], dict)
    return Rows(_rates(points, since, step) if agg == "rate" else _histogram_series(points, since, agg),
                MetricBucket)


def metric_points(
    database: Database,
    name: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    service: str | None = None,
    attributes: dict[str, Any] | None = None,
    limit: int = 1000,
) -> Plan[Rows[MetricPoint]]:
    """The points stored for ``[since, until)`` (default: the last hour), oldest first, at most
    ``limit``: of metric ``name`` and ``service`` when given, with all of ``attributes``
    (typed as given, as in ``find_traces``). ``linked`` marks points whose exemplars link them
    to traces."""
    if not 1 <= limit <= 10_000:
        raise QueryError(f"limit must be between 1 and 10000, got {limit}")
    since, until = time_window(since, until)
    conditions: list[sql.Composable] = [sql.SQL("time >= %s AND time < %s")]
    params: list[Any] = [since, until]
    for column, value in (("name", name), ("service_name", service)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    matching = attribute_filter(attributes)
    if matching is not None:
        conditions.append(sql.SQL("attributes @> %s::jsonb"))
        params.append(matching)
    statement = sql.SQL(
        "SELECT time, service_name, name, type, unit, value, count, sum, attributes,"
        " exemplars <> '[]' AS linked FROM {} WHERE {} ORDER BY time, name LIMIT %s"
    ).format(database.qualified("otel_metric_points"), sql.SQL(" AND ").join(conditions))
    return fetch_all(Fetch(statement, [*params, limit], MetricPoint))


def _series_increments(
    points: Sequence[dict[str, Any]], since: dt.datetime
) -> Iterable[tuple[dict[str, Any], Any]]:
    """``(point, increment)`` for each point counted: see the module docstring for the rules.

    ``points`` are ordered by series, then time. The increment is a number for sums and
    ``(Buckets, count, sum)`` for histograms.
    """
    previous: dict[str, Any] | None = None
    for point in points:
        same_series = (
            previous is not None
            and previous["resource_id"] == point["resource_id"]
            and previous["series"] == point["series"]
        )
        value = _point_value(point)
        if point["temporality"] != "cumulative":
            yield point, value
        elif same_series and previous is not None and previous["start_time"] == point["start_time"]:
            increment = _difference(value, _point_value(previous))
            yield point, increment if increment is not None else value  # None: a reset
        elif point["start_time"] is not None and point["start_time"] >= since:
            yield point, value  # the series started inside the window: all of it is new
        previous = point


def _point_value(point: dict[str, Any]) -> Any:
    if point["type"] not in _HISTOGRAMS:
        return point["value"]
    return _buckets(point), point["count"] or 0, point["sum"] or 0.0


def _difference(current: Any, previous: Any) -> Any:
    """``current - previous``, or None when ``current`` is smaller (the series was reset)."""
    if not isinstance(current, tuple):
        if current is None or previous is None or math.isnan(current) or math.isnan(previous):
            return None
        return current - previous if current >= previous else None
    buckets, count, total = current
    old_buckets, old_count, old_total = previous
    if count < old_count:
        return None
    difference = {key: n - old_buckets.get(key, 0) for key, n in buckets.items()}
    if any(n < 0 for n in difference.values()):
        return None
    return difference, count - old_count, total - old_total


def _buckets(point: dict[str, Any]) -> Buckets:
    """The point's buckets as {(lower, upper): count}."""
    result: Buckets = {}
    if point["type"] == "histogram":
        bounds = [-math.inf, *(point["explicit_bounds"] or []), math.inf]
        for index, count in enumerate(point["bucket_counts"] or []):
            if count:
                result[(bounds[index], bounds[index + 1])] = count
        return result
    base = 2.0 ** (2.0 ** -point["scale"])
    for index, count in enumerate(point["positive_bucket_counts"] or [], start=point["positive_offset"] or 0):
        if count:
            result[(base**index, base ** (index + 1))] = count
    for index, count in enumerate(point["negative_bucket_counts"] or [], start=point["negative_offset"] or 0):
        if count:
            result[(-(base ** (index + 1)), -(base**index))] = count
    if point["zero_count"]:
        result[(0.0, 0.0)] = point["zero_count"]
    return result


def _rates(points: Sequence[dict[str, Any]], since: dt.datetime, step: dt.timedelta) -> list[MetricBucket]:
    increase: dict[dt.datetime, float] = defaultdict(float)
    counted: dict[dt.datetime, int] = defaultdict(int)
    for point, value in _series_increments(points, since):
        if isinstance(value, tuple):
            value = value[1]  # a histogram's rate is observations per second
        if value is None or math.isnan(value):
            continue
        increase[point["bucket"]] += value
        counted[point["bucket"]] += 1
    seconds = step.total_seconds()
    return [MetricBucket(time, increase[time] / seconds, counted[time]) for time in sorted(increase)]


def _histogram_series(points: Sequence[dict[str, Any]], since: dt.datetime, agg: str) -> list[MetricBucket]:
    merged: dict[dt.datetime, Buckets] = defaultdict(lambda: defaultdict(int))
    counts: dict[dt.datetime, int] = defaultdict(int)
    sums: dict[dt.datetime, float] = defaultdict(float)
    low: dict[dt.datetime, float] = {}
    high: dict[dt.datetime, float] = {}
    counted: dict[dt.datetime, int] = defaultdict(int)
    for point, (buckets, count, total) in _series_increments(points, since):
        time = point["bucket"]
        for key, n in buckets.items():
            merged[time][key] += n
        counts[time] += count
        sums[time] += total
        counted[time] += 1
        if point["min"] is not None and not math.isnan(point["min"]):
            low[time] = min(low.get(time, math.inf), point["min"])
        if point["max"] is not None and not math.isnan(point["max"]):
            high[time] = max(high.get(time, -math.inf), point["max"])
    series = []
    for time in sorted(counted):
        value: float | None
        if agg == "avg":
            value = sums[time] / counts[time] if counts[time] else None
        elif agg == "sum":
            value = sums[time]
        elif agg == "max":
            value = high.get(time)
        else:
            value = histogram_quantile(merged[time], _QUANTILES[agg], low.get(time), high.get(time))
        series.append(MetricBucket(time, value, counted[time]))
    return series


def histogram_quantile(
    buckets: Buckets, quantile: float, minimum: float | None = None, maximum: float | None = None
) -> float | None:
    """Estimate a quantile from bucket counts: linear within the bucket that holds its rank.

    Infinite bucket edges are replaced by the observed ``minimum``/``maximum`` (or the
    bucket's finite edge), and every estimate is clamped to them.
    """
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0
    ordered = sorted(buckets.items())
    for index, ((lower, upper), count) in enumerate(ordered):
        if seen + count >= rank or index == len(ordered) - 1:
            if minimum is not None:
                lower = max(lower, minimum)
                upper = max(upper, minimum)
            if maximum is not None:
                upper = min(upper, maximum)
                lower = min(lower, maximum)
            if math.isinf(lower):
                lower = upper
            if math.isinf(upper):
                upper = lower
            fraction = (rank - seen) / count if count else 1.0
            return lower + (upper - lower) * min(1.0, max(0.0, fraction))
        seen += count
    return None
