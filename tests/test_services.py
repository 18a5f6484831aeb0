"""Errors grouped, RED and the service map, against the real database.

Percentiles and rates are checked against numpy on the same durations; the map against a
topology written out by hand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from opentelemetry.trace import SpanKind
from trace_factory import NOW, export, span

from opentelemetry_exporter_pgvector import TelemetryQuery
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.errors import QueryError

WINDOW_START = dt.datetime.fromtimestamp((NOW - 120 * 10**9) / 1e9, dt.timezone.utc)
WINDOW_END = dt.datetime.fromtimestamp((NOW + 120 * 10**9) / 1e9, dt.timezone.utc)


def test_red_matches_numpy_on_the_same_durations(settings: PgvectorSettings) -> None:
    rng = np.random.default_rng(11)
    durations = np.round(rng.lognormal(3.0, 0.7, 400), 3)  # ms
    failed = set(rng.choice(400, 37, replace=False).tolist())
    spans = [
        span(0x1000 + index, 1, None, "checkout", "POST /orders", index * 10, float(duration),
             SpanKind.SERVER, error="Boom" if index in failed else None)
        for index, duration in enumerate(durations)
    ]
    # work inside the requests is not a request: a CLIENT and an INTERNAL span per trace
    spans += [span(0x1000 + index, 2, 1, "checkout", "SELECT", index * 10, 1.0, SpanKind.CLIENT)
              for index in range(400)]
    spans += [span(0x9000, 1, None, "checkout", "tick", 0, 5.0, SpanKind.INTERNAL)]
    export(settings, spans)
    with TelemetryQuery(settings) as query:
        [bucket] = query.red(since=WINDOW_START, until=WINDOW_END)
    nanoseconds = np.round(durations * 1e6)
    assert (bucket.service_name, bucket.operation, bucket.requests, bucket.errors) == (
        "checkout",
        None,
        400,
        37,
    )
    assert bucket.rate_per_second == pytest.approx(400 / 240)
    assert bucket.error_rate == pytest.approx(37 / 400)
    for name, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        assert getattr(bucket, name) == pytest.approx(np.percentile(nanoseconds, q) / 1e6, rel=1e-9)


def test_red_by_operation_in_steps(settings: PgvectorSettings) -> None:
    spans = [
        span(
            0x2000 + i, 1, None, "shop", "GET /a" if i % 3 else "GET /b", i * 1000, 10.0 + i, SpanKind.SERVER
        )
        for i in range(12)
    ]  # one request a second from NOW
    export(settings, spans)
    since = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=NOW // 1000)  # exact
    with TelemetryQuery(settings) as query:
        buckets = query.red(
            by="operation", since=since, until=since + dt.timedelta(seconds=12), step=dt.timedelta(seconds=6)
        )
    assert [(b.operation, b.requests) for b in buckets] == [
        ("GET /a", 4),
        ("GET /b", 2),
        ("GET /a", 4),
        ("GET /b", 2),
    ]
    assert [b.time - since for b in buckets] == [dt.timedelta(0)] * 2 + [dt.timedelta(seconds=6)] * 2
    assert buckets[1].p50_ms == pytest.approx(np.percentile([10.0, 13.0], 50))


def test_the_service_map_of_a_known_topology(settings: PgvectorSettings) -> None:
    trees = []
    for trace in range(5):
        tid = 0x3000 + trace
        trees += [
            span(tid, 1, None, "frontend", "GET /", 0, 50, SpanKind.SERVER),
            span(tid, 2, 1, "frontend", "call checkout", 1, 40, SpanKind.CLIENT),
            span(
                tid,
                3,
                2,
                "checkout",
                "place",
                2,
                30 + trace,
                SpanKind.SERVER,
                error="Boom" if trace == 4 else None,
            ),
            span(
                tid,
                4,
                3,
                "checkout",
                "SELECT orders",
                3,
                5,
                SpanKind.CLIENT,
                attributes={"db.system.name": "postgresql"},
            ),
            span(tid, 5, 3, "checkout", "call payments", 10, 10, SpanKind.CLIENT),
            span(tid, 6, 5, "payments", "charge", 11, 8, SpanKind.SERVER),
            span(tid, 7, 3, "checkout", "internal step", 20, 1),  # INTERNAL: no edge
        ]
    export(settings, trees)
    with TelemetryQuery(settings) as query:
        edges = query.service_map(since=WINDOW_START, until=WINDOW_END)
    assert [(e.caller, e.callee, e.calls, e.errors) for e in edges] == [
        ("checkout", "payments", 5, 0),
        ("checkout", "postgresql", 5, 0),
        ("frontend", "checkout", 5, 1),
    ]
    checkout = next(e for e in edges if e.callee == "checkout")
    assert checkout.p95_ms == pytest.approx(np.percentile([30, 31, 32, 33, 34], 95))


def test_errors_grouped_each_way(settings: PgvectorSettings) -> None:
    spans = [
        span(
            0x4000 + i,
            1,
            None,
            "payments" if i < 3 else "inventory",
            "charge" if i < 3 else "reserve",
            i,
            5,
            SpanKind.SERVER,
            error="TimeoutError" if i % 2 == 0 else "KeyError",
        )
        for i in range(5)
    ]
    spans.append(span(0x4100, 1, None, "payments", "charge", 9, 5, SpanKind.SERVER))  # not an error
    export(settings, spans)
    with TelemetryQuery(settings) as query:
        by_type = query.errors(since=WINDOW_START, until=WINDOW_END)
        by_service = query.errors(since=WINDOW_START, until=WINDOW_END, group_by="service")
        by_name = query.errors(since=WINDOW_START, until=WINDOW_END, group_by="name", service="inventory")
    assert [(g.key, g.count, g.services) for g in by_type] == [
        ("TimeoutError", 3, ["inventory", "payments"]),
        ("KeyError", 2, ["inventory", "payments"]),
    ]
    timeout = by_type[0]
    assert timeout.sample_message == "TimeoutError happened"
    assert sorted(timeout.example_trace_ids) == [f"{0x4000 + i:032x}" for i in (0, 2, 4)]
    assert timeout.first_seen < timeout.last_seen
    assert [(g.key, g.count) for g in by_service] == [("payments", 3), ("inventory", 2)]
    assert [(g.key, g.count) for g in by_name] == [("inventory reserve", 2)]


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.errors(group_by="colour"),
        lambda q: q.errors(limit=0),
        lambda q: q.red(by="planet"),
        lambda q: q.red(step=dt.timedelta(0)),
    ],
)
def test_bad_arguments_are_query_errors(settings: PgvectorSettings, call) -> None:  # type: ignore[no-untyped-def]
    with TelemetryQuery(settings) as query, pytest.raises(QueryError):
        call(query)
