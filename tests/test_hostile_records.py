"""Records the database could never take, or conversion could not read, through the real exporters.

Each hostile record is exported in a batch between good ones, and must land: sanitized as
``convert/limits.py`` and ``convert/values.py`` document (the original kept in the row's
attributes where it was changed), or in ``otel_dead_letters``. Before, each of them either
failed its whole batch for ever (spooled, then refused at every replay) or was dropped while
``export()`` said SUCCESS.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from psycopg.rows import dict_row

from opentelemetry_exporter_pgvector import (
    PgvectorLogExporter,
    PgvectorMetricExporter,
    PgvectorSettings,
    PgvectorSpanExporter,
)
from opentelemetry_exporter_pgvector.convert.logs import LogConverter

MARK = "...[truncated]"
ORIGINAL = "otel_pgvector.original"
INT64_MAX = 2**63 - 1
YEAR_9999 = int(dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc).timestamp()) * 10**9
NOW = time.time_ns()
# the time columns of a row, back in Unix nanoseconds (otel_spans.start_time_ns's comment)
SPAN_NANOS = (
    "(extract(epoch FROM start_time) * 1000000)::bigint * 1000 + start_time_ns AS start,"
    " (extract(epoch FROM end_time) * 1000000)::bigint AS end_micros"
)


def incompressible(length: int, seed: int) -> str:
    """Random text of 1- to 4-byte UTF-8 characters: nothing for pglz to compress."""
    pick = random.Random(seed)
    ranges = ((0x21, 0x7E), (0x400, 0x4FF), (0x4E00, 0x9FFF), (0x1F300, 0x1F5FF))
    return "".join(chr(pick.randint(*pick.choice(ranges))) for _ in range(length))


def assert_index_cut(stored: str, full: str) -> None:
    """``stored`` is ``full`` cut to fit a btree row: at most 1024 UTF-8 bytes, marked."""
    size = len(stored.encode())
    assert 1024 - 3 - len(MARK) <= size <= 1024  # cut at a character boundary, no shorter
    assert stored.endswith(MARK) and full.startswith(stored[: -len(MARK)])


def spans_from_sdk(
    resource: Resource, *specs: tuple[str, Any, Any], attributes: dict[str, Any] | None = None
) -> tuple[ReadableSpan, ...]:
    """Finished SDK spans ``(name, start_time, end_time)``, as an application's tracer makes them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.hostile")
    for name, start, end in specs:
        tracer.start_span(name, start_time=start, attributes=attributes).end(end_time=end)
    provider.shutdown()
    return memory.get_finished_spans()


