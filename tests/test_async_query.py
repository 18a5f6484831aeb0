"""AsyncTelemetryQuery gives the same answers as TelemetryQuery, through psycopg's async pool."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from trace_factory import NOW, TRACE_A, TRACE_B, checkout_trace, export

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, TelemetryQuery
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.errors import NotFound, QueryError

START = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=NOW // 1000 - 60_000_000)
END = START + dt.timedelta(minutes=5)
A, B = f"{TRACE_A:032x}", f"{TRACE_B:032x}"
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("find_traces", {"service": "payments"}),
    ("find_traces", {"attributes": {"order.express": True}, "min_duration": 100}),
    ("get_trace", {"trace_id": A}),
    ("compare_traces", {"a": A, "b": B}),
    ("errors", {"since": START, "until": END}),
    ("red", {"by": "operation", "since": START, "until": END}),
    ("service_map", {"since": START, "until": END}),
]


def test_async_and_sync_give_equal_results(settings: PgvectorSettings) -> None:
    export(settings, checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError"))
    with TelemetryQuery(settings) as query:
        expected = [getattr(query, name)(**kwargs) for name, kwargs in CALLS]

    async def ask() -> list[Any]:
        async with AsyncTelemetryQuery(settings) as query:
            return [await getattr(query, name)(**kwargs) for name, kwargs in CALLS]

    answers = asyncio.run(ask())
    assert answers == expected
    assert all(answer for answer in answers)  # each call found something: equal, not equally empty


def test_async_errors_match_the_sync_ones(settings: PgvectorSettings) -> None:
    async def ask() -> None:
        async with AsyncTelemetryQuery(settings) as query:
            with pytest.raises(NotFound, match="holds no telemetry"):
                await query.find_traces()
            with pytest.raises(QueryError, match="status"):
                await query.find_traces(status="BROKEN")

    asyncio.run(ask())
