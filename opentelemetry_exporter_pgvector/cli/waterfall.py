"""The waterfall of ``otel-pgvector trace``: one line per span on the trace's time axis.

Each line holds the span's name indented by its depth, its service, its duration and a bar
from its start to its end, scaled so the whole trace spans the width left for bars. A failed
span is marked ✗ (and red on a terminal); a span whose parent is not stored, hung under the
root, is marked ``(orphan)``. With details, the span's attributes, events (an exception's
type, message and the telling lines of its stack trace), links and log records follow it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from ..query.logs import LogEntry
from ..query.traces import Trace, TraceSpan
from .render import clock, one_line, shorten

GAP = "  "
NAME_SHARE = 0.4  # at most this share of the width goes to the indented names
SERVICE_WIDTH = 16
MIN_BAR = 10
ERROR_MARK = " ✗"
ORPHAN_MARK = " (orphan)"
STACK_LINES = 3
_HEADERS = ("span", "service", "duration ms")


def _marks(span: TraceSpan) -> str:
    return (ERROR_MARK if span.status_code == "ERROR" else "") + (ORPHAN_MARK if span.orphan else "")


@dataclass(frozen=True)
class Layout:
    """Column widths of a waterfall, and the milliseconds the bar column spans."""

    name: int
    service: int
    duration: int
    bar: int
    total_ms: float

    @classmethod
    def fit(cls, trace: Trace, width: int) -> Layout:
        """Names and services as wide as they need (within bounds), bars take the rest; on a
        narrow terminal names give way first, down to their marks and a character."""
        labels = [2 * span.depth + len(span.name) + len(_marks(span)) for span in trace.spans]
        shortest = max(len(_HEADERS[0]), *(len(_marks(span)) + 2 for span in trace.spans))
        name = max(shortest, min(max(labels), int(width * NAME_SHARE)))
        service = max(len(_HEADERS[1]), min(max(len(s.service_name) for s in trace.spans), SERVICE_WIDTH))
        duration = max(len(_HEADERS[2]), *(len(_milliseconds(s.duration_ms)) for s in trace.spans))
        bar = width - name - service - duration - 3 * len(GAP)
        if bar < MIN_BAR:
            name = max(shortest, name - (MIN_BAR - bar))
            bar = max(1, width - name - service - duration - 3 * len(GAP))
        return cls(name, service, duration, bar, trace.duration_ms)

    def header(self, rule: str) -> list[Text]:
        """Column names, over the bars the axis from 0 to the trace's duration where it fits,
        and the rule the tables have: ``rule`` under each column and the gap's first column."""
        end = f"{_milliseconds(self.total_ms)} ms"
        axis = "0" + end.rjust(self.bar - 1) if self.bar >= len(end) + 2 else ""
        cells = (_HEADERS[0].ljust(self.name), _HEADERS[1].ljust(self.service),
                 _HEADERS[2].rjust(self.duration), axis)
        rules = " ".join([rule * (width + 1) for width in (self.name, self.service, self.duration)]
                         + [rule * self.bar])
        return [Text(GAP.join(cells).rstrip(), style="bold"), Text(rules)]

    def line(self, span: TraceSpan) -> Text:
        failed = span.status_code == "ERROR"
        line = self._name(span, failed)
        line.append(GAP + shorten(span.service_name, self.service).ljust(self.service) + GAP)
        line.append(_milliseconds(span.duration_ms).rjust(self.duration) + GAP)
        line.append(self._bar(span), style="red" if failed else "yellow" if span.orphan else "cyan")
        return line

    def _name(self, span: TraceSpan, failed: bool) -> Text:
        marks = _marks(span)
        indent = "  " * min(span.depth, max(0, self.name - len(marks) - 2) // 2)  # deep trees keep a name
        name = shorten(span.name, self.name - len(indent) - len(marks))
        text = Text(indent)
        text.append(name, style="red" if failed else "")
        text.append(marks, style="red" if failed else "yellow")
        text.append(" " * (self.name - len(text)))
        return text

    def _bar(self, span: TraceSpan) -> str:
        """The span from its start to its end on the trace's axis, at least one character."""
        scale = self.bar / self.total_ms if self.total_ms > 0 else 0.0
        start = min(int(span.offset_ms * scale), self.bar - 1)
        end = min(self.bar, max(start + 1, round((span.offset_ms + (span.duration_ms or 0.0)) * scale)))
        return " " * start + "█" * (end - start)


def waterfall(trace: Trace, width: int, logs: Sequence[LogEntry] | None = None,
              rule: str = "-") -> list[Text]:
    """The header (its rule drawn with ``rule``) and one line per span; given ``logs`` (the
    trace's records), each span's details and records follow it, indented under its name and
    cut to ``width``."""
    layout = Layout.fit(trace, width)
    lines = layout.header(rule)
    for span in trace.spans:
        lines.append(layout.line(span))
        if logs is not None:
            indent = "  " * span.depth + "    "
            records = [entry for entry in logs if entry.span_id == span.span_id]
            for detail in span_details(span, records):
                line = Text(indent) + detail
                line.truncate(width, overflow="ellipsis")
                lines.append(line)
    return lines


def span_details(span: TraceSpan, logs: Sequence[LogEntry]) -> list[Text]:
    """What is stored about a span beyond its line: ids, kind and status, attributes, events,
    links, and the log records emitted in it."""
    status = span.status_code + (f": {span.status_message}" if span.status_message else "")
    details = [Text(f"span {span.span_id}  {span.kind}  {status}  started {clock(span.start_time)}",
                    style="dim")]
    details += [Text(f"{key} = {_value(value)}") for key, value in sorted(span.attributes.items())]
    for event in span.events:
        attributes = event.get("attributes") or {}
        if event.get("name") == "exception":
            kind, message = attributes.get("exception.type", ""), attributes.get("exception.message", "")
            details.append(Text(f"exception {kind}: {one_line(str(message))}", style="red"))
            details += [Text("  " + line, style="dim")
                        for line in stack_excerpt(attributes.get("exception.stacktrace"))]
        else:
            values = f" {_value(attributes)}" if attributes else ""
            details.append(Text(f"event {event.get('name')}{values}"))
    details += [Text(f"link trace {link.get('trace_id')} span {link.get('span_id')}") for link in span.links]
    for entry in logs:
        severity = entry.severity_text or entry.severity_number or ""
        details.append(Text(f"log {clock(entry.time)} {severity} {one_line(entry.body or '')}",
                            style="red" if (entry.severity_number or 0) >= 17 else ""))
    return details


def stack_excerpt(stacktrace: Any, count: int = STACK_LINES) -> list[str]:
    """The telling lines of a stack trace: Python prints the innermost frame last, so its last
    lines; Java, Go and most others print it first, so their first lines. Lines that only
    underline code (Python's ``^^^^``) are left out."""
    if not isinstance(stacktrace, str):
        return []
    lines = [line.rstrip() for line in stacktrace.splitlines() if line.strip().strip("^~")]
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        return lines[-count:]
    return lines[:count]


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _milliseconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
