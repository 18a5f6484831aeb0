"""Binary COPY of converted rows: the one way rows enter the database."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache

import psycopg
from psycopg import postgres, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.string import BytesBinaryDumper

from ..convert.table import Row, TableSpec
from ..errors import UnsendableRow


def copy_statement(schema: str | None, table: TableSpec, target: str | None = None) -> sql.Composed:
    """``COPY [schema.]target (columns...) FROM STDIN (FORMAT BINARY)``, safely quoted.

    ``target`` defaults to the table itself; a staging table has the same columns.
    """
    name = target or table.name
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(schema, name) if schema else sql.Identifier(name),
        sql.SQL(", ").join(sql.Identifier(column) for column in table.column_names),
    )


_EMPTY_ARRAY = struct.Struct(">3i")
_FLOAT8 = postgres.types["float8"]
_INT8 = postgres.types["int8"]


@lru_cache(maxsize=256)
def _array_struct(length: int, element: str) -> struct.Struct:
    """Header (1 dimension, no NULLs, element oid, length, lower bound 1), then each element as
    its length (8) and its 8 bytes."""
    return struct.Struct(">5i" + ("i" + element) * length)


def _binary_array(values: Sequence[float | int], element_oid: int, element: str) -> bytes:
    """``values`` in PostgreSQL's binary array format, in one ``struct.pack``.

    psycopg's generic list dumper packs and appends element by element, which was half of the
    metric exporter's CPU (histogram bounds and bucket counts are two arrays of every point).
    """
    length = len(values)
    if not length:
        return _EMPTY_ARRAY.pack(0, 0, element_oid)
    arguments: list[float | int] = [8] * (2 * length)
    arguments[1::2] = values
    try:
        return _array_struct(length, element).pack(1, 0, element_oid, length, 1, *arguments)
    except struct.error as error:  # a NULL, or a value out of the type's range
        raise ValueError(f"not an array of {element_oid}: {error}") from error


class _Float8ArrayDumper(Dumper):
    """``float8[]`` of a COPY whose types are set: any sequence of numbers, packed at once."""

    format = Format.BINARY
    oid = _FLOAT8.array_oid

    def dump(self, obj: Sequence[float]) -> bytes:
        return _binary_array(obj, _FLOAT8.oid, "d")


class _Int8ArrayDumper(Dumper):
    """``int8[]`` of a COPY whose types are set: any sequence of ints, packed at once."""

    format = Format.BINARY
    oid = _INT8.array_oid

    def dump(self, obj: Sequence[int]) -> bytes:
        return _binary_array(obj, _INT8.oid, "q")


def copy_rows(
    conn: psycopg.Connection, statement: sql.Composed, table: TableSpec, rows: Iterable[Row]
) -> None:
    """Stream ``rows`` into ``table`` with one binary COPY on ``conn`` (inside its transaction).

    Values must follow the row conventions of ``convert/table.py``. A value the encoder cannot
    put on the wire (a spool record written by an older release, say) raises
    :class:`UnsendableRow`, so that poison-row isolation sets its row aside.
    """
    with conn.cursor() as cursor:
        # By oid only (no Python type): used where set_types names these types, nowhere else.
        # bytea's by-oid dumper is otherwise the pure-Python one of psycopg's DB-API Binary
        # wrapper, a Python call for every jsonb and uuid value; this is the C one for bytes.
        for dumper in (_Float8ArrayDumper, _Int8ArrayDumper, BytesBinaryDumper):
            cursor.adapters.register_dumper(None, dumper)
        with cursor.copy(statement) as copy:
            copy.set_types(list(table.wire_types))
            write_row = copy.write_row
            for row in rows:
                try:
                    write_row(row)
                except (TypeError, ValueError, OverflowError) as error:
                    raise UnsendableRow(f"a row of {table.name} cannot be sent: {error}") from error
