"""The service pages: failed spans grouped, and per service the RED table and the service map.

Plain functions run in Starlette's thread pool, like the trace pages; they render what
``TelemetryQuery.errors``, ``red`` and ``service_map`` answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..query.services import RedGrouping
from ..query.telemetry import TelemetryQuery
from . import charts, forms
from .render import page

ERROR_GROUPINGS = {"exception_type": "exception", "name": "span", "service": "service", "shape": "shape"}


def errors(request: Request) -> Response:
    """Failed spans grouped by exception, span, service or shape, most frequent first."""
    params = request.query_params
    group_by = forms.choice(params, "group_by", tuple(ERROR_GROUPINGS), "exception_type")
    window, since = forms.window_start(params, default="24h")
    query: TelemetryQuery = request.app.state.query
    groups = query.errors(since=since, service=forms.text(params, "service"),
                          group_by=group_by,  # type: ignore[arg-type]
                          limit=forms.integer(params, "limit", 50))
    return page(request, "errors.html", groups=groups, groupings=ERROR_GROUPINGS, group_by=group_by,
                windows=forms.WINDOWS, window=window)


def services(request: Request) -> Response:
    """RED of entry spans per service (or operation) in the window, and who calls whom."""
    params = request.query_params
    window, since = forms.window_start(params)
    by: RedGrouping = "operation" if forms.choice(params, "by", ("service", "operation"),
                                                   "service") == "operation" else "service"
    query: TelemetryQuery = request.app.state.query
    red = query.red(by=by, since=since)
    edges = query.service_map(since=since)
    picture = charts.service_map(edges, (bucket.service_name for bucket in red))
    return page(request, "services.html", red=red, by=by, edges=edges, picture=picture,
                windows=forms.WINDOWS, window=window)
