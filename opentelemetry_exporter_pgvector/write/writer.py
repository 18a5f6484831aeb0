"""Writes converted rows in one transaction per export, within the export timeout."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence

import psycopg
from psycopg import sql

from ..convert.table import Row, TableRows, TableSpec
from ..db.database import Database
from .copy import copy_rows, copy_statement
from .known_keys import KnownKeys


class TelemetryWriter:
    """COPYs batches of rows into a :class:`Database`, each batch in one transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._statements: dict[str, sql.Composed] = {}
        self._known: dict[str, KnownKeys] = {}

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

    def write(self, parts: Sequence[TableRows], timeout: float) -> None:
        """Commit all ``parts`` atomically or raise; never takes much longer than ``timeout``.

        The server enforces the remaining time as the transaction's statement timeout, so a
        lock wait or a slow disk cannot hold the exporter past its deadline.
        """
        deadline = time.monotonic() + timeout
        stored_keys: list[tuple[KnownKeys, list[Hashable]]] = []
        with self.database.connection(timeout) as conn:
            self.database.partitions.ensure_current(conn, self.database.partitioned_tables)
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            with conn.transaction():
                conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(remaining_ms),))
                for part in parts:
                    if part.insert_if_absent:
                        stored_keys.append(self._insert_if_absent(conn, part))
                    else:
                        copy_rows(conn, self._copy_statement(part.table), part.table, part.rows)
        for known, keys in stored_keys:
            known.add_all(keys)

    def _insert_if_absent(self, conn: psycopg.Connection, part: TableRows) -> tuple[KnownKeys, list[Hashable]]:
        """Stage the rows whose keys are not known to be stored, then insert those absent."""
        known = self.known_keys(part.table)
        new_rows: dict[Hashable, Row] = {}
        for row in part.rows:
            if row[0] not in known:
                new_rows.setdefault(row[0], row)
        if new_rows:
            stage = f"otel_stage_{part.table.name}"
            columns = sql.SQL(", ").join(sql.Identifier(name) for name in part.table.column_names)
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    sql.Identifier(stage), self.database.qualified(part.table.name)
                )
            )
            copy_rows(conn, self._copy_statement(part.table, stage), part.table, new_rows.values())
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                    self.database.qualified(part.table.name), columns, columns, sql.Identifier(stage)
                )
            )
        return known, list(new_rows)
