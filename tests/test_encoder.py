"""The shape encoder and inline mode, with the real model; the torch-free import graph."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from shape_workload import TIMEOUTS, SpanSpec, make_spans

from opentelemetry_exporter_pgvector import PgvectorSettings, PgvectorSpanExporter
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.encoder import ShapeEncoder, check_dimension
from opentelemetry_exporter_pgvector.errors import EmbeddingDimensionError


class CountingBackend:
    """The real backend, counting the texts it is asked to encode (and optionally slow)."""

    def __init__(self, backend: Any, delay: float = 0.0) -> None:
        self._backend = backend
        self._delay = delay
        self.model_name = backend.model_name
        self.dimension = backend.dimension
        self.texts: list[str] = []
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            self.texts.extend(texts)
        time.sleep(self._delay)
        return self._backend.encode(texts)


def _rows(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT shape_key, embedding IS NOT NULL, embedded_at IS NOT NULL FROM otel_shapes"
    ).fetchall()


def test_encoder_does_not_call_the_model_again_for_a_known_shape(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    database = Database(shape_settings)
    database.migrate()
    counting = CountingBackend(embedding_backend)
    encoder = ShapeEncoder(shape_settings, database, backend=lambda: counting)
    shape = (1234, "span", "svc", "CLIENT", "ERROR", embedding_backend.model_name,
             "svc CLIENT op | status ERROR")
    try:
        assert encoder.wait(encoder.submit([shape, shape]), 30) == 0
        assert encoder.wait(encoder.submit([shape]), 30) == 0
        assert encoder.submit([shape]) == []  # known to have a vector: nothing to wait for
    finally:
        encoder.close()
        database.close()
    assert counting.texts == [shape[-1]]
    stats = encoder.stats()
    assert (stats.texts_encoded, stats.cache_hits, stats.queue_depth) == (1, 2, 0)
    assert stats.cache_misses == 2  # the duplicate in the first submit waits on the same future
    register_vector(conn)
    vector = conn.execute("SELECT embedding FROM otel_shapes WHERE shape_key = 1234").fetchone()[0]
    assert np.allclose(vector.to_numpy(), embedding_backend.encode([shape[-1]])[0], atol=1e-6)


def test_inline_mode_embeds_new_shapes_during_export(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    settings = shape_settings.model_copy(update={"embedding": "inline", "embedding_inline_wait": 5.0})
    exporter = PgvectorSpanExporter(settings)
    try:
        assert exporter.export(make_spans(TIMEOUTS)).name == "SUCCESS"
        # embedded within the export: the vectors are there when export() returns
        assert all(has_vector for _, has_vector, _ in _rows(conn)) and len(_rows(conn)) == len(TIMEOUTS)
        assert exporter.encoder is not None
        assert exporter.export(make_spans(TIMEOUTS)).name == "SUCCESS"
        assert exporter.encoder.stats().cache_hits == len(TIMEOUTS)
        assert exporter.encoder.stats().texts_encoded == len(TIMEOUTS)
    finally:
        exporter.shutdown()
    rows = _rows(conn)
    assert len(rows) == len(TIMEOUTS) and all(has_vector and stamped for _, has_vector, stamped in rows)
    assert conn.execute("SELECT count(*) FROM otel_spans WHERE shape_key IS NOT NULL").fetchone()[0] == 6


def test_inline_export_is_not_held_past_its_timeout_by_a_slow_model(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    settings = shape_settings.model_copy(
        update={"embedding": "inline", "timeout": 1.0, "embedding_inline_wait": 30}
    )
    slow = CountingBackend(embedding_backend, delay=3.0)
    exporter = PgvectorSpanExporter(settings)
    exporter._encoder = ShapeEncoder(settings, exporter.database, backend=lambda: slow)
    try:
        exporter.export(make_spans([SpanSpec("warm", "up")]))  # start, migrate (not timed)
        assert exporter.encoder is not None and exporter.encoder.flush(10)
        started = time.monotonic()
        result = exporter.export(make_spans(TIMEOUTS))
        elapsed = time.monotonic() - started
        assert result.name == "SUCCESS"
        assert elapsed < 1.0 + 0.5  # the timeout, plus slack for a busy machine
        written = conn.execute("SELECT count(*) FROM otel_shapes WHERE embedding IS NULL").fetchone()[0]
        assert written == len(TIMEOUTS)  # spans and shapes written, vectors still coming
        assert exporter.encoder.flush(30)  # the encoder finishes in the background...
    finally:
        exporter.shutdown()
    rows = _rows(conn)
    # ...and fills them
    assert len(rows) == len(TIMEOUTS) + 1 and all(has_vector for _, has_vector, _ in rows)


def test_an_export_does_not_wait_for_a_model_still_loading(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    """Loading the model (from an empty cache, its one-time ONNX export) takes seconds: the first
    exports of a cold encoder write their spans and shapes and return without waiting the inline
    budget for vectors that cannot come in time; the encoder fills them once the model is there."""
    settings = shape_settings.model_copy(update={"embedding": "inline", "timeout": 100.0,
                                                 "embedding_inline_wait": 30.0})
    loaded = threading.Event()
    timer = threading.Timer(10, loaded.set)  # the model "loads" for 10 s, a third of the wait

    def loading() -> Any:
        loaded.wait()
        return embedding_backend

    exporter = PgvectorSpanExporter(settings)
    exporter._encoder = ShapeEncoder(settings, exporter.database, backend=loading)
    try:
        timer.start()
        assert not exporter._encoder.model_loaded
        assert exporter.export(make_spans(TIMEOUTS)).name == "SUCCESS"
        assert not loaded.is_set()  # returned while the model was loading: it did not wait 30 s
        assert [has_vector for _, has_vector, _ in _rows(conn)] == [False] * len(TIMEOUTS)
        assert exporter._encoder.flush(60) and exporter._encoder.model_loaded
    finally:
        timer.cancel()
        loaded.set()
        exporter.shutdown()
    assert all(has_vector for _, has_vector, _ in _rows(conn)) and len(_rows(conn)) == len(TIMEOUTS)


def test_a_model_of_another_dimension_fails_clearly(
    shape_settings: PgvectorSettings, embedding_backend: Any, conn: psycopg.Connection
) -> None:
    database = Database(shape_settings)
    database.migrate()
    conn.execute("DROP INDEX otel_shapes_embedding")
    conn.execute("ALTER TABLE otel_shapes ALTER COLUMN embedding TYPE vector(768)")
    try:
        with (
            database.connect() as check_conn,
            pytest.raises(EmbeddingDimensionError, match=r"384.*vector\(768\)"),
        ):
            check_dimension(check_conn, database, embedding_backend)
    finally:
        database.close()


def test_deferred_and_off_modes_import_and_run_without_torch_numpy_or_onnxruntime(
    server_dsn: str, schema: str
) -> None:
    """The exporter must work in an application that has none of the embeddings extra."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        HEAVY = ("torch", "numpy", "onnxruntime", "onnx", "sentence_transformers", "transformers",
                 "tokenizers")

        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    raise ImportError(f"{{name}} is not installed")
                return None

        sys.meta_path.insert(0, Absent())
        from opentelemetry_exporter_pgvector import PgvectorSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        import psycopg

        for mode in ("deferred", "off"):
            exporter = PgvectorSpanExporter(dsn={server_dsn!r}, schema={schema!r}, embedding=mode)
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            with provider.get_tracer("t").start_as_current_span(mode):
                pass
            provider.shutdown()
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
        assert not loaded, loaded
        with psycopg.connect({server_dsn!r}) as conn:
            rows = conn.execute(
                'SELECT name, shape_key IS NOT NULL FROM "{schema}".otel_spans ORDER BY name'
            ).fetchall()
            shapes = conn.execute('SELECT count(*) FROM "{schema}".otel_shapes').fetchone()[0]
        print(rows, shapes)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('deferred', True), ('off', False)] 1"


