"""``otel-pgvector embed``: the backfill fills every missing vector exactly once."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from click.testing import CliRunner
from opentelemetry.trace import SpanKind

from opentelemetry_exporter_pgvector import PgvectorSettings
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.backfill import count_missing, embed_missing

from shape_workload import SpanSpec, export_specs

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
          "kilo", "lima")


def _export_distinct_shapes(settings: PgvectorSettings, count: int) -> None:
    names = [f"{a} {b} {c}" for a in _WORDS for b in _WORDS for c in _WORDS][:count]
    export_specs(settings, [SpanSpec("svc", name, SpanKind.INTERNAL) for name in names])


def test_two_workers_fill_every_missing_vector_exactly_once(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    _export_distinct_shapes(shape_settings, 150)
    database = Database(shape_settings)
    assert count_missing(database, embedding_backend.model_name) == 150
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            embed_missing(database, embedding_backend, batch_size=7, on_batch=claimed[index].extend)
        except BaseException as error:  # surfaced below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    database.close()
    assert not errors
    first, second = claimed
    assert first and second  # both took part
    assert not set(first) & set(second)
    assert len(first) + len(second) == 150
    stored = conn.execute("SELECT shape_key FROM otel_shapes WHERE embedding IS NOT NULL").fetchall()
    assert {key for (key,) in stored} == set(first) | set(second)
    assert conn.execute("SELECT count(*) FROM otel_shapes WHERE embedding IS NULL").fetchone()[0] == 0


def test_follow_keeps_embedding_new_shapes_until_stopped(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    database = Database(shape_settings)
    database.migrate()
    stop = threading.Event()
    done: list[int] = []
    filled = threading.Event()

    def progress(keys: Any) -> None:
        done.extend(keys)
        if len(done) >= 5:
            filled.set()

    worker = threading.Thread(target=embed_missing, args=(database, embedding_backend),
                              kwargs={"follow": True, "poll_interval": 0.1, "stop": stop, "on_batch": progress})
    worker.start()
    try:
        _export_distinct_shapes(shape_settings, 5)  # arrives while the worker is polling
        assert filled.wait(60)
    finally:
        stop.set()
        worker.join(30)
        database.close()
    assert not worker.is_alive()
    assert conn.execute("SELECT count(*) FROM otel_shapes WHERE embedding IS NULL").fetchone()[0] == 0


def test_embed_command_fills_vectors(shape_settings: PgvectorSettings, embedding_backend: Any,
                                     conn: psycopg.Connection, monkeypatch: Any) -> None:
    _export_distinct_shapes(shape_settings, 12)
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR", str(shape_settings.embedding_cache_dir))
    result = CliRunner().invoke(cli, ["--dsn", shape_settings.dsn, "--schema", shape_settings.db_schema,
                                      "embed", "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert "embedded 12 shapes" in result.output
    assert conn.execute("SELECT count(*) FROM otel_shapes WHERE embedding IS NOT NULL").fetchone()[0] == 12
