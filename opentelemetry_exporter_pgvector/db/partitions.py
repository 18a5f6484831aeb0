"""Daily partitions, created ahead of time, never at the cost of an export.

Each signal table is range-partitioned by UTC day with a default partition as a catch-all, so
no record is ever rejected for its timestamp: a late record whose day has no partition, or one
from a badly skewed clock, lands in the default partition, and ``otel_ensure_partition``
moves such rows into a day's partition when that day's partition is created. Writers therefore
need not look at each row's day; :class:`PartitionKeeper` only makes sure that, whenever the
UTC date changes, the partitions from yesterday to ``days_ahead`` days ahead exist.

Creating a partition is DDL that waits for locks: ``ATTACH PARTITION`` takes an ACCESS
EXCLUSIVE lock on the default partition, which every session that has read the table holds
a share of until its transaction ends (an analyst's session left idle in a transaction after
a ``SELECT``: for hours), and while it waits, writers of that partition queue behind it. A
missing partition, on the other hand, costs nothing but a later move of its rows. So the
keeper gives up rather than wait: each attempt's lock wait and statements are bounded
(:func:`~.timeouts.bound_transaction`), and one that runs out of time rolls back and leaves
the day to a later attempt. Where the attempts run is the callers' choice, and they keep them
off the export path (docs/reliability.md, "Bounded DDL and connecting"): a process's first use
makes one as part of preparing the schema, with a small share of its time (cheap then: the
partitions normally exist, created days ahead); after that, when the date moves on, the export
only notices (:meth:`PartitionKeeper.due`, no I/O) and the delivery's background thread
creates them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

import psycopg
from psycopg import sql

from ..forksafe import reset_after_fork
from .timeouts import bound_transaction

logger = logging.getLogger(__name__)


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class PartitionKeeper:
    """Creates the daily partitions around today, once per UTC day and process."""

    def __init__(self, schema: str, days_ahead: int) -> None:
        self._schema = schema
        self._days_ahead = days_ahead
        self._ready_for: dt.date | None = None
        self._statement = sql.SQL(
            "SELECT {}(t::regclass, d) FROM unnest(%s::text[]) AS t CROSS JOIN unnest(%s::date[]) AS d"
        ).format(sql.Identifier(schema, "otel_ensure_partition"))
        self.after_fork_in_child()
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        """A fresh lock: the parent's may be held by a thread the child does not have."""
        self._lock = threading.Lock()

    def due(self) -> bool:
        """True until the partitions around today's UTC date are known to exist; no I/O."""
        return self._ready_for != _today()

    def ensure_current(
        self, conn: psycopg.Connection, tables: Iterable[str], deadline: float | None = None,
        lock_wait: float | None = None,
    ) -> bool:
        """Create the missing partitions of ``tables`` from yesterday to ``days_ahead`` ahead.

        One transaction, bounded by ``deadline`` and ``lock_wait`` as
        :func:`~.timeouts.bound_transaction` says (None: unbounded). True when they exist;
        False when a lock or the time ran out (55P03, 57014: nothing was created, rows go to
        the default partition meanwhile and are moved by a later success) or another thread
        of this process is creating them right now. Cheap once done for today.
        """
        today = _today()
        if self._ready_for == today:
            return True
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._ready_for == today:
                return True
            days = [today + dt.timedelta(days=offset) for offset in range(-1, self._days_ahead + 1)]
            names = [sql.Identifier(self._schema, table).as_string(conn) for table in tables]
            try:
                with conn.transaction():
                    bound_transaction(conn, deadline, lock_wait)
                    conn.execute(self._statement, (names, days))
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as error:
                logger.warning(
                    "daily partitions of schema %s not created yet, tried again later (rows of days "
                    "without one go to the default partition meanwhile): %s; a session idle in a "
                    "transaction that read the tables holds their lock until it ends",
                    self._schema, str(error).strip(),
                )
                return False
            self._ready_for = today
            return True
        finally:
            self._lock.release()
