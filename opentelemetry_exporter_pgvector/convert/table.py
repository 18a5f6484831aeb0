"""The shape of rows: table specs, and batches of rows bound for a table.

Converters produce :class:`TableRows`; the writer consumes them. Rows are tuples of plain
values in the spec's column order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Row = tuple[Any, ...]
_Item = TypeVar("_Item")


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
    def column_types(self) -> tuple[str, ...]:
        return tuple(column.type for column in self.columns)


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
