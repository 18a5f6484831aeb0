"""Retention drops exactly the expired daily partitions of each signal, and never holds up an export."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace.export import SpanExportResult
from span_factory import make_spans
from telemetry_rows import (
    SIGNAL_TABLES,
    at_six,
    count,
    create_partitions,
    days_ago,
    insert_rows,
    partition,
    partitions_of,
    utc_today,
)

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.cli.render import human_bytes
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.db import retention
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.retention import apply_retention, retention_policy
from opentelemetry_exporter_pgvector.errors import ConfigurationError, QueryError
from opentelemetry_exporter_pgvector.write import maintenance
from opentelemetry_exporter_pgvector.write.maintenance import Maintenance

# Days back that get a partition, and the rows each table gets on that day: spans ``offset``,
# log records ``offset + 1``, metric points ``offset + 2``.
OFFSETS = (3, 7, 8, 12, 20)
EXTRA_ROWS = {"otel_spans": 0, "otel_logs": 1, "otel_metric_points": 2}
SIGNAL_OF = {"otel_spans": "spans", "otel_logs": "logs", "otel_metric_points": "metrics"}
OLD_DEFAULT_ROWS = 2  # per table, 40 days back, where no partition exists: the default partition
WEEK = dt.timedelta(days=7)


@pytest.fixture
def database(settings: PgvectorSettings) -> Iterator[Database]:
    handle = Database(settings)
    handle.migrate()
    yield handle
    handle.close()


@pytest.fixture
def today(database: Database, conn: psycopg.Connection) -> dt.date:
    """Today (UTC), with the OFFSETS partitions filled and two old rows in each default partition."""
    day = utc_today()
    create_partitions(conn, database, [days_ago(offset, day) for offset in OFFSETS])
    for table in SIGNAL_TABLES:
        for offset in OFFSETS:
            insert_rows(conn, table, at_six(days_ago(offset, day)), offset + EXTRA_ROWS[table])
        insert_rows(conn, table, at_six(days_ago(40, day)), OLD_DEFAULT_ROWS)
    return day


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.timezone.utc)


def around_today(table: str, today: dt.date) -> set[str]:
    """The partitions migrate() makes: yesterday to two days ahead, and the default."""
    return {partition(table, today + dt.timedelta(days=offset)) for offset in (-1, 0, 1, 2)} | {
        f"{table}_default"
    }


def test_drops_exactly_the_expired_partitions_of_each_signal(
    database: Database, settings: PgvectorSettings, conn: psycopg.Connection, today: dt.date
) -> None:
    # Kept 7 days at noon: the day 8 days back ended 7.5 days ago (expired), the day 7 days
    # back ended 6.5 days ago (kept).
    report = apply_retention(database, retention_policy(settings, WEEK), now=noon(today))

    def day(offset: int) -> dt.date:
        return days_ago(offset, today)

    assert {(p.signal, p.partition, p.day, p.rows, p.outcome) for p in report.partitions} == {
        ("spans", partition("otel_spans", day(8)), day(8), 8, "dropped"),
        ("spans", partition("otel_spans", day(12)), day(12), 12, "dropped"),
        ("spans", partition("otel_spans", day(20)), day(20), 20, "dropped"),
        ("logs", partition("otel_logs", day(8)), day(8), 9, "dropped"),
        ("logs", partition("otel_logs", day(12)), day(12), 13, "dropped"),
        ("logs", partition("otel_logs", day(20)), day(20), 21, "dropped"),
        ("metrics", partition("otel_metric_points", day(8)), day(8), 10, "dropped"),
        ("metrics", partition("otel_metric_points", day(12)), day(12), 14, "dropped"),
        ("metrics", partition("otel_metric_points", day(20)), day(20), 22, "dropped"),
    }
    assert all(p.bytes > 0 for p in report.partitions)
    assert (report.dropped_partitions, report.dropped_rows, report.skipped) == (9, 129, 0)
    assert not report.busy
    assert [(s.signal, s.keep, s.default_rows_expired) for s in report.signals] == [
        ("spans", WEEK, 2), ("logs", WEEK, 2), ("metrics", WEEK, 2)
    ]
    for table in SIGNAL_TABLES:
        assert partitions_of(conn, table) == around_today(table, today) | {
            partition(table, day(3)), partition(table, day(7))
        }
        assert count(conn, f"{table}_default") == OLD_DEFAULT_ROWS  # never deleted
    assert count(conn, "otel_spans") == 3 + 7 + 2
    assert count(conn, "otel_logs") == 4 + 8 + 2
    assert count(conn, "otel_metric_points") == 5 + 9 + 2


def test_dry_run_drops_nothing_and_reports_what_the_run_drops(
    database: Database, settings: PgvectorSettings, conn: psycopg.Connection, today: dt.date
) -> None:
    before = {table: partitions_of(conn, table) for table in SIGNAL_TABLES}
    policy = retention_policy(settings, dt.timedelta(days=10))
    dry = apply_retention(database, policy, dry_run=True, now=noon(today))
    assert {table: partitions_of(conn, table) for table in SIGNAL_TABLES} == before
    assert count(conn, "otel_spans") == 3 + 7 + 8 + 12 + 20 + 2
    assert {p.outcome for p in dry.partitions} == {"would drop"}
    assert (dry.dry_run, dry.dropped_partitions, dry.dropped_rows) == (True, 6, 12 + 20 + 13 + 21 + 14 + 22)

    done = apply_retention(database, policy, now=noon(today))
    assert {p.outcome for p in done.partitions} == {"dropped"}
    assert [(p.signal, p.partition, p.day, p.rows, p.bytes) for p in dry.partitions] == [
        (p.signal, p.partition, p.day, p.rows, p.bytes) for p in done.partitions
    ]
    assert dry.signals == done.signals


def test_per_signal_overrides_and_zero_keeps_for_ever(
    server_dsn: str, schema: str, database: Database, conn: psycopg.Connection, today: dt.date
) -> None:
    settings = PgvectorSettings(dsn=server_dsn, schema=schema, retention_days=10, retention_days_spans=5,
                                retention_days_logs=0)
    policy = retention_policy(settings)
    assert policy == {"spans": dt.timedelta(days=5), "logs": None, "metrics": dt.timedelta(days=10)}
    report = apply_retention(database, policy, now=noon(today))
    assert sorted(p.partition for p in report.partitions) == sorted(
        [partition("otel_spans", days_ago(offset, today)) for offset in (7, 8, 12, 20)]
        + [partition("otel_metric_points", days_ago(offset, today)) for offset in (12, 20)]
    )
    logs = report.signals[1]
    assert (logs.signal, logs.keep, logs.cutoff, logs.default_rows_expired) == ("logs", None, None, None)
    assert partitions_of(conn, "otel_logs") == around_today("otel_logs", today) | {
        partition("otel_logs", days_ago(offset, today)) for offset in OFFSETS
    }

    for_ever = retention_policy(PgvectorSettings(dsn=server_dsn, schema=schema, retention_days=0))
    assert for_ever == {"spans": None, "logs": None, "metrics": None}
    assert apply_retention(database, for_ever, now=noon(today)).partitions == ()
    assert retention_policy(settings, dt.timedelta(hours=36), ["logs"]) == {"logs": dt.timedelta(hours=36)}


def test_an_empty_override_variable_means_the_common_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS", "14")
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS_SPANS", "")
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS_METRICS", "3")
    assert retention_policy(PgvectorSettings()) == {
        "spans": dt.timedelta(days=14), "logs": dt.timedelta(days=14), "metrics": dt.timedelta(days=3)
    }


def test_invalid_retention_settings_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS: "):
        PgvectorSettings(retention_days=-1)
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS_LOGS", "a week")
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS_LOGS: "):
        PgvectorSettings()
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_RETENTION_DAYS_LOGS", "7")
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_DEAD_LETTER_RETENTION_DAYS", "-3")
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_PGVECTOR_DEAD_LETTER_RETENTION_DAYS: "):
        PgvectorSettings()


def test_a_retention_must_be_positive(database: Database) -> None:
    with pytest.raises(QueryError, match="longer than zero"):
        apply_retention(database, {"spans": dt.timedelta(0)})


def test_another_session_applying_retention_makes_this_one_wait_its_turn(
    database: Database, settings: PgvectorSettings, server_dsn: str, schema: str, conn: psycopg.Connection,
    today: dt.date,
) -> None:
    policy = retention_policy(settings, WEEK)
    key = (f"otel-pgvector retention {schema}",)
    with psycopg.connect(server_dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", key)
        busy = apply_retention(database, policy, now=noon(today))
        assert (busy.busy, busy.partitions) == (True, ())
        assert len(apply_retention(database, policy, dry_run=True, now=noon(today)).partitions) == 9
        # released now: a closed connection's backend releases it only once it has exited
        other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", key)
    assert partition("otel_spans", days_ago(20, today)) in partitions_of(conn, "otel_spans")
    assert apply_retention(database, policy, now=noon(today)).dropped_partitions == 9


def drop_waiting(conn: psycopg.Connection, table: str) -> bool:
    """True while a session waits for an ACCESS EXCLUSIVE lock on ``table`` (a DROP of a partition)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'"
        " AND relation = %s::regclass", (table,)
    ).fetchone()
    return bool(row and row[0])


