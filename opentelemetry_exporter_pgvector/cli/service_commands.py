"""Commands about services: errors grouped, RED per service with the service map, and one
service's latency over time.

They only render what ``TelemetryQuery.errors``, ``red`` and ``service_map`` return
(``query/services.py``). RED counts entry spans (SERVER, CONSUMER): the requests a service
handles, so a service that only calls others appears in the map, not in the RED table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import click
from rich.text import Text

from ..query.services import RedBucket
from .params import DURATION, TIME, settings_of
from .query_commands import JSON_OPTION
from .render import Col, Output, answer_json, clock, one_line

ERROR_GROUPINGS = {"exception_type": "exception", "name": "span", "service": "service", "shape": "shape"}
# Buckets of `latency` when no --step is given.
LATENCY_BUCKETS = 20


@click.command()
@click.option("--by", "group_by", type=click.Choice(list(ERROR_GROUPINGS), case_sensitive=False),
              default="exception_type", show_default=True, help="Group the failed spans by this.")
@click.option("--service", help="Only failures of this service.")
@click.option("--since", type=TIME, help="Only since (default: 24h ago).")
@click.option("--until", type=TIME, help="Only before (default: now).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="Groups to show.")
@JSON_OPTION
@click.pass_context
def errors(ctx: click.Context, group_by: str, service: str | None, since: dt.datetime | None,
           until: dt.datetime | None, limit: int, as_json: bool) -> None:
    """Failed spans grouped, most frequent first, e.g. `errors --by service`: how many, which
    services, when last, an example message and trace."""
    from ..query.telemetry import TelemetryQuery

    group_by = group_by.lower()
    with TelemetryQuery(settings_of(ctx)) as query:
        groups = query.errors(since=since, until=until, service=service,
                              group_by=group_by, limit=limit)  # type: ignore[arg-type]
    if answer_json(groups, as_json, not groups, "no failed spans in that window"):
        return
    Output().table(
        (Col("count", right=True), Col(f"{ERROR_GROUPINGS[group_by]}, latest message", flex="wrap"),
         Col("services", flex="cut"), Col("last seen"), Col("example trace")),
        [(g.count, _error_text(g.key, g.sample_message), ",".join(g.services),
          clock(g.last_seen, milliseconds=False), g.example_trace_ids[0] if g.example_trace_ids else None)
         for g in groups],
    )


def _error_text(key: str, message: str | None) -> Text:
    """The group's key, and under it the latest message unless the key already says it."""
    text = Text(key, "red")
    message = one_line(message or "")
    if message and message not in key:
        text.append("\n" + message, "dim")
    return text


def _red_table(out: Output, labels: Sequence[Col], buckets: Sequence[RedBucket],
               label: Callable[[RedBucket], tuple[object, ...]]) -> None:
    """Requests, rate, errors and percentiles, one row per bucket, labelled by ``label(bucket)``
    in the ``labels`` columns."""
    out.table(
        (*labels, Col("requests", right=True), Col("rate /s", right=True), Col("errors", right=True),
         Col("error %", right=True), Col("p50 ms", right=True), Col("p95 ms", right=True),
         Col("p99 ms", right=True)),
        [(*label(b), b.requests, b.rate_per_second, _count(b.errors), f"{100 * b.error_rate:.1f}",
          b.p50_ms, b.p95_ms, b.p99_ms) for b in buckets],
    )


def _count(errors: int) -> Text:
    """A count of failures, bold red on a terminal when there are any."""
    return Text(str(errors), "bold red" if errors else "")


@click.command()
@click.option("--since", type=TIME, help="Only since (default: 1h ago).")
@click.option("--until", type=TIME, help="Only before (default: now).")
@JSON_OPTION
@click.pass_context
def services(ctx: click.Context, since: dt.datetime | None, until: dt.datetime | None, as_json: bool) -> None:
    """Each service's requests, error rate and latency (RED), and who calls whom: the service
    map's edges, with calls to uninstrumented dependencies (databases, caches) named."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        red = query.red(by="service", since=since, until=until)
        edges = query.service_map(since=since, until=until)
    if answer_json({"services": red, "edges": edges}, as_json, not red and not edges,
                   "no spans in that window"):
        return
    out = Output()
    if red:
        out.print(Text("requests (SERVER and CONSUMER spans)", "bold"))
        _red_table(out, (Col("service", flex="cut"),), red, lambda b: (b.service_name,))
    if edges:
        out.section("calls")
        out.table(
            (Col("caller", flex="cut"), Col("callee", flex="cut"), Col("calls", right=True),
             Col("errors", right=True), Col("p95 ms", right=True)),
            [(e.caller, e.callee, e.calls, _count(e.errors), e.p95_ms)
             for e in edges],
        )


@click.command()
@click.option("--service", required=True, help="The service.")
@click.option("--by", type=click.Choice(["service", "operation"], case_sensitive=False), default="service",
              show_default=True, help="One row per time bucket, or per bucket and operation (span name).")
@click.option("--since", type=TIME, default="1h", show_default=True, help="How far back: an age or ISO 8601.")
@click.option("--until", type=TIME, help="Until (default: now).")
@click.option("--step", type=DURATION, help=f"Bucket width (default: the window / {LATENCY_BUCKETS}).")
@JSON_OPTION
@click.pass_context
def latency(ctx: click.Context, service: str, by: str, since: dt.datetime, until: dt.datetime | None,
            step: dt.timedelta | None, as_json: bool) -> None:
    """One service's requests, errors and p50/p95/p99 latency over time, e.g.
    `latency --service checkout --by operation`."""
    from ..query.telemetry import TelemetryQuery

    end = until or dt.datetime.now(dt.timezone.utc)
    if since >= end:
        raise click.BadParameter("must be before --until (or now)", param_hint="'--since'")
    width = step or dt.timedelta(seconds=max(1, round((end - since).total_seconds() / LATENCY_BUCKETS)))
    by = by.lower()
    with TelemetryQuery(settings_of(ctx)) as query:
        buckets = query.red(by=by, service=service, since=since, until=end, step=width)  # type: ignore[arg-type]
    if answer_json(buckets, as_json, not buckets, f"no requests (SERVER or CONSUMER spans) of {service!r}"
                   f" since {clock(since)}"):
        return
    out = Output()
    out.print(Text(f"{service}: requests (SERVER and CONSUMER spans), buckets of {width}", "bold"))
    if by == "operation":
        _red_table(out, (Col("from"), Col("operation", flex="cut")), buckets,
                   lambda b: (clock(b.time, milliseconds=False), b.operation))
    else:
        _red_table(out, (Col("from"),), buckets, lambda b: (clock(b.time, milliseconds=False),))
