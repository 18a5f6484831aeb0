"""Hourly upkeep of one database, off the export path: retention, ledger and dead letters.

The exporters of a process share one :class:`Maintenance` per database (through their
``Delivery``). Its thread starts with the first stored batch and runs a pass
:data:`FIRST_PASS_AFTER` seconds later, then every :data:`EVERY` seconds, while the circuit
breaker is closed (a failing database is not asked for upkeep). A pass:

* drops the expired daily partitions of spans, log records and metric points
  (``db/retention.py``; several processes take turns through an advisory lock), without
  counting their rows, which would scan them;
* deletes ledger ids older than ``LEDGER_RETENTION_DAYS``;
* deletes dead letters older than ``DEAD_LETTER_RETENTION_DAYS`` (0: kept for ever).

Everything runs on a connection of its own, never a pooled one, so exports keep the pool;
no export ever waits for a pass, except up to ``retention.LOCK_TIMEOUT`` for the instant a
partition is dropped. A step that fails is logged and the others still run; the next pass
tries again. The first pass waits a minute so that short-lived processes (a CLI command, a
test) and the many processes of a deployment starting at once do not all run one at start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from psycopg import sql

from ..config import PgvectorSettings
from ..convert.dead_letters import DEAD_LETTER_TABLE
from ..db.database import Database
from ..db.retention import RetentionReport, apply_retention, retention_policy
from ..db.timeouts import bound_transaction
from ..forksafe import reset_after_fork
from .writer import LEDGER_TABLE

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

EVERY = 3600.0  # seconds between passes
FIRST_PASS_AFTER = 60.0  # seconds from the first stored batch to the first pass


@dataclass(frozen=True)
class MaintenanceReport:
    """What one pass did; a step that failed is None."""

    retention: RetentionReport | None
    ledger_deleted: int | None
    dead_letters_deleted: int | None


class Maintenance:
    """The upkeep thread of one database; see the module docstring."""

    def __init__(self, database: Database, settings: PgvectorSettings, ready: Callable[[], bool]) -> None:
        self.database = database
        self.settings = settings
        self._ready = ready  # False while the database is failing (the breaker is not closed)
        self.after_fork_in_child()
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        """Start without a thread: a forked child starts its own with its first stored batch."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs (or was closed); cheap, so every stored batch may call it."""
        if self._thread is not None or self._stop.is_set():
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name="otel-pgvector-maintenance",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        wait = FIRST_PASS_AFTER
        while not self._stop.wait(wait):
            wait = EVERY
            if self._ready():
                self.run_once()

    def run_once(self) -> MaintenanceReport:
        """One pass now; never raises (a failed step is logged and reported as None)."""
        retention = self._step("apply retention", lambda: apply_retention(
            self.database, retention_policy(self.settings), count=False))
        if retention is not None and retention.dropped_partitions:
            logger.info("retention dropped %d partitions (%d bytes)", retention.dropped_partitions,
                        retention.dropped_bytes)
        ledger = self._step("prune the batch ledger", lambda: self._prune(
            LEDGER_TABLE, "committed_at", self.settings.ledger_retention_days))
        dead_letters = self._step("prune the dead letters", lambda: self._prune(
            DEAD_LETTER_TABLE.name, "rejected_at", self.settings.dead_letter_retention_days))
        return MaintenanceReport(retention, ledger, dead_letters)

    def _step(self, what: str, step: Callable[[], _T]) -> _T | None:
        try:
            return step()
        except Exception as error:  # noqa: BLE001 - upkeep must not end the thread; the next pass retries
            logger.warning("could not %s in %s: %s", what, self.database, error)
            return None

    def _prune(self, table: str, column: str, days: int) -> int:
        """Delete the rows of a plain table older than ``days`` (0: none); return how many went."""
        if not days:
            return 0
        deadline = time.monotonic() + self.settings.timeout
        with self.database.connect() as conn, conn.transaction():
            bound_transaction(conn, deadline)  # a lock held elsewhere makes this pass give up, not wait
            cursor = conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} < now() - make_interval(days => %s)").format(
                    self.database.qualified(table), sql.Identifier(column)
                ),
                (days,),
            )
            return cursor.rowcount

    def close(self, timeout: float) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a pass in progress."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

