"""The trace pages: search, one trace as a waterfall, two traces compared, similar spans.

Each handler is a plain function: Starlette runs it in its thread pool, where the blocking
``TelemetryQuery`` calls do not hold up the event loop. Handlers only read the query string,
ask ``TelemetryQuery`` and render; a bad filter becomes a ``QueryError`` that ``app.py``
shows on the page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFound
from ..query.telemetry import TelemetryQuery
from . import charts, forms
from .render import page

SIMILAR_WINDOWS = "7d"


def _query(request: Request) -> TelemetryQuery:
    query: TelemetryQuery = request.app.state.query
    return query


def traces(request: Request) -> Response:
    """The trace search, newest first, with the filters of ``find_traces``."""
    search = forms.TraceSearch.read(request.query_params)
    found = _query(request).find_traces(**search.arguments)
    return page(request, "traces.html", traces=found, windows=forms.WINDOWS, window=search.window,
                statuses=("ERROR", "OK", "UNSET"))


def trace(request: Request) -> Response:
    """One trace: its waterfall, its logs, and the details of the span in ``?span=`` if any.

    The other spans' details are fetched when clicked (:func:`span_details`): rendering all
    of a 1,000-span trace's attributes and stacks up front would make the page several times
    slower to arrive, for details nobody reads all of.
    """
    trace_id = request.path_params["trace_id"]
    query = _query(request)
    found = query.get_trace(trace_id)
    logs = query.logs_for_trace(trace_id)
    wanted = forms.text(request.query_params, "span")
    selected = next((span for span in found.spans if span.span_id == wanted), None)
    errors = sum(span.status_code == "ERROR" for span in found.spans)
    return page(request, "trace.html", trace=found, chart=charts.waterfall(found), logs=logs,
                selected=selected, errors=errors)


def span_details(request: Request) -> Response:
    """One span's details as an HTML fragment, which the trace page's script puts in place."""
    trace_id, span_id = request.path_params["trace_id"], request.path_params["span_id"]
    found = _query(request).get_trace(trace_id)
    span = next((span for span in found.spans if span.span_id == span_id.lower()), None)
    if span is None:
        raise NotFound(f"span {span_id} is not stored in trace {found.trace_id}")
    return page(request, "span_details.html", span=span, trace_id=found.trace_id)


def compare(request: Request) -> Response:
    """Two traces span by span (``?a=...&b=...``): duration deltas, status changes, spans only one has."""
    params = request.query_params
    a, b = forms.text(params, "a"), forms.text(params, "b")
    comparison = _query(request).compare_traces(a, b) if a and b else None
    return page(request, "compare.html", comparison=comparison, a=a or "", b=b or "")


def similar(request: Request) -> Response:
    """The span shapes nearest a stored span (``?span_id=``) or a text (``?q=``, which loads the model)."""
    params = request.query_params
    span_id, text = forms.text(params, "span_id"), forms.text(params, "q")
    window, since = forms.window_start(params, default=SIMILAR_WINDOWS)
    status = forms.text(params, "status")
    hits = None
    if span_id or text:
        hits = _query(request).similar_spans(
            text=None if span_id else text, span_id=span_id, k=forms.integer(params, "k", 10, high=100),
            service=forms.text(params, "service"), status=status.upper() if status else None, since=since,
        )
    return page(request, "similar.html", hits=hits, windows=forms.WINDOWS, window=window)
