"""A bounded, thread-safe record of dictionary keys known to be stored.

Dictionary tables (resources, span shapes) are written insert-if-absent. Remembering which
keys a committed transaction stored lets a repeated key cost a dict lookup instead of a round
trip. Keys are added only after their transaction commits, so a rolled-back batch never
leaves a key marked as stored that is not; forgetting a key (eviction) only costs one
redundant ``ON CONFLICT DO NOTHING`` insert.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable


class KnownKeys:
    """Least-recently-used set of keys, at most ``capacity`` of them."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            return False

    def __len__(self) -> int:
        return len(self._keys)

    def add_all(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._keys[key] = None
                self._keys.move_to_end(key)
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
