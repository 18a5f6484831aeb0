"""Writes converted rows in one transaction per export, within the export timeout.

Exactly once: a batch written with a ``batch_id`` inserts that id into the ``otel_batches``
ledger in the same transaction as its rows, first, so a batch that already committed (its
COMMIT acknowledgement lost, or replayed from the spool twice) commits nothing the second
time, and two replays of one batch racing each other serialize on the ledger's primary key.
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Hashable, Iterator, Sequence

import psycopg
from psycopg import sql

from ..convert.dead_letters import DEAD_LETTER_TABLE
from ..convert.table import Row, TableRows, TableSpec
from ..db.database import Database
from ..db.known_keys import KnownKeys
from .copy import copy_rows, copy_statement
from .poison import Rejected, dead_letter_rows, isolate

LEDGER_TABLE = "otel_batches"


class TelemetryWriter:
    """COPYs batches of rows into a :class:`Database`, each batch in one transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._statements: dict[str, sql.Composed] = {}
        self._known: dict[str, KnownKeys] = {}
        self._begin_statement = sql.SQL(
            "WITH ledger AS (INSERT INTO {} (batch_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT set_config('statement_timeout', %s, true), (SELECT count(*) FROM ledger)"
        ).format(database.qualified(LEDGER_TABLE))

    def _copy_statement(self, table: TableSpec, target: str | None = None) -> sql.Composed:
        key = target or table.name
        statement = self._statements.get(key)
        if statement is None:
            schema = None if target else self.database.schema
            statement = self._statements[key] = copy_statement(schema, table, target)
        return statement

    def known_keys(self, table: TableSpec) -> KnownKeys:
        """Keys of the dictionary ``table`` that committed batches stored."""
        known = self._known.get(table.name)
        if known is None:
            known = self._known.setdefault(table.name, KnownKeys())
        return known

    def write(
        self, parts: Sequence[TableRows], timeout: float, batch_id: bytes | None = None,
        connect_timeout: float | None = None,
    ) -> bool:
        """Commit all ``parts`` atomically or raise; never takes much longer than ``timeout``.

        Returns False, storing nothing, when ``batch_id`` is already in the ledger. The server
        enforces the remaining time as the transaction's statement timeout, so a lock wait or
        a slow disk cannot hold the exporter past its deadline; ``connect_timeout`` bounds the
        wait for a pooled connection (default: ``timeout``). A process's first write prepares
        the schema within ``timeout`` too (``Database.connection``); no other DDL runs here:
        the daily partitions are the replayer's (``Delivery``), and a row whose day has none
        yet goes to the default partition.
        """
        return self._transaction(parts, timeout, batch_id, connect_timeout, isolate_rows=False)[0]

    def write_isolating(
        self, parts: Sequence[TableRows], timeout: float, batch_id: bytes | None = None,
        connect_timeout: float | None = None, max_value_length: int = 65536,
    ) -> tuple[bool, list[Rejected]]:
        """Like :meth:`write`, but rows the database rejects are bisected out (``poison.isolate``).

        The good rows, the rejected rows (into ``otel_dead_letters``, with their error) and
        the ledger entry commit together; returns (stored, rejected rows).
        """
        return self._transaction(parts, timeout, batch_id, connect_timeout, True, max_value_length)

    def _transaction(
        self, parts: Sequence[TableRows], timeout: float, batch_id: bytes | None,
        connect_timeout: float | None, isolate_rows: bool, max_value_length: int = 65536,
    ) -> tuple[bool, list[Rejected]]:
        deadline = time.monotonic() + timeout
        stored_keys: list[tuple[KnownKeys, list[Hashable]]] = []
        rejected: list[Rejected] = []
        with self.database.connection(min(timeout, connect_timeout or timeout), deadline) as conn:
            remaining_ms = str(max(1, int((deadline - time.monotonic()) * 1000)))
            duplicate = False
            with conn.transaction() as transaction:
                if batch_id is None:
                    conn.execute("SELECT set_config('statement_timeout', %s, true)", (remaining_ms,))
                else:
                    row = conn.execute(
                        self._begin_statement, (uuid.UUID(bytes=batch_id), remaining_ms)
                    ).fetchone()
                    if not row or not row[1]:  # committed before: store nothing twice
                        duplicate = True
                        raise psycopg.Rollback(transaction)
                for part in parts:
                    if isolate_rows:
                        empty_copy = functools.partial(
                            copy_rows, conn, self._copy_statement(part.table), part.table, ()
                        )
                        isolate(
                            conn,
                            part,
                            functools.partial(self._store, conn, part, stored_keys=stored_keys),
                            empty_copy,
                            rejected,
                        )
                    else:
                        self._store(conn, part, part.rows, stored_keys)
                if rejected:
                    copy_rows(
                        conn,
                        self._copy_statement(DEAD_LETTER_TABLE),
                        DEAD_LETTER_TABLE,
                        dead_letter_rows(batch_id, rejected, max_value_length),
                    )
        if duplicate:
            return False, []
        for known, keys in stored_keys:
            known.add_all(keys)
        return True, rejected

    def _store(
        self,
        conn: psycopg.Connection,
        part: TableRows,
        rows: Sequence[Row] | object,
        stored_keys: list[tuple[KnownKeys, list[Hashable]]],
    ) -> None:
        if part.insert_if_absent:
            stored_keys.append(self._insert_if_absent(conn, part, rows))  # type: ignore[arg-type]
            return
        remaining: Iterator[Row] = iter(rows)  # type: ignore[arg-type]
        first = next(remaining, None)
        if first is None:  # an empty part (no dead letters, most batches) costs no statement
            return
        copy_rows(conn, self._copy_statement(part.table), part.table, itertools.chain((first,), remaining))

    def _insert_if_absent(
        self, conn: psycopg.Connection, part: TableRows, rows: Sequence[Row]
    ) -> tuple[KnownKeys, list[Hashable]]:
        """Stage the rows whose keys are not known to be stored, then insert those absent."""
        known = self.known_keys(part.table)
        new_rows: dict[Hashable, Row] = {}
        for row in rows:
            if row[0] not in known:
                new_rows.setdefault(row[0], row)
        if new_rows:
            stage_name = f"otel_stage_{part.table.name}"
            stage = sql.Identifier(stage_name)
            columns = sql.SQL(", ").join(sql.Identifier(name) for name in part.table.column_names)
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    stage, self.database.qualified(part.table.name)
                )
            )
            copy_rows(conn, self._copy_statement(part.table, stage_name), part.table, new_rows.values())
            # dropped at once rather than at commit: a bisected batch stages a table twice
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING; DROP TABLE {}").format(
                    self.database.qualified(part.table.name), columns, columns, stage, stage
                )
            )
        return known, list(new_rows)
