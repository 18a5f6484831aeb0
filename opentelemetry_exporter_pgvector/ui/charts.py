"""Geometry of the UI's pictures: the trace waterfall, a metric's line chart, the service map.

They are drawn as inline SVG by the templates, from the coordinates computed here, so the
page needs no charting library, no CDN and no script to show them. Only numbers and the
query layer's own values leave this module; the templates escape every text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..query.metrics import MetricBucket
from ..query.services import ServiceEdge
from ..query.traces import Trace, TraceSpan

# Colour-blind-safe categorical palette (Okabe-Ito, without black), then a few more.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999",
           "#6a3d9a", "#b15928")
ROW_HEIGHT = 22
AXIS_HEIGHT = 24
LABEL_WIDTH = 420
BARS_WIDTH = 700
INDENT = 14
MIN_BAR_WIDTH = 1.5
TICKS = 6


def service_colours(services: Iterable[str]) -> dict[str, str]:
    """A colour per service, by name order: the same set of services gets the same colours."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(sorted(set(services)))}


def nice_step(span: float, ticks: int = TICKS) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Bar:
    """One span's row of the waterfall: its bar from start to end on the trace's time axis."""

    span: TraceSpan
    y: float
    x: float
    width: float
    label_x: float
    colour: str

    @property
    def failed(self) -> bool:
        return self.span.status_code == "ERROR"


@dataclass(frozen=True)
class Waterfall:
    width: float
    height: float
    label_width: float
    bars: list[Bar]
    ticks: list[Tick]
    colours: dict[str, str]


def _milliseconds_label(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def waterfall(trace: Trace) -> Waterfall:
    """Each span of ``trace`` (tree order, as ``get_trace`` gives it) as a bar scaled so the
    whole trace fills the bar area; names indented by depth; a tick every round duration."""
    total = trace.duration_ms or 1.0
    scale = BARS_WIDTH / total
    colours = service_colours(span.service_name for span in trace.spans)
    bars = [
        Bar(span, AXIS_HEIGHT + index * ROW_HEIGHT, LABEL_WIDTH + span.offset_ms * scale,
            max(MIN_BAR_WIDTH, (span.duration_ms or 0.0) * scale), 4 + INDENT * min(span.depth, 20),
            colours[span.service_name])
        for index, span in enumerate(trace.spans)
    ]
    step = nice_step(total)
    ticks = [Tick(LABEL_WIDTH + index * step * scale, _milliseconds_label(index * step))
             for index in range(int(total / step) + 1)]
    return Waterfall(LABEL_WIDTH + BARS_WIDTH + 60, AXIS_HEIGHT + len(bars) * ROW_HEIGHT + 4,
                     LABEL_WIDTH, bars, ticks, colours)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    time: dt.datetime
    value: float


@dataclass(frozen=True)
class LineChart:
    """A series as a polyline in a ``width`` x ``height`` box, with its axes' labels."""

    width: float
    height: float
    points: list[Point]
    x_ticks: list[Tick]
    y_ticks: list[tuple[float, str]]  # (y, label)
    left: float
    bottom: float

    @property
    def path(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


def line_chart(buckets: Sequence[MetricBucket], since: dt.datetime, until: dt.datetime,
               width: float = 900, height: float = 280) -> LineChart:
    """The buckets with a value, on a time axis from ``since`` to ``until`` and a value axis
    from zero (or the lowest value, if negative) to the highest."""
    left, right, top, bottom = 70.0, width - 20, 10.0, height - 30
    values = [bucket for bucket in buckets if bucket.value is not None and math.isfinite(bucket.value)]
    low = min([0.0, *(float(bucket.value or 0.0) for bucket in values)])
    high = max([float(bucket.value or 0.0) for bucket in values] or [1.0])
    if high <= low:
        high = low + 1.0
    step = nice_step(high - low, 4)
    low = math.floor(low / step) * step
    high = low + math.ceil((high - low) / step) * step  # the top tick at or above the highest value
    seconds = max((until - since).total_seconds(), 1.0)

    def x_of(moment: dt.datetime) -> float:
        return left + (moment - since).total_seconds() / seconds * (right - left)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    points = [Point(x_of(bucket.time), y_of(value), bucket.time, value)
              for bucket, value in ((bucket, float(bucket.value or 0.0)) for bucket in values)]
    y_ticks = [(y_of(low + index * step), f"{low + index * step:g}")
               for index in range(round((high - low) / step) + 1)]
    x_ticks = [Tick(x_of(since + (until - since) * index / 4),
                    (since + (until - since) * index / 4).strftime("%m-%d %H:%M")) for index in range(5)]
    return LineChart(width, height, points, x_ticks, y_ticks, left, bottom)


@dataclass(frozen=True)
class Node:
    name: str
    x: float
    y: float
    colour: str


@dataclass(frozen=True)
class Edge:
    edge: ServiceEdge
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def label_x(self) -> float:
        return (self.x1 + self.x2) / 2

    @property
    def label_y(self) -> float:
        return (self.y1 + self.y2) / 2


@dataclass(frozen=True)
class ServiceMap:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]
    radius: float


def service_map(edges: Sequence[ServiceEdge], services: Iterable[str] = (), size: float = 560,
                radius: float = 34) -> ServiceMap:
    """Services (the edges' ends, and ``services`` without calls) on a circle, callers first;
    each edge a line from caller to callee stopping at the callee's circle (for the arrow)."""
    names = list(dict.fromkeys([*(edge.caller for edge in edges), *(edge.callee for edge in edges),
                                *services]))
    colours = service_colours(names)
    centre, ring = size / 2, size / 2 - radius - 40
    nodes: dict[str, Node] = {}
    for index, name in enumerate(names):
        angle = -math.pi / 2 + 2 * math.pi * index / max(len(names), 1)
        distance = ring if len(names) > 1 else 0.0
        nodes[name] = Node(name, centre + distance * math.cos(angle), centre + distance * math.sin(angle),
                           colours[name])
    lines = []
    for edge in edges:
        start, end = nodes[edge.caller], nodes[edge.callee]
        length = math.hypot(end.x - start.x, end.y - start.y) or 1.0
        dx, dy = (end.x - start.x) / length, (end.y - start.y) / length
        lines.append(Edge(edge, start.x + dx * radius, start.y + dy * radius,
                          end.x - dx * (radius + 6), end.y - dy * (radius + 6)))
    return ServiceMap(size, size, list(nodes.values()), lines, radius)
