"""A bounded hand-off to one background thread, so that ``export()`` need not wait for the spool.

While the circuit breaker is open, a batch's fate is settled: it goes to the spool. Converting
512 spans and appending them takes a few milliseconds, which the SDK's batch processor would
spend blocked in ``export()``. The delivery hands such batches here instead: ``submit`` takes
a job (convert, then append) for the writer thread and returns at once, or refuses it when
``capacity`` jobs are already waiting, and the caller then does the job itself. Memory is thus
bounded by ``capacity`` batches of SDK objects, and a spool writer that cannot keep up slows
``export()`` down (back pressure) instead of growing a queue.

The price is custody: a job taken here but not yet run is lost if the process is killed
(docs/reliability.md counts it), just like the spans waiting in the SDK's own queue.
``flush`` waits for the jobs taken so far; after ``fork()`` the child starts with no jobs
(the parent's are the parent's to run) and its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ..forksafe import reset_after_fork

logger = logging.getLogger(__name__)


class WriteBehind:
    """At most ``capacity`` jobs waiting for one background thread; ``submit`` never blocks."""

    def __init__(self, capacity: int, thread_name: str) -> None:
        self.capacity = capacity
        self._thread_name = thread_name
        self.after_fork_in_child()
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        """Start empty: a forked child has no writer thread, and the parent's jobs are its own."""
        self._lock = threading.Lock()
        self._pending: set[Future[object]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def submit(self, job: Callable[[], object]) -> bool:
        """Take ``job`` for the writer thread; False when ``capacity`` jobs are waiting or after ``close``."""
        with self._lock:
            if self._closed or len(self._pending) >= self.capacity:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
            try:
                future = self._executor.submit(job)
            except RuntimeError:  # the interpreter is exiting (the SDK's atexit shutdown exports)
                return False
            self._pending.add(future)
        future.add_done_callback(self._done)
        return True

    def _done(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            logger.error("background spool write failed", exc_info=error)

    @property
    def waiting(self) -> int:
        """Jobs taken and not yet finished."""
        return len(self._pending)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every job taken so far; True when all are done."""
        with self._lock:
            pending = list(self._pending)
        return not wait(pending, timeout).not_done

    def close(self, timeout: float) -> int:
        """Refuse new jobs, run the waiting ones for up to ``timeout`` seconds; return how many never ran.

        A job already running when the time is up is left to finish on its thread.
        """
        with self._lock:
            self._closed = True
        self.flush(timeout)
        with self._lock:
            executor, self._executor = self._executor, None
            pending = list(self._pending)
        abandoned = sum(future.cancel() for future in pending)
        if executor is not None:
            executor.shutdown(wait=False)
        return abandoned
