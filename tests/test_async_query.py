"""AsyncTelemetryQuery gives the same answers as TelemetryQuery, through psycopg's async pool,
and has a twin of every public method of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from typing import Any

import pandas
import pytest
from signal_factory import export_shop
from trace_factory import NOW, TRACE_A, TRACE_B, checkout_trace, export

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, TelemetryQuery
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.errors import NotFound, QueryError
from opentelemetry_exporter_pgvector.query.rows import Rows

START = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=NOW // 1000 - 60_000_000)
END = START + dt.timedelta(minutes=5)
A, B = f"{TRACE_A:032x}", f"{TRACE_B:032x}"
# Every public method of AsyncTelemetryQuery, asked on the shop's data (signal_factory.export_shop);
# test_every_async_method_is_compared checks that none is left out.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("find_traces", {"service": "payments"}),
    ("find_traces", {"attributes": {"order.express": True}, "min_duration": 100}),
    ("find_spans", {"service": "payments", "since": START, "until": END}),
    ("get_trace", {"trace_id": A}),
    ("compare_traces", {"a": A, "b": B}),
    ("errors", {"since": START, "until": END}),
    ("red", {"by": "operation", "since": START, "until": END}),
    ("service_map", {"since": START, "until": END}),
    ("service_summary", {}),
    ("service_summary", {"resource_attributes": {"service.name": "payments"}}),
    ("stored_counts", {}),
    ("stored_counts", {"resource_attributes": {"service.name": "checkout"}}),
    ("search_logs", {"trace_id": B, "level": "warn"}),
    ("search_logs", {"text": "cards", "service": "payments", "since": START, "until": END}),
    ("log_patterns", {"service": "payments"}),
    ("logs_for_trace", {"trace_id": B}),
    ("metric_series", {"name": "queue.depth", "since": START - dt.timedelta(hours=1), "until": END,
                       "step": dt.timedelta(minutes=10), "agg": "max"}),
    ("metric_points", {"name": "queue.depth"}),
    ("metric_names", {"since": START, "until": END}),
    ("trace_context", {"trace_id": B}),
    ("get_trace_context", {"trace_id": A}),
    ("get_traces_by_error", {"error_type": "TimeoutError"}),
    ("get_metrics_by_time_range", {"since": START, "until": END, "service": "payments"}),
    ("sql", {"query": "SELECT service_name, count(*) FROM otel_logs WHERE body LIKE %s GROUP BY 1 ORDER BY 1",
             "params": ["%card%"]}),
    ("sql", {"query": "SELECT name FROM otel_spans WHERE name LIKE 'POST%' ORDER BY 1", "limit": 1}),
    ("storage_stats", {"exact": True}),
    ("health", {}),
    ("spans_dataframe", {"since": START, "until": END}),
    ("logs_dataframe", {"service": "payments"}),
]
# Public methods of TelemetryQuery without an async twin, and why.
PENDING: dict[str, str] = {}  # methods whose async twin is still to come, and why
# Compared on embedded shapes (the real model) in tests/test_search_quality.py, not on this shop.
COMPARED_ELSEWHERE = {"similar_spans", "similar_logs", "find_similar_traces"}


@pytest.fixture
def shop(settings: PgvectorSettings) -> PgvectorSettings:
    export_shop(settings)
    return settings


def _public(client: type) -> dict[str, Any]:
    return {name: method for name, method in inspect.getmembers(client, inspect.isfunction)
            if not name.startswith("_")}


def _ask_async(settings: PgvectorSettings, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async def ask() -> list[Any]:
        async with AsyncTelemetryQuery(settings) as query:
            return [await getattr(query, name)(**kwargs) for name, kwargs in calls]

    return asyncio.run(ask())


def test_async_and_sync_give_equal_results(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        expected = [getattr(query, name)(**kwargs) for name, kwargs in CALLS]
    answers = _ask_async(shop, CALLS)
    for (name, kwargs), answer, wanted in zip(CALLS, answers, expected, strict=True):
        if isinstance(wanted, pandas.DataFrame):
            assert len(wanted), name
            pandas.testing.assert_frame_equal(answer, wanted)
        else:
            assert answer == wanted, (name, kwargs)
            assert type(answer) is type(wanted), name
        # each call found something: equal, not equally empty
        if isinstance(wanted, Rows):
            assert wanted, (name, kwargs)


def test_the_compared_answers_are_the_shops(shop: PgvectorSettings) -> None:
    """The calls above whose answers are not lists found what the shop holds (not nothing)."""
    answers = _ask_async(shop, CALLS)

    def answer(name: str, **kwargs: Any) -> Any:
        return answers[CALLS.index((name, kwargs))]

    context = answer("trace_context", trace_id=B)
    assert [(span.name, span.depth) for span in context.spans] == [
        ("POST /checkout", 0), ("place_order", 1), ("charge", 2), ("SELECT stock", 2)]
    assert [entry.body for entry in context.logs] == ["charging card", "gateway slow", "charge timed out"]
    assert [(point.name, point.linked) for point in context.metrics] == [
        ("queue.depth", True), ("queue.depth", False), ("orders.open", False)]
    assert answer("stored_counts").spans == 8
    assert answer("stored_counts", resource_attributes={"service.name": "checkout"}).log_records == 1
    health = answer("health")
    assert health.reachable and health.error is None and health.migration_version == health.latest_migration
    assert health.dead_letter_rows == 0 and health.pgvector_version
    stats = answer("storage_stats", exact=True)
    assert {table.name: table.rows for table in stats.tables}["otel_logs"] == 5
    hatch = answer("sql", query="SELECT name FROM otel_spans WHERE name LIKE 'POST%' ORDER BY 1", limit=1)
    assert (hatch.columns, hatch.rows, hatch.truncated) == (["name"], [("POST /checkout",)], True)


def test_every_async_method_is_compared() -> None:
    assert {name for name, _ in CALLS} == set(_public(AsyncTelemetryQuery)) - {"close"} - COMPARED_ELSEWHERE


def test_every_public_method_has_an_async_twin() -> None:
    """Same name, same parameters (names, kinds, defaults, types), a coroutine whose docstring
    points at the sync one; only the PENDING ones may be missing, and only while they are."""
    sync, twins = _public(TelemetryQuery), _public(AsyncTelemetryQuery)
    missing = sorted(set(sync) - set(twins) - set(PENDING))
    assert missing == [], f"TelemetryQuery methods without an async twin: {missing}"
    arrived = sorted(set(PENDING) & set(twins))
    assert arrived == [], f"{arrived} have their async twin now: remove them from PENDING"
    for name in set(sync) - set(PENDING):
        twin = twins[name]
        assert inspect.iscoroutinefunction(twin), name
        assert inspect.signature(twin).parameters == inspect.signature(sync[name]).parameters, name
        if name != "close":
            assert f":meth:`TelemetryQuery.{name}`" in (twin.__doc__ or ""), name
    assert set(twins) - set(sync) == set()  # nothing only async has


def test_async_errors_match_the_sync_ones(settings: PgvectorSettings) -> None:
    export(settings, checkout_trace(TRACE_A, 10))
    bad: list[tuple[str, dict[str, Any]]] = [
        ("get_trace", {"trace_id": "f" * 32}),
        ("find_traces", {"status": "BROKEN"}),
        ("search_logs", {"level": "warn", "min_severity": "error"}),
        ("search_logs", {"min_severity": "loud"}),
        ("logs_for_trace", {"trace_id": "0" * 32}),
        ("trace_context", {"trace_id": "not a trace"}),
        ("metric_series", {"name": "x", "since": START, "until": END, "step": 60, "agg": "median"}),
        ("metric_series", {"name": "x", "since": START, "until": END, "step": 0}),
        ("sql", {"query": "SELECT 1", "limit": 0}),
    ]

    def sync_error(name: str, kwargs: dict[str, Any]) -> str:
        with TelemetryQuery(settings) as query, pytest.raises((QueryError, NotFound)) as error:
            getattr(query, name)(**kwargs)
        return f"{type(error.value).__name__}: {error.value}"

    async def async_errors() -> list[str]:
        found = []
        async with AsyncTelemetryQuery(settings) as query:
            for name, kwargs in bad:
                with pytest.raises((QueryError, NotFound)) as error:
                    await getattr(query, name)(**kwargs)
                found.append(f"{type(error.value).__name__}: {error.value}")
        return found

    assert asyncio.run(async_errors()) == [sync_error(name, kwargs) for name, kwargs in bad]


def test_async_reports_a_missing_schema_as_the_sync_one_does(settings: PgvectorSettings) -> None:
    async def ask() -> None:
        async with AsyncTelemetryQuery(settings) as query:
            with pytest.raises(NotFound, match="holds no telemetry"):
                await query.find_traces()
            health = await query.health()  # health reports on any schema, even none
            assert health.reachable and health.migration_version == 0 and health.dead_letter_rows is None

    asyncio.run(ask())


def test_async_health_of_an_unreachable_server_is_a_report(settings: PgvectorSettings) -> None:
    down = PgvectorSettings(dsn="postgresql://nobody@127.0.0.1:1/none", schema=settings.db_schema,
                            timeout=1.0, embedding="off")
    with TelemetryQuery(down) as query:
        expected = query.health()

    async def ask() -> Any:
        async with AsyncTelemetryQuery(down) as query:
            return await query.health()

    answer = asyncio.run(ask())
    assert not answer.reachable and answer.server_version is None
    assert answer == expected
