"""The UI's pure parts: query-string filters (``ui/forms.py``) and picture geometry (``ui/charts.py``).

The browser tests check the pages as a person sees them; these pin the arithmetic behind
them with literal expectations: where a bar starts and ends, which ticks an axis gets, how
a filter is typed, and the one-line message of a bad one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.datastructures import QueryParams

from opentelemetry_exporter_pgvector.errors import QueryError
from opentelemetry_exporter_pgvector.query.metrics import MetricBucket
from opentelemetry_exporter_pgvector.query.rows import Rows
from opentelemetry_exporter_pgvector.query.traces import Trace, TraceSpan
from opentelemetry_exporter_pgvector.ui import charts, forms

T0 = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


def _span(span_id: str, parent: str | None, service: str, offset_ms: float, duration_ms: float,
          depth: int, status: str = "UNSET") -> TraceSpan:
    return TraceSpan(span_id, parent, service, f"op {span_id}", "SERVER", status, None,
                     T0 + dt.timedelta(milliseconds=offset_ms), None, duration_ms, offset_ms, {}, [], [], {},
                     None, depth)


def test_the_waterfall_scales_the_trace_to_the_bar_area() -> None:
    trace = Trace("ab" * 16, Rows([_span("a", None, "web", 0, 40, 0),
                                   _span("b", "a", "db", 20, 10, 1, "ERROR")], TraceSpan))
    picture = charts.waterfall(trace)
    root, child = picture.bars
    assert (root.x, root.width) == (charts.LABEL_WIDTH, charts.BARS_WIDTH)  # the root spans it all
    assert (child.x, child.width) == (charts.LABEL_WIDTH + 350, 175)  # starts halfway, a quarter long
    assert child.label_x - root.label_x == charts.INDENT
    assert [bar.failed for bar in picture.bars] == [False, True]
    assert picture.colours == {"db": charts.PALETTE[0], "web": charts.PALETTE[1]}
    assert [tick.label for tick in picture.ticks] == ["0 ms", "10 ms", "20 ms", "30 ms", "40 ms"]


@pytest.mark.parametrize(("span", "step"),
                         [(3.271, 1.0), (40, 10.0), (0.2, 0.05), (7_000, 2_000.0), (0, 1.0)])
def test_axis_ticks_are_round(span: float, step: float) -> None:
    assert charts.nice_step(span) == pytest.approx(step)


def test_a_chart_axis_reaches_above_the_highest_value() -> None:
    buckets = [MetricBucket(T0 + dt.timedelta(minutes=minute), value, 1)
               for minute, value in ((0, 0.02), (30, 0.13), (50, None))]
    chart = charts.line_chart(buckets, T0, T0 + dt.timedelta(hours=1))
    assert [label for _, label in chart.y_ticks] == ["0", "0.05", "0.1", "0.15"]
    assert len(chart.points) == 2  # the empty bucket is left out, not drawn as zero
    assert chart.points[1].x == pytest.approx(chart.left + (chart.width - 20 - chart.left) / 2)


def test_trace_filters_are_read_typed_from_the_query_string() -> None:
    search = forms.TraceSearch.read(QueryParams(
        "service=checkout&status=error&min_duration=2.5&attr=http.response.status_code%3D500"
        "&attr=gift%3Dtrue&since=15m&limit=7&name="))
    arguments = search.arguments
    assert (search.window, arguments["service"], arguments["status"], arguments["min_duration"],
            arguments["limit"], arguments["name"]) == ("15m", "checkout", "ERROR", 2.5, 7, None)
    assert arguments["attributes"] == {"http.response.status_code": 500, "gift": True}


@pytest.mark.parametrize(("query", "message"), [
    ("min_duration=-1", "min_duration must be a non-negative number of milliseconds, got '-1'"),
    ("min_duration=nan", "min_duration must be a non-negative number of milliseconds, got 'nan'"),
    ("limit=0", "limit must be between 1 and 1000, got 0"),
    ("limit=ten", "limit must be a whole number, got 'ten'"),
    ("since=2y", "since must be one of 15m, 1h, 6h, 24h, 7d, 30d, got '2y'"),
    ("attr=%3D5", "attr '=5' is not KEY=VALUE, e.g. http.route=/api/checkout"),
    ("status=broken", "status must be one of UNSET, OK, ERROR, got 'broken'"),
])
def test_a_bad_filter_is_one_clear_error(query: str, message: str) -> None:
    with pytest.raises(QueryError) as raised:
        forms.TraceSearch.read(QueryParams(query))
    assert str(raised.value) == message
