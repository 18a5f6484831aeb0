"""How the read commands render: plain text off a terminal, the waterfall's geometry, JSON
values, and the option types of durations and attributes. No database: the inputs are built
here and every expected line is written out."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import click
import pytest
from rich.text import Text

from opentelemetry_exporter_pgvector.cli.params import ATTRIBUTE, SPAN_DURATION, typed_value
from opentelemetry_exporter_pgvector.cli.render import (
    Col,
    Output,
    jsonable,
    print_json,
    render_table,
)
from opentelemetry_exporter_pgvector.cli.waterfall import stack_excerpt, waterfall
from opentelemetry_exporter_pgvector.query.logs import LogEntry
from opentelemetry_exporter_pgvector.query.traces import Trace, TraceSpan

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def _span(span_id: str, parent: str | None, service: str, name: str, offset_ms: float, duration_ms: float,
          depth: int, status: str = "UNSET", orphan: bool = False, **extra: object) -> TraceSpan:
    fields: dict[str, object] = {"attributes": {}, "events": [], "links": [], **extra}
    return TraceSpan(span_id, parent, service, name, "SERVER", status, None,
                     START + dt.timedelta(milliseconds=offset_ms), None, duration_ms, offset_ms,
                     fields["attributes"], fields["events"], fields["links"],  # type: ignore[arg-type]
                     {}, None, depth, orphan)


TRACE = Trace("ab" * 16, [
    _span("01", None, "frontend", "GET /", 0, 100, 0),
    _span("02", "01", "checkout", "place_order", 20, 50, 1, "ERROR"),
    _span("03", "xx", "worker", "late job", 90, 10, 1, orphan=True),
])


def test_the_waterfall_scales_each_span_onto_the_time_axis() -> None:
    """Width 60: names 19 wide (the longest label, marks included), services 8, durations 11,
    and 60 - 19 - 8 - 11 - 3 gaps of 2 = 16 columns of bar for 100 ms: 6.25 ms a column."""
    lines = [line.plain for line in waterfall(TRACE, 60)]
    assert lines == [
        "span                 service   duration ms  0      100.00 ms",
        "-------------------- --------- ------------ ----------------",
        "GET /                frontend       100.00  ████████████████",
        "  place_order ✗      checkout        50.00     ████████",  # 20-70 ms: columns 3 (3.2) to 11 (11.2)
        "  late job (orphan)  worker          10.00                ██",  # 90-100 ms: columns 14 (14.4) to 16
    ]


def test_a_narrow_width_cuts_names_before_bars_and_keeps_the_marks() -> None:
    """Width 40 leaves no bar of MIN_BAR: names shrink to the widest marks and a character (11),
    leaving 4 columns of bar (25 ms each) and no room for the axis."""
    lines = [line.plain for line in waterfall(TRACE, 40)]
    assert lines == [
        "span         service   duration ms",
        "------------ --------- ------------ ----",
        "GET /        frontend       100.00  ████",
        "  place_… ✗  checkout        50.00  ███",  # 20-70 ms: columns 0 (0.8) to 3 (2.8)
        "l… (orphan)  worker          10.00     █",  # the indent gives way to the mark
    ]


def test_details_follow_their_span_cut_to_the_width() -> None:
    stack = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n    pay()\n    ^^^^^\n" \
            "TimeoutError: gateway timed out"
    failed = _span("02", "01", "checkout", "place_order", 20, 50, 1, "ERROR",
                   attributes={"order.total": 12.5, "order.id": "A-7" * 40, "order.tags": ["gift", "eu"]},
                   events=[{"name": "exception", "attributes": {
                       "exception.type": "TimeoutError", "exception.message": "gateway\n timed out",
                       "exception.stacktrace": stack}},
                       {"name": "retry", "attributes": {"attempt": 2}}])
    entry = LogEntry(START + dt.timedelta(milliseconds=30), "checkout", 13, "WARN", "string", "retrying\npay",
                     None, "ab" * 16, "02", None, {})
    other = LogEntry(START, "frontend", 9, "INFO", "string", "not this span's", None, "ab" * 16, "01", None, {})
    lines = [line.plain for line in waterfall(Trace("ab" * 16, [TRACE.spans[0], failed]), 80, [entry, other])]
    under = lines[lines.index(next(line for line in lines if line.startswith("  place_order"))) + 1:]
    assert under == [
        "      span 02  SERVER  ERROR  started " + START.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        "      order.id = " + ("A-7" * 40)[:62] + "…",  # 80 columns, the last one the ellipsis
        '      order.tags = ["gift", "eu"]',
        "      order.total = 12.5",
        "      exception TimeoutError: gateway timed out",
        '          File "a.py", line 1, in f',
        "            pay()",
        "        TimeoutError: gateway timed out",
        '      event retry {"attempt": 2}',
        "      log " + (START + dt.timedelta(milliseconds=30)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        + " WARN retrying pay",
    ]
    assert all(len(line) <= 80 for line in lines)


def test_stack_excerpts_keep_the_innermost_frames() -> None:
    java = "java.net.SocketTimeoutException: Read timed out\n\tat Socket.read(Socket.java:1)\n\tat A.b(A.java:2)\n" \
           "\tat C.d(C.java:3)"
    assert stack_excerpt(java) == ["java.net.SocketTimeoutException: Read timed out",
                                   "\tat Socket.read(Socket.java:1)", "\tat A.b(A.java:2)"]
    assert stack_excerpt(None) == [] and stack_excerpt(42) == []


def test_plain_output_has_no_escapes_no_markup_and_fits_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(terminal=False)
    out.table((Col("name", flex="cut"), Col("count", right=True), Col("note", flex="wrap")),
              [("[bold]x[/bold] :x:", 7, "word " * 40), ("y" * 150, 12345, None)])
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "\x1b" not in text and all(len(line) <= 100 and line == line.rstrip() for line in lines)
    assert lines[0].split() == ["name", "count", "note"] and set(lines[1]) == {"-", " "}
    assert lines[2].startswith("[bold]x[/bold] :x:  ")  # stored text is never markup or an emoji code
    cut, count = [line for line in lines if line.startswith("yyy")][0].split()[:2]
    assert cut.endswith("…") and set(cut[:-1]) == {"y"} and count == "12345"


def test_a_terminal_gets_colours(capsys: pytest.CaptureFixture[str]) -> None:
    Output(terminal=True).print(Text("failed", style="red"))
    assert "\x1b[31mfailed" in capsys.readouterr().out


def test_the_setup_commands_tables_keep_their_values_whole() -> None:
    long = "no: database postgresql://u:***@localhost/db unavailable: " + "x" * 120
    assert render_table(("check", "value"), [("reachable", long), ("floats", 1.5)]).splitlines() == [
        "check      value",
        "---------- " + "-" * len(long),
        "reachable  " + long,
        "floats     1.50",
    ]


def test_json_values_are_json_types(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"when": START, "id": uuid.UUID(int=255), "n": decimal.Decimal("12"), "x": decimal.Decimal("0.5"),
             "bad": float("nan"), "span": TRACE.spans[2], "raw": b"\x01\xff", "age": dt.timedelta(seconds=90)}
    print_json(value)
    printed = json.loads(capsys.readouterr().out)
    assert printed["when"] == "2026-03-01T12:00:00+00:00" and printed["id"] == "0" * 30 + "ff"
    assert (printed["n"], printed["x"], printed["bad"], printed["raw"], printed["age"]) == (12, 0.5, None, "01ff", 90.0)
    assert printed["span"]["orphan"] is True and printed["span"]["offset_ms"] == 90
    assert jsonable(Trace("x", [])) == {"trace_id": "x", "spans": []}


@pytest.mark.parametrize(("text", "expected"), [
    ("500", 500), ("0.5", 0.5), ("true", True), ("false", False), ('["gift", "eu"]', ["gift", "eu"]),
    ('"500"', "500"), ("checkout", "checkout"), ("True", "True"), ("NaN", "NaN"), ("1e999", "1e999"),
    ("null", "null"), ('{"a": 1}', '{"a": 1}'), ("", ""), ("a=b", "a=b"),
])
def test_attribute_values_are_typed_as_json_reads_them(text: str, expected: object) -> None:
    value = typed_value(text)
    assert value == expected and type(value) is type(expected)


def test_attribute_and_duration_options() -> None:
    assert ATTRIBUTE.convert(" http.route =/a=b", None, None) == ("http.route", "/a=b")
    for bad in ("novalue", "=5", " =5"):
        with pytest.raises(click.BadParameter, match="KEY=VALUE"):
            ATTRIBUTE.convert(bad, None, None)
    assert [SPAN_DURATION.convert(text, None, None) for text in ("250", "250ms", "1.5s", "2m", "1h", "0")] == [
        dt.timedelta(milliseconds=250), dt.timedelta(milliseconds=250), dt.timedelta(seconds=1.5),
        dt.timedelta(minutes=2), dt.timedelta(hours=1), dt.timedelta(0)]
    for bad in ("-5", "fast", "5d", "1e3", "99999999999999999999h", ""):
        with pytest.raises(click.BadParameter):
            SPAN_DURATION.convert(bad, None, None)