def test_onnx_export_prints_nothing(tmp_path: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """The one-time export runs inside CLI commands (the demo); torch's progress must not show."""
    from opentelemetry_exporter_pgvector.embedding.backends import OnnxBackend
    from opentelemetry_exporter_pgvector.embedding.model import default_model_path
    from opentelemetry_exporter_pgvector.embedding.onnx_export import export_onnx

    with warnings.catch_warnings(record=True) as caught:  # pytest would otherwise swallow them
        warnings.simplefilter("always")
        onnx_path = export_onnx(default_model_path(), tmp_path)
    out, err = capfd.readouterr()
    assert out == ""
    assert "Loading weights" not in err and "torchvision" not in err
    assert [str(warning.message) for warning in caught] == []
    backend = OnnxBackend(default_model_path(), onnx_path)
    vectors = backend.encode(["payments CLIENT INSERT payment | ERROR"])
    assert vectors.shape == (1, backend.dimension)
    assert abs(float(np.linalg.norm(vectors[0])) - 1.0) < 1e-5


def test_span_and_log_exporters_share_one_inline_encoder(shape_settings: PgvectorSettings) -> None:
    """One model and one pool per database, however many exporters embed inline."""
    from opentelemetry_exporter_pgvector import PgvectorLogExporter

    inline = shape_settings.model_copy(update={"embedding": "inline"})
    spans, logs = PgvectorSpanExporter(inline), PgvectorLogExporter(inline)
    try:
        assert spans.encoder is not None and spans.encoder is logs.encoder
    finally:
        spans.shutdown()
        spans.shutdown()  # idempotent: must not give the shared encoder back twice
        assert logs.encoder is not None and not logs.encoder.closed
        logs.shutdown()
    assert spans.encoder.closed
