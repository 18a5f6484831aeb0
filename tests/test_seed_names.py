"""The seed's method names: find_similar_traces, get_traces_by_error, search_logs(trace_id=, level=),
get_trace_context and get_metrics_by_time_range, each thin over a query of the read side."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import psycopg
import pytest
from signal_factory import export_shop
from trace_factory import MS, NOW, TRACE_A, TRACE_B, checkout_trace, export

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, PgvectorSettings, TelemetryQuery
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.backfill import embed_missing
from opentelemetry_exporter_pgvector.errors import QueryError
from opentelemetry_exporter_pgvector.query.traces import TraceSummary

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
START = EPOCH + dt.timedelta(seconds=NOW // 1_000_000_000 - 60)
END = START + dt.timedelta(minutes=5)
A, B = f"{TRACE_A:032x}", f"{TRACE_B:032x}"


def at(ms: float) -> dt.datetime:
    """The stored time of a record ``ms`` after NOW (microseconds)."""
    return EPOCH + dt.timedelta(microseconds=(NOW + int(ms * MS)) // 1000)


@pytest.fixture
def shop(settings: PgvectorSettings) -> PgvectorSettings:
    export_shop(settings)
    return settings


def test_get_traces_by_error_finds_the_traces_of_one_exception_type(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        timeouts = query.get_traces_by_error("TimeoutError")
        by_payments = query.get_traces_by_error("TimeoutError", service="payments")
        by_frontend = query.get_traces_by_error("TimeoutError", service="frontend")
        other_type = query.get_traces_by_error("KeyError")
        earlier = query.get_traces_by_error("TimeoutError", until=START)
        found = query.find_traces(exception_type="TimeoutError")
    assert timeouts == [TraceSummary(B, "frontend", "POST /checkout", at(0), 270.0, 4, 1,
                                     ["checkout", "frontend", "inventory", "payments"])]
    assert by_payments == timeouts and found == timeouts
    # the service and the exception must hold for one span: frontend's spans did not fail
    assert by_frontend == [] and other_type == [] and earlier == []


def test_search_logs_takes_the_seeds_level_as_a_minimum_severity(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        every = query.search_logs(trace_id=B)
        warnings = query.search_logs(trace_id=B, level="warn")
        errors = query.search_logs(trace_id=B, level=17)
        with pytest.raises(QueryError, match="min_severity or level"):
            query.search_logs(trace_id=B, level="warn", min_severity="error")
    assert [log.body for log in every] == ["charge timed out", "gateway slow", "charging card"]
    assert [log.body for log in warnings] == ["charge timed out", "gateway slow"]
    assert [(log.body, log.severity_number, log.span_id) for log in errors] == [
        ("charge timed out", 17, "0000000000000004")]


def test_get_trace_context_is_the_trace_context(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        context = query.get_trace_context(B)
        assert context == query.trace_context(B)
    assert [(span.name, span.depth) for span in context.spans] == [
        ("POST /checkout", 0), ("place_order", 1), ("charge", 2), ("SELECT stock", 2)]
    assert [log.body for log in context.logs] == ["charging card", "gateway slow", "charge timed out"]
    # the point whose exemplar is in the trace first, then what payments recorded meanwhile
    assert [(point.name, point.value, point.linked) for point in context.metrics] == [
        ("queue.depth", 5.0, True), ("queue.depth", 3.0, False), ("orders.open", 7.0, False)]


def test_get_metrics_by_time_range_lists_typed_points(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        window = query.get_metrics_by_time_range(START, END)
        depth = query.get_metrics_by_time_range(START, END, name="queue.depth", service="payments")
        last_hour = query.metric_points(attributes={"queue": "charges"})
        first = query.get_metrics_by_time_range(START, END, limit=1)
    assert [(p.time, p.service_name, p.name, p.type, p.unit, p.value, p.attributes, p.linked)
            for p in window] == [
        (at(0), "payments", "queue.depth", "gauge", "1", 3.0, {"queue": "charges"}, False),
        (at(1000), "payments", "queue.depth", "gauge", "1", 5.0, {"queue": "charges"}, True),
        (at(2000), "checkout", "orders.open", "gauge", "1", 7.0, {}, False),
    ]
    assert depth == window[:2] and first == window[:1]
    assert [point.value for point in last_hour] == [9.0, 3.0, 5.0]  # the default window reaches 30 min back
    with TelemetryQuery(shop) as query, pytest.raises(QueryError, match="limit"):
        query.get_metrics_by_time_range(START, END, limit=0)


def test_the_async_seed_names_answer_as_the_sync_ones(shop: PgvectorSettings) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_traces_by_error", {"error_type": "TimeoutError"}),
        ("get_metrics_by_time_range", {"since": START, "until": END}),
        ("find_spans", {"exception_type": "TimeoutError"}),
    ]
    with TelemetryQuery(shop) as query:
        expected = [getattr(query, name)(**kwargs) for name, kwargs in calls]

    async def ask() -> list[Any]:
        async with AsyncTelemetryQuery(shop) as query:
            return [await getattr(query, name)(**kwargs) for name, kwargs in calls]

    answers = asyncio.run(ask())
    assert answers == expected and all(answers)
    assert [(span.trace_id, span.span_id) for span in answers[2]] == [(B, "0000000000000004")]


@pytest.fixture
def embedded_shop(shape_settings: PgvectorSettings, embedding_backend: Any) -> PgvectorSettings:
    export(shape_settings, checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError"))
    database = Database(shape_settings)
    embed_missing(database, embedding_backend)
    database.close()
    return shape_settings


def test_find_similar_traces_by_an_embedding(embedded_shop: PgvectorSettings,
                                             conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT h.embedding::text FROM otel_shapes h JOIN otel_spans s USING (shape_key)"
                       " WHERE s.exception_type = 'TimeoutError'").fetchone()
    assert row is not None
    timeout = [float(value) for value in row[0].strip("[]").split(",")]
    with TelemetryQuery(embedded_shop) as query:
        close = query.find_similar_traces(timeout)
        every = query.find_similar_traces(timeout, threshold=0.0)
        shapes = query.similar_spans(vector=timeout, min_similarity=0.0)
    assert [(t.trace_id, t.span_id, t.service_name) for t in close] == [(B, "0000000000000004", "payments")]
    assert close[0].similarity == pytest.approx(1.0, abs=1e-5) and "TimeoutError" in close[0].text
    assert (close[0].start_time, close[0].span_count) == (at(1), 1)
    # every trace once, at the similarity of its most similar shape
    assert [t.trace_id for t in every] == [B, A]
    assert every[1].similarity == max(s.similarity for s in shapes if s.example_trace_id == A)
    assert all(s.similarity < 0.85 for s in shapes[1:])  # why the default threshold keeps B alone
