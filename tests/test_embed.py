"""``otel-pgvector embed``: the backfill fills every missing vector exactly once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from opentelemetry.trace import SpanKind
from shape_workload import SpanSpec, export_specs

from opentelemetry_exporter_pgvector import PgvectorSettings
from opentelemetry_exporter_pgvector.cli.main import cli, main
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.backends import load_backend
from opentelemetry_exporter_pgvector.embedding.backfill import count_missing, embed_missing
from opentelemetry_exporter_pgvector.embedding.model import default_model_path

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

    worker = threading.Thread(
        target=embed_missing, args=(database, embedding_backend),
        kwargs={"follow": True, "poll_interval": 0.1, "stop": stop, "on_batch": progress},
    )
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
    dsn = shape_settings.dsn.get_secret_value()
    result = CliRunner().invoke(cli, ["--dsn", dsn, "--schema", shape_settings.db_schema,
                                      "embed", "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert "embedded 12 shapes" in result.output
    assert conn.execute("SELECT count(*) FROM otel_shapes WHERE embedding IS NOT NULL").fetchone()[0] == 12


@pytest.mark.usefixtures("embedding_backend")  # the bundled model's ONNX export is in the cache
def test_embed_with_a_model_the_onnx_backend_cannot_run_exits_2_with_one_line(
    shape_settings: PgvectorSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A configured model that pools by its CLS token is the user's to fix, not a bug: exit 2, one line.

    The model is the bundled one (its files linked, so its ONNX export is reused) with its
    Pooling config switched to CLS pooling, which only the torch backend implements.
    """
    model = tmp_path / "cls-pooling-model"
    model.mkdir()
    for entry in default_model_path().iterdir():
        if entry.name != "1_Pooling":
            (model / entry.name).symlink_to(entry)
    (model / "1_Pooling").mkdir()
    (model / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode": "cls"})
    )
    with pytest.raises(ValueError, match=r"pooling \('cls',\).*only mean pooling"):
        load_backend("onnx", model, shape_settings.embedding_cache_dir)

    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDING_MODEL", str(model))
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR", str(shape_settings.embedding_cache_dir))
    with pytest.raises(SystemExit) as exit_info:
        main(["--dsn", shape_settings.dsn.get_secret_value(), "--schema", shape_settings.db_schema, "embed"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, captured.err
    assert lines[0].startswith("otel-pgvector: ") and "use the torch backend for this model" in lines[0]
