"""The log and metric pages: log search, patterns and similar bodies; metric names and a chart.

Plain functions run in Starlette's thread pool, like the trace pages. The "similar" log
search embeds the text with the configured model (the ``embeddings`` extra) on first use.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from ..query.metrics import AGGREGATIONS
from ..query.telemetry import TelemetryQuery
from . import charts, forms
from .render import page

LOG_MODES = ("search", "patterns", "similar")
SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# A chart has about this many buckets, whatever the window.
CHART_BUCKETS = 60


def logs(request: Request) -> Response:
    """Log records newest first (words matched by stem), their patterns, or bodies like a text."""
    params = request.query_params
    mode = forms.choice(params, "mode", LOG_MODES, "search")
    window, since = forms.window_start(params)
    service, text = forms.text(params, "service"), forms.text(params, "q")
    limit = forms.integer(params, "limit", 100)
    query: TelemetryQuery = request.app.state.query
    records = patterns = similar = None
    if mode == "search":
        records = query.search_logs(text=text, service=service, min_severity=forms.text(params, "severity"),
                                    since=since, limit=limit)
    elif mode == "patterns":
        patterns = query.log_patterns(service=service, since=since, limit=limit)
    elif text:
        similar = query.similar_logs(text=text, service=service, since=since, k=min(limit, 100))
    return page(request, "logs.html", mode=mode, modes=LOG_MODES, records=records, patterns=patterns,
                similar=similar, severities=SEVERITIES, windows=forms.WINDOWS, window=window)


def metrics(request: Request) -> Response:
    """The metrics with points in the window; with ``?name=``, that metric's series as a chart."""
    params = request.query_params
    window, since = forms.window_start(params)
    until = dt.datetime.now(dt.timezone.utc)
    service, name = forms.text(params, "service"), forms.text(params, "name")
    agg = forms.choice(params, "agg", AGGREGATIONS, "avg")
    query: TelemetryQuery = request.app.state.query
    names = query.metric_names(since=since, until=until, service=service)
    chart = buckets = None
    if name:
        buckets = query.metric_series(name, since, until, (until - since) / CHART_BUCKETS, service=service,
                                      agg=agg)  # type: ignore[arg-type]
        chart = charts.line_chart(buckets, since, until)
    return page(request, "metrics.html", names=names, name=name, chart=chart, buckets=buckets,
                aggregations=AGGREGATIONS, agg=agg, windows=forms.WINDOWS, window=window)
