"""What to do when a batch fails: the one SQLSTATE classification table, and the backoff.

psycopg raises the same exception classes for transient and permanent conditions (an
``OperationalError`` may be a refused connection or a misconfigured one), so the decision is
made on the SQLSTATE the server sent, looked up first by its full five characters and then by
its two-character class. Errors without a SQLSTATE are a connection that never got as far as
the server, or one the pool could not provide in time: transient; unless every pooled
connection was busy with this process's own work, which is back pressure (``WAIT``), not a
failure. A value the client cannot even put on the wire is the row's fault (``ISOLATE``).

A class the table does not know is ``FAIL``, which never means "retry for ever": the batch is
written again with poison-row isolation, which first asks whether the table takes an empty
COPY (``poison.isolate``). If it does, the error came from rows (a trigger, a row-level
security policy) and they are bisected out like data errors; if not, the batch as a whole
cannot be written, and it is spooled, and set behind later batches when its replay fails.
"""

from __future__ import annotations

import enum
import random

import psycopg

from ..errors import DatabaseBusy, DatabaseClosed, DatabaseUnavailable, UnsendableRow


class Action(enum.Enum):
    """How the write path reacts to an error."""

    RETRY = "retry"  # transient: back off and try again within the export timeout, then spool
    WAIT = "wait"  # back pressure (every pooled connection busy): wait again within the timeout
    ISOLATE = "isolate"  # data error: bisect the batch, store good rows, dead-letter the rest
    FAIL = "fail"  # schema, permission or unknown: no retry; bisected if rows caused it, else spooled


# The classification table: SQLSTATE (5 characters) or class (2 characters) -> action, why.
# Full codes take precedence over their class. Every row is tested in tests/test_retry.py.
CLASSIFICATION: dict[str, tuple[Action, str]] = {
    "08": (Action.RETRY, "connection exception"),
    "40001": (Action.RETRY, "serialization failure"),
    "40P01": (Action.RETRY, "deadlock detected"),
    "57P01": (Action.RETRY, "admin shutdown (server restarting)"),
    "57P02": (Action.RETRY, "crash shutdown"),
    "57P03": (Action.RETRY, "cannot connect now (server starting)"),
    "53300": (Action.RETRY, "too many connections"),
    "53": (Action.RETRY, "insufficient resources (disk full, out of memory)"),
    "25006": (Action.RETRY, "read-only transaction (failover in progress)"),
    "57014": (Action.RETRY, "query canceled (statement timeout)"),
    "55P03": (Action.RETRY, "lock not available (lock timeout: a migration waiting for its locks)"),
    "58": (Action.RETRY, "system error (an I/O error on the server)"),
    "22": (Action.ISOLATE, "data exception"),
    "23": (Action.ISOLATE, "integrity constraint violation"),
    "54": (Action.ISOLATE, "program limit exceeded (a value too large for an index, too many columns)"),
    "42": (Action.FAIL, "syntax error or access rule violation (schema, permission)"),
    "28": (Action.FAIL, "invalid authorization"),
}


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE behind ``error`` or the psycopg error that caused it, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.Error) and current.sqlstate:
            return current.sqlstate
        current = current.__cause__ or current.__context__
    return None


def classify(error: BaseException) -> Action:
    """The action for ``error`` according to :data:`CLASSIFICATION`."""
    if isinstance(error, DatabaseClosed):
        return Action.FAIL  # closed by shutdown: no later attempt can succeed
    if isinstance(error, DatabaseBusy):
        return Action.WAIT
    code = sqlstate_of(error)
    if code is None:
        if isinstance(error, (psycopg.OperationalError, DatabaseUnavailable, OSError, TimeoutError)):
            return Action.RETRY  # no server answer at all: unreachable, refused, pool timeout
        if isinstance(error, (UnsendableRow, psycopg.DataError)):
            return Action.ISOLATE  # refused by the client's encoder: a value, or a row's length
        if isinstance(error, psycopg.Error):
            return Action.RETRY if isinstance(error, psycopg.InterfaceError) else Action.FAIL
        return Action.FAIL
    entry = CLASSIFICATION.get(code) or CLASSIFICATION.get(code[:2])
    return entry[0] if entry else Action.FAIL


def is_refusal(error: BaseException) -> bool:
    """Whether the database answered and refused the batch, or rows of it, for good.

    True for data errors (and values the client cannot send) and for any other error the
    server sent that is not transient. Such a batch is worth writing again with poison-row
    isolation (``poison.isolate`` tells a row's fault from the table's), is not retried as it
    is, and is no sign that the database is down: the circuit breaker does not count it.
    """
    action = classify(error)
    return action is Action.ISOLATE or (action is Action.FAIL and sqlstate_of(error) is not None)


class Backoff:
    """Exponential backoff with "equal jitter": pause ``n`` is uniform in [c/2, c],
    c = min(max, initial * 2**n).

    Half the pause is random so that exporters of many processes that failed together do
    not retry together; the other half guarantees the server gets a real pause.
    """

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self._initial = initial
        self._maximum = maximum
        self._random = rng or random.Random()

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        ceiling = min(self._maximum, self._initial * (2 ** min(attempt, 30)))
        return self._random.uniform(ceiling / 2, ceiling)
