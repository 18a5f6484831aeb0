"""The circuit breaker shared by the exporters of one database.

When the database is down, trying it on every batch would make every ``export()`` wait for a
connection timeout. After ``threshold`` consecutive failed batches the breaker opens: callers
are told not to try, and hand their batches to the spool instead. After ``cooldown`` seconds
one caller (a live export or the replayer) is let through as a probe (half-open); its success
closes the breaker, its failure opens it for another cool-down. State changes are logged once
each, never per batch.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerStats:
    """What the breaker did since it was created."""

    state: BreakerState
    consecutive_failures: int
    opened: int
    closed: int
    probes: int
    short_circuited: int


class CircuitBreaker:
    """Thread-safe closed / open / half-open breaker; ``allow()`` is a lock and a comparison."""

    def __init__(
        self, threshold: int, cooldown: float, name: str = "database",
        on_close: Callable[[], str | None] | None = None, probe_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        # a probe that never reports back (its thread died) must not hold the breaker half-open
        self._probe_timeout = probe_timeout if probe_timeout is not None else cooldown
        self._name = name
        self._on_close = on_close
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._opened = self._closed = self._probes = self._short_circuited = 0

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """True when the caller may use the database; in half-open state, only the one probe may."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._probe_due():
                self._state = BreakerState.HALF_OPEN
                self._opened_at = self._clock()
                self._probes += 1
                logger.info("circuit breaker for %s half-open: probing with one batch", self._name)
                return True
            self._short_circuited += 1
            return False

    def ready(self) -> bool:
        """Whether ``allow()`` would say yes now, without taking the probe slot."""
        with self._lock:
            return self._state is BreakerState.CLOSED or self._probe_due()

    def _probe_due(self) -> bool:
        elapsed = self._clock() - self._opened_at
        if self._state is BreakerState.OPEN:
            return elapsed >= self._cooldown
        return self._state is BreakerState.HALF_OPEN and elapsed >= self._probe_timeout

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state is BreakerState.CLOSED:
                return
            self._state = BreakerState.CLOSED
            self._closed += 1
        # on_close wakes whoever waits for the database and may say what is waiting for it
        note = self._on_close() if self._on_close is not None else None
        logger.warning("circuit breaker for %s closed: the database accepts writes again%s", self._name,
                       f"; {note}" if note else "")

    def record_failure(self, error: BaseException | None = None) -> None:
        """Count a failed batch; ``error`` is named in the warning if this opens the breaker."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self._threshold
            ):
                reopened = self._state is BreakerState.HALF_OPEN
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                if reopened:
                    return  # the probe failed: stay open quietly, it was logged when it opened
                self._opened += 1
            else:
                return
        logger.warning(
            "circuit breaker for %s open after %d consecutive failed batches: spooling to disk, "
            "probing again every %.1f s%s", self._name, self._threshold, self._cooldown,
            f" (last error: {error})" if error is not None else "",
        )

    def stats(self) -> BreakerStats:
        with self._lock:
            return BreakerStats(
                self._state, self._failures, self._opened, self._closed, self._probes, self._short_circuited
            )
