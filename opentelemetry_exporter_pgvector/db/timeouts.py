"""Server-side bounds for a transaction: what is left of a deadline, as lock and statement timeouts.

An export must end by its deadline whatever the server does, and the server is the one place
that can interrupt a statement waiting for a lock (an analyst's session left idle in a
transaction holds one for as long as it stays open). So every transaction the export path
runs, DDL included, starts by setting ``lock_timeout`` and ``statement_timeout`` to the time
left. ``SET LOCAL`` (``set_config(..., true)``): they end with the transaction, so a pooled
connection never keeps a bound meant for one export.
"""

from __future__ import annotations

import math
import time

import psycopg


def bound_transaction(
    conn: psycopg.Connection, deadline: float | None, lock_wait: float | None = None
) -> None:
    """Bound the rest of ``conn``'s transaction by ``deadline`` (a ``time.monotonic()`` value).

    ``statement_timeout`` is the time left; ``lock_timeout`` the time left or ``lock_wait``
    seconds, whichever is shorter (a lock wait queues later lockers behind it, so DDL may want
    a shorter one). With ``deadline`` None nothing is set: the session's settings apply.
    A deadline already past still sets 1 ms, so the next statement fails at once (57014)
    rather than running unbounded.
    """
    if deadline is None:
        return
    left = deadline - time.monotonic()
    lock = left if lock_wait is None else min(left, lock_wait)
    conn.execute(
        "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
        (_milliseconds(lock), _milliseconds(left)),
    )


def _milliseconds(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))
