"""Citus as a target (docs/scaling.md), and the oldest PostgreSQL kept working.

The same telemetry is written by the exporters to the session's embedded server and to one
other server, and every query must answer the same on both:

- a real Citus cluster (a coordinator and two workers, started by ``../shared/citus/cluster.sh``),
  its tables distributed by ``otel-pgvector migrate --citus``; where the rows landed is read
  from Citus's own shard catalog, independently of the package;
- Debian's plain PostgreSQL 15 (no Citus), started here with its own ``initdb``.

Both need what ``../shared/citus/install.sh`` installs (or ``$OTEL_PGVECTOR_CITUS_DIR``), and
root, since the servers run as the ``postgres`` system user; without them the tests are
skipped, saying which is missing. ``.ci/run`` installs them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind
from signal_factory import LOGS, POINTS, export_logs, export_points
from span_factory import make_spans, span_ids
from telemetry_rows import SIGNAL_TABLES, at_six, create_partitions, days_ago, insert_rows, utc_today
from test_suggested_commands import _INVOCATION, ROOT
from trace_factory import TRACE_A, TRACE_B, export, span

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.config import ENV_PREFIX, PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import SpanConverter
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.retention import apply_retention
from opentelemetry_exporter_pgvector.embedding.backfill import embed_missing
from opentelemetry_exporter_pgvector.query.plan import set_local
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery
from opentelemetry_exporter_pgvector.write.maintenance import Maintenance
from opentelemetry_exporter_pgvector.write.writer import TelemetryWriter

CITUS_DIR = Path(os.environ.get("OTEL_PGVECTOR_CITUS_DIR")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "citus")
PG15 = Path("/usr/lib/postgresql/15/bin")
EXTENSIONS = Path("/usr/share/postgresql/15/extension")
# Twelve more traces beside A and B, their ids spread over the hash space.
TRACES = [TRACE_A, TRACE_B, *((0x9E3779B97F4A7C15 * (n + 1) << 64 | n) % 2**128 for n in range(12))]


def _missing(*needs: str) -> str | None:
    """Why these servers cannot run here, or None."""
    if "citus" in needs and not (CITUS_DIR / "cluster.sh").is_file():
        return f"no Citus test kit in {CITUS_DIR} (set OTEL_PGVECTOR_CITUS_DIR)"
    for extension in needs:
        if not (EXTENSIONS / f"{extension}.control").is_file():
            return f"{extension} is not installed for PostgreSQL 15: run bash {CITUS_DIR}/install.sh as root"
    if os.geteuid() != 0:
        return "the test servers run as the postgres system user: needs root"
    return None


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on loopback."""
    for base in range(21000 + os.getpid() % 4000 * 2, 65000, 7):
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


