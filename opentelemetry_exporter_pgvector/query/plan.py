"""Queries written once, run by the sync and the async client alike.

A query of the read side is a *plan*: a generator that yields :class:`Fetch` requests (a
statement, its parameters and the type of its rows), receives each request's rows, and
returns the typed answer. It does no I/O of its own, so :func:`run` drives it on a
``psycopg.Connection`` and :func:`run_async` on a ``psycopg.AsyncConnection``: the SQL, the
parameters and the result types exist once, whichever client asks (the sans-I/O pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
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
    params: Sequence[Any] = ()
    row: type[Row] | type[dict[str, Any]] | type[tuple[Any, ...]] = tuple
    # SET LOCAL settings for this statement (pgvector's GUCs must be set in the transaction)
    settings: dict[str, str] = field(default_factory=dict)


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


_SET_LOCAL = sql.SQL("SELECT set_config(%s, %s, true)")


def _set_locals(request: Fetch[Any]) -> list[tuple[str, str]]:
    return list(request.settings.items())


def run(conn: psycopg.Connection, plan: Plan[Result]) -> Result:
    """Drive ``plan`` on a synchronous connection (inside the caller's transaction)."""
    try:
        request = next(plan)
        while True:
            for setting in _set_locals(request):
                conn.execute(_SET_LOCAL, setting)
            with conn.cursor(row_factory=_row_factory(request.row)) as cursor:
                rows = cursor.execute(request.statement, request.params).fetchall()
            request = plan.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(conn: psycopg.AsyncConnection, plan: Plan[Result]) -> Result:
    """Drive ``plan`` on an asynchronous connection (inside the caller's transaction)."""
    try:
        request = next(plan)
        while True:
            for setting in _set_locals(request):
                await conn.execute(_SET_LOCAL, setting)
            async with conn.cursor(row_factory=_row_factory(request.row)) as cursor:
                await cursor.execute(request.statement, request.params)
                rows = await cursor.fetchall()
            request = plan.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
