"""Poison-row isolation: one bad row must not cost the good rows beside it.

When a COPY fails with a data error (SQLSTATE class 22, 23 or 54: a value out of range, a
duplicate key, a text too long for its index...), the batch is written again in one
transaction where each part is split by bisection inside savepoints: a half that stores is
kept, a half that fails is split again, until the failing rows stand alone. Other errors the
server sends that are not transient (a trigger's RAISE, a row-level security policy, a class
the retry table does not know) are bisected the same way once the table has shown, by taking
an empty COPY, that the rows and not the table are at fault. The rows that fail alone go, with
their error text and their full content, to ``otel_dead_letters`` in the same transaction as
the good rows and the batch's ledger entry, so nothing is silently discarded and nothing is
stored twice. With ``k`` bad rows among ``n`` the cost is about ``2 k log2 n`` COPYs.
"""

from __future__ import annotations

import datetime as dt
import marshal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from ..convert.dead_letters import NIL_BATCH_ID
from ..convert.table import Row, TableRows, TableSpec
from ..convert.values import clean_text, to_jsonb
from .retry import Action, classify, is_refusal, sqlstate_of
from .spool_format import materialized_rows

_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Rejected:
    """A row the database refused, and why."""

    table: TableSpec
    row: Row
    sqlstate: str | None
    error: str


def isolate(conn: psycopg.Connection, part: TableRows, store: Callable[[Sequence[Row]], None],
            probe: Callable[[], None], rejected: list[Rejected]) -> None:
    """Store ``part``'s rows with ``store``, bisecting around rows that fail for their own sake.

    A data error (``Action.ISOLATE``) is always a row's. Another error the server sent that is
    not transient (``Action.FAIL``) is a row's only if ``probe``, an empty COPY into the part's
    table, succeeds (asked once per part); if it fails too, the table itself refuses the batch
    (a permission, a missing column) and the error is raised, as are transient errors.
    """
    pending: list[Sequence[Row]] = [materialized_rows(part)]
    table_takes_rows: bool | None = None
    while pending:
        rows = pending.pop()
        if not rows:
            continue
        try:
            with conn.transaction():  # a savepoint
                store(rows)
            continue
        except Exception as error:
            if not is_refusal(error):
                raise
            if classify(error) is Action.FAIL:
                if table_takes_rows is None:
                    table_takes_rows = _succeeds(conn, probe)
                if not table_takes_rows:
                    raise
            if len(rows) == 1:
                message = str(error).strip() or type(error).__name__
                rejected.append(Rejected(part.table, rows[0], sqlstate_of(error), message))
                continue
        middle = len(rows) // 2
        pending.append(rows[middle:])
        pending.append(rows[:middle])  # popped first: rows keep their order


def _succeeds(conn: psycopg.Connection, probe: Callable[[], None]) -> bool:
    """Whether ``probe`` runs without error (in a savepoint); a transient error is raised."""
    try:
        with conn.transaction():
            probe()
    except Exception as error:
        if classify(error) in (Action.RETRY, Action.WAIT):
            raise
        return False
    return True


def readable_value(value: Any, column_type: str) -> Any:
    """A wire value as JSON people can read: times in ISO 8601, uuids and bytes in hex."""
    if value is None:
        return None
    if column_type == "timestamptz" and isinstance(value, int):
        try:
            return (_PG_EPOCH + dt.timedelta(microseconds=value)).isoformat()
        except OverflowError:
            return value
    if column_type == "jsonb" and isinstance(value, bytes):
        try:
            return orjson.loads(value[1:])
        except orjson.JSONDecodeError:
            return value.hex()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [readable_value(item, column_type.rstrip("[]")) for item in value]
    return value


def dead_letter_rows(batch_id: bytes | None, rejected: Sequence[Rejected], max_length: int) -> Iterator[Row]:
    """``otel_dead_letters`` rows for rejected rows: readable content plus the lossless encoding."""
    for item in rejected:
        pairs = zip(item.table.columns, item.row, strict=False)
        content = {column.name: readable_value(value, column.type) for column, value in pairs}
        yield (
            batch_id or NIL_BATCH_ID,
            item.table.name,
            item.sqlstate,
            clean_text(item.error, max_length),
            to_jsonb(content, max_length),
            marshal.dumps(item.row, 4),
        )
