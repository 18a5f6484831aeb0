"""Pages from templates: one Jinja environment with autoescaping always on.

Span names, attributes, log bodies and exception messages are whatever the instrumented
applications (or an attacker talking to them) put there, so every value is escaped; no
template marks stored text ``|safe``. The filters turn the query layer's values into text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..version import __version__

NONE = "\N{EN DASH}"  # a missing value in a cell

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("opentelemetry_exporter_pgvector.ui", "templates"),
    autoescape=True,  # every template, whatever its name: nothing is left to select_autoescape
    undefined=jinja2.StrictUndefined,  # a misspelt name fails the page instead of showing nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


def milliseconds(value: float | None) -> str:
    """A duration for a table cell: three significant decimals under 10 ms, one above."""
    if value is None or not math.isfinite(value):
        return NONE
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def moment(value: dt.datetime | None) -> str:
    """A timestamp in UTC with milliseconds; the page says the times are UTC."""
    if value is None:
        return NONE
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def unix_nanos(value: Any) -> str:
    """An event's ``time_unix_nano`` as :func:`moment` shows times; blank if it is not a number."""
    if not isinstance(value, int):
        return ""
    return moment(dt.datetime.fromtimestamp(value / 1e9, dt.timezone.utc))


def shown(value: Any) -> str:
    """An attribute value as text: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


_ENVIRONMENT.filters.update(ms=milliseconds, moment=moment, shown=shown, unix_nanos=unix_nanos)
_ENVIRONMENT.globals.update(version=__version__)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, the request (for the current URL and filters) and
    whether this server exposes the SQL page (the navigation shows it only then)."""
    html = _ENVIRONMENT.get_template(template).render(
        request=request, params=request.query_params, allow_sql=request.app.state.allow_sql, **context
    )
    return HTMLResponse(html, status_code=status)
