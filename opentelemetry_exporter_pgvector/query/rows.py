"""``Rows``: the list every list answer of the read side is, with ``to_dataframe()``.

A subclass of ``list`` rather than a function beside it, so ``query.find_traces().to_dataframe()``
reads as one step, while the answer still is a list: it compares equal to one, slices,
serializes and type-checks as ``list[T]`` wherever a list is expected. It remembers the
dataclass of its rows, so the DataFrame's columns and dtypes come from the row type's fields
and an empty answer is a DataFrame with the right columns, not one with none.

pandas is imported inside :meth:`Rows.to_dataframe` only (the ``dataframes`` extra): an
application that never asks for a DataFrame never loads it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pandas

T = TypeVar("T")

# Timestamps are timezone-aware UTC, in pandas' nanosecond unit whichever it would infer
# (pandas 3 infers microseconds from datetime objects, pandas 2 nanoseconds).
DATETIME_DTYPE = "datetime64[ns, UTC]"


class Rows(list[T]):
    """A query's rows, in the query's order; ``row_type`` is the dataclass each row is."""

    def __init__(self, rows: Iterable[T] = (), row_type: type[Any] | None = None) -> None:
        super().__init__(rows)
        self.row_type = row_type

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per item, one column per field of the row dataclass, in field order.

        dtypes follow the field types, not the values, so they are the same for an empty or
        all-missing column and on pandas 2 and 3: datetimes ``datetime64[ns, UTC]``, ``int``
        ``int64`` (``Int64``, which holds missing values, for ``int | None``), ``float``
        ``float64`` (None as NaN), ``bool`` ``bool``, ``str`` ``string`` (None as ``pd.NA``);
        lists and dicts stay Python objects (``object``).
        """
        import pandas

        row_type = self.row_type or (type(self[0]) if self else None)
        if row_type is None or not dataclasses.is_dataclass(row_type):
            return pandas.DataFrame(list(self))
        hints = typing.get_type_hints(row_type)
        return pandas.DataFrame({
            field.name: pandas.Series([getattr(row, field.name) for row in self],
                                      dtype=column_dtype(hints[field.name]), name=field.name)
            for field in dataclasses.fields(row_type)
        }, index=pandas.RangeIndex(len(self)))


def column_dtype(hint: Any) -> str:
    """The pandas dtype of a dataclass field typed ``hint``."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) != 1:
            return "object"
        hint = members[0]
    if hint is dt.datetime:
        return DATETIME_DTYPE
    if hint is bool:
        return "boolean" if optional else "bool"
    if hint is int:
        return "Int64" if optional else "int64"
    if hint is float:
        return "float64"
    if hint is str:
        return "string"
    return "object"
