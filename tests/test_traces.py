"""Trace search, trace trees and trace comparison against the real database.

Spans are built by hand with explicit ids, parents and times, so the expected answers are
written out literally: trees arriving out of order, missing parents, services whose clocks
disagree, and attribute filters of every type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from trace_factory import TRACE_A, TRACE_B, TRACE_C, checkout_trace, export, span

from opentelemetry_exporter_pgvector import TelemetryQuery
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.errors import NotFound, QueryError


@pytest.fixture
def stored(settings: PgvectorSettings) -> PgvectorSettings:
    a, b = checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError")
    orphaned = [
        span(TRACE_C, 12, 11, "checkout", "retry", 0, 3),
        span(TRACE_C, 13, 12, "payments", "charge", 1, 1),
    ]
    # children arrive before their parents, in separate batches
    export(settings, a[2:], b[1:], orphaned, a[:2], b[:1])
    return settings


def test_get_trace_is_a_tree_whatever_the_arrival_order_and_clocks(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        trace = query.get_trace(f"{TRACE_A:032x}")
    assert [(s.name, s.depth, s.orphan) for s in trace.spans] == [
        ("POST /checkout", 0, False),
        ("place_order", 1, False),
        ("charge", 2, False),  # started 1 ms after the root by payments' early clock: first child anyway
        ("SELECT stock", 2, False),
    ]
    root = trace.root
    assert root.resource["service.name"] == "frontend"
    assert root.attributes == {"http.route": "/checkout", "http.response.status_code": 200}
    assert trace.spans[2].offset_ms == pytest.approx(1.0)
    assert trace.duration_ms == pytest.approx(30.0)


def test_a_span_whose_parent_is_missing_hangs_under_the_root_marked(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        trace = query.get_trace(f"{TRACE_C:032x}")
    # no span of trace C lacks a parent: the earliest stands in for the root
    assert [(s.name, s.depth, s.orphan) for s in trace.spans] == [("retry", 0, False), ("charge", 1, False)]


def test_exceptions_of_a_span_come_with_the_tree(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        trace = query.get_trace(f"{TRACE_B:032x}")
    charge = next(s for s in trace.spans if s.name == "charge")
    assert charge.status_code == "ERROR" and charge.status_message == "TimeoutError happened"
    assert charge.exceptions == [
        {"exception.type": "TimeoutError", "exception.message": "TimeoutError happened"}
    ]


def test_an_unknown_trace_is_not_found(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query, pytest.raises(NotFound, match="0000000000000000000000000000abcd"):
        query.get_trace("abcd".rjust(32, "0"))


def trace_ids(found: Sequence[Any]) -> set[str]:
    return {summary.trace_id for summary in found}


A, B, C = f"{TRACE_A:032x}", f"{TRACE_B:032x}", f"{TRACE_C:032x}"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {A, B, C}),
        ({"service": "payments"}, {A, B, C}),
        ({"service": "payments", "status": "error"}, {B}),
        ({"min_duration": 100}, {B}),  # a span of at least 100 ms: B's 250 ms charge
        ({"min_duration": dt.timedelta(milliseconds=100), "service": "inventory"}, set()),
        ({"max_duration": 2, "service": "payments"}, {C}),
        ({"name": "SELECT stock"}, {A, B}),
        ({"attributes": {"http.response.status_code": 500}}, {B}),  # an int
        ({"attributes": {"http.response.status_code": "500"}}, set()),  # the string is another value
        ({"attributes": {"order.express": True}}, {A, B}),  # a bool
        ({"attributes": {"order.express": "true"}}, set()),
        ({"attributes": {"order.total": 12.5}}, {A, B}),  # a float
        ({"attributes": {"order.tags": ["eu"]}}, {A, B}),  # an array containing "eu"
        ({"attributes": {"order.tags": ["us"]}}, set()),
        ({"attributes": {"http.route": "/checkout"}}, {A, B}),  # a string
        ({"root_name": "POST /checkout"}, {A, B}),
        ({"min_trace_duration": 200}, {B}),
        ({"since": dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)}, set()),  # the spans are older
    ],
)
def test_find_traces_filters(stored: PgvectorSettings, filters: dict[str, Any], expected: set[str]) -> None:
    with TelemetryQuery(stored) as query:
        assert trace_ids(query.find_traces(**filters)) == expected


def test_find_traces_summarizes_each_trace(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        found = {summary.trace_id: summary for summary in query.find_traces(service="payments")}
    b = found[B]
    assert (b.root_service, b.root_name, b.span_count, b.error_count) == ("frontend", "POST /checkout", 4, 1)
    assert b.services == ["checkout", "frontend", "inventory", "payments"]
    assert b.duration_ms == pytest.approx(270.0)
    assert found[C].root_name == "retry" and found[C].span_count == 2


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "BROKEN"}, "status"),
        ({"limit": 0}, "limit"),
        ({"min_duration": -1}, "min_duration"),
        ({"attributes": {"k": {"nested": 1}}}, "attribute"),
        ({"since": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)}, "before until"),
    ],
)
def test_find_traces_refuses_bad_filters(
    settings: PgvectorSettings, filters: dict[str, Any], message: str
) -> None:
    with TelemetryQuery(settings) as query, pytest.raises(QueryError, match=message):
        query.find_traces(**filters)


def test_compare_traces_says_where_the_time_went(stored: PgvectorSettings) -> None:
    with TelemetryQuery(stored) as query:
        comparison = query.compare_traces(A, B)
    assert comparison.a_duration_ms == pytest.approx(30.0) and comparison.b_duration_ms == pytest.approx(
        270.0
    )
    slowest = comparison.slowest_changes(1)[0]
    assert (slowest.service_name, slowest.name, slowest.delta_ms) == (
        "frontend",
        "POST /checkout",
        pytest.approx(240),
    )
    charge = next(delta for delta in comparison.spans if delta.name == "charge")
    assert charge.path == "frontend:POST /checkout > checkout:place_order > payments:charge"
    assert (charge.a_status, charge.b_status, charge.status_changed) == ("UNSET", "ERROR", True)
    assert charge.delta_ms == pytest.approx(240.0)
    assert comparison.only_in_a == [] and comparison.only_in_b == []
    with TelemetryQuery(stored) as query:
        other = query.compare_traces(A, C)
    assert {delta.name for delta in other.only_in_a} == {
        "POST /checkout",
        "place_order",
        "SELECT stock",
        "charge",
    }
    assert {delta.path for delta in other.only_in_b} == {"checkout:retry", "checkout:retry > payments:charge"}
