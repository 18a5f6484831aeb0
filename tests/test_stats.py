"""``storage_stats()`` and ``otel-pgvector stats``: rows, bytes, time range, shapes and coverage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from telemetry_rows import (
    SIGNAL_TABLES,
    at_six,
    create_partitions,
    days_ago,
    insert_rows,
    partition,
    utc_today,
)

from opentelemetry_exporter_pgvector import TelemetryQuery
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.query.stats import ShapeStats, StorageStats

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def today(settings: PgvectorSettings, conn: psycopg.Connection) -> Iterator[dt.date]:
    """Spans: 3 on the day 3 days back, 12 on the day 12 days back; in the default partition 2 of
    40 days back (older than the 30 days kept by default) and 1 of 60 days ahead. Logs: 5 on the
    day 3 days back. Metric points: none. Shapes: 3 of spans (2 with a vector), 1 of logs."""
    database = Database(settings)
    database.migrate()
    day = utc_today()
    create_partitions(conn, database, [days_ago(3, day), days_ago(12, day)])
    insert_rows(conn, "otel_spans", at_six(days_ago(3, day)), 3)
    insert_rows(conn, "otel_spans", at_six(days_ago(12, day)), 12)
    insert_rows(conn, "otel_spans", at_six(days_ago(40, day)), 2)
    insert_rows(conn, "otel_spans", at_six(day + dt.timedelta(days=60)), 1)
    insert_rows(conn, "otel_logs", at_six(days_ago(3, day)), 5)
    vector = "array_fill(0.5, ARRAY[384])::vector"
    conn.execute(
        "INSERT INTO otel_shapes (shape_key, signal, service_name, model, text, embedding) VALUES"
        f" (1, 'span', 's', 'm', 'a', {vector}), (2, 'span', 's', 'm', 'b', {vector}),"
        " (3, 'span', 's', 'm', 'c', NULL), (4, 'log', 's', 'm', 'd', NULL)"
    )
    yield day
    database.close()


def partition_rows(stats: StorageStats, table: str) -> dict[str, tuple[int, bool]]:
    (found,) = [t for t in stats.tables if t.name == table]
    return {p.name: (p.rows, p.rows_estimated) for p in found.partitions}


def around_today(table: str, today: dt.date) -> dict[str, tuple[int, bool]]:
    """The empty partitions migrate() makes, yesterday to two days ahead, counted exactly."""
    return {partition(table, today + dt.timedelta(days=offset)): (0, False) for offset in (-1, 0, 1, 2)}


def test_exact_stats(settings: PgvectorSettings, today: dt.date) -> None:
    with TelemetryQuery(settings) as query:
        stats = query.storage_stats(exact=True)
    tables = {t.name: t for t in stats.tables}
    assert set(tables) == {"otel_spans", "otel_logs", "otel_metric_points", "otel_shapes", "otel_resources",
                           "otel_batches", "otel_dead_letters", "otel_schema_migrations"}
    assert [tables[name].rows for name in SIGNAL_TABLES] == [18, 5, 0]
    assert (tables["otel_shapes"].rows, tables["otel_shapes"].rows_estimated) == (4, False)
    assert partition_rows(stats, "otel_spans") == around_today("otel_spans", today) | {
        partition("otel_spans", days_ago(3, today)): (3, False),
        partition("otel_spans", days_ago(12, today)): (12, False),
        "otel_spans_default": (3, False),
    }
    assert partition_rows(stats, "otel_logs") == around_today("otel_logs", today) | {
        partition("otel_logs", days_ago(3, today)): (5, False),
        partition("otel_logs", days_ago(12, today)): (0, False),
        "otel_logs_default": (0, False),
    }
    spans_table = tables["otel_spans"]
    assert spans_table.bytes == sum(p.bytes for p in spans_table.partitions) > 0
    assert [p.name for p in spans_table.partitions][-1] == "otel_spans_default"  # days first, oldest first
    assert [p.day for p in spans_table.partitions][:2] == [days_ago(12, today), days_ago(3, today)]
    assert stats.bytes == sum(t.bytes for t in stats.tables)

    spans, logs, metrics = stats.signals
    assert (spans.signal, spans.oldest, spans.newest) == (
        "spans", at_six(days_ago(40, today)) + SECOND, at_six(today + dt.timedelta(days=60)) + SECOND
    )
    assert (spans.retention, spans.default_rows_expired) == (dt.timedelta(days=30), 2)
    three_days_ago = at_six(days_ago(3, today))
    assert (logs.oldest, logs.newest) == (three_days_ago + SECOND, three_days_ago + 5 * SECOND)
    assert (metrics.oldest, metrics.newest, metrics.default_rows_expired) == (None, None, 0)
    assert stats.shapes == (ShapeStats("log", 1, 0), ShapeStats("span", 3, 2))
    assert stats.shapes[1].coverage == pytest.approx(2 / 3)


def test_estimated_rows_are_marked_and_come_from_analyze(
    settings: PgvectorSettings, conn: psycopg.Connection, today: dt.date
) -> None:
    with TelemetryQuery(settings) as query:
        never_analyzed = query.storage_stats()
    # without statistics a partition has no estimate: it is counted
    before = partition_rows(never_analyzed, "otel_spans")
    assert before[partition("otel_spans", days_ago(12, today))] == (12, False)
    for table in SIGNAL_TABLES:
        conn.execute(f"ANALYZE {table}")  # analyzes each partition too
    with TelemetryQuery(settings) as query:
        estimated = query.storage_stats()
    spans = partition_rows(estimated, "otel_spans")
    assert spans[partition("otel_spans", days_ago(12, today))] == (12, True)
    assert spans["otel_spans_default"] == (3, True)
    (table,) = [t for t in estimated.tables if t.name == "otel_spans"]
    assert (table.rows, table.rows_estimated) == (18, True)


def test_retention_for_ever_counts_no_expired_rows(server_dsn: str, schema: str, today: dt.date) -> None:
    with TelemetryQuery(dsn=server_dsn, schema=schema, retention_days=0) as query:
        spans = query.storage_stats().signals[0]
    assert (spans.retention, spans.default_rows_expired) == (None, None)


def test_cli_stats(server_dsn: str, schema: str, today: dt.date) -> None:
    result = CliRunner().invoke(cli, ["--dsn", server_dsn, "--schema", schema, "stats", "--exact"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["table", "partition", "rows", "bytes"]
    cells = [line.split() for line in lines]
    assert ["otel_logs", "5"] in [c[:2] for c in cells]
    assert [partition("otel_spans", days_ago(12, today)), "12"] in [c[:2] for c in cells]
    assert ["otel_spans_default", "3"] in [c[:2] for c in cells]
    assert ["otel_spans", "18"] in [c[:2] for c in cells]
    assert not any(line.startswith("~") for line in lines)  # exact
    signal_header = lines.index(next(line for line in lines if line.startswith("signal")))
    spans_line = lines[signal_header + 2]
    # another day than today: the CLI shows date and seconds (cli/render.py clock())
    oldest = (at_six(days_ago(40, today)) + SECOND).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert spans_line.split()[:4] == ["spans", "otel_spans", *oldest.split()]
    assert spans_line.split()[-3:] == ["30", "days", "2"]
    assert lines[-4].split() == ["shapes", "of", "shapes", "with", "vector", "coverage"]
    assert lines[-2].split() == ["log", "1", "0", "0.0%"]
    assert lines[-1].split() == ["span", "3", "2", "66.7%"]


def test_cli_stats_marks_estimates(
    server_dsn: str, schema: str, conn: psycopg.Connection, today: dt.date
) -> None:
    conn.execute("ANALYZE otel_spans")
    result = CliRunner().invoke(cli, ["--dsn", server_dsn, "--schema", schema, "stats"])
    assert result.exit_code == 0, result.output
    cells = [line.split() for line in result.output.splitlines()]
    assert ["otel_spans", "~18"] in [c[:2] for c in cells]
    assert [partition("otel_spans", days_ago(12, today)), "~12"] in [c[:2] for c in cells]
    assert "~: the planner's estimate; --exact counts" in result.output
