"""Commands about traces: find them, show one as a waterfall, compare two.

They only render what ``TelemetryQuery.find_traces``, ``trace_context`` (whose spans are
``get_trace``'s tree) and ``compare_traces`` return (``query/traces.py``); ``--json`` prints
those answers as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.text import Text

from ..query.logs import LogEntry
from ..query.trace_context import MetricPoint
from ..query.traces import SpanDelta, Trace
from .params import ATTRIBUTE, SPAN_DURATION, TIME, settings_of
from .query_commands import BODY_WIDTH, JSON_OPTION
from .render import Col, Output, answer_json, clock, one_line, print_json
from .waterfall import ORPHAN_MARK, waterfall

STATUSES = click.Choice(["UNSET", "OK", "ERROR"], case_sensitive=False)


@click.command()
@click.option("--service", help="Only traces with a span of this service.")
@click.option("--name", help="Only traces with a span of this name.")
@click.option("--status", type=STATUSES, help="Only traces with a span of this status.")
@click.option("--min-duration", type=SPAN_DURATION,
              help="Only traces with a span at least this long: 250 (ms), 250ms, 1.5s, 2m.")
@click.option("--max-duration", type=SPAN_DURATION, help="Only traces with a span at most this long.")
@click.option("--attr", "attributes", type=ATTRIBUTE, multiple=True, metavar="KEY=VALUE",
              help="Only traces with a span having this attribute (repeatable). The value is typed: "
              '500 an int, 0.5 a float, true a boolean, ["a","b"] an array, "500" or other text a string.')
@click.option("--root-name", help="Only traces whose root span has this name.")
@click.option("--min-trace-duration", type=SPAN_DURATION,
              help="Only traces at least this long, first start to last end.")
@click.option("--since", type=TIME, help="Only traces with a matching span since (default: 1h ago).")
@click.option("--until", type=TIME, help="Only traces with a matching span before (default: now).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="Traces to show.")
@JSON_OPTION
@click.pass_context
def traces(
    ctx: click.Context,
    service: str | None,
    name: str | None,
    status: str | None,
    min_duration: dt.timedelta | None,
    max_duration: dt.timedelta | None,
    attributes: Sequence[tuple[str, Any]],
    root_name: str | None,
    min_trace_duration: dt.timedelta | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Traces with a span matching every filter, newest first, e.g. `traces --status error`.

    The span filters (--service, --name, --status, --min/--max-duration, --attr) must all hold
    for one span; --root-name and --min-trace-duration are about the whole trace."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        found = query.find_traces(
            service=service, name=name, status=status, min_duration=min_duration, max_duration=max_duration,
            attributes=dict(attributes), root_name=root_name, min_trace_duration=min_trace_duration,
            since=since, until=until, limit=limit,
        )
    if answer_json(found, as_json, not found, "no traces match in that window"):
        return
    Output().table(
        (Col("trace"), Col("start"), Col("root", flex="cut"), Col("duration ms", right=True),
         Col("spans", right=True), Col("errors", right=True)),
        [(t.trace_id, clock(t.start_time, milliseconds=False), f"{t.root_service}: {t.root_name}",
          t.duration_ms, t.span_count, _errors(t.error_count)) for t in found],
    )


def _errors(count: int) -> Text:
    return Text(str(count), style="bold red" if count else "")


@click.command()
@click.argument("trace_id")
@click.option("--details", is_flag=True,
              help="Under each span: its attributes, events (exceptions with their stack) and log records.")
@JSON_OPTION
@click.pass_context
def trace(ctx: click.Context, trace_id: str, details: bool, as_json: bool) -> None:
    """One trace as a waterfall (each span's bar on the trace's time axis, failures marked ✗),
    then its log records and the metric points linked by exemplars or recorded while it ran."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        context = query.trace_context(trace_id)  # refuses the all-zero id as no trace
    found = context.as_trace()
    if as_json:
        print_json({"trace_id": found.trace_id, "duration_ms": found.duration_ms, "spans": found.spans,
                    "logs": context.logs, "metrics": context.metrics})
        return
    out = Output()
    _summary(out, found)
    for line in waterfall(found, out.width, context.logs if details else None, out.rule):
        out.print(line)
    if any(span.orphan for span in found.spans):
        out.print(Text(f"{ORPHAN_MARK.strip()}: its parent span is not stored; shown under the root", "dim"))
    span_ids = {span.span_id for span in found.spans}
    unplaced = [entry for entry in context.logs if not details or entry.span_id not in span_ids]
    if unplaced:
        _logs_section(out, unplaced)
    if context.metrics:
        _metrics_section(out, context.metrics)


