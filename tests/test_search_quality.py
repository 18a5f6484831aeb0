"""Hybrid similarity search on a slice of the near-neighbour corpus, with the real model.

The slice holds the network and database-lock failure groups of ``tests/search_corpus.py``
and successes sharing their words. The queries' expected classes are written by hand in the
corpus; ``VECTOR_MISSES`` names those the vector ranking alone gets wrong (first result of
another class), which the hybrid ranking must get right.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from search_corpus import (
    CLASS_ATTRIBUTE,
    CLASSES,
    OK_LOGS,
    OK_OPERATIONS,
    VECTOR_MISSES,
    export_corpus,
    precision_at_3,
)

from opentelemetry_exporter_pgvector import AsyncTelemetryQuery, PgvectorSettings
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.cli.query_commands import SIMILAR_METHODS
from opentelemetry_exporter_pgvector.convert.glossary import GLOSSARY, glosses
from opentelemetry_exporter_pgvector.convert.shapes import log_shape_text, shape_text
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.embedding.backfill import embed_missing
from opentelemetry_exporter_pgvector.embedding.fixed_texts import fixed_text_vectors
from opentelemetry_exporter_pgvector.query.concepts import failure_weights
from opentelemetry_exporter_pgvector.query.similar import METHODS
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

SLICE = tuple(c for c in CLASSES if c.name in (
    "connection_refused", "connection_reset", "dns_failure", "tls_failure", "deadline_exceeded",
    "statement_timeout", "lock_timeout", "deadlock", "pool_exhausted", "too_many_connections"))


@pytest.fixture
def corpus(shape_settings: PgvectorSettings, embedding_backend: Any) -> PgvectorSettings:
    export_corpus(shape_settings, SLICE, OK_OPERATIONS[:12], OK_LOGS[:12])
    database = Database(shape_settings)
    embed_missing(database, embedding_backend)
    database.close()
    return shape_settings


def _classes(conn: psycopg.Connection, table: str) -> dict[int, str]:
    return dict(conn.execute(f"SELECT DISTINCT shape_key, attributes->>'{CLASS_ATTRIBUTE}' FROM {table}"
                             " WHERE shape_key IS NOT NULL").fetchall())


def _ranked(query: TelemetryQuery, classes: dict[int, str], signal: str, text: str, method: str) -> list[str]:
    search = query.similar_logs if signal == "logs" else query.similar_spans
    return [classes[result.shape_key] for result in search(text=text, k=10, method=method)]


def test_hybrid_ranking_finds_what_the_vectors_alone_miss(corpus: PgvectorSettings,
                                                          conn: psycopg.Connection) -> None:
    classes = {"spans": _classes(conn, "otel_spans"), "logs": _classes(conn, "otel_logs")}
    by_name = {c.name: c for c in SLICE}
    with TelemetryQuery(corpus) as query:
        for signal, name, style in VECTOR_MISSES:
            text = getattr(by_name[name], style)
            vector = _ranked(query, classes[signal], signal, text, "vector")
            hybrid = _ranked(query, classes[signal], signal, text, "hybrid")
            assert vector[0] != name, (signal, text, vector)  # still a miss for the vectors alone
            assert hybrid[0] == name, (signal, text, hybrid)
        # over every query of the slice, hybrid ranks at least as well as the vectors alone
        for signal in ("spans", "logs"):
            scores = {method: sum(precision_at_3(_ranked(query, classes[signal], signal, text, method), c.name)
                                  for c in SLICE for text in (c.paraphrase, c.incident))
                      for method in ("vector", "hybrid")}
            assert scores["hybrid"] >= scores["vector"], (signal, scores)


def test_a_clear_match_with_a_success_still_comes_first(corpus: PgvectorSettings, conn: psycopg.Connection) -> None:
    """Failures rank first only among shapes about as near: a success named outright wins."""
    classes = _classes(conn, "otel_spans")
    with TelemetryQuery(corpus) as query:
        found = query.similar_spans(text="dns resolve payments.internal", k=3)
        vector = query.similar_spans(text="dns resolve payments.internal", k=10, method="vector")
        only_errors = query.similar_spans(text="dns resolve payments.internal", k=5, status="ERROR")
        checkout = query.similar_spans(text="deadlock", k=5, service="checkout")
    assert classes[found[0].shape_key] == "ok" and "dns resolve payments.internal" in found[0].text
    assert [r.similarity for r in vector] == sorted((r.similarity for r in vector), reverse=True)
    assert only_errors and {r.status_code for r in only_errors} == {"ERROR"}
    assert checkout and {r.service_name for r in checkout} == {"checkout"}
    assert classes[checkout[0].shape_key] == "deadlock"


def test_a_bad_method_fails_before_the_model_loads(settings: PgvectorSettings) -> None:
    with TelemetryQuery(settings) as query, pytest.raises(ValueError, match="method must be one of hybrid, vector"):
        query.similar_spans(text="x", method="bm25")


def test_near_neighbours_get_different_meanings_and_successes_none() -> None:
    def meaning(failure_class: str) -> set[str | None]:
        return {glosses(f.exception_type, f.message) for c in CLASSES if c.name == failure_class
                for f in c.failures}

    groups = (("connection_refused", "connection_reset", "dns_failure", "tls_failure"),
              ("unique_violation", "foreign_key_violation"),
              ("statement_timeout", "lock_timeout", "deadlock"))
    for group in groups:
        firsts = {name: meaning(name) for name in group}
        for name, found in firsts.items():
            assert len(found) == 1 and None not in found, (name, found)  # one meaning for every wording
        assert len({next(iter(found)) for found in firsts.values()}) == len(group), firsts
    assert len({gloss.meaning for gloss in GLOSSARY}) == len(GLOSSARY)
    assert all(": " not in gloss.meaning and " | " not in gloss.meaning for gloss in GLOSSARY)
    # a success naming the same words is left as it is, and so is an INFO log line
    assert shape_text("orders", "acquire lock orders", "INTERNAL", "OK") == "orders INTERNAL acquire lock orders | OK"
    assert log_shape_text("orders", "INFO", "deadlock detector ran") == "orders INFO: deadlock detector ran"
    assert log_shape_text("orders", "ERROR", "deadlock detected") == (
        "deadlock (two transactions each wait for a lock the other holds, one is aborted)"
        " | orders ERROR: deadlock detected")


def test_log_patterns_read_the_body_after_the_meaning(corpus: PgvectorSettings) -> None:
    with TelemetryQuery(corpus) as query:
        patterns = {pattern.pattern for pattern in query.log_patterns(service="inventory", limit=100)}
    assert "deadlock detected updating stock for order <num>, transaction rolled back" in patterns
    assert not any("(" in pattern and "transactions each wait" in pattern for pattern in patterns)


def test_the_async_client_answers_as_the_sync_one(corpus: PgvectorSettings, conn: psycopg.Connection) -> None:
    """Same plans, same answers: hybrid and vector text queries, a span id, a vector, traces, logs."""
    span_id = conn.execute("SELECT otel_span_id_hex(span_id) FROM otel_spans WHERE exception_type ="
                           " 'psycopg.errors.DeadlockDetected'").fetchone()[0]
    text = SLICE[0].incident

    def asked(query: Any) -> dict[str, Any]:
        return {
            "hybrid": query.similar_spans(text=text, k=5),
            "vector": query.similar_spans(text=text, k=5, method="vector", status="ERROR"),
            "span": query.similar_spans(span_id=span_id, k=5),
            "logs": query.similar_logs(text=text, k=5, service="checkout"),
        }

    with TelemetryQuery(corpus) as query:
        expected = asked(query)
        expected["traces"] = query.find_similar_traces(_vector(conn, span_id), threshold=0.5, k=5)

    async def ask() -> dict[str, Any]:
        async with AsyncTelemetryQuery(corpus) as query:
            answers = {name: await answer for name, answer in asked(query).items()}
            answers["traces"] = await query.find_similar_traces(_vector(conn, span_id), threshold=0.5, k=5)
            with pytest.raises(LookupError, match="00f067aa0ba902b7"):
                await query.similar_spans(span_id="00f067aa0ba902b7")
            return answers

    answers = asyncio.run(ask())
    assert all(expected.values()) and answers == expected
    assert "deadlock" in expected["span"][0].text and len(expected["traces"]) >= 1


def _vector(conn: psycopg.Connection, span_id: str) -> list[float]:
    row = conn.execute("SELECT h.embedding::text FROM otel_spans s JOIN otel_shapes h USING (shape_key)"
                       " WHERE otel_span_id_hex(s.span_id) = %s", (span_id,)).fetchone()
    return [float(value) for value in row[0].strip("[]").split(",")]


def _weights(backend: Any, cache_dir: Any, text: str) -> dict[str, float]:
    vector = backend.encode([text])[0]
    return {weight.meaning.split(" (")[0]: weight.weight
            for weight in failure_weights(backend, cache_dir, vector, glosses(text))}


def test_a_question_in_its_own_words_is_weighed_toward_the_failure_it_describes(
    embedding_backend: Any, embedding_cache_dir: Any,
) -> None:
    """The failure a question is about, read from its meaning: what each question describes is
    written here by hand (a DBA's or a network engineer's reading), not taken from the code."""
    described = {
        "two transactions were rolled back because each held a row the other one wanted": "deadlock",
        "the update sat behind another session's row lock for a minute and then gave up": "lock wait timeout",
        "the nightly report ran so long that postgres cancelled it": "statement timeout",
        # "timed out" names the generic timeout; the pool is what the question is about
        "requests timed out while borrowing a connection from the app's own pool": "connection pool exhausted",
        "the payments host cannot be looked up since the resolver change": "DNS failure",
        "the page errors out at once, without waiting, as if nobody answers at that port":
            "connection refused",
        "two transfers each held rows the other needed and one of them was rolled back": "deadlock",
        "the partner only lets us call so many times a minute and we went over": "rate limited",
        "rendering crashes when the response leaves out the discount field and the code reads it anyway":
            "null reference",
        "mid-request the load balancer cuts our calls off and we get partial responses": "connection reset",
        "payments can no longer look up the bank gateway's domain": "DNS failure",
    }
    for question, failure in described.items():
        weights = _weights(embedding_backend, embedding_cache_dir, question)
        assert weights and max(weights, key=weights.__getitem__) == failure, (question, weights)
        assert weights[failure] >= 0.5, (question, weights)


def test_a_question_about_no_failure_is_weighed_toward_none(embedding_backend: Any, embedding_cache_dir: Any) -> None:
    for question in ("p99 latency of the checkout service over the last hour", "successful payments today",
                     "what did checkout call while handling this order"):
        weights = _weights(embedding_backend, embedding_cache_dir, question)
        assert sum(weights.values()) < 0.3, (question, weights)


def test_the_descriptions_vectors_are_kept_on_disk_and_read_back(
    embedding_backend: Any, embedding_cache_dir: Any, tmp_path: Any,
) -> None:
    texts = ("a disk filled up", "nothing listens on the port")
    first = fixed_text_vectors(embedding_backend, texts, tmp_path)
    assert first.shape == (2, embedding_backend.dimension)
    assert np.allclose(first, embedding_backend.encode(list(texts)), atol=1e-6)
    stored = list((tmp_path / "texts").glob("*.npy"))
    assert len(stored) == 1 and np.array_equal(np.load(stored[0]), first)
    # another process reads the file instead of embedding again: a file it could not have
    # computed itself is what it returns
    marked = np.full_like(first, 0.5)
    np.save(stored[0], marked)
    code = ("import sys, numpy as np; from pathlib import Path;"
            "from opentelemetry_exporter_pgvector import PgvectorSettings;"
            "from opentelemetry_exporter_pgvector.embedding.encoder import load_encoder_backend;"
            "from opentelemetry_exporter_pgvector.embedding.fixed_texts import fixed_text_vectors;"
            f"b = load_encoder_backend(PgvectorSettings(embedding_cache_dir=Path({str(embedding_cache_dir)!r})));"
            f"print(float(fixed_text_vectors(b, {texts!r}, Path({str(tmp_path)!r}))[1][3]))")
    read = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert float(read.stdout) == 0.5
    # a file of the wrong shape is embedded again and replaced
    np.save(stored[0], np.zeros((3, 4), dtype=np.float32))
    other = tmp_path / "other"
    (other / "texts").mkdir(parents=True)
    (other / "texts" / stored[0].name).write_bytes(stored[0].read_bytes())
    again = fixed_text_vectors(embedding_backend, texts, other)
    assert np.allclose(again, first, atol=1e-6) and np.load(other / "texts" / stored[0].name).shape == (2, 384)


def test_a_cache_that_cannot_be_written_only_costs_the_embedding(embedding_backend: Any, tmp_path: Any) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    vectors = fixed_text_vectors(embedding_backend, ("out of memory",), blocked)
    assert np.allclose(vectors, embedding_backend.encode(["out of memory"]), atol=1e-6)


def test_the_cli_ranks_by_the_method_asked(corpus: PgvectorSettings, conn: psycopg.Connection) -> None:
    """``otel-pgvector similar TEXT --method vector`` ranks as ``method="vector"`` does: on the
    query the vectors alone get wrong, the default (hybrid) puts the right failure first and
    ``--method VECTOR`` (any case) does not."""
    classes = _classes(conn, "otel_spans")
    signal, name, style = next(miss for miss in VECTOR_MISSES if miss[0] == "spans")
    text = getattr(next(c for c in SLICE if c.name == name), style)
    env = {"OTEL_EXPORTER_PGVECTOR_DSN": corpus.dsn.get_secret_value(),
           "OTEL_EXPORTER_PGVECTOR_SCHEMA": corpus.db_schema,
           "OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(corpus.embedding_cache_dir)}
    firsts = {}
    for method in ([], ["--method", "VECTOR"]):
        result = CliRunner(env=env).invoke(cli, ["similar", text, "-k", "3", "--json", *method])
        assert result.exit_code == 0, result.output
        firsts[tuple(method)] = classes[json.loads(result.output)[0]["shape_key"]]
    assert firsts[()] == name and firsts[("--method", "VECTOR")] != name, firsts
    assert list(SIMILAR_METHODS) == list(METHODS)
