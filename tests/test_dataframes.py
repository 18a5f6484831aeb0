"""DataFrames of the read side: ``to_dataframe()`` on every list answer, ``spans_dataframe`` and
``logs_dataframe``, with their dtypes; the package imports pandas only when one is asked for."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pandas
import pytest
from signal_factory import export_shop
from trace_factory import MS, NOW, TRACE_A, TRACE_B

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, PgvectorSettings, TelemetryQuery
from opentelemetry_exporter_pgvector.query.logs import LogEntry
from opentelemetry_exporter_pgvector.query.rows import Rows
from opentelemetry_exporter_pgvector.query.traces import SpanRecord

START = dt.datetime.fromtimestamp(NOW // 1_000_000_000, dt.timezone.utc) - dt.timedelta(minutes=1)
END = START + dt.timedelta(minutes=5)
A, B = f"{TRACE_A:032x}", f"{TRACE_B:032x}"
TEXT = "string"


def kinds(frame: pandas.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def at(ms: float) -> pandas.Timestamp:
    """The stored time of a record ``ms`` after NOW: microseconds (the rest is in *_time_ns)."""
    return pandas.Timestamp(NOW + int(ms * MS), unit="ns", tz="UTC").floor("us")


SPAN_KINDS = {
    "trace_id": TEXT, "span_id": TEXT, "parent_span_id": TEXT, "service_name": TEXT, "name": TEXT,
    "kind": TEXT, "status_code": TEXT, "status_message": TEXT, "exception_type": TEXT,
    "start_time": "datetime64[ns, UTC]", "end_time": "datetime64[ns, UTC]", "duration_ms": "float64",
    "attributes": "object", "events": "object", "links": "object", "resource": "object", "scope_name": TEXT,
}


@pytest.fixture
def shop(settings: PgvectorSettings) -> PgvectorSettings:
    export_shop(settings)
    return settings


@dataclasses.dataclass(frozen=True)
class Everything:
    count: int
    maybe_count: int | None
    ratio: float | None
    flag: bool
    label: str | None
    seen: dt.datetime | None
    tags: list[str]
    extra: dict[str, Any]


def test_dtypes_follow_the_row_dataclass_fields() -> None:
    seen = dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
    rows = Rows([Everything(1, None, None, True, "a", seen, ["x"], {"k": 1}),
                 Everything(2, 5, 0.5, False, None, None, [], {})], Everything)
    frame = rows.to_dataframe()
    assert kinds(frame) == {"count": "int64", "maybe_count": "Int64", "ratio": "float64", "flag": "bool",
                            "label": TEXT, "seen": "datetime64[ns, UTC]", "tags": "object", "extra": "object"}
    assert frame["maybe_count"].tolist() == [pandas.NA, 5]
    assert frame["seen"].tolist()[0] == pandas.Timestamp("2025-03-01 12:00:00.123456", tz="UTC")
    assert pandas.isna(frame["seen"][1]) and pandas.isna(frame["ratio"][0])
    assert frame["tags"].tolist() == [["x"], []] and frame["extra"].tolist() == [{"k": 1}, {}]
    # an empty answer keeps its columns and dtypes
    assert kinds(Rows([], Everything).to_dataframe()) == kinds(frame)
    # and is still a list
    assert rows == list(rows) and isinstance(rows, list) and rows[:1] == [rows[0]]


def test_spans_dataframe_has_one_typed_row_per_span(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        frame = query.spans_dataframe()
    assert kinds(frame) == SPAN_KINDS
    assert len(frame) == 8 and frame["start_time"].is_monotonic_decreasing
    charge = frame[(frame.trace_id == B) & (frame.span_id == "0000000000000004")].iloc[0]
    assert (charge.parent_span_id, charge.service_name, charge["name"], charge.kind, charge.status_code,
            charge.status_message, charge.exception_type) == (
        "0000000000000002", "payments", "charge", "SERVER", "ERROR", "TimeoutError happened", "TimeoutError")
    assert (charge.start_time, charge.end_time, charge.duration_ms) == (at(1), at(251), 250.0)
    assert charge.resource["service.name"] == "payments" and charge.scope_name == "tests.traces"
    assert [event["name"] for event in charge.events] == ["exception"]
    order = frame[(frame.trace_id == A) & (frame["name"] == "place_order")].iloc[0]
    assert order.attributes == {"order.express": True, "order.total": 12.5, "order.tags": ["gift", "eu"]}
    roots = frame[frame.parent_span_id.isna()]
    assert sorted(roots.trace_id) == [A, B] and set(roots["name"]) == {"POST /checkout"}


def test_spans_dataframe_filters_by_service_and_window(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        payments = query.spans_dataframe(service="payments", since=START, until=END)
        later = query.spans_dataframe(since=END, until=END + dt.timedelta(hours=1))
        newest = query.spans_dataframe(limit=1)
    assert sorted(payments.trace_id) == [A, B] and set(payments.service_name) == {"payments"}
    assert len(later) == 0 and kinds(later) == SPAN_KINDS  # empty, with its columns and dtypes
    assert list(later.columns) == [field.name for field in dataclasses.fields(SpanRecord)]
    assert newest["name"].tolist() == ["SELECT stock"]  # started last, 3 ms in (trace A or B)


def test_logs_dataframe_has_one_typed_row_per_record(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        frame = query.logs_dataframe(since=START, until=END)
        checkout = query.logs_dataframe(service="checkout")
    assert kinds(frame) == {
        "time": "datetime64[ns, UTC]", "service_name": TEXT, "severity_number": "Int64",
        "severity_text": TEXT,
        "body_type": TEXT, "body": TEXT, "event_name": TEXT, "trace_id": TEXT, "span_id": TEXT,
        "scope_name": TEXT, "attributes": "object",
    }
    assert list(frame.columns) == [field.name for field in dataclasses.fields(LogEntry)]
    assert frame[["body", "severity_text", "trace_id"]].values.tolist() == [
        ["heartbeat", "INFO", pandas.NA],  # outside any trace
        ["charge timed out", "ERROR", B],
        ["gateway slow", "WARN", B],
        ["charging card", "INFO", A],
        ["charging card", "INFO", B],
    ]
    assert frame["time"].tolist() == [at(300), at(251), at(200), at(2), at(1)]
    assert frame["severity_number"].tolist() == [9, 17, 13, 9, 9]
    assert checkout["body"].tolist() == ["heartbeat"]


def test_async_spans_dataframe_equals_the_sync_one(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        expected = query.spans_dataframe(since=START, until=END)

    async def ask() -> pandas.DataFrame:
        async with AsyncTelemetryQuery(shop) as query:
            return await query.spans_dataframe(since=START, until=END)

    answer = asyncio.run(ask())
    assert len(answer) == 8
    pandas.testing.assert_frame_equal(answer, expected)


def _list_answers(query: TelemetryQuery) -> dict[str, Callable[[], Rows[Any]]]:
    return {
        "service_summary": query.service_summary,
        "find_traces": query.find_traces,
        "find_spans": query.find_spans,
        "errors": lambda: query.errors(since=START, until=END),
        "red": lambda: query.red(since=START, until=END),
        "service_map": lambda: query.service_map(since=START, until=END),
        "search_logs": query.search_logs,
        "log_patterns": query.log_patterns,
        "logs_for_trace": lambda: query.logs_for_trace(B),
        "metric_series": lambda: query.metric_series("queue.depth", START, END, 60),
        "metric_points": query.metric_points,
        "get_traces_by_error": lambda: query.get_traces_by_error("TimeoutError"),
        "get_metrics_by_time_range": lambda: query.get_metrics_by_time_range(START, END),
        "get_trace().spans": lambda: query.get_trace(A).spans,
        "compare_traces().spans": lambda: query.compare_traces(A, B).spans,
        "trace_context().spans": lambda: query.trace_context(B).spans,
        "trace_context().logs": lambda: query.trace_context(B).logs,
        "trace_context().metrics": lambda: query.trace_context(B).metrics,
    }


def test_every_list_answer_is_rows_that_become_a_dataframe(shop: PgvectorSettings) -> None:
    with TelemetryQuery(shop) as query:
        for label, ask in _list_answers(query).items():
            rows = ask()
            assert isinstance(rows, Rows) and rows, label
            frame = rows.to_dataframe()
            assert list(frame.columns) == [field.name for field in dataclasses.fields(rows[0])], label
            assert len(frame) == len(rows), label


@pytest.mark.parametrize("client", [TelemetryQuery, AsyncTelemetryQuery])
def test_no_public_method_answers_a_plain_list(client: type) -> None:
    """A method added later that returns ``list[...]`` would have no ``to_dataframe()``."""
    answers = {name: inspect.signature(method).return_annotation
               for name, method in inspect.getmembers(client, inspect.isfunction) if not name.startswith("_")}
    assert "find_traces" in answers and "Rows[" in answers["find_traces"]
    assert [name for name, answer in answers.items() if answer.startswith("list[")] == []


def _run(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_pandas_is_imported_only_when_a_dataframe_is_asked_for(shop: PgvectorSettings, server_dsn: str,
                                                                schema: str) -> None:
    out = _run(f"""
        import sys
        from opentelemetry_exporter_pgvector import TelemetryQuery
        with TelemetryQuery(dsn={server_dsn!r}, schema={schema!r}, embedding="off") as query:
            found = query.find_traces()
            logs = query.search_logs(service="payments")
            before = "pandas" in sys.modules
            frame = found.to_dataframe()
        print(before, "pandas" in sys.modules, len(found), len(logs), len(frame))
    """)
    assert out == "False True 2 4 2"


def test_without_pandas_queries_work_and_to_dataframe_names_the_module(
        shop: PgvectorSettings, server_dsn: str, schema: str) -> None:
    out = _run(f"""
        import sys
        sys.modules["pandas"] = None  # as if the dataframes extra were not installed
        from opentelemetry_exporter_pgvector import TelemetryQuery
        with TelemetryQuery(dsn={server_dsn!r}, schema={schema!r}, embedding="off") as query:
            found = query.find_traces()
            try:
                query.spans_dataframe()
            except ModuleNotFoundError as error:
                print(len(found), error.name)
    """)
    assert out == "2 pandas"
