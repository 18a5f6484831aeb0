"""Retention: drop the daily partitions of spans, log records and metric points that expired.

Records go by whole partitions, never by ``DELETE`` on a signal table: a ``DROP TABLE`` of a
day frees its disk at once, writes no WAL per row and leaves nothing for vacuum. A partition
is expired when its whole UTC day is older than now minus the signal's retention.

Locks. Dropping a partition takes an ACCESS EXCLUSIVE lock on the parent table (and on its
default partition) for the moment the catalog changes. While the drop *waits* for that lock,
every export queues behind it, so each drop runs in its own short transaction under a
``lock_timeout`` of :data:`LOCK_TIMEOUT` seconds: an export waits at most that long, and a
partition that cannot be locked in a few tries (a long query reads the table) is reported as
skipped and dropped by a later run. ``DETACH PARTITION ... CONCURRENTLY`` (which only takes
a SHARE UPDATE EXCLUSIVE lock) cannot be used: PostgreSQL refuses it on a table that has a
default partition, and every signal table has one.

The default partition is never dropped, and its rows are never deleted, even those older than
the retention (late records, skewed clocks): they are counted in the report instead.

Several processes may apply retention at once (every exporter does, hourly): a session
advisory lock lets one of them work and the others return at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from ..config import PgvectorSettings
from ..errors import QueryError
from .database import Database
from .partitions import SIGNAL_TABLES, Partition, Signal, SignalTable, count_rows, list_partitions

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = 0.2  # seconds a drop waits for its lock: the longest it can hold up an export
_ATTEMPTS = 5  # tries per partition before it is skipped until the next run
_RETRY_PAUSE = 0.1  # seconds before the second try, doubling

Outcome = Literal["dropped", "would drop", "skipped"]


@dataclass(frozen=True)
class ExpiredPartition:
    """A daily partition past its signal's retention, and what became of it."""

    signal: Signal
    partition: str
    day: dt.date
    rows: int | None  # counted just before the drop; None when not counted
    bytes: int  # heap, indexes and TOAST
    outcome: Outcome  # skipped: its lock could not be had without holding up exports


@dataclass(frozen=True)
class SignalRetention:
    """How one signal's retention applied."""

    signal: Signal
    table: str
    keep: dt.timedelta | None  # None: kept for ever
    cutoff: dt.datetime | None  # partitions whose day ended by then are expired
    default_rows_expired: int | None  # rows older than the cutoff in the default partition (kept)


@dataclass(frozen=True)
class RetentionReport:
    """What :func:`apply_retention` dropped, or would drop (``dry_run``)."""

    signals: tuple[SignalRetention, ...]
    partitions: tuple[ExpiredPartition, ...]
    dry_run: bool
    busy: bool  # another session was applying retention: nothing was done

    def _done(self) -> list[ExpiredPartition]:
        return [p for p in self.partitions if p.outcome != "skipped"]

    @property
    def dropped_partitions(self) -> int:
        """Partitions dropped (or, in a dry run, that would be)."""
        return len(self._done())

    @property
    def dropped_rows(self) -> int | None:
        """Their rows, None when they were not counted."""
        done = self._done()
        return None if any(p.rows is None for p in done) else sum(p.rows or 0 for p in done)

    @property
    def dropped_bytes(self) -> int:
        return sum(p.bytes for p in self._done())

    @property
    def skipped(self) -> int:
        """Partitions left for a later run because their lock could not be had in time."""
        return len(self.partitions) - len(self._done())


def retention_policy(
    settings: PgvectorSettings, keep: dt.timedelta | None = None, signals: Iterable[Signal] | None = None
) -> dict[Signal, dt.timedelta | None]:
    """How long each signal is kept: ``keep`` for all, else its settings (None: for ever).

    ``signals`` limits the policy to those signals; the others are left alone.
    """
    chosen = set(signals) if signals is not None else {table.signal for table in SIGNAL_TABLES}
    policy: dict[Signal, dt.timedelta | None] = {}
    for table in SIGNAL_TABLES:
        if table.signal not in chosen:
            continue
        if keep is not None:
            policy[table.signal] = keep
            continue
        override: int | None = getattr(settings, f"retention_days_{table.signal}")
        days = settings.retention_days if override is None else override
        policy[table.signal] = dt.timedelta(days=days) if days else None
    return policy


