"""``storage_stats()``: what the telemetry takes on disk, how far back it goes, how much is embedded.

Row counts come from the planner's statistics (``pg_class.reltuples``, kept by autovacuum)
unless ``exact`` is asked for: counting is a scan of every table, minutes on a large database.
A table or partition never analyzed yet is counted exactly whatever ``exact`` says, since it
has no estimate (a new, small one, as a rule). The oldest and newest record of a signal are
read from its default partition and its oldest and newest non-empty partitions only: the
signal tables have no index that orders by time alone, so ``min()`` over a whole table would
scan all of it.

A plan (``plan.py``) of many small statements, one per table or partition it must look at,
so the sync and the async client gather the same figures the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from ..config import PgvectorSettings
from ..db.citus import HAS_CITUS, size_expression
from ..db.database import Database
from ..db.partitions import (
    SIGNAL_TABLES,
    Partition,
    Signal,
    SignalTable,
    count_statement,
    partitions_statement,
    read_partitions,
)
from ..db.retention import retention_policy
from .plan import Fetch, Plan


@dataclass(frozen=True)
class PartitionStats:
    """One partition of a signal table."""

    name: str
    day: dt.date | None  # None: the default partition (or one not made by otel_ensure_partition)
    is_default: bool
    rows: int
    rows_estimated: bool
    bytes: int


@dataclass(frozen=True)
class TableStats:
    """One table of the schema; a partitioned table sums its partitions."""

    name: str
    rows: int
    rows_estimated: bool  # some of the rows are the planner's estimate
    bytes: int  # heap, indexes and TOAST
    partitions: tuple[PartitionStats, ...]  # empty for a plain table


@dataclass(frozen=True)
class SignalStats:
    """How far back one signal's records go, and what retention leaves behind."""

    signal: Signal
    table: str
    oldest: dt.datetime | None  # None when the table is empty
    newest: dt.datetime | None
    retention: dt.timedelta | None  # None: kept for ever
    # rows of the default partition older than the retention, which retention never deletes
    # (docs/retention.md); None when kept for ever
    default_rows_expired: int | None


@dataclass(frozen=True)
class ShapeStats:
    """Shapes of one signal and how many have a vector."""

    signal: str  # as otel_shapes.signal: span, log
    shapes: int
    embedded: int

    @property
    def coverage(self) -> float:
        """Share of the shapes that have a vector (1.0 when there are none)."""
        return self.embedded / self.shapes if self.shapes else 1.0


@dataclass(frozen=True)
class StorageStats:
    """Rows and bytes per table and partition, time range per signal, shapes and vector coverage."""

    tables: tuple[TableStats, ...]
    signals: tuple[SignalStats, ...]
    shapes: tuple[ShapeStats, ...]

    @property
    def bytes(self) -> int:
        return sum(table.bytes for table in self.tables)


_TABLES = """
SELECT c.relname::text, c.relkind = 'p', {size}, c.reltuples
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname LIKE 'otel\\_%%'
 ORDER BY c.relname
"""


def storage_stats(database: Database, settings: PgvectorSettings, exact: bool = False) -> Plan[StorageStats]:
    """See the module docstring; a plan, run in a (read-only) transaction."""
    schema = database.schema
    [(citus,)] = yield Fetch(sql.SQL(HAS_CITUS))
    partitions: dict[str, list[Partition]] = {}
    for signal_table in SIGNAL_TABLES:
        partitions[signal_table.table] = yield from _partitions(schema, signal_table.table, citus)
    tables = []
    listing = sql.SQL(_TABLES).format(size=sql.SQL(size_expression(citus)))
    for name, partitioned, size, reltuples in (yield Fetch(listing, (schema,))):
        if partitioned:
            listed = partitions[name] if name in partitions else (yield from _partitions(schema, name, citus))
            parts = []
            for partition in listed:
                parts.append((yield from _partition_stats(schema, partition, exact)))
            tables.append(TableStats(name, sum(p.rows for p in parts), any(p.rows_estimated for p in parts),
                                     sum(p.bytes for p in parts), tuple(parts)))
        else:
            rows, estimated = yield from _rows(schema, name, reltuples, exact)
            tables.append(TableStats(name, rows, estimated, int(size), ()))
    policy = retention_policy(settings)
    signals = []
    for signal_table in SIGNAL_TABLES:
        signals.append((yield from _signal_stats(schema, signal_table, partitions[signal_table.table],
                                                 policy[signal_table.signal])))
    shapes = yield from _shape_stats(database)
    return StorageStats(tuple(tables), tuple(signals), shapes)