def test_a_partition_it_cannot_lock_is_skipped_and_exports_go_on(
    database: Database, settings: PgvectorSettings, server_dsn: str, schema: str, conn: psycopg.Connection,
    today: dt.date,
) -> None:
    """A long query on otel_spans holds the lock a DROP needs: every export queued behind the waiting
    DROP would wait for that query too, unless the DROP gives up (lock_timeout). Without it the
    retention below never returns and the export is spooled after its timeout."""
    exporter = PgvectorSpanExporter(settings)
    outcome: dict[str, object] = {}
    try:
        assert exporter.export(make_spans(5, "warm")) is SpanExportResult.SUCCESS
        with psycopg.connect(server_dsn) as reader:
            reader.execute(f'SELECT count(*) FROM "{schema}".otel_spans')  # holds ACCESS SHARE until rollback

            def run() -> None:
                outcome["report"] = apply_retention(
                    database, retention_policy(settings, WEEK, ["spans", "logs"]), now=noon(today)
                )

            thread = threading.Thread(target=run)
            thread.start()
            deadline = time.monotonic() + 20
            while not drop_waiting(conn, f'"{schema}".otel_spans'):
                assert time.monotonic() < deadline, "retention never tried to drop a span partition"
                time.sleep(0.005)
            # queued behind the waiting DROP
            assert exporter.export(make_spans(10, "during")) is SpanExportResult.SUCCESS
            thread.join(60)  # it takes about 3 s per partition; the bug never returns
            assert not thread.is_alive(), "retention waited for the reader"
            reader.rollback()
        stats = exporter.delivery.stats()
        assert (stats.spool.spooled_batches, stats.lost_batches, stats.stored_batches) == (0, 0, 2)
    finally:
        exporter.shutdown()
    assert count(conn, "otel_spans WHERE name LIKE 'during-%'") == 10
    report = outcome["report"]
    assert isinstance(report, retention.RetentionReport)
    assert {(p.partition, p.outcome) for p in report.partitions} == {
        *((partition("otel_spans", days_ago(offset, today)), "skipped") for offset in (8, 12, 20)),
        *((partition("otel_logs", days_ago(offset, today)), "dropped") for offset in (8, 12, 20)),
    }
    assert (report.skipped, report.dropped_partitions, report.dropped_rows) == (3, 3, 9 + 13 + 21)
    assert partition("otel_spans", days_ago(8, today)) in partitions_of(conn, "otel_spans")
    # the next run finds the table free and drops them
    later = apply_retention(database, retention_policy(settings, WEEK, ["spans"]), now=noon(today))
    assert (later.dropped_partitions, later.dropped_rows, later.skipped) == (3, 8 + 12 + 20, 0)