def apply_retention(
    database: Database,
    policy: Mapping[Signal, dt.timedelta | None],
    *,
    dry_run: bool = False,
    count: bool = True,
    now: dt.datetime | None = None,
) -> RetentionReport:
    """Drop the expired daily partitions of the signals in ``policy`` (see the module docstring).

    On a connection of its own, never a pooled one, so exports keep the pool. ``count``
    counts each expired partition's rows and the default partition's expired rows (a scan of
    each; the background pass leaves it off). ``dry_run`` reports what would be dropped and
    drops nothing. Raises what the database raises, such as a permission error.
    """
    for keep in policy.values():
        if keep is not None and keep <= dt.timedelta(0):
            raise QueryError(f"a retention must be longer than zero, not {keep} (None keeps for ever)")
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    with database.connect() as conn:
        conn.autocommit = True
        with _turn(conn, database.schema, wanted=not dry_run) as ours:
            if not ours:
                return RetentionReport((), (), dry_run, busy=True)
            applied = [
                _apply(conn, database, table, policy[table.signal], now, count, dry_run)
                for table in SIGNAL_TABLES if table.signal in policy
            ]
    signals = tuple(signal for signal, _ in applied)
    return RetentionReport(signals, tuple(p for _, expired in applied for p in expired), dry_run, busy=False)


def _apply(
    conn: psycopg.Connection, database: Database, table: SignalTable, keep: dt.timedelta | None,
    now: dt.datetime, count: bool, dry_run: bool,
) -> tuple[SignalRetention, list[ExpiredPartition]]:
    """Retention of one signal: its expired daily partitions, dropped (unless ``dry_run``)."""
    if keep is None:
        return SignalRetention(table.signal, table.table, None, None, None), []
    cutoff = now - keep
    partitions = list_partitions(conn, database.schema, table.table)
    expired = [
        _expire(conn, database, table, partition, count, dry_run) for partition in partitions
        if partition.day is not None and partition.upper is not None and partition.upper <= cutoff
    ]
    default_rows = None
    if count:
        default_rows = sum(count_rows(conn, database.schema, p.name, (table.time_column, cutoff))
                           for p in partitions if p.is_default)
    return SignalRetention(table.signal, table.table, keep, cutoff, default_rows), expired


@contextmanager
def _turn(conn: psycopg.Connection, schema: str, wanted: bool) -> Iterator[bool]:
    """This schema's retention lock (when ``wanted``): yields whether this session holds it.

    Released explicitly at the end: a closed connection's backend releases its locks only once
    it has exited, which a run right after this one could beat.
    """
    if not wanted:
        yield True
        return
    key = (f"otel-pgvector retention {schema}",)
    row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", key).fetchone()
    if not (row and row[0]):
        yield False
        return
    try:
        yield True
    finally:
        if not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", key)


def _expire(
    conn: psycopg.Connection, database: Database, table: SignalTable, partition: Partition,
    count: bool, dry_run: bool,
) -> ExpiredPartition:
    """Count (if asked) and drop one expired partition, or report it skipped."""
    assert partition.day is not None
    rows = count_rows(conn, database.schema, partition.name) if count else None
    outcome: Outcome = "would drop" if dry_run else _drop(conn, database, partition.name)
    return ExpiredPartition(table.signal, partition.name, partition.day, rows, partition.bytes, outcome)


def _drop(conn: psycopg.Connection, database: Database, partition: str) -> Outcome:
    """``DROP TABLE`` the partition, each try waiting at most :data:`LOCK_TIMEOUT` for its locks."""
    statement = sql.SQL("DROP TABLE {}").format(sql.Identifier(database.schema, partition))
    timeouts = (f"{int(LOCK_TIMEOUT * 1000)}ms", f"{int(database.settings.timeout * 1000)}ms")
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                    timeouts,
                )
                conn.execute(statement)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
            if attempt + 1 < _ATTEMPTS:
                time.sleep(_RETRY_PAUSE * 2**attempt)
            continue
        logger.info("retention dropped partition %s.%s", database.schema, partition)
        return "dropped"
    logger.info("retention skipped partition %s.%s: its table stayed busy; a later run drops it",
                database.schema, partition)
    return "skipped"
