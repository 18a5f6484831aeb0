"""Daily partitions, created ahead of time.

Each signal table is range-partitioned by UTC day with a default partition as a catch-all, so
no record is ever rejected for its timestamp: a late record whose day has no partition, or one
from a badly skewed clock, lands in the default partition, and ``otel_ensure_partition``
moves such rows into a day's partition when that day's partition is created. Writers therefore
need not look at each row's day; :class:`PartitionKeeper` only makes sure that, whenever the
UTC date changes, the partitions from yesterday to ``days_ahead`` days ahead exist.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

import psycopg
from psycopg import sql


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class PartitionKeeper:
    """Creates the daily partitions around today, once per UTC day and process."""

    def __init__(self, schema: str, days_ahead: int) -> None:
        self._schema = schema
        self._days_ahead = days_ahead
        self._ready_for: dt.date | None = None
        self._lock = threading.Lock()

    def ensure_current(self, conn: psycopg.Connection, tables: Iterable[str]) -> None:
        """Create missing partitions from yesterday to ``days_ahead`` ahead; cheap once done today."""
        today = _today()
        if self._ready_for == today:
            return
        with self._lock:
            if self._ready_for == today:
                return
            days = [today + dt.timedelta(days=offset) for offset in range(-1, self._days_ahead + 1)]
            self.ensure(conn, tables, days)
            self._ready_for = today

    def ensure(self, conn: psycopg.Connection, tables: Iterable[str], days: Iterable[dt.date]) -> None:
        """Create the partitions of ``tables`` for ``days`` that are missing, in one transaction."""
        statement = sql.SQL("SELECT {}(%s::regclass, %s)").format(
            sql.Identifier(self._schema, "otel_ensure_partition")
        )
        days = list(days)
        with conn.transaction():
            for table in tables:
                qualified = sql.Identifier(self._schema, table).as_string(conn)
                for day in days:
                    conn.execute(statement, (qualified, day))