def test_retention_while_spans_are_exported_loses_none(
    database: Database, settings: PgvectorSettings, conn: psycopg.Connection, today: dt.date
) -> None:
    exporter = PgvectorSpanExporter(settings)
    results: list[SpanExportResult] = []
    stop = threading.Event()
    exported = threading.Event()

    def export_continuously() -> None:
        batch = 0
        while not stop.is_set():
            results.append(exporter.export(make_spans(20, f"live{batch}")))
            batch += 1
            exported.set()

    thread = threading.Thread(target=export_continuously)
    thread.start()
    try:
        assert exported.wait(30)
        policy = retention_policy(settings, dt.timedelta(days=7), ["spans"])
        reports = [apply_retention(database, policy, now=noon(today))]
        while reports[-1].skipped and len(reports) < 10:  # the exports kept the table busy: try again
            reports.append(apply_retention(database, policy, now=noon(today)))
    finally:
        stop.set()
        thread.join(60)
        stats = exporter.delivery.stats()
        exporter.shutdown()
    assert results and set(results) == {SpanExportResult.SUCCESS}
    assert (stats.spool.spooled_batches, stats.lost_batches, stats.stored_batches) == (0, 0, len(results))
    assert count(conn, "otel_spans WHERE name LIKE 'live%'") == 20 * len(results)
    assert sum(report.dropped_partitions for report in reports) == 3
    assert sum(report.dropped_rows or 0 for report in reports) == 8 + 12 + 20
    assert partitions_of(conn, "otel_spans") == around_today("otel_spans", today) | {
        partition("otel_spans", days_ago(offset, today)) for offset in (3, 7)
    }


