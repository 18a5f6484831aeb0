"""One reference-counted object per key and process, shared by the exporters and queries.

The span, log and metric exporters (and a ``TelemetryQuery``) of a process that point at the
same database share one :class:`~.database.Database` (one pool, migrations once), and through
it one delivery (breaker, spool, replayer) and one inline encoder (one model in memory). Each
user acquires the object when it starts and releases it when it shuts down; the release
that gives back the last use hands the object to its caller to close, outside the lock, so a
slow close (a pool draining, a replayer finishing its batch) never blocks other users.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_Key = TypeVar("_Key", bound=Hashable)
_Shared = TypeVar("_Shared")


class SharedRegistry(Generic[_Key, _Shared]):
    """A registry holding one ``_Shared`` per key, counted by its users."""

    def __init__(self) -> None:
        self._entries: dict[_Key, tuple[_Shared, int]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: _Key, create: Callable[[], _Shared]) -> _Shared:
        """The shared object of ``key``, created by ``create`` for its first user."""
        with self._lock:
            shared, users = self._entries.get(key) or (create(), 0)
            self._entries[key] = (shared, users + 1)
            return shared

    def active(self, key: _Key) -> _Shared | None:
        """The shared object of ``key`` if some user holds it, else None."""
        with self._lock:
            entry = self._entries.get(key)
            return entry[0] if entry is not None else None

    def release(self, key: _Key) -> _Shared | None:
        """Give back one use of ``key``; return the object when that was the last use.

        The caller closes what it gets back; None means other users still hold it (or the key
        was never acquired).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            shared, users = entry
            if users > 1:
                self._entries[key] = (shared, users - 1)
                return None
            del self._entries[key]
            return shared
