"""Serving the UI: uvicorn on 127.0.0.1 only, on a socket bound before the URL is printed.

The socket is bound and listening before anything is printed, so the printed URL answers
(port 0 picks a free port, and the URL says which), and a port in use is one clear error
rather than a log line from inside uvicorn. uvicorn handles Ctrl-C: it finishes the requests
in flight, then raises the signal again, which the CLI reports as "interrupted".
"""

from __future__ import annotations

import logging
import socket
import webbrowser
from collections.abc import Callable

import uvicorn

from ..errors import PortUnavailable
from ..query.telemetry import TelemetryQuery
from .app import create_app

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 8642
# How long Ctrl-C waits for the pages being rendered before it drops them.
GRACEFUL_SECONDS = 5


def listen(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: a free port the system picks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise PortUnavailable(f"cannot listen on {HOST}:{port} ({error.strerror}); "
                              "choose another with --port (0 picks a free one)") from None
    return sock


def serve(query: TelemetryQuery, port: int = DEFAULT_PORT, allow_sql: bool = False,
          open_browser: bool = False, announce: Callable[[str], None] = print) -> None:
    """Serve the UI over ``query`` until interrupted; ``announce`` gets the URL once it answers."""
    sock = listen(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    config = uvicorn.Config(create_app(query, allow_sql), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, lifespan="off")
    announce(url)
    if open_browser and not webbrowser.open(url):
        logger.warning("no browser could be opened; visit %s", url)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