def _partitions(schema: str, table: str, citus: bool) -> Plan[list[Partition]]:
    rows = yield Fetch(*partitions_statement(schema, table, citus))
    return read_partitions(table, rows)


def _count(schema: str, relation: str, older_than: tuple[str, dt.datetime] | None = None) -> Plan[int]:
    [(count,)] = yield Fetch(*count_statement(schema, relation, older_than))
    return int(count)


def _rows(schema: str, name: str, reltuples: float, exact: bool) -> Plan[tuple[int, bool]]:
    """Rows of a table or partition, and whether that is the planner's estimate."""
    if reltuples >= 0 and not exact:
        return int(reltuples), True
    return (yield from _count(schema, name)), False


def _partition_stats(schema: str, partition: Partition, exact: bool) -> Plan[PartitionStats]:
    reltuples = -1.0 if partition.estimated_rows is None else float(partition.estimated_rows)
    rows, estimated = yield from _rows(schema, partition.name, reltuples, exact)
    return PartitionStats(
        partition.name, partition.day, partition.is_default, rows, estimated, partition.bytes
    )


def _extreme(schema: str, partition: str, column: str, how: str) -> Plan[dt.datetime | None]:
    """``min`` or ``max`` (``how``) of a partition's time column: a scan of it."""
    [(value,)] = yield Fetch(sql.SQL("SELECT {}({}) FROM {}").format(
        sql.SQL(how), sql.Identifier(column), sql.Identifier(schema, partition)))
    return value  # type: ignore[no-any-return]


def _signal_stats(
    schema: str, table: SignalTable, partitions: list[Partition], keep: dt.timedelta | None,
) -> Plan[SignalStats]:
    ranged = [p for p in partitions if p.lower is not None]  # by range, oldest first, not overlapping
    others = [p for p in partitions if p.lower is None]  # the default partition: any time at all
    found: dict[str, list[dt.datetime]] = {"min": [], "max": []}
    for how, order in (("min", ranged), ("max", ranged[::-1])):
        for partition in order:  # the first non-empty partition holds the extreme of them all
            if (value := (yield from _extreme(schema, partition.name, table.time_column, how))) is not None:
                found[how].append(value)
                break
        for partition in others:
            if (value := (yield from _extreme(schema, partition.name, table.time_column, how))) is not None:
                found[how].append(value)
    expired = None
    if keep is not None:
        older_than = (table.time_column, dt.datetime.now(dt.timezone.utc) - keep)
        expired = 0
        for partition in others:
            if partition.is_default:
                expired += yield from _count(schema, partition.name, older_than)
    return SignalStats(
        signal=table.signal, table=table.table,
        oldest=min(found["min"], default=None), newest=max(found["max"], default=None),
        retention=keep, default_rows_expired=expired,
    )


def _shape_stats(database: Database) -> Plan[tuple[ShapeStats, ...]]:
    [(table,)] = yield Fetch(sql.SQL("SELECT to_regclass(format('%%I.otel_shapes', %s::text))"),
                             (database.schema,))
    if table is None:
        return ()
    rows = yield Fetch(sql.SQL("SELECT signal, count(*), count(embedding) FROM {} GROUP BY signal"
                               " ORDER BY signal").format(database.qualified("otel_shapes")))
    return tuple(ShapeStats(signal, int(count), int(embedded)) for signal, count, embedded in rows)
