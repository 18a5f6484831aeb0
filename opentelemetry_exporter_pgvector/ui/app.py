"""The UI's ASGI application: its routes, its safety defaults, and how errors show.

Safe by default, because telemetry is attacker-controlled text and a local server is reachable
from any page the browser opens:

- only GET routes (Starlette answers 405 to anything else): nothing here writes;
- the SQL page exists only when ``allow_sql`` is given (``--allow-sql``);
- a Host header other than the loopback names is refused, so a DNS-rebinding page cannot read
  the answers;
- a Content-Security-Policy allows only the package's own script and stylesheet, no inline
  script or style: were a value ever left unescaped, the browser still would not run it;
- templates escape every value (``render.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DatabaseUnavailable, NotFound, PgvectorError
from ..query.telemetry import TelemetryQuery
from . import service_pages, signal_pages, sql_page, trace_pages
from .render import page

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
     b" connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (pages, static files and errors alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _home(request: Request) -> Response:
    return RedirectResponse("/traces", status_code=302)


def _failed(request: Request, error: Exception) -> Response:
    """A page's query failed as the package says it may: the message above the page's form."""
    status = 404 if isinstance(error, NotFound) else 503 if isinstance(error, DatabaseUnavailable) else 400
    return page(request, "error.html", status=status, message=" ".join(str(error).split()))


def _missing_extra(request: Request, error: Exception) -> Response:
    """The model (``embeddings`` extra) is needed for a similarity search and not installed."""
    from ..extras import missing_extra_message

    assert isinstance(error, ModuleNotFoundError)
    logger.info("a page needs a module that is not installed", exc_info=error)
    message = missing_extra_message(error) or f"no module named {error.name!r}"
    return page(request, "error.html", status=501, message=message)


def routes(allow_sql: bool) -> list[BaseRoute]:
    """Every page, and the SQL page only when ``allow_sql``."""
    pages = [
        Route("/", _home),
        Route("/traces", trace_pages.traces),
        Route("/traces/{trace_id}", trace_pages.trace),
        Route("/traces/{trace_id}/spans/{span_id}", trace_pages.span_details),
        Route("/compare", trace_pages.compare),
        Route("/similar", trace_pages.similar),
        Route("/errors", service_pages.errors),
        Route("/services", service_pages.services),
        Route("/logs", signal_pages.logs),
        Route("/metrics", signal_pages.metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if allow_sql:
        pages.append(Route("/sql", sql_page.sql))
    return pages


def create_app(query: TelemetryQuery, allow_sql: bool = False) -> Starlette:
    """The UI over ``query`` (which the caller closes); the SQL page only if ``allow_sql``."""
    app = Starlette(
        routes=routes(allow_sql),
        middleware=[Middleware(SecurityHeaders),
                    Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)],
        exception_handlers={PgvectorError: _failed, ModuleNotFoundError: _missing_extra},
    )
    app.state.query = query
    app.state.allow_sql = allow_sql
    return app