def _summary(out: Output, found: Trace) -> None:
    errors = sum(span.status_code == "ERROR" for span in found.spans)
    services = len({span.service_name for span in found.spans})
    out.print(Text(f"trace {found.trace_id}: {len(found.spans)} spans, {services} services, "
                   f"{errors} {'error' if errors == 1 else 'errors'}, {found.duration_ms:.2f} ms", "bold"))
    root = found.root
    out.print(f"root {root.service_name}: {root.name}, started {clock(root.start_time)}")
    out.print()


def _logs_section(out: Output, entries: Sequence[LogEntry]) -> None:
    out.section("logs")
    out.table(
        (Col("time"), Col("service"), Col("severity"), Col("span"), Col("body", flex="wrap")),
        [(clock(e.time), e.service_name, e.severity_text or e.severity_number, e.span_id,
          one_line(e.body or "", BODY_WIDTH)) for e in entries],
    )


def _metrics_section(out: Output, points: Sequence[MetricPoint]) -> None:
    out.section("metrics")
    out.table(
        (Col("time"), Col("service"), Col("metric", flex="cut"), Col("type"), Col("value", right=True),
         Col("count", right=True), Col("exemplar")),
        [(clock(m.time), m.service_name, m.name, m.type, m.value, m.count, "linked" if m.linked else "")
         for m in points],
    )


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--top", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Spans to show whose duration grew most.")
@JSON_OPTION
@click.pass_context
def compare(ctx: click.Context, a: str, b: str, top: int, as_json: bool) -> None:
    """Two traces span by span (matched by service, name and place in the tree): what got
    slower from A to B, what changed status, and what only one of them has."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        comparison = query.compare_traces(a, b)
    if as_json:
        print_json(comparison)
        return
    out = Output()
    change = comparison.b_duration_ms - comparison.a_duration_ms
    out.print(Text(f"A {comparison.a}: {comparison.a_duration_ms:.2f} ms", "bold"))
    out.print(Text(f"B {comparison.b}: {comparison.b_duration_ms:.2f} ms ({change:+.2f} ms)", "bold"))
    milliseconds = [Col("A ms", right=True), Col("B ms", right=True), Col("change ms", right=True)]
    _compare_section(out, "slowest changes", comparison.slowest_changes(top), milliseconds,
                     lambda s: (s.a_duration_ms, s.b_duration_ms, _signed(s.delta_ms)))
    _compare_section(out, "status changes", [s for s in comparison.spans if s.status_changed],
                     [Col("A status"), Col("B status")], lambda s: (s.a_status, s.b_status))
    present = [Col("duration ms", right=True), Col("status")]
    _compare_section(out, "only in A", comparison.only_in_a, present, lambda s: (s.a_duration_ms, s.a_status))
    _compare_section(out, "only in B", comparison.only_in_b, present, lambda s: (s.b_duration_ms, s.b_status))


def _compare_section(out: Output, title: str, spans: Sequence[SpanDelta], columns: Sequence[Col],
                     values: Callable[[SpanDelta], tuple[Any, ...]]) -> None:
    """A titled table of span positions (indented by depth) with ``values(span)`` in ``columns``."""
    if not spans:
        return
    out.section(title)
    out.table((Col("span", flex="cut"), Col("service", flex="cut"), *columns),
              [("  " * s.depth + s.name, s.service_name, *values(s)) for s in spans])


def _signed(milliseconds: float | None) -> Text:
    if milliseconds is None:
        return Text("")
    return Text(f"{milliseconds:+.2f}", style="red" if milliseconds > 0 else "green")