@pytest.fixture(scope="module")
def server_directory() -> Iterator[Path]:
    """A directory the postgres system user may enter (mkdtemp's 0700 would shut it out)."""
    directory = Path(tempfile.mkdtemp(prefix="otel-pgvector-servers-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def citus_dsn(server_directory: Path) -> Iterator[str]:
    """The coordinator of a cluster of one coordinator and two workers, started by cluster.sh."""
    reason = _missing("citus", "vector")
    if reason:
        pytest.skip(reason)
    script, cluster = CITUS_DIR / "cluster.sh", server_directory / "citus"
    started = subprocess.run(["bash", str(script), "start", str(cluster), str(_free_ports(3)), "2"],
                             capture_output=True, text=True, timeout=120, check=False)
    try:
        if started.returncode != 0:
            why = (started.stderr.strip() or "?").splitlines()[-1]
            pytest.skip(f"the Citus cluster did not start: {why}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", str(cluster)], capture_output=True, timeout=120,
                       check=False)


def _as_postgres(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["su", "postgres", "-c", command], capture_output=True, text=True, timeout=120,
                          check=False)


def _postgresql15(data: Path, port: int, make: str) -> Iterator[str]:
    """PostgreSQL 15 in ``data`` (filled by the shell command ``make``) on ``port``, while the
    generator runs; skips the test with the reason when it does not start."""
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres")
    made = _as_postgres(make)
    started = made.returncode == 0 and _as_postgres(
        f"{PG15}/pg_ctl -D {data} -l {data}/log -w -o '-p {port} -k {data}"
        " -c listen_addresses=127.0.0.1' start").returncode == 0
    try:
        if not started:
            why = made.stderr.strip() or (data / "log").read_text()
            pytest.skip(f"PostgreSQL 15 did not start: {why}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(f"{PG15}/pg_ctl -D {data} -m fast stop")


@pytest.fixture(scope="module")
def postgresql15_dsn(server_directory: Path) -> Iterator[str]:
    """Debian's PostgreSQL 15 with pgvector and without Citus: the oldest server tested."""
    reason = _missing("vector")
    if reason:
        pytest.skip(reason)
    data = server_directory / "pg15"
    yield from _postgresql15(data, _free_ports(1), f"{PG15}/initdb -D {data} -A trust -U postgres")


@pytest.fixture(scope="module")
def replica_dsn(server_directory: Path, postgresql15_dsn: str, pg15_twins: Twins) -> Iterator[str]:
    """A streaming replica of the PostgreSQL 15 server, caught up with its telemetry."""
    data, primary = server_directory / "pg15-replica", psycopg.conninfo.conninfo_to_dict(postgresql15_dsn)
    for dsn in _postgresql15(data, _free_ports(1), f"{PG15}/pg_basebackup -D {data} -R -h 127.0.0.1"
                             f" -p {primary['port']} -U postgres"):
        with psycopg.connect(postgresql15_dsn, autocommit=True) as source:
            lsn = _scalar(source, "SELECT pg_current_wal_lsn()")
        with psycopg.connect(dsn, autocommit=True) as replica:
            assert _scalar(replica, "SELECT pg_is_in_recovery()") is True
            deadline = time.monotonic() + 60  # a liveness bound: replay on loopback takes milliseconds
            while _scalar(replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn) is not True:
                assert time.monotonic() < deadline, "the replica did not catch up"
                time.sleep(0.05)
        yield dsn


@dataclasses.dataclass(frozen=True)
class Twins:
    """The same telemetry in the embedded single node (``single``) and in ``other``."""

    single: PgvectorSettings
    other: PgvectorSettings

    def answers(self, ask: Callable[[TelemetryQuery], Any]) -> tuple[Any, Any]:
        """What ``ask`` gets from each, as plain values."""
        found = []
        for settings in (self.single, self.other):
            with TelemetryQuery(settings) as query:
                found.append(_plain(ask(query)))
        return found[0], found[1]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _checkout(n: int, trace: int) -> list[ReadableSpan]:
    """Checkout trace ``n``, 7 ms after the one before (ties in time would leave the order of
    listings to each server's plan); every third one's payment times out."""
    error = "TimeoutError" if n % 3 == 1 else None
    start, payment = 7 * n, 10 + n
    return [
        span(trace, 1, None, "frontend", "POST /checkout", start, 20 + payment, SpanKind.SERVER,
             attributes={"http.route": "/checkout", "http.response.status_code": 500 if error else 200}),
        span(trace, 2, 1, "checkout", "place_order", start + 2, 15 + payment, SpanKind.SERVER),
        span(trace, 3, 2, "inventory", "SELECT stock", start + 3, 4, SpanKind.CLIENT),
        span(trace, 4, 2, "payments", "charge", start + 1, payment, SpanKind.SERVER, error=error),
    ]


def _write_shop(settings: PgvectorSettings) -> None:
    """Fourteen checkout traces, their logs and metric points."""
    export(settings, *(_checkout(n, trace) for n, trace in enumerate(TRACES)))
    export_logs(settings, LOGS)
    export_points(settings, POINTS)


def _twins(server_dsn: str, other_dsn: str, embedding_cache_dir: Path,
           embedding_backend: Any, citus: bool) -> Iterator[Twins]:
    schema = f"twins_{'citus' if citus else 'pg15'}_{os.getpid()}"
    single, other = (PgvectorSettings(dsn=dsn, schema=schema, timeout=30, embedding="deferred",
                                      embedding_cache_dir=embedding_cache_dir)
                     for dsn in (server_dsn, other_dsn))
    if citus:  # distributed before any row is written, as docs/scaling.md says
        result = CliRunner().invoke(cli, ["--dsn", other_dsn, "--schema", schema, "migrate", "--citus"])
        assert result.exit_code == 0, result.output
    for settings in (single, other):
        _write_shop(settings)
        database = Database(settings)
        embed_missing(database, embedding_backend)
        database.close()
    yield Twins(single, other)
    for dsn in (server_dsn, other_dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def citus_twins(server_dsn: str, citus_dsn: str, embedding_cache_dir: Path,
                embedding_backend: Any) -> Iterator[Twins]:
    yield from _twins(server_dsn, citus_dsn, embedding_cache_dir, embedding_backend, citus=True)


@pytest.fixture(scope="module")
def pg15_twins(server_dsn: str, postgresql15_dsn: str, embedding_cache_dir: Path,
               embedding_backend: Any) -> Iterator[Twins]:
    yield from _twins(server_dsn, postgresql15_dsn, embedding_cache_dir, embedding_backend, citus=False)


@pytest.fixture(params=["citus", "postgresql15"])
def twins(request: pytest.FixtureRequest) -> Twins:
    twins: Twins = request.getfixturevalue(f"{'citus' if request.param == 'citus' else 'pg15'}_twins")
    return twins


def _hex(trace: int) -> str:
    return f"{trace:032x}"


HOURS_AGO = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
HOURS_AHEAD = HOURS_AGO + dt.timedelta(hours=4)
# Every question of the query layer, asked of both servers.
QUESTIONS: dict[str, Callable[[TelemetryQuery], Any]] = {
    "get_trace": lambda q: [q.get_trace(_hex(trace)) for trace in TRACES],
    "find_traces": lambda q: q.find_traces(),
    "find_traces_failed": lambda q: q.find_traces(status="error", service="payments"),
    "find_spans": lambda q: q.find_spans(service="checkout"),
    "compare_traces": lambda q: q.compare_traces(_hex(TRACE_A), _hex(TRACE_B)),
    "errors": lambda q: q.errors(),
    "errors_by_shape": lambda q: q.errors(group_by="shape"),
    "red": lambda q: q.red(since=HOURS_AGO, until=HOURS_AHEAD),
    "red_by_operation": lambda q: q.red(by="operation", since=HOURS_AGO, until=HOURS_AHEAD,
                                        step=dt.timedelta(minutes=5)),
    "service_map": lambda q: q.service_map(),
    "service_summary": lambda q: q.service_summary(),
    "similar_spans": lambda q: q.similar_spans("payment timed out", k=5),
    "similar_spans_of_a_service": lambda q: q.similar_spans("charge failed", k=3, service="payments"),
    "similar_logs": lambda q: q.similar_logs("card charge timed out", k=3),
    "trace_context": lambda q: q.trace_context(_hex(TRACE_B)),
    "search_logs": lambda q: q.search_logs("timed out"),
    "log_patterns": lambda q: q.log_patterns(),
    "metric_series": lambda q: q.metric_series("queue.depth", HOURS_AGO, HOURS_AHEAD,
                                               dt.timedelta(minutes=10)),
    "metric_points": lambda q: q.metric_points(since=HOURS_AGO),
    "metric_names": lambda q: q.metric_names(since=HOURS_AGO),
    "logs_for_trace": lambda q: q.logs_for_trace(_hex(TRACE_B)),
    "stored_counts": lambda q: q.stored_counts(),
    "storage_stats_rows": lambda q: [(t.name, t.rows, [(p.name, p.rows) for p in t.partitions])
                                     for t in q.storage_stats(exact=True).tables],
    "sql": lambda q: q.sql("SELECT s.service_name, count(*), count(DISTINCT s.trace_id), sum(l.n)"
                           " FROM otel_spans s LEFT JOIN (SELECT trace_id, count(*) AS n FROM otel_logs"
                           " GROUP BY trace_id) l USING (trace_id) GROUP BY 1 ORDER BY 1").rows,
}


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_query_answers_the_same_as_on_the_embedded_single_node(twins: Twins, question: str) -> None:
    single, other = twins.answers(QUESTIONS[question])
    assert single, "the question finds something"
    assert other == single


def test_spans_logs_and_metrics_land_on_both_workers(citus_twins: Twins, citus_dsn: str) -> None:
    schema = citus_twins.other.db_schema
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        for table, rows in (("otel_spans", 4 * len(TRACES)), ("otel_logs", len(LOGS)),
                            ("otel_metric_points", len(POINTS))):
            # each shard counted where it lives, then summed per worker
            per_worker = dict(conn.execute(
                "SELECT s.nodeport, sum(r.result::bigint)"
                " FROM run_command_on_shards(%s, 'SELECT count(*) FROM %%s') r"
                " JOIN citus_shards s USING (shardid) WHERE r.success GROUP BY 1",
                (f"{schema}.{table}",)).fetchall())
            assert sum(per_worker.values()) == rows, table
            if table != "otel_metric_points":  # two resources only: may share a worker
                assert len([n for n in per_worker.values() if n > 0]) == 2, (table, per_worker)
        placements = dict(conn.execute(
            "SELECT table_name::text, citus_table_type FROM citus_tables WHERE table_name::text LIKE %s",
            (f"{schema}.%",)).fetchall())
    assert placements[f"{schema}.otel_resources"] == placements[f"{schema}.otel_shapes"] == "reference"
    assert placements[f"{schema}.otel_spans"] == placements[f"{schema}.otel_dead_letters"] == "distributed"


def test_migrate_citus_is_idempotent_and_refused_without_citus(citus_twins: Twins, citus_dsn: str,
                                                              postgresql15_dsn: str, server_dsn: str) -> None:
    again = CliRunner().invoke(cli, ["--dsn", citus_dsn, "--schema", citus_twins.other.db_schema,
                                     "migrate", "--citus"])
    assert again.exit_code == 0 and again.output.endswith("tables already distributed\n"), again.output
    refusals = {
        postgresql15_dsn: "no Citus extension: run CREATE EXTENSION citus; in it (with citus in"
                          " shared_preload_libraries)",  # installed there, not created
        server_dsn: "no Citus installed: install Citus (https://docs.citusdata.com) or migrate without"
                    " --citus",
    }
    for dsn, remedy in refusals.items():
        refused = CliRunner().invoke(cli, ["--dsn", dsn, "--schema", "never_made", "migrate", "--citus"])
        assert refused.exit_code == 2
        assert refused.output == ("otel-pgvector: --citus needs a Citus coordinator, and database 'postgres'"
                                  f" on this server has {remedy}\n")
        with psycopg.connect(dsn) as conn:  # refused before anything was created
            assert conn.execute("SELECT to_regnamespace('never_made')").fetchone() == (None,)


def test_storage_stats_count_the_shards_bytes_not_the_coordinators_shells(citus_twins: Twins,
                                                                         citus_dsn: str) -> None:
    with TelemetryQuery(citus_twins.other) as query:
        spans = next(table for table in query.storage_stats().tables if table.name == "otel_spans")
    with psycopg.connect(citus_dsn) as conn:
        on_shards = _scalar(conn, "SELECT sum(shard_size) FROM citus_shards WHERE table_name::text LIKE %s",
                            f"{citus_twins.other.db_schema}.otel\\_spans\\_%")
    assert spans.bytes == on_shards


def test_set_local_reaches_every_worker(citus_twins: Twins, citus_dsn: str) -> None:
    with psycopg.connect(citus_dsn) as conn:  # a transaction, as the query layer's
        conn.execute(f'SET search_path TO "{citus_twins.other.db_schema}", public')
        conn.execute(set_local({"hnsw.ef_search": "77"}))
        seen = conn.execute("SELECT DISTINCT current_setting('hnsw.ef_search', true)"
                            " FROM otel_spans").fetchall()
    assert seen == [("77",)]  # evaluated on the shards of both workers


@pytest.fixture
def citus_settings(citus_dsn: str) -> Iterator[PgvectorSettings]:
    """A fresh distributed schema on the cluster, embeddings off."""
    schema = f"citus_{uuid.uuid4().hex[:12]}"
    result = CliRunner().invoke(cli, ["--dsn", citus_dsn, "--schema", schema, "migrate", "--citus"])
    assert result.exit_code == 0, result.output
    yield PgvectorSettings(dsn=citus_dsn, schema=schema, timeout=30, embedding="off")
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _scalar(conn: psycopg.Connection, query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_a_poison_row_is_bisected_out_to_the_distributed_dead_letters(
    citus_settings: PgvectorSettings,
) -> None:
    spans = list(make_spans(300))
    exporter = PgvectorSpanExporter(citus_settings)
    try:  # one span twice: a duplicate key, found by bisecting the batch's COPY
        assert exporter.export([*spans[:150], spans[149], *spans[150:]]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    with psycopg.connect(citus_settings.dsn.get_secret_value()) as conn:
        conn.execute(f'SET search_path TO "{citus_settings.db_schema}", public')
        stored = [row[0] for row in conn.execute("SELECT span_id FROM otel_spans ORDER BY span_id")]
        letters = conn.execute("SELECT table_name, sqlstate, content->>'name', batch_id, error"
                               " FROM otel_dead_letters").fetchall()
        assert stored == sorted(span_ids(spans))
        # Citus reports a shard's error during a COPY as XX000 (ReportCopyError), not 23505:
        # the bisection found the row all the same, by the probe an undecided error gets
        assert [letter[:3] for letter in letters] == [("otel_spans", "XX000", spans[149].name)]
        assert "duplicate key value violates unique constraint" in letters[0][4]
        assert _scalar(conn, "SELECT count(*) FROM otel_batches WHERE batch_id = %s", letters[0][3]) == 1


def test_a_batch_replayed_is_stored_once_through_the_distributed_ledger(
    citus_settings: PgvectorSettings,
) -> None:
    database = Database(citus_settings)
    writer, spans, batch_id = TelemetryWriter(database), make_spans(40), uuid.uuid4().bytes
    try:
        assert writer.write(SpanConverter(1000).convert_batch(spans), 10, batch_id) is True
        assert writer.write(SpanConverter(1000).convert_batch(spans), 10, batch_id) is False
    finally:
        database.close()
    with psycopg.connect(citus_settings.dsn.get_secret_value()) as conn:
        assert _scalar(conn, f'SELECT count(*) FROM "{citus_settings.db_schema}".otel_spans') == 40


def test_the_maintenance_pass_prunes_the_distributed_ledger_and_dead_letters(
    citus_settings: PgvectorSettings,
) -> None:
    settings = citus_settings.model_copy(update={"ledger_retention_days": 7,
                                                 "dead_letter_retention_days": 30})
    database = Database(settings)
    with psycopg.connect(settings.dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.db_schema}", public')
        for age in (8, 6):
            conn.execute("INSERT INTO otel_batches (batch_id, committed_at)"
                         " VALUES (gen_random_uuid(), now() - make_interval(days => %s))", (age,))
            conn.execute("INSERT INTO otel_dead_letters"
                         " (batch_id, table_name, error, content, raw, rejected_at)"
                         " VALUES (gen_random_uuid(), 'otel_spans', 'bad', '{}', '',"
                         " now() - make_interval(days => %s))", (age * 4,))  # 32 and 24 days
        report = Maintenance(database, settings, lambda: True).run_once()
        assert report.retention is not None
        assert (report.ledger_deleted, report.dead_letters_deleted) == (1, 1)
        assert _scalar(conn, "SELECT count(*) FROM otel_batches") == 1
        assert _scalar(conn, "SELECT count(*) FROM otel_dead_letters") == 1
    database.close()


def test_a_new_partition_takes_the_default_partitions_rows_and_leaves_no_copy_on_the_coordinator(
    citus_settings: PgvectorSettings,
) -> None:
    database = Database(citus_settings)
    day = utc_today() + dt.timedelta(days=20)  # beyond the partitions made ahead
    name = f"otel_spans_{day:%Y%m%d}"
    with psycopg.connect(citus_settings.dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{citus_settings.db_schema}", public')
        insert_rows(conn, "otel_spans", at_six(day), 25)
        assert _scalar(conn, "SELECT count(*) FROM otel_spans_default") == 25
        create_partitions(conn, database, [day])
        assert _scalar(conn, f"SELECT count(*) FROM {name}") == 25
        assert _scalar(conn, "SELECT count(*) FROM otel_spans_default") == 0
        assert _scalar(conn, "SELECT citus_table_type FROM citus_tables WHERE table_name = %s::regclass",
                       name) == "distributed"
        assert _scalar(conn, "SELECT pg_relation_size(%s::regclass)", name) == 0  # the shell holds no rows


def test_retention_drops_the_same_partitions_as_on_the_single_node(
    citus_settings: PgvectorSettings, settings: PgvectorSettings,
) -> None:
    today = utc_today()
    old_days = [days_ago(offset, today) for offset in (5, 4, 3)]
    reports = []
    for target in (settings, citus_settings):
        database = Database(target)
        database.migrate()
        with psycopg.connect(target.dsn.get_secret_value(), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{target.db_schema}", public')
            create_partitions(conn, database, old_days)
            for offset, day in enumerate(old_days):
                for table in SIGNAL_TABLES:
                    insert_rows(conn, table, at_six(day), 10 + offset)
            insert_rows(conn, "otel_spans", at_six(days_ago(9, today)), 3)  # no partition: the default one
        report = apply_retention(database, {"spans": dt.timedelta(days=4), "logs": dt.timedelta(days=4),
                                            "metrics": None})
        with psycopg.connect(target.dsn.get_secret_value()) as conn:
            left = sorted(row[0] for row in conn.execute(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s", (target.db_schema,)))
        database.close()
        reports.append(([(p.signal, p.partition, p.day, p.rows, p.outcome) for p in report.partitions],
                        [(s.signal, s.default_rows_expired) for s in report.signals], left))
    assert reports[0][0] == [("spans", f"otel_spans_{old_days[0]:%Y%m%d}", old_days[0], 10, "dropped"),
                             ("logs", f"otel_logs_{old_days[0]:%Y%m%d}", old_days[0], 10, "dropped")]
    assert reports[1] == reports[0]


# docs/scaling.md: its commands and SQL, on the servers they are for.


def _scaling_blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "scaling.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def _scaling_commands(language: str) -> list[list[str]]:
    """The argument lists of the otel-pgvector invocations in scaling.md's ``language`` blocks."""
    commands = [shlex.split(match.group(1)) for block in _scaling_blocks(language)
                for line in block.splitlines() for match in _INVOCATION.finditer(line)]
    assert commands, f"scaling.md has no {language} block with a command"
    return commands


def test_the_citus_commands_of_scaling_md_distribute_a_new_schema(citus_dsn: str) -> None:
    schema = f"docs_{uuid.uuid4().hex[:12]}"
    env = {ENV_PREFIX + "DSN": citus_dsn, ENV_PREFIX + "SCHEMA": schema}
    try:
        for args in _scaling_commands("sh-citus"):
            result = CliRunner(env=env).invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert "otel_spans: distributed by trace_id" in result.output
    finally:
        with psycopg.connect(citus_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_the_citus_sql_of_scaling_md_returns_rows(citus_twins: Twins, citus_dsn: str) -> None:
    statements = [statement.strip() for block in _scaling_blocks("sql-citus")
                  for statement in re.split(r";[ \t]*(?:\n|$)", block) if statement.strip()]
    assert len(statements) == 2
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{citus_twins.other.db_schema}", public')
        for statement in statements:
            rows = conn.execute(statement).fetchall()
            assert rows and all(value is not None for row in rows for value in row), statement


def test_the_replica_command_of_scaling_md_reads_the_replica(replica_dsn: str, pg15_twins: Twins) -> None:
    env = {ENV_PREFIX + "SCHEMA": pg15_twins.other.db_schema}
    for args in _scaling_commands("sh-replica"):
        args = [replica_dsn if arg == "$REPLICA_DSN" else arg for arg in args]
        result = CliRunner(env=env).invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert all(_hex(trace) in result.output for trace in TRACES), result.output
