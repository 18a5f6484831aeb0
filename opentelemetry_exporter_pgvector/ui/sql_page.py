"""The SQL page: ``TelemetryQuery.sql``, the read-only hatch, over HTTP.

Registered only when the server is started with ``--allow-sql``: any page the browser visits
could send this local server a request, and though the hatch refuses writes and is bounded in
rows and time, reading every stored table is more than the other pages expose.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..query.telemetry import TelemetryQuery
from . import forms
from .render import page

ROWS = 500
TIMEOUT_SECONDS = 10.0


def sql(request: Request) -> Response:
    """One read-only statement from ``?q=``, at most ``ROWS`` rows and ``TIMEOUT_SECONDS``."""
    text = forms.text(request.query_params, "q")
    query: TelemetryQuery = request.app.state.query
    result = query.sql(text, limit=ROWS, timeout=TIMEOUT_SECONDS) if text else None
    return page(request, "sql.html", result=result, statement=text or "")
