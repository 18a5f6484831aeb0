"""The SQL escape hatch: any read-only query over the telemetry, bounded in time and rows.

What keeps it read-only, in layers, since one alone would not do:

1. One statement only, and it must be a query (``SELECT``, ``WITH``, ``VALUES``, ``TABLE``,
   or ``EXPLAIN`` without ``ANALYZE``): ``COPY ... TO PROGRAM``, ``SET``, ``DO``, ``CALL``,
   DDL and DML are refused before anything reaches the server. The statement is sent as a
   prepared statement, which the server itself refuses to hold more than one command.
2. A ``READ ONLY`` transaction, opened before the query: data-modifying CTEs, ``nextval``,
   writes from functions (a side-effecting function called in a ``SELECT``) fail with 25006,
   and ``set_config('transaction_read_only', 'off', ...)`` cannot turn it back (PostgreSQL
   refuses to leave read-only after the transaction's first query).
3. When the connecting role may (a superuser, as on the embedded server, or a member), the
   query runs as ``pg_read_all_data`` (PostgreSQL 14+): it can read every table and nothing
   else, so superuser-only functions (``pg_terminate_backend``, ``lo_export``, file access,
   ``pg_reload_conf``) are refused whatever the session's own role could do. Not on Citus
   (docs/scaling.md): the coordinator reaches the workers as the current role, and
   ``pg_read_all_data`` may not log in, so there the query runs as the connecting role, and
   a role of its own with only SELECT grants keeps the hatch to reading.
4. ``statement_timeout`` bounds it, rows past ``limit`` are not fetched, and the transaction
   always rolls back, so even settings it changed (``set_config(..., false)``) do not leak
   into the pooled connection.

It is a plan (``plan.py``) like every query of the read side, so the sync and the async
client enforce all of this with the same code: they only open the transaction (read-only,
rolled back) and translate the server's refusals through :func:`refusals`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..errors import QueryError
from .plan import Described, Fetch, Plan

READER_ROLE = "pg_read_all_data"
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_FIRST_WORD = re.compile(r"^\s*\(*\s*([A-Za-z]+)")
_QUERY_WORDS = {"select", "with", "values", "table", "explain"}


@dataclass(frozen=True)
class SqlResult:
    """Column names and rows of a query; ``truncated`` when rows past ``limit`` were left out."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool

    def to_dataframe(self) -> Any:
        """The result as a pandas DataFrame (``dataframes`` extra)."""
        import pandas

        return pandas.DataFrame.from_records(self.rows, columns=self.columns)


def check_read_only_text(query: str) -> None:
    """Refuse, before it is sent, a statement that is not one plain query."""
    text = _COMMENTS.sub(" ", query).strip().rstrip(";").strip()
    if not text:
        raise QueryError("the query is empty")
    if ";" in _strip_literals(text):
        raise QueryError("one statement at a time: the query contains ';'")
    first = _FIRST_WORD.match(text)
    word = first[1].lower() if first else ""
    if word not in _QUERY_WORDS:
        found = word.upper() or text[:20]
        raise QueryError(f"only queries are allowed (SELECT, WITH, VALUES, TABLE, EXPLAIN), not {found!r}")
    if word == "explain" and re.search(r"\banalyze\b|\banalyse\b", text, re.IGNORECASE):
        raise QueryError("EXPLAIN ANALYZE runs the statement: use EXPLAIN alone")


def _strip_literals(text: str) -> str:
    """``text`` without its quoted strings and identifiers, so a ';' inside them is not counted."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$(\w*)\$.*?\$\1\$", "''", text, flags=re.DOTALL)


def read_only_query(query: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                    limit: int = 1000, timeout: float = 5.0) -> Plan[SqlResult]:
    """The plan of ``query``: to run, inside :func:`refusals`, in a ``READ ONLY`` transaction
    that always rolls back (both clients' ``sql``); see the module doc. The text and the bounds
    are checked now, before any connection is taken."""
    check_read_only_text(query)
    if not 1 <= limit <= 1_000_000:
        raise QueryError(f"limit must be between 1 and 1000000, got {limit}")
    if not 0 < timeout <= 3600:
        raise QueryError(f"timeout must be between 0 and 3600 seconds, got {timeout}")
    return _read_only_query(query, params, limit, timeout)


def _read_only_query(query: str, params: Sequence[Any] | Mapping[str, Any] | None, limit: int,
                     timeout: float) -> Plan[SqlResult]:
    [(may_become_reader,)] = yield Fetch(_MAY_BECOME_READER, (READER_ROLE, READER_ROLE))
    settings = {"statement_timeout": f"{int(timeout * 1000)}ms"}
    if may_become_reader:
        settings["role"] = READER_ROLE  # SET LOCAL ROLE, as set_config
    rows = yield Fetch(sql.SQL(query), params, settings=settings, prepare=True, max_rows=limit + 1,
                       described=True)
    assert isinstance(rows, Described)
    return SqlResult(rows.columns, [tuple(row) for row in rows[:limit]], len(rows) > limit)


@contextmanager
def refusals(timeout: float) -> Iterator[None]:
    """The server's refusals of a :func:`read_only_query` as one-line :class:`QueryError` s.

    Inside the transaction and the client's connection handling, which must not see them: a
    cancelled query is an ``OperationalError``, as a connection lost is.
    """
    try:
        yield
    except psycopg.errors.ReadOnlySqlTransaction as error:
        raise QueryError(f"refused: the SQL hatch is read-only ({_first_line(error)})") from None
    except psycopg.errors.QueryCanceled:
        raise QueryError(f"the query ran longer than {timeout:g} s and was cancelled") from None
    except psycopg.errors.InsufficientPrivilege as error:
        raise QueryError(f"refused: {_first_line(error)}") from None
    except psycopg.errors.Error as error:
        if error.sqlstate is None:
            raise  # the connection itself failed: not the query's fault
        raise QueryError(f"the query failed: {_first_line(error)}") from None


_MAY_BECOME_READER = sql.SQL(
    "SELECT to_regrole(%s) IS NOT NULL AND pg_has_role(current_user, %s, 'MEMBER')"
    " AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