def export_spans(settings: PgvectorSettings, spans: Sequence[ReadableSpan]) -> None:
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def span_rows(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(f"SELECT *, {SPAN_NANOS} FROM otel_spans").fetchall()
    return {row["name"]: row for row in rows}


def no_dead_letters(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM otel_dead_letters").fetchone() == (0,)


RESOURCE = Resource.create({"service.name": "hostile"})


# --- item 1(a): values the wire or the indexes refuse ----------------------------------------------


def test_names_too_long_for_the_btree_index_are_cut_and_kept_whole(
    shape_settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """(service_name, name, start_time) refused a row over 2704 bytes: error 54000 for the batch."""
    name = incompressible(3000, 1)
    service = incompressible(3000, 2)
    (good,) = spans_from_sdk(RESOURCE, ("good", None, None))
    (long_name,) = spans_from_sdk(RESOURCE, (name, None, None))
    (long_service,) = spans_from_sdk(Resource.create({"service.name": service}), ("long service", None, None))
    export_spans(shape_settings, [good, long_name, long_service])

    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute("SELECT name, service_name, attributes FROM otel_spans").fetchall()
    assert len(rows) == 3 and no_dead_letters(conn)
    (cut,) = [row for row in rows if row["name"] not in ("good", "long service")]
    assert_index_cut(cut["name"], name)
    assert cut["attributes"] == {ORIGINAL: {"name": name}}
    (other,) = [row for row in rows if row["name"] == "long service"]
    assert_index_cut(other["service_name"], service)
    assert other["attributes"] == {}  # a service name is whole in the resource, not copied
    (resource_attributes,) = conn.execute(
        "SELECT attributes FROM otel_resources WHERE service_name = %s", (other["service_name"],)
    ).fetchone()
    assert resource_attributes["service.name"] == service
    services = {service_name for (service_name,) in conn.execute("SELECT service_name FROM otel_shapes")}
    assert services == {"hostile", other["service_name"]}


def test_float_and_out_of_range_span_times_are_rounded_or_clamped(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """Each of these failed its batch: a float is no int8, and a duration or time overflowed int64."""
    start = NOW - 10**9
    float_start, float_end = start * 1.0, (start + 1_234_567) * 1.0
    spans = spans_from_sdk(
        RESOURCE,
        ("before", start, start + 1000),
        ("float", float_start, float_end),
        ("year 9999", start, YEAR_9999),
        ("beyond int64", start, 2**64),
        ("both beyond int64", 10**30, 10**30 + 5),
        ("before 1970", -5, start),
        ("after", start, start + 2000),
    )
    export_spans(settings, spans)

    rows = span_rows(conn)
    assert set(rows) == {span.name for span in spans} and no_dead_letters(conn)
    floats = rows["float"]
    expected = (round(float_start), round(float_end) - round(float_start))
    assert (floats["start"], floats["duration_ns"]) == expected
    assert floats["attributes"] == {}  # rounding a float time is not a change worth recording
    for name, original in (("year 9999", YEAR_9999), ("beyond int64", 2**64)):
        row = rows[name]
        assert row["end_micros"] == INT64_MAX // 1000  # 2262-04-11T23:47:16.854775Z
        assert row["duration_ns"] == INT64_MAX - start
        assert row["attributes"] == {ORIGINAL: {"end_time_unix_nano": original}}
    both = rows["both beyond int64"]
    assert (both["start"], both["duration_ns"]) == (INT64_MAX, 0)
    originals = {"start_time_unix_nano": 10**30, "end_time_unix_nano": 10**30 + 5}
    assert both["attributes"] == {ORIGINAL: originals}
    early = rows["before 1970"]
    assert (early["start"], early["duration_ns"]) == (0, start)
    assert early["attributes"] == {ORIGINAL: {"start_time_unix_nano": -5}}


def test_a_time_that_is_no_number_counts_as_missing(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    start = NOW - 10**9
    spans = spans_from_sdk(
        RESOURCE, ("nan start", float("nan"), start), ("infinite end", start, float("inf"))
    )
    export_spans(settings, spans)

    rows = span_rows(conn)
    nan_start = rows["nan start"]  # timed at its end, as a span never started properly
    assert (nan_start["start"], nan_start["duration_ns"]) == (start, 0)
    assert nan_start["attributes"] == {ORIGINAL: {"start_time_unix_nano": "NaN"}}
    infinite = rows["infinite end"]  # exported without an end
    assert (infinite["start"], infinite["end_time"], infinite["duration_ns"]) == (start, None, None)
    assert infinite["attributes"] == {ORIGINAL: {"end_time_unix_nano": "Infinity"}}


@pytest.fixture
def logger_provider(shape_settings: PgvectorSettings) -> Iterator[LoggerProvider]:
    """Records exported in one batch at ``force_flush()``."""
    provider = LoggerProvider(resource=RESOURCE)
    processor = BatchLogRecordProcessor(PgvectorLogExporter(shape_settings), schedule_delay_millis=60_000)
    provider.add_log_record_processor(processor)
    yield provider
    provider.shutdown()


def test_log_times_and_a_severity_too_long_for_the_shape_index(
    logger_provider: LoggerProvider, conn: psycopg.Connection
) -> None:
    """A log shape's severity is indexed with its service in otel_shapes (service_name, status_code)."""
    severity = incompressible(3000, 3)
    logger = logger_provider.get_logger("hostile")
    logger.emit(body="before", timestamp=NOW)
    logger.emit(body="float times", timestamp=NOW * 1.0, observed_timestamp=(NOW + 7) * 1.0)
    logger.emit(body="beyond int64", timestamp=2**70, observed_timestamp=NOW)
    logger.emit(body="long severity", severity_text=severity, timestamp=NOW)
    logger.emit(body="after", timestamp=NOW)
    logger_provider.force_flush()

    with conn.cursor(row_factory=dict_row) as cursor:
        rows = {row["body"]: row for row in cursor.execute(
            "SELECT body, severity_text, attributes, shape_key,"
            " (extract(epoch FROM time) * 1000000)::bigint * 1000 + time_ns AS time,"
            " (extract(epoch FROM observed_time) * 1000000)::bigint AS observed_micros FROM otel_logs"
        )}
    assert set(rows) == {"before", "float times", "beyond int64", "long severity", "after"}
    assert no_dead_letters(conn)
    float_times = rows["float times"]
    expected = (round(NOW * 1.0), round((NOW + 7) * 1.0) // 1000)
    assert (float_times["time"], float_times["observed_micros"]) == expected
    assert rows["beyond int64"]["time"] == INT64_MAX
    assert rows["beyond int64"]["attributes"] == {ORIGINAL: {"time_unix_nano": 2**70}}
    long_severity = rows["long severity"]
    assert long_severity["severity_text"] == severity  # not indexed in otel_logs: kept whole
    (status,) = conn.execute(
        "SELECT status_code FROM otel_shapes WHERE shape_key = %s", (long_severity["shape_key"],)
    ).fetchone()
    assert_index_cut(status, severity)


@pytest.fixture
def metric_exporter(settings: PgvectorSettings) -> Iterator[PgvectorMetricExporter]:
    exporter = PgvectorMetricExporter(settings)
    yield exporter
    exporter.shutdown()


def gauge(name: str, value: Any, time_unix_nano: Any = NOW, start_time_unix_nano: Any = 0) -> Metric:
    point = NumberDataPoint(
        attributes={"k": "v"}, start_time_unix_nano=start_time_unix_nano, time_unix_nano=time_unix_nano,
        value=value,
    )
    return Metric(name=name, description=None, unit=None, data=Gauge(data_points=[point]))


def export_metrics(exporter: PgvectorMetricExporter, *metrics: Metric) -> None:
    scope = ScopeMetrics(InstrumentationScope("tests.hostile"), list(metrics), "")
    data = MetricsData([ResourceMetrics(RESOURCE, [scope], "")])
    assert exporter.export(data) == MetricExportResult.SUCCESS


def test_metric_names_times_and_values_out_of_range(
    metric_exporter: PgvectorMetricExporter, conn: psycopg.Connection
) -> None:
    """A name over the (name, time) index limit, float and beyond-int64 times, and an int no
    double holds (``counter.add(10**400)``, which failed float())."""
    name = incompressible(3000, 4)
    export_metrics(
        metric_exporter,
        gauge("before", 1.0),
        gauge(name, 2.0),
        gauge("float times", 3.0, NOW * 1.0, (NOW - 10**9) * 1.0),
        gauge("beyond int64", 4.0, 10**30),
        gauge("huge value", 10**400),
        gauge("after", 5.0),
    )

    with conn.cursor(row_factory=dict_row) as cursor:
        rows = {row["name"]: row for row in cursor.execute(
            "SELECT name, value, attributes,"
            " (extract(epoch FROM time) * 1000000)::bigint AS micros,"
            " (extract(epoch FROM start_time) * 1000000)::bigint AS start_micros FROM otel_metric_points"
        )}
    assert len(rows) == 6 and no_dead_letters(conn)
    (cut,) = set(rows) - {"before", "float times", "beyond int64", "huge value", "after"}
    assert_index_cut(cut, name)
    assert rows[cut]["attributes"] == {"k": "v", ORIGINAL: {"name": name}}
    float_times = rows["float times"]
    assert (float_times["micros"], float_times["start_micros"]) == (
        round(NOW * 1.0) // 1000, round((NOW - 10**9) * 1.0) // 1000
    )
    assert rows["beyond int64"]["micros"] == INT64_MAX // 1000
    assert rows["beyond int64"]["attributes"] == {"k": "v", ORIGINAL: {"time_unix_nano": 10**30}}
    assert rows["huge value"]["value"] == float("inf")
    assert rows["huge value"]["attributes"] == {"k": "v", ORIGINAL: {"value": 10**400}}


# --- item 5: records conversion could not read ------------------------------------------------------


def nested_lists(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def nested_maps(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"in": value}
    return value


def depth_of(value: Any) -> tuple[int, Any]:
    """How many arrays and maps wrap the innermost value, and that value."""
    depth = 0
    while isinstance(value, (list, dict)):
        value = value[0] if isinstance(value, list) else value["in"]
        depth += 1
    return depth, value


# orjson's limit, which the sanitizing path keeps: 254 arrays and maps counting the outermost
# (the attributes object, or the body), then the marker where the 255th began.
KEPT_LEVELS = 254
DEPTH_MARK = "...[nested too deep]"


def test_a_span_attribute_nested_10000_deep_is_cut_with_a_marker(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """It raised RecursionError in conversion, logged and dropped while export() said SUCCESS."""
    (before, after) = spans_from_sdk(RESOURCE, ("before", None, None), ("after", None, None))
    deep = ReadableSpan(  # a plain dict: the SDK's own attribute cleaning would recurse first
        name="deep", context=SpanContext(7, 8, is_remote=False), resource=RESOURCE,
        attributes={"deep": nested_lists(10_000), "fine": 1}, start_time=NOW, end_time=NOW + 1,
    )
    # about as deep as the SDK's own attribute cleaning lets through
    (via_sdk,) = spans_from_sdk(RESOURCE, ("via sdk", None, None), attributes={"deep": nested_maps(400)})
    export_spans(settings, [before, deep, via_sdk, after])

    rows = span_rows(conn)
    assert set(rows) == {"before", "deep", "via sdk", "after"} and no_dead_letters(conn)
    assert rows["deep"]["attributes"]["fine"] == 1
    assert depth_of(rows["deep"]["attributes"]["deep"]) == (KEPT_LEVELS - 1, DEPTH_MARK)  # in attributes
    assert depth_of(rows["via sdk"]["attributes"]["deep"]) == (KEPT_LEVELS - 1, DEPTH_MARK)


def test_a_log_body_nested_10000_deep_is_cut_with_a_marker(
    logger_provider: LoggerProvider, conn: psycopg.Connection
) -> None:
    logger = logger_provider.get_logger("hostile")
    logger.emit(body="before", timestamp=NOW)
    logger.emit(body=nested_maps(10_000), timestamp=NOW + 1, attributes={"deep": nested_maps(400)})
    logger.emit(body="after", timestamp=NOW + 2)
    logger_provider.force_flush()

    rows = conn.execute(
        "SELECT body_type, body, body_value, attributes FROM otel_logs ORDER BY time"
    ).fetchall()
    assert [row[1] for row in rows[::2]] == ["before", "after"] and no_dead_letters(conn)
    body_type, body, body_value, attributes = rows[1]
    assert body_type == "kvlist"
    assert depth_of(body_value) == (KEPT_LEVELS, DEPTH_MARK)
    assert body.endswith(f'"{DEPTH_MARK}"' + "}" * KEPT_LEVELS)  # the text form is the same JSON
    assert depth_of(attributes["deep"]) == (KEPT_LEVELS - 1, DEPTH_MARK)


def test_ints_too_long_to_print_land_as_hex_text(
    shape_settings: PgvectorSettings, logger_provider: LoggerProvider, conn: psycopg.Connection
) -> None:
    """int -> str refuses more than 4300 digits: a log body, or a span attribute the shape
    shows, failed conversion and was dropped."""
    huge = 10**10_000 - 1
    (before, after) = spans_from_sdk(RESOURCE, ("before", None, None), ("after", None, None))
    (hostile,) = spans_from_sdk(
        RESOURCE, ("huge", None, None),
        attributes={"http.response.status_code": huge, "error.type": huge, "plain": huge},
    )
    export_spans(shape_settings, [before, hostile, after])
    logger = logger_provider.get_logger("hostile")
    logger.emit(body="before", timestamp=NOW)
    logger.emit(body=huge, timestamp=NOW + 1, attributes={"huge": huge})
    logger.emit(body="after", timestamp=NOW + 2)
    logger_provider.force_flush()

    rows = span_rows(conn)
    assert set(rows) == {"before", "huge", "after"} and no_dead_letters(conn)
    span = rows["huge"]
    assert span["http_status_code"] is None
    assert {int(text, 16) for text in span["attributes"].values()} == {huge}
    (text,) = conn.execute(
        "SELECT text FROM otel_shapes WHERE shape_key = %s", (span["shape_key"],)
    ).fetchone()
    # the status code and error type, each cut to 500 characters of hex and masked
    assert text == f"hostile INTERNAL huge | <hex>{MARK} <hex>{MARK} | UNSET"
    logs = conn.execute("SELECT body_type, body, attributes FROM otel_logs ORDER BY time").fetchall()
    assert [row[1] for row in logs[::2]] == ["before", "after"]
    body_type, body, attributes = logs[1]
    assert body_type == "int" and int(body, 16) == huge and int(attributes["huge"], 16) == huge


class _BrokenStatusSpan(ReadableSpan):
    """A custom span whose ``status`` raises, as a buggy bridge's might."""

    @property
    def status(self) -> Any:
        raise RuntimeError("no status here")


def test_a_span_that_still_cannot_be_converted_goes_to_the_dead_letters(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """No sanitizing rule covers a record that raises when read: it is a dead letter, not dropped."""
    (before, after) = spans_from_sdk(RESOURCE, ("before", None, None), ("after", None, None))
    broken = _BrokenStatusSpan(
        name="broken", context=SpanContext(9, 10, is_remote=False), resource=RESOURCE,
        start_time=NOW, end_time=NOW + 1, attributes={"kept": nested_lists(10_000)},
    )
    export_spans(settings, [before, broken, after])

    assert set(span_rows(conn)) == {"before", "after"}
    ((batch_id, table, sqlstate, error, record, raw),) = conn.execute(
        "SELECT batch_id::text, table_name, sqlstate, error, content->>'record', raw FROM otel_dead_letters"
    ).fetchall()
    nil = "00000000-0000-0000-0000-000000000000"
    assert (batch_id, table, sqlstate, raw) == (nil, "otel_spans", None, b"")
    assert error == "could not convert span 'broken': RuntimeError: no status here"
    # what could be read, bounded: 6 levels of the span, however deep its attributes
    assert record.startswith("_BrokenStatusSpan(_name='broken', ")
    assert "'kept': [[[[[...]]]]]" in record and len(record) < 5000


def test_what_no_record_carries_is_not_flagged(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    """The common case: times in range, short names, no attributes: nothing added to the row."""
    export_spans(settings, spans_from_sdk(RESOURCE, ("plain", NOW, NOW + 5)))
    row = span_rows(conn)["plain"]
    assert (row["start"], row["duration_ns"], row["attributes"]) == (NOW, 5, {})
    flagged = conn.execute("SELECT count(*) FROM otel_spans WHERE attributes ? %s", (ORIGINAL,)).fetchone()
    assert flagged == (0,)


def test_in_memory_sdk_records_are_untouched() -> None:
    """Conversion copies before it adds originals: the SDK's records keep their attributes."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("x").emit(body="b", timestamp=2**70, attributes={"a": 1})
    (record,) = memory.get_finished_logs()
    LogConverter(1000).convert(record)
    assert dict(record.log_record.attributes or {}) == {"a": 1}
