"""Queries written once, run by the sync and the async client alike.

A query of the read side is a *plan*: a generator that yields :class:`Fetch` requests (a
statement, its parameters and the type of its rows), receives each request's rows, and
returns the typed answer. It does no I/O of its own, so :func:`run` drives it on a
``psycopg.Connection`` and :func:`run_async` on a ``psycopg.AsyncConnection``: the SQL, the
parameters and the result types exist once, whichever client asks (the sans-I/O pattern).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row, tuple_row

from .rows import Rows

Row = TypeVar("Row")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Fetch(Generic[Row]):
    """One statement to run; the plan receives its rows as ``row`` objects.

    ``row`` is a dataclass (built with ``class_row``), ``dict`` (``dict_row``) or ``tuple``.
    """

    statement: sql.SQL | sql.Composed
    # None: the statement's text is sent as is, a '%' in it is no placeholder (the SQL hatch's)
    params: Sequence[Any] | Mapping[str, Any] | None = ()
    row: type[Row] | type[dict[str, Any]] | type[tuple[Any, ...]] = tuple
    # SET LOCAL settings for this statement (pgvector's GUCs must be set in the transaction; see set_local)
    settings: dict[str, str] = field(default_factory=dict)
    # sent as a prepared statement, which the server refuses to hold more than one command
    prepare: bool = False
    # fetch at most this many rows (the rest are never sent)
    max_rows: int | None = None
    # the plan receives a :class:`Described`: tuples and the column names, for statements whose
    # columns only the server knows
    described: bool = False


class Described(list[tuple[Any, ...]]):
    """The rows of a ``Fetch(..., described=True)``, with the names of its columns."""

    def __init__(self, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        super().__init__(rows)
        self.columns = columns


Plan = Generator[Fetch[Any], list[Any], Result]


def fetch_all(request: Fetch[Row]) -> Plan[Rows[Row]]:
    """The plan of a single statement whose rows are the answer (as :class:`Rows` of ``request.row``).

    Query functions validate their arguments and build the statement eagerly, then return
    this: bad arguments fail when the plan is made, before any connection is taken.
    """
    rows: list[Row] = yield request
    return Rows(rows, request.row)


def _row_factory(row: type[Any]) -> Callable[..., Any]:
    if row is tuple:
        return tuple_row
    if row is dict:
        return dict_row
    return class_row(row)


_SETTING_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)?")


def set_local(settings: Mapping[str, str]) -> sql.Composed:
    """``SET LOCAL`` statements for ``settings``, to run inside the transaction.

    ``SET LOCAL`` rather than ``set_config(..., true)``: on Citus (docs/scaling.md) a statement
    may run on a worker, which only ``SET`` commands reach, and only under
    ``citus.propagate_set_commands = local``, set first (an inert placeholder without Citus).
    """
    statements: list[sql.Composable] = [sql.SQL("SET LOCAL citus.propagate_set_commands = 'local'")]
    for name, value in settings.items():
        if not _SETTING_NAME.fullmatch(name):
            raise ValueError(f"not a setting name: {name!r}")
        statements.append(sql.SQL("SET LOCAL {} = {}").format(sql.SQL(name), sql.Literal(value)))
    return sql.SQL("; ").join(statements)


def _prepare(request: Fetch[Any]) -> bool | None:
    return True if request.prepare else None  # None: psycopg's own choice, after a few runs


def _received(request: Fetch[Any], cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any],
              rows: list[Any]) -> list[Any]:
    """What the plan is sent for ``request``: the rows, or them :class:`Described`."""
    if request.described:
        return Described([column.name for column in cursor.description or ()], rows)
    return rows


def run(conn: psycopg.Connection, plan: Plan[Result]) -> Result:
    """Drive ``plan`` on a synchronous connection (inside the caller's transaction)."""
    try:
        request = next(plan)
        while True:
            if request.settings:
                conn.execute(set_local(request.settings))
            with conn.cursor(row_factory=_row_factory(request.row)) as cursor:
                cursor.execute(request.statement, request.params, prepare=_prepare(request))
                rows = cursor.fetchmany(request.max_rows) if request.max_rows else cursor.fetchall()
                received = _received(request, cursor, rows)
            request = plan.send(received)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(conn: psycopg.AsyncConnection, plan: Plan[Result]) -> Result:
    """Drive ``plan`` on an asynchronous connection (inside the caller's transaction)."""
    try:
        request = next(plan)
        while True:
            if request.settings:
                await conn.execute(set_local(request.settings))
            async with conn.cursor(row_factory=_row_factory(request.row)) as cursor:
                await cursor.execute(request.statement, request.params, prepare=_prepare(request))
                rows = await (cursor.fetchmany(request.max_rows) if request.max_rows else cursor.fetchall())
                received = _received(request, cursor, rows)
            request = plan.send(received)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
