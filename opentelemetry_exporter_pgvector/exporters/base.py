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
from ..convert.table import TableRows
from ..db.database import Database, acquire
from ..write.delivery import Delivery, delivery_for, release_delivery

logger = logging.getLogger(__name__)


class PgvectorExporterBase:
    """Lifecycle and write path common to the span, log and metric exporters."""

    signal = "telemetry"

    def __init__(self, settings: PgvectorSettings | None = None, **overrides: Any) -> None:
        if settings is not None and overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        self.settings = settings if settings is not None else PgvectorSettings(**overrides)
        self._database: Database = acquire(self.settings)
        self._delivery: Delivery = delivery_for(self._database, self.settings)
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

    @property
    def delivery(self) -> Delivery:
        """Retries, breaker and spool of this exporter's database (shared with its siblings)."""
        return self._delivery

    def _write(self, parts: Sequence[TableRows], count: int) -> bool:
        """Deliver converted rows exactly once; never raises.

        True when the batch is stored, or durably spooled for replay (docs/reliability.md
        argues why that is SUCCESS); False when it is lost.
        """
        try:
            delivered = self._delivery.deliver(parts, self.settings.timeout).delivered
        except Exception:  # the SDK contract: report failure, never raise
            logger.exception("Failed to export %d %s", count, self.signal)
            return False
        if not delivered:
            logger.error("Failed to export %d %s to PostgreSQL", count, self.signal)
        return delivered

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
        release_delivery(self._database, timeout)
        self._database.release()
