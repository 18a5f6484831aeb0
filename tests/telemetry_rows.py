"""Rows of past days in the signal tables, written straight with SQL, for retention and stats tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import psycopg

from opentelemetry_exporter_pgvector.db.database import Database

SIGNAL_TABLES = ("otel_spans", "otel_logs", "otel_metric_points")

# Row ``g`` of a call is written at ``at + g seconds``, g from 1 to the count.
_INSERTS = {
    "otel_spans": "INSERT INTO otel_spans (start_time, span_id, resource_id, trace_id, service_name, name,"
    " kind, status_code) SELECT %(at)s + g * interval '1 second', g, 1, gen_random_uuid(), 'old', 'old',"
    " 'INTERNAL', 'UNSET' FROM generate_series(1, %(count)s) g",
    "otel_logs": "INSERT INTO otel_logs (time, observed_time, resource_id, trace_id, service_name,"
    " body_type, body) SELECT %(at)s + g * interval '1 second', %(at)s, 1, gen_random_uuid(), 'old',"
    " 'string', 'old' FROM generate_series(1, %(count)s) g",
    "otel_metric_points": "INSERT INTO otel_metric_points (time, resource_id, service_name, name, type,"
    " value) SELECT %(at)s + g * interval '1 second', 1, 'old', 'old', 'gauge', g"
    " FROM generate_series(1, %(count)s) g",
}


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def days_ago(offset: int, today: dt.date) -> dt.date:
    return today - dt.timedelta(days=offset)


def at_six(day: dt.date) -> dt.datetime:
    """06:00 UTC of ``day``: the first row written for that day is at 06:00:01."""
    return dt.datetime.combine(day, dt.time(6), dt.timezone.utc)


def partition(table: str, day: dt.date) -> str:
    return f"{table}_{day:%Y%m%d}"


def create_partitions(conn: psycopg.Connection, database: Database, days: Iterable[dt.date]) -> None:
    database.partitions.ensure(conn, SIGNAL_TABLES, days)


def insert_rows(conn: psycopg.Connection, table: str, at: dt.datetime, count: int) -> None:
    conn.execute(_INSERTS[table], {"at": at, "count": count})


def partitions_of(conn: psycopg.Connection, table: str) -> set[str]:
    return {name for (name,) in conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass", (table,))}


def count(conn: psycopg.Connection, relation: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    assert row is not None
    return int(row[0])
