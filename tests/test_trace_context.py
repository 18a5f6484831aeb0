"""A trace with its logs and metrics: the query, the CLI, and an instrumented child process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from trace_factory import TRACE_C, export, span

from opentelemetry_exporter_pgvector import (
    PgvectorLogExporter,
    PgvectorMetricExporter,
    PgvectorSettings,
    PgvectorSpanExporter,
)
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.errors import NotFound
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "instrumented_app.py"


def _emit_one_trace(settings: PgvectorSettings) -> tuple[str, str]:
    """Two services, nested spans, a log inside each, a histogram point; returns (trace id, other trace id)."""
    resource = Resource.create({"service.name": "frontend"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(PgvectorSpanExporter(settings)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(PgvectorLogExporter(settings)))
    reader = PeriodicExportingMetricReader(PgvectorMetricExporter(settings), export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    tracer = tracer_provider.get_tracer("shop")
    logger = logger_provider.get_logger("shop")
    latency = meter_provider.get_meter("shop").create_histogram("http.server.duration", unit="ms")
    with tracer.start_as_current_span("GET /cart") as root:
        logger.emit(body="cart requested", severity_number=SeverityNumber.INFO)
        with tracer.start_as_current_span("SELECT cart"):
            logger.emit(body="cart query slow", severity_number=SeverityNumber.WARN)
        latency.record(12.5)
    with tracer.start_as_current_span("GET /other") as other:
        logger.emit(body="another request", severity_number=SeverityNumber.INFO)
    for provider in (meter_provider, logger_provider, tracer_provider):
        provider.shutdown()
    return f"{root.get_span_context().trace_id:032x}", f"{other.get_span_context().trace_id:032x}"


def test_trace_context_returns_spans_logs_and_metrics(settings: PgvectorSettings) -> None:
    trace_id, other = _emit_one_trace(settings)
    with TelemetryQuery(settings) as query:
        context = query.trace_context(trace_id)
        missing = query.trace_context("f" * 32)
    assert [(span.name, span.depth) for span in context.spans] == [("GET /cart", 0), ("SELECT cart", 1)]
    assert context.spans[1].parent_span_id == context.spans[0].span_id
    assert [entry.body for entry in context.logs] == ["cart requested", "cart query slow"]
    assert {entry.trace_id for entry in context.logs} == {trace_id}
    assert [(point.name, point.count, point.linked) for point in context.metrics] == [("http.server.duration", 1, True)]
    assert (missing.spans, missing.logs, missing.metrics) == ([], [], [])


def test_trace_context_spans_are_get_traces_tree(settings: PgvectorSettings) -> None:
    """One tree for both: a span whose parent is not stored hangs under the root, marked."""
    export(settings, [span(TRACE_C, 11, None, "frontend", "GET /", 0, 10),
                      span(TRACE_C, 13, 12, "payments", "charge", 2, 3),  # its parent 12 never came
                      span(TRACE_C, 14, 11, "checkout", "order", 1, 5)])
    trace_id = f"{TRACE_C:032x}"
    with TelemetryQuery(settings) as query:
        context = query.trace_context(trace_id)
        trace = query.get_trace(trace_id)
        missing = query.trace_context("f" * 32)
    assert context.spans == trace.spans and context.as_trace() == trace
    assert [(s.name, s.depth, s.orphan) for s in context.spans] == [
        ("GET /", 0, False), ("order", 1, False), ("charge", 1, True)]
    with pytest.raises(NotFound, match=r"no spans of trace f{32} are stored"):
        missing.as_trace()


def test_cli_shows_trace_logs_and_metrics(settings: PgvectorSettings) -> None:
    trace_id, _ = _emit_one_trace(settings)
    runner = CliRunner()
    base = ["--dsn", settings.dsn.get_secret_value(), "--schema", settings.db_schema]
    shown = runner.invoke(cli, [*base, "trace", trace_id])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"^  SELECT cart\s+frontend", shown.output, re.MULTILINE)
    assert "cart query slow" in shown.output and "another request" not in shown.output
    assert re.search(r"http.server.duration\s+histogram\s+1\s+linked", shown.output)

    found = runner.invoke(cli, [*base, "logs", "queries", "--since", "1h", "--service", "frontend"])
    assert found.exit_code == 0 and "cart query slow" in found.output and "requested" not in found.output
    patterns = runner.invoke(cli, [*base, "logs", "--patterns"])
    assert re.search(r"^ +1 +13 +frontend .* cart query slow$", patterns.output, re.MULTILINE)
    series = runner.invoke(cli, [*base, "metrics", "http.server.duration", "--since", "1h", "--agg", "p95"])
    assert series.exit_code == 0 and re.search(r"\s12\.\d\d\s+1$", series.output, re.MULTILINE), series.output


def test_opentelemetry_instrument_stores_all_three_signals(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    env = {
        **os.environ,
        "OTEL_EXPORTER_PGVECTOR_DSN": settings.dsn.get_secret_value(),
        "OTEL_EXPORTER_PGVECTOR_SCHEMA": settings.db_schema,
        "OTEL_SERVICE_NAME": "inventory",
        "OTEL_TRACES_EXPORTER": "pgvector",
        "OTEL_LOGS_EXPORTER": "pgvector",
        "OTEL_METRICS_EXPORTER": "pgvector",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    }
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    result = subprocess.run(
        [str(instrument), sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    trace_id = re.search(r"trace ([0-9a-f]{32})", result.stdout)[1]  # type: ignore[index]
    logs = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE otel_trace_id_hex(trace_id) = %s),"
        " count(*) FILTER (WHERE severity_text = 'WARN') FROM otel_logs", (trace_id,)
    ).fetchone()
    assert logs is not None and logs[0] == logs[1] >= 8 and logs[2] >= 1
    names = {name for (name,) in conn.execute("SELECT DISTINCT name FROM otel_metric_points")}
    assert {"inventory.reservations", "inventory.reserve.duration"} <= names
    (spans,) = conn.execute("SELECT count(*) FROM otel_spans WHERE otel_trace_id_hex(trace_id) = %s", (trace_id,)).fetchone()
    assert spans == 9
    with TelemetryQuery(settings) as query:
        context = query.trace_context(trace_id)
    assert len(context.spans) == 9 and len(context.logs) == logs[0]
    assert any(point.linked for point in context.metrics)


def test_demo_emits_all_three_signals(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    from opentelemetry_exporter_pgvector.demo import run_demo

    result = run_demo(
        lambda: PgvectorSpanExporter(settings), requests=12,
        log_exporter_factory=lambda: PgvectorLogExporter(settings),
        metric_exporter_factory=lambda: PgvectorMetricExporter(settings),
    )
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM otel_spans), (SELECT count(*) FROM otel_logs),"
        " (SELECT count(DISTINCT name) FROM otel_metric_points),"
        " (SELECT count(*) FROM otel_logs l JOIN otel_spans s USING (trace_id, span_id))"
    ).fetchone()
    assert counts is not None
    spans, logs, metric_names, correlated = counts
    assert spans > 0 and logs >= result.requests and metric_names == 3
    assert correlated == logs  # every demo log line was emitted inside a span of its trace