# --- the background pass ---------------------------------------------------------------------------


def test_maintenance_pass_applies_retention_and_prunes_ledger_and_dead_letters(
    server_dsn: str, schema: str, database: Database, conn: psycopg.Connection, today: dt.date
) -> None:
    settings = PgvectorSettings(dsn=server_dsn, schema=schema, retention_days=10, ledger_retention_days=7,
                                dead_letter_retention_days=30)
    for age in (8, 6):
        conn.execute("INSERT INTO otel_batches (batch_id, committed_at)"
                     " VALUES (gen_random_uuid(), now() - make_interval(days => %s))", (age,))
        conn.execute("INSERT INTO otel_dead_letters (batch_id, table_name, error, content, raw, rejected_at)"
                     " VALUES (gen_random_uuid(), 'otel_spans', 'bad', '{}', '',"
                     " now() - make_interval(days => %s))",
                     (age * 4,))  # 32 and 24 days
    report = Maintenance(database, settings, lambda: True).run_once()
    assert report.retention is not None
    assert sorted(p.partition for p in report.retention.partitions) == sorted(
        partition(table, days_ago(offset, today)) for table in SIGNAL_TABLES for offset in (12, 20)
    )
    assert {p.rows for p in report.retention.partitions} == {None}  # the background pass does not count
    assert (report.ledger_deleted, report.dead_letters_deleted) == (1, 1)
    assert count(conn, "otel_batches WHERE committed_at < now() - interval '7 days'") == 0
    assert count(conn, "otel_batches") == 1
    assert count(conn, "otel_dead_letters") == 1

    keep = PgvectorSettings(dsn=server_dsn, schema=schema, dead_letter_retention_days=0)
    assert Maintenance(database, keep, lambda: True).run_once().dead_letters_deleted == 0
    assert count(conn, "otel_dead_letters") == 1


def test_a_failed_step_does_not_stop_the_others(
    server_dsn: str, schema: str, database: Database, conn: psycopg.Connection, today: dt.date
) -> None:
    conn.execute("DROP TABLE otel_dead_letters")
    conn.execute("INSERT INTO otel_batches (batch_id, committed_at)"
                 " VALUES (gen_random_uuid(), now() - interval '9 days')")
    report = Maintenance(database, PgvectorSettings(dsn=server_dsn, schema=schema), lambda: True).run_once()
    assert (report.ledger_deleted, report.dead_letters_deleted) == (1, None)
    assert report.retention is not None and report.retention.dropped_partitions == 0  # 30 days by default


