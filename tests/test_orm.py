"""The SQLAlchemy models (``orm.py``) against a freshly migrated schema, and the join example."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from sqlalchemy import Engine, create_engine, func, inspect, select
from sqlalchemy.orm import Session
from trace_factory import NOW, TRACE_A, TRACE_B, checkout_trace, export

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.orm import TelemetryModels, models

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "orm_join.py"
TABLES = ("otel_resources", "otel_spans", "otel_logs", "otel_metric_points", "otel_shapes")


@pytest.fixture
def engine(server_dsn: str) -> Iterator[Engine]:
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(server_dsn))
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(settings: PgvectorSettings) -> PgvectorSettings:
    database = Database(settings)
    try:
        database.migrate()
    finally:
        database.close()
    return settings


def _columns(described: Any, engine: Engine) -> dict[str, tuple[str, bool]]:
    """``name -> (SQL type as PostgreSQL spells it, nullable)``."""
    return {column["name"]: (column["type"].compile(dialect=engine.dialect), column["nullable"])
            for column in described}


def test_every_model_column_matches_the_migrated_schema_both_ways(
    migrated: PgvectorSettings, schema: str, engine: Engine
) -> None:
    telemetry = models(schema)
    inspector = inspect(engine)
    mapped = {table.name: table for table in telemetry.metadata.sorted_tables}
    assert sorted(mapped) == sorted(TABLES)
    for name in TABLES:
        live = _columns(inspector.get_columns(name, schema=schema), engine)
        model = _columns(({"name": c.name, "type": c.type, "nullable": c.nullable}
                          for c in mapped[name].columns if not c.system), engine)
        assert model == live, name
    # spot checks, so that an empty comparison could not pass
    spans = _columns(inspector.get_columns("otel_spans", schema=schema), engine)
    assert spans["trace_id"] == ("UUID", False) and spans["start_time"] == ("TIMESTAMP WITH TIME ZONE", False)
    shapes = _columns(inspector.get_columns("otel_shapes", schema=schema), engine)
    assert shapes["embedding"] == ("VECTOR(384)", True)
    points = _columns(inspector.get_columns("otel_metric_points", schema=schema), engine)
    assert points["explicit_bounds"] == ("DOUBLE PRECISION[]", True)


def test_the_primary_keys_are_the_tables_or_the_system_columns(
    migrated: PgvectorSettings, schema: str, engine: Engine
) -> None:
    telemetry = models(schema)
    inspector = inspect(engine)
    for model in (telemetry.Resource, telemetry.Span, telemetry.Shape):
        table = model.__table__  # type: ignore[attr-defined]
        live = inspector.get_pk_constraint(table.name, schema=schema)["constrained_columns"]
        assert sorted(column.name for column in table.primary_key) == sorted(live)
    for model in (telemetry.Log, telemetry.MetricPoint):
        table = model.__table__  # type: ignore[attr-defined]
        assert inspector.get_pk_constraint(table.name, schema=schema)["constrained_columns"] == []
        assert [(column.name, column.system) for column in table.primary_key] == [
            ("tableoid", True), ("ctid", True)]


def test_models_are_per_schema_and_cached(schema: str) -> None:
    first, other = models(schema), models(schema + "_other")
    assert models(schema) is first
    assert first.Span is not other.Span
    assert first.Span.__table__.schema == schema  # type: ignore[attr-defined]
    assert other.Span.__table__.schema == schema + "_other"  # type: ignore[attr-defined]
    assert models(schema, dimension=768).Shape.__table__.c.embedding.type.dim == 768  # type: ignore[attr-defined]


def _emit_logs(settings: PgvectorSettings, records: list[tuple[str, int]], timestamp: int) -> None:
    """Records of ``(body, order.id)``, all at ``timestamp``."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(PgvectorLogExporter(settings)))
    logger = provider.get_logger("orders")
    for body, order in records:
        logger.emit(body=body, timestamp=timestamp, observed_timestamp=timestamp,
                    severity_number=SeverityNumber.INFO, attributes={"order.id": order})
    provider.shutdown()


def test_queries_return_every_row_with_its_resource(settings: PgvectorSettings, schema: str,
                                                    engine: Engine) -> None:
    export(settings, checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError"))
    # two records alike in every column but their attributes: an identity made of scalar columns
    # would fold them into one object, the second row read as the first
    _emit_logs(settings, [("order placed", 1), ("order placed", 2), ("order shipped", 1)], NOW)
    telemetry: TelemetryModels = models(schema)
    with Session(engine) as session:
        failed = session.scalars(select(telemetry.Span).where(telemetry.Span.status_code == "ERROR")).all()
        logs = session.scalars(select(telemetry.Log).order_by(telemetry.Log.body,
                                                              telemetry.Log.attributes["order.id"])).all()
        per_trace = session.execute(
            select(telemetry.Span.trace_id, func.count()).group_by(telemetry.Span.trace_id)
            .order_by(telemetry.Span.trace_id)
        ).all()
        assert failed[0].resource.attributes["service.name"] == "payments"  # loaded on access
        assert failed[0].shape is None  # the test settings store no shapes (embedding off)
        assert [log.resource.service_name for log in logs] == ["checkout"] * 3
    assert [(span.trace_id, span.span_id, span.name, span.exception_type, span.duration_ns)
            for span in failed] == [(uuid.UUID(int=TRACE_B), 4, "charge", "TimeoutError", 250_000_000)]
    assert [(log.body, log.attributes) for log in logs] == [
        ("order placed", {"order.id": 1}), ("order placed", {"order.id": 2}),
        ("order shipped", {"order.id": 1})]
    assert per_trace == [(uuid.UUID(int=TRACE_A), 4), (uuid.UUID(int=TRACE_B), 4)]


def test_the_join_example_runs(server_dsn: str, schema: str) -> None:
    env = {**os.environ, "OTEL_EXPORTER_PGVECTOR_DSN": server_dsn, "OTEL_EXPORTER_PGVECTOR_SCHEMA": schema,
           "OTEL_EXPORTER_PGVECTOR_EMBEDDING": "off"}
    for _ in range(2):  # a second run finds its own table and rows and starts over
        done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "order 1001 ann 12.50: handle-order OK, 3 spans",
            "order 1002 bob 99.00: handle-order ERROR ConnectionError, 3 spans",
            "order 1003 cyd 5.25: handle-order OK, 3 spans",
            "revenue at risk (orders whose trace failed): 99.00",
        ]
