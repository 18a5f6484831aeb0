"""Binary COPY of converted rows: the one way rows enter the database."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

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


def copy_rows(
    conn: psycopg.Connection, statement: sql.Composed, table: TableSpec, rows: Iterable[Row]
) -> None:
    """Stream ``rows`` into ``table`` with one binary COPY on ``conn`` (inside its transaction).

    Values must follow the row conventions of ``convert/table.py``. A value the encoder cannot
    put on the wire (a spool record written by an older release, say) raises
    :class:`UnsendableRow`, so that poison-row isolation sets its row aside.
    """
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(table.wire_types))
        write_row = copy.write_row
        for row in rows:
            try:
                write_row(row)
            except (TypeError, ValueError, OverflowError) as error:
                raise UnsendableRow(f"a row of {table.name} cannot be sent: {error}") from error
