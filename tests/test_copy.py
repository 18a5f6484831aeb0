"""Binary COPY (write/copy.py): the arrays it packs itself reach the server exactly, and a value
it cannot pack is the row's fault, as any other unsendable value."""

from __future__ import annotations

import math
from collections.abc import Iterator

import psycopg
import pytest

from opentelemetry_exporter_pgvector.convert.table import Column, TableSpec
from opentelemetry_exporter_pgvector.errors import UnsendableRow
from opentelemetry_exporter_pgvector.write.copy import copy_rows, copy_statement
from opentelemetry_exporter_pgvector.write.retry import Action, classify

TABLE = TableSpec("arrays", (Column("id", "int8"), Column("bounds", "float8[]"), Column("counts", "int8[]")))


@pytest.fixture
def arrays(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """``conn`` with an empty table ``arrays`` of TABLE's columns, dropped after the test."""
    conn.execute("CREATE TABLE arrays (id int8, bounds float8[], counts int8[])")
    yield conn
    conn.execute("DROP TABLE arrays")


def test_arrays_arrive_exactly(arrays: psycopg.Connection) -> None:
    """Histogram bounds and bucket counts: empty, one element, many; NaN, infinities, the extremes of a
    double and of an int8; ints given for doubles; tuples as well as lists; NULL arrays."""
    conn = arrays
    rows = [
        (1, [], []),
        (2, [0.5], [7]),
        (3, [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0], [0, 1, 2, 3, 4, 5, 6, 7, 8]),
        (4, [-math.inf, -0.0, 2.2250738585072014e-308, 1.7976931348623157e308, math.inf],
         [-(2**63), 2**63 - 1]),
        (5, (1, 2, 3), (4, 5)),
        (6, None, None),
        (7, [math.nan], [0]),
    ]
    copy_rows(conn, copy_statement(None, TABLE), TABLE, rows)
    stored = conn.execute("SELECT id, bounds, counts FROM arrays ORDER BY id").fetchall()
    expected = [(i, None if b is None else [float(x) for x in b], None if c is None else list(c))
                for i, b, c in rows]
    assert stored[:6] == expected[:6]
    assert math.isnan(stored[6][1][0]) and stored[6][2] == [0]
    assert conn.execute("SELECT array_ndims(counts), array_lower(counts, 1) FROM arrays WHERE id = 3"
                        ).fetchone() == (1, 1)
    assert conn.execute("SELECT cardinality(bounds) FROM arrays WHERE id = 1").fetchone() == (0,)


@pytest.mark.parametrize(
    "row",
    [(1, [1.0, None], [1]), (1, [1.0], [1, None]), (1, [1.0], [2**63]), (1, [1.0], [1.5]), (1, ["x"], [1])],
    ids=["null bound", "null count", "count beyond int8", "fractional count", "text bound"],
)
def test_a_value_the_arrays_cannot_hold_is_the_rows_fault(
    arrays: psycopg.Connection, row: tuple[object, ...]
) -> None:
    conn = arrays
    with pytest.raises(UnsendableRow) as caught, conn.transaction():
        copy_rows(conn, copy_statement(None, TABLE), TABLE, [row])
    assert classify(caught.value) is Action.ISOLATE
    assert conn.execute("SELECT count(*) FROM arrays").fetchone() == (0,)
