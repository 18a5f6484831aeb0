"""One reference-counted object per :class:`Database` and process, shared by its exporters.

The span, log and metric exporters of a process that write to one database share its
delivery (breaker, spool, replayer) and its inline encoder (one model in memory). Each
exporter acquires the object when it starts and releases it when it shuts down; the last
release closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from .database import Database


class Closeable(Protocol):
    def close(self, timeout: float) -> None: ...


_Shared = TypeVar("_Shared", bound=Closeable)


class PerDatabase(Generic[_Shared]):
    """A registry holding one ``_Shared`` per live :class:`Database`, counted by its users."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Database, _Shared, int]] = {}
        self._lock = threading.Lock()

    def acquire(self, database: Database, create: Callable[[], _Shared]) -> _Shared:
        """The shared object of ``database``, created by ``create`` for its first user."""
        with self._lock:
            entry = self._entries.get(id(database))
            if entry is None or entry[0] is not database:
                entry = (database, create(), 0)
            self._entries[id(database)] = (entry[0], entry[1], entry[2] + 1)
            return entry[1]

    def active(self, database: Database) -> _Shared | None:
        """The shared object of ``database`` if some user holds it, else None."""
        with self._lock:
            entry = self._entries.get(id(database))
            return entry[1] if entry is not None and entry[0] is database else None

    def release(self, database: Database, timeout: float) -> None:
        """Give back one use; the last one closes the object (waiting up to ``timeout``)."""
        with self._lock:
            entry = self._entries.get(id(database))
            if entry is None or entry[0] is not database:
                return
            if entry[2] > 1:
                self._entries[id(database)] = (entry[0], entry[1], entry[2] - 1)
                return
            del self._entries[id(database)]
        entry[1].close(timeout)
