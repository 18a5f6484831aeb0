"""``otel-pgvector ui``: the local web UI (``ui/``), served until Ctrl-C.

The UI's libraries (Starlette, Jinja2, uvicorn) come with the ``ui`` extra and are imported
only here, inside the command: without them every other command works, and this one says
which extra to install (``extras.py``), as the root group does for any missing module.
"""

from __future__ import annotations

import click

from ..errors import DatabaseUnavailable
from .params import settings_of


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8642, show_default=True,
              help="Port on 127.0.0.1 (0: any free port; the URL printed says which).")
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in the default browser.")
@click.option("--allow-sql", is_flag=True,
              help="Also serve the read-only SQL page (off by default: any page the browser opens "
              "can send requests to a local server).")
@click.pass_context
def ui(ctx: click.Context, port: int, open_browser: bool, allow_sql: bool) -> None:
    """Browse traces, errors, services, logs and metrics in a local web UI on 127.0.0.1.

    Read-only: it only shows what the other commands show. Stop it with Ctrl-C."""
    from ..query.telemetry import TelemetryQuery
    from ..ui.server import serve

    with TelemetryQuery(settings_of(ctx)) as query:
        health = query.health()
        if not health.reachable:
            raise DatabaseUnavailable(health.error or "the database cannot be reached")
        serve(query, port, allow_sql, open_browser,
              announce=lambda url: click.echo(f"otel-pgvector ui: serving {url} (Ctrl-C stops it)"))
