"""``otel-pgvector dlq status``, ``dlq replay`` and ``health`` on a real spool and database."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner
from opentelemetry.sdk.trace.export import SpanExportResult
from span_factory import make_spans, span_ids, stored_ids

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery


def test_spooled_batches_shown_replayed_and_healthy(settings: PgvectorSettings, server_dsn: str, schema: str,
                                                    conn: psycopg.Connection) -> None:
    spans = make_spans(15, "cli")
    # a process whose database was down spooled a batch, then exited
    exporter = PgvectorSpanExporter(dsn=server_dsn, schema=schema, timeout=2)
    exporter.delivery.breaker._state = exporter.delivery.breaker.state.OPEN  # as if it had failed
    exporter.delivery.breaker._opened_at = float("inf")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert conn.execute("SELECT to_regclass('otel_spans')").fetchone() == (None,)  # nothing written
    runner = CliRunner()
    args = ["--dsn", server_dsn, "--schema", schema]
    status = runner.invoke(cli, [*args, "dlq", "status"])
    assert status.exit_code == 0, status.output
    directory, segments, size, batches = status.output.splitlines()[2].split()[:4]
    assert (segments, batches) == ("1", "1") and int(size) > 0 and directory.startswith(str(settings.dlq_dir))
    replay = runner.invoke(cli, [*args, "dlq", "replay"])
    assert replay.exit_code == 0, replay.output
    assert "replayed 1 batches (17 rows), 0 already stored; 0 left" in replay.output
    assert stored_ids(conn) == span_ids(spans)
    with TelemetryQuery(settings) as query:
        report = query.health()
    assert report.reachable and report.migration_version == report.latest_migration
    assert report.pgvector_version and report.server_version and report.spool_batches == 0
    assert report.dead_letter_rows == 0
    health = runner.invoke(cli, [*args, "health"])
    assert health.exit_code == 0 and "reachable      yes" in health.output


def test_health_of_an_unreachable_database() -> None:
    result = CliRunner().invoke(cli, ["--dsn", "postgresql://u@127.0.0.1:1/db", "health"])
    assert result.exit_code == 1 and "reachable      no:" in result.output