def test_exporters_apply_retention_in_the_background(
    settings: PgvectorSettings, conn: psycopg.Connection, today: dt.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "FIRST_PASS_AFTER", 0.0)  # an hour of exporting later
    settings = settings.model_copy(update={"retention_days": 10})
    conn.execute("INSERT INTO otel_batches (batch_id, committed_at)"
                 " VALUES (gen_random_uuid(), now() - interval '8 days')")
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(make_spans(3, "now")) is SpanExportResult.SUCCESS  # stored: nothing spooled
        expired = partition("otel_spans", days_ago(12, today))
        deadline = time.monotonic() + 30
        while expired in partitions_of(conn, "otel_spans") or count(conn, "otel_batches") > 1:
            assert time.monotonic() < deadline, "no background pass dropped and pruned"
            time.sleep(0.05)
    finally:
        exporter.shutdown()
    assert partition("otel_spans", days_ago(8, today)) in partitions_of(conn, "otel_spans")
    assert partition("otel_logs", days_ago(12, today)) not in partitions_of(conn, "otel_logs")
    assert count(conn, "otel_spans WHERE name LIKE 'now-%'") == 3


# --- otel-pgvector retention ----------------------------------------------------------------------------


def test_human_bytes() -> None:
    """Binary multiples with their IEC names (the retention and stats tables use them)."""
    assert [human_bytes(n) for n in (0, 1023, 8192, 1536 * 1024, 3 * 1024**3, 5 * 1024**4)] == [
        "0 B", "1023 B", "8.0 KiB", "1.5 MiB", "3.0 GiB", "5.0 TiB"
    ]


def test_cli_retention_dry_run_then_drop(
    server_dsn: str, schema: str, conn: psycopg.Connection, today: dt.date
) -> None:
    runner = CliRunner()
    base = ["--dsn", server_dsn, "--schema", schema, "retention", "--keep", "10d"]
    sizes = {name: conn.execute("SELECT pg_total_relation_size(%s::regclass)", (name,)).fetchone()[0]
             for table in SIGNAL_TABLES for name in (partition(table, days_ago(12, today)),
                                                      partition(table, days_ago(20, today)))}
    dry = runner.invoke(cli, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    for line, signal in zip(lines[:3], ("spans", "logs", "metrics"), strict=True):
        pattern = rf"{signal}: keep 10 days \(UTC days ended by \d{{4}}-\d\d-\d\d \d\d:\d\d expire\)"
        assert re.fullmatch(pattern, line), line
    assert lines[3].split() == ["signal", "partition", "day", "rows", "bytes", "action"]
    rows = {tuple(line.split()[:4]): " ".join(line.split()[4:]) for line in lines[5:11]}
    expected = {}
    for table in SIGNAL_TABLES:
        for offset in (12, 20):
            day = days_ago(offset, today)
            name = partition(table, day)
            key = (SIGNAL_OF[table], name, day.isoformat(), str(offset + EXTRA_ROWS[table]))
            expected[key] = f"{human_bytes(sizes[name])} would drop"
    assert rows == expected
    assert lines[11] == (
        f"total: would drop 6 partitions, {12 + 20 + 13 + 21 + 14 + 22} rows, "
        f"{human_bytes(sum(sizes.values()))}"
    )
    assert lines[12:] == [
        f"{table}_default holds 2 rows older than the retention: they stay (retention never deletes rows; "
        "see docs/retention.md)" for table in SIGNAL_TABLES
    ]
    assert partition("otel_spans", days_ago(20, today)) in partitions_of(conn, "otel_spans")

    logs_only = runner.invoke(cli, [*base, "--signal", "logs"])
    assert logs_only.exit_code == 0, logs_only.output
    assert logs_only.output.splitlines()[0].startswith("logs: keep 10 days")
    assert [line.split()[-1] for line in logs_only.output.splitlines()[3:5]] == ["dropped", "dropped"]
    assert "total: dropped 2 partitions, 34 rows, " in logs_only.output
    assert partition("otel_logs", days_ago(12, today)) not in partitions_of(conn, "otel_logs")
    assert partition("otel_spans", days_ago(12, today)) in partitions_of(conn, "otel_spans")

    again = runner.invoke(cli, [*base, "--signal", "logs"])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[1] == "nothing to drop"


def test_cli_retention_rejects_bad_keep_in_one_line(server_dsn: str, schema: str) -> None:
    for keep in ("0d", "soon"):
        result = CliRunner().invoke(
            cli, ["--dsn", server_dsn, "--schema", schema, "retention", "--keep", keep]
        )
        assert result.exit_code == 2
        assert "Invalid value for '--keep'" in result.output
