"""The shape of rows: table specs, and batches of rows bound for a table.

Converters produce :class:`TableRows`; the writer consumes them. Rows are tuples of plain
values in the spec's column order, already in the form PostgreSQL's binary COPY reads, so
no per-value adapter runs in Python:

* ``timestamptz``: ``int`` microseconds since 2000-01-01 UTC (:func:`pg_timestamp`), which is
  exactly the binary form of a timestamp, sent as an ``int8``;
* ``uuid``: 16 ``bytes``, sent as they are;
* ``jsonb``: ``bytes`` of the jsonb binary format, a version byte and UTF-8 JSON
  (``convert.values.to_jsonb``), sent as they are;
* integers as ``int``, text as ``str``, NULL as ``None``.

Plain ints, bytes and strings also make rows trivial to keep in the dead-letter spool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Row = tuple[Any, ...]
_Item = TypeVar("_Item")

# PostgreSQL counts binary timestamps in microseconds from 2000-01-01 UTC.
_PG_EPOCH_MICROS = 946_684_800 * 1_000_000
# Column types whose row values are sent in a wire type with the same binary form.
_WIRE_TYPES = {"timestamptz": "int8", "uuid": "bytea", "jsonb": "bytea"}


def pg_timestamp(unix_nanos: int) -> int:
    """A Unix-nanosecond timestamp as the microseconds since 2000 a binary ``timestamptz`` holds."""
    return unix_nanos // 1000 - _PG_EPOCH_MICROS


@dataclass(frozen=True)
class Column:
    """One column: its name and the PostgreSQL type COPY declares for it."""

    name: str
    type: str


@dataclass(frozen=True)
class TableSpec:
    """A table and the columns, in order, of the row tuples written to it."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def wire_types(self) -> tuple[str, ...]:
        """The types COPY dumps the row values as (see the module docstring)."""
        return tuple(_WIRE_TYPES.get(column.type, column.type) for column in self.columns)


class RowStream(Generic[_Item]):
    """Rows converted from SDK objects as they are iterated, and remembered.

    The writer iterates this inside COPY, so the server ingests the first rows while the
    next ones are still being converted (on two cores, conversion and ingestion overlap).
    Converted rows are kept: a retry, or the dead-letter spool, iterates them again, and an
    interrupted iteration resumes where conversion stopped. Items ``convert`` maps to None
    (objects that could not be converted) are left out.
    """

    def __init__(self, items: Iterable[_Item], convert: Callable[[_Item], Row | None]) -> None:
        self._pending: Iterator[_Item] = iter(items)
        self._convert = convert
        self._rows: list[Row] = []

    def __iter__(self) -> Iterator[Row]:
        rows = self._rows
        yield from rows[:]
        convert = self._convert
        append = rows.append
        for item in self._pending:
            row = convert(item)
            if row is not None:
                append(row)
                yield row

    def materialize(self) -> list[Row]:
        """All rows, converting whatever has not been converted yet."""
        for _ in self:
            pass
        return self._rows


@dataclass(frozen=True)
class TableRows:
    """Rows bound for one table.

    ``insert_if_absent`` marks a dictionary table (resources, shapes): rows whose key, the
    first column, is already stored are skipped instead of violating its primary key.
    """

    table: TableSpec
    rows: Iterable[Row] | Sequence[Row]
    insert_if_absent: bool = False


class CollectedRows:
    """Rows (shapes, dead letters) collected into ``collected`` while ``stream`` converts.

    Iterating first finishes the stream's conversion, so the writer may write these rows
    before or after the records they come from. ``collected`` is read then, not before: a
    list, or a live view such as ``dict.values()``.
    """

    def __init__(self, stream: RowStream[Any], collected: Iterable[Row]) -> None:
        self._stream = stream
        self._collected = collected

    def __iter__(self) -> Iterator[Row]:
        self._stream.materialize()
        return iter(list(self._collected))


def _same_row(row: Row) -> Row:
    return row


def collected_part(
    table: TableSpec, stream: RowStream[Any], collected: Iterable[Row], *, insert_if_absent: bool
) -> TableRows:
    """A part for rows gathered into ``collected`` while ``stream`` converts (see :class:`CollectedRows`).

    It is a RowStream itself, so delivery keeps it lazy and the records' COPY keeps
    overlapping their conversion.
    """
    return TableRows(table, RowStream(CollectedRows(stream, collected), _same_row), insert_if_absent)
