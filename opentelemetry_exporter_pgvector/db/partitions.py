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

:func:`list_partitions` reads them back from the catalog, for retention and storage statistics.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from ..forksafe import reset_after_fork
from .citus import has_citus, size_expression
from .timeouts import bound_transaction

logger = logging.getLogger(__name__)


Signal = Literal["spans", "logs", "metrics"]


@dataclass(frozen=True)
class SignalTable:
    """A signal's table and the column it is partitioned by."""

    signal: Signal
    table: str
    time_column: str


SIGNAL_TABLES: tuple[SignalTable, ...] = (
    SignalTable("spans", "otel_spans", "start_time"),
    SignalTable("logs", "otel_logs", "time"),
    SignalTable("metrics", "otel_metric_points", "time"),
)


@dataclass(frozen=True)
class Partition:
    """One partition of a signal table, as the catalog describes it."""

    name: str
    is_default: bool
    lower: dt.datetime | None  # the range, in UTC; None for the default partition (or a non-range bound)
    upper: dt.datetime | None
    bytes: int  # heap, indexes and TOAST
    estimated_rows: int | None  # pg_class.reltuples; None until first vacuumed or analyzed
    day: dt.date | None  # the UTC day of a daily partition as otel_ensure_partition makes them, else None


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


    def ensure(self, conn: psycopg.Connection, tables: Iterable[str], days: Iterable[dt.date]) -> None:
        """Create the partitions of ``tables`` for ``days`` that are missing, in one transaction,
        unbounded: for tools and tests that make the partitions of past or future days."""
        names = [sql.Identifier(self._schema, table).as_string(conn) for table in tables]
        with conn.transaction():
            conn.execute(self._statement, (names, list(days)))

# The bounds are read back through their text (no SQL function returns a range partition's
# bounds as values): pg_get_expr renders them in the session's time zone with its offset, and
# casting that text back to timestamptz gives the exact instant whatever the time zone is.
_PARTITIONS = r"""
SELECT c.relname::text, b.expr = 'DEFAULT',
       substring(b.expr from $re$^FOR VALUES FROM \('([^']+)'\) TO \('[^']+'\)$$re$)::timestamptz,
       substring(b.expr from $re$^FOR VALUES FROM \('[^']+'\) TO \('([^']+)'\)$$re$)::timestamptz,
       {size}, c.reltuples
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
 WHERE i.inhparent = to_regclass(format('%%I.%%I', %s::text, %s::text))
"""


def list_partitions(conn: psycopg.Connection, schema: str, table: str) -> list[Partition]:
    """The partitions of ``schema.table``, by range (oldest first), then the others (the default).

    A partition counts as daily (``day`` set) only when its name and its bounds are both those
    ``otel_ensure_partition`` gives, so retention never mistakes a partition someone made by
    hand for one of ours. An absent table has no partitions.
    """
    statement = partitions_statement(schema, table, has_citus(conn))
    return read_partitions(table, conn.execute(*statement).fetchall())


def partitions_statement(schema: str, table: str, citus: bool) -> tuple[sql.Composed, tuple[str, str]]:
    """The catalog query of :func:`list_partitions`, for callers that run it their own way
    (the read side's plans, sync or async); :func:`read_partitions` reads its rows. ``citus``:
    whether the database has Citus (:data:`.citus.HAS_CITUS`), whose tables' sizes are their
    shards'."""
    return sql.SQL(_PARTITIONS).format(size=sql.SQL(size_expression(citus))), (schema, table)


def read_partitions(table: str, rows: Iterable[tuple[Any, ...]]) -> list[Partition]:
    """The rows of :func:`partitions_statement` as :class:`Partition` s, in :func:`list_partitions`' order."""
    partitions = []
    for name, is_default, lower, upper, size, reltuples in rows:
        lower = lower.astimezone(dt.timezone.utc) if lower is not None else None
        upper = upper.astimezone(dt.timezone.utc) if upper is not None else None
        daily = (
            lower is not None and upper is not None and lower.time() == dt.time(0)
            and upper - lower == dt.timedelta(days=1) and name == f"{table}_{lower:%Y%m%d}"
        )
        partitions.append(Partition(
            name=name, is_default=bool(is_default), lower=lower, upper=upper, bytes=int(size),
            estimated_rows=int(reltuples) if reltuples >= 0 else None,
            day=lower.date() if daily and lower is not None else None,
        ))
    far_future = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    return sorted(partitions, key=lambda p: (p.lower is None, p.lower or far_future, p.name))


def count_rows(
    conn: psycopg.Connection, schema: str, relation: str, older_than: tuple[str, dt.datetime] | None = None
) -> int:
    """Rows of ``schema.relation`` (a scan), or only those whose column is before a time:
    ``older_than=(column, time)``."""
    row = conn.execute(*count_statement(schema, relation, older_than)).fetchone()
    return int(row[0]) if row else 0


def count_statement(
    schema: str, relation: str, older_than: tuple[str, dt.datetime] | None = None
) -> tuple[sql.Composed, tuple[dt.datetime, ...]]:
    """The query of :func:`count_rows` and its parameters; its one row is the count."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, relation))
    if older_than is None:
        return query, ()
    return sql.SQL("{} WHERE {} < %s").format(query, sql.Identifier(older_than[0])), (older_than[1],)
