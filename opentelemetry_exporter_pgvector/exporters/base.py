"""What the three exporters share: settings, the shared database, and the SDK's contract.

The contract, as opentelemetry-sdk behaves: ``export()`` returns a result and never raises;
it may run on several threads at once (``SimpleSpanProcessor``); ``shutdown()`` may overlap
an export in flight, is idempotent, and later exports fail with a single warning; the
no-argument constructor works, configured from ``OTEL_EXPORTER_PGVECTOR_*`` variables,
because ``opentelemetry-instrument`` builds exporters that way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..config import PgvectorSettings
from ..db.database import Database, acquire
from ..convert.table import TableRows
from ..write.writer import TelemetryWriter

logger = logging.getLogger(__name__)


class PgvectorExporterBase:
    """Lifecycle and write path common to the span, log and metric exporters."""

    signal = "telemetry"

    def __init__(self, settings: PgvectorSettings | None = None, **overrides: Any) -> None:
        if settings is not None and overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        self.settings = settings if settings is not None else PgvectorSettings(**overrides)
        self._database: Database = acquire(self.settings)
        self._writer = TelemetryWriter(self._database)
        self._state = threading.Condition()
        self._in_flight = 0
        self._shutdown = False
        self._warned_after_shutdown = False

    @property
    def database(self) -> Database:
        return self._database

    def _begin(self) -> bool:
        with self._state:
            if self._shutdown:
                if not self._warned_after_shutdown:
                    self._warned_after_shutdown = True
                    logger.warning("Exporter already shutdown, ignoring batch")
                return False
            self._in_flight += 1
            return True

    def _end(self) -> None:
        with self._state:
            self._in_flight -= 1
            self._state.notify_all()

    def _write(self, parts: Sequence[TableRows], count: int, timeout: float | None = None) -> bool:
        """Commit converted rows within ``timeout`` (default: the export timeout); True on success.

        Logs and swallows every error.
        """
        try:
            self._writer.write(parts, self.settings.timeout if timeout is None else timeout)
        except Exception as error:  # the SDK contract: report failure, never raise
            logger.error("Failed to export %d %s to PostgreSQL: %s", count, self.signal, error)
            return False
        return True

    def _shutdown_exporter(self, timeout_millis: float | None = None) -> None:
        timeout = self.settings.timeout if timeout_millis is None else timeout_millis / 1000
        with self._state:
            if self._shutdown:
                logger.warning("Exporter already shutdown, ignoring call")
                return
            self._shutdown = True
            deadline = time.monotonic() + timeout
            while self._in_flight and (remaining := deadline - time.monotonic()) > 0:
                self._state.wait(remaining)  # let exports in flight finish, up to the timeout
        self._database.release()
