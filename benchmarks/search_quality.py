"""Search quality on a corpus of near-neighbour failures: precision@3 and MRR@10, one run.

    python benchmarks/search_quality.py [--show-tuning] [--tuning-only] [--dsn DSN]

Writes the corpus of ``tests/search_corpus.py`` (20 failure classes worded four or five ways
each, 320 successful span shapes and 256 log shapes sharing their words) through the real
span and log exporters into a fresh embedded server, embeds the shapes with the bundled
model (``otel-pgvector embed``'s code), and asks each of the corpus's queries (440 tuned on,
160 held out and never read by whoever tunes the search) through ``similar_spans`` and
``similar_logs``, both rankings (``hybrid``, the default, and ``vector``).

The baseline, computed in the same run with the same model, is the raw model over naive
text: each span as ``service name kind status exception: message key=value...`` and each log
record as its body, unmasked, ranked by cosine similarity to the query in numpy.

A result counts when its span (log record) is of the query's class. precision@3 is the share
of the first three results of that class; MRR@10 the mean of 1/rank of the first one within
ten. Both halves are reported; ``--show-tuning`` lists the tuning half's misses (never the
held-out half's: do not add a way to print them); ``--tuning-only`` leaves the held-out half
unasked, so that whoever tunes sees no figure of it until the search is frozen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from search_corpus import (
    CLASS_ATTRIBUTE,
    CLASSES,
    OK_CLASS,
    OK_LOGS,
    OK_OPERATIONS,
    SERVICES,
    Query,
    export_corpus,
    precision_at_3,
    queries,
    reciprocal_rank_at_10,
)

from opentelemetry_exporter_pgvector import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory
from opentelemetry_exporter_pgvector.embedding.backfill import embed_missing
from opentelemetry_exporter_pgvector.embedding.encoder import load_encoder_backend
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

Ranker = Callable[[str], list[str]]  # a query's text -> the classes of its first ten results


def naive_documents() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(class, naive text) of every span and every log record of the corpus."""
    spans, logs = [], []
    for failure_class in CLASSES:
        for failure in failure_class.failures:
            attributes = " ".join(f"{key}={value}" for key, value in failure.attributes.items())
            spans.append((failure_class.name, f"{failure.service} {failure.name} {failure.kind} ERROR "
                                              f"{failure.exception_type}: {failure.message} {attributes}"))
            logs.append((failure_class.name, failure.log))
    for operation, kind, attributes_map in OK_OPERATIONS:
        attributes = " ".join(f"{key}={value}" for key, value in attributes_map.items())
        spans += [(OK_CLASS, f"{service} {operation} {kind} OK {attributes}") for service in SERVICES]
    for number, template in enumerate(OK_LOGS):
        logs += [(OK_CLASS, template.format(n=number * 7 + offset + 2)) for offset in range(len(SERVICES))]
    return spans, logs


def naive_ranker(backend: Any, documents: list[tuple[str, str]]) -> Ranker:
    vectors = backend.encode([text for _, text in documents])

    def rank(text: str) -> list[str]:
        scores = vectors @ backend.encode([text])[0]
        return [documents[i][0] for i in np.argsort(-scores)[:10]]

    return rank


def package_ranker(query: TelemetryQuery, classes: dict[int, str], logs: bool, ranking: str) -> Ranker:
    def rank(text: str) -> list[str]:
        if logs:
            found: Sequence[Any] = query.similar_logs(text=text, k=10, method=ranking)
        else:
            found = query.similar_spans(text=text, k=10, method=ranking)
        return [classes[result.shape_key] for result in found]

    return rank


def shape_classes(database: Database, table: str) -> dict[int, str]:
    """The class of each shape key of ``table``'s records (a shape spans one class by design)."""
    with database.connect() as conn:
        rows = conn.execute(
            f"SELECT DISTINCT shape_key, attributes->>'{CLASS_ATTRIBUTE}'"
            f" FROM {database.settings.db_schema}.{table}"
            " WHERE shape_key IS NOT NULL").fetchall()
    classes: dict[int, str] = {}
    for key, name in rows:
        assert classes.setdefault(key, name) == name, f"shape {key} holds two classes"
    return classes


def score(rank: Ranker, asked: list[Query], show: bool) -> tuple[float, float]:
    precisions, reciprocal_ranks = [], []
    for query in asked:
        ranked = rank(query.text)
        precisions.append(precision_at_3(ranked, query.expected))
        reciprocal_ranks.append(reciprocal_rank_at_10(ranked, query.expected))
        if show and precisions[-1] < 1:
            print(f"      miss {query.expected:22} {query.text!r}: {ranked[:5]}")
    return statistics.mean(precisions), statistics.mean(reciprocal_ranks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-tuning", action="store_true", help="list the tuning half's misses")
    parser.add_argument("--tuning-only", action="store_true", help="do not measure the held-out half")
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = server_parent_directory(prefix="otel-pgvector-bench-")
    settings = PgvectorSettings(dsn=args.dsn, embedded_dir=workdir / "pg", schema="bench_quality",
                                embedding="deferred")
    started = time.perf_counter()
    database = Database(settings)
    with database.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_quality CASCADE")
    database.migrate()
    export_corpus(settings)
    backend = load_encoder_backend(settings)
    embed_missing(database, backend)
    span_classes, log_classes = shape_classes(database, "otel_spans"), shape_classes(database, "otel_logs")
    print(f"corpus: {len(CLASSES)} classes, {len(span_classes)} span shapes, {len(log_classes)} log shapes, "
          f"{len(queries())} queries (stored and embedded in {time.perf_counter() - started:.0f} s)")
    naive_spans, naive_logs = naive_documents()
    print(f"{'':34} {'tuning P@3':>10} {'MRR@10':>7} {'held-out P@3':>13} {'MRR@10':>7}")
    with TelemetryQuery(settings) as query:
        for signal, naive, classes, logs in (("spans", naive_spans, span_classes, False),
                                             ("logs", naive_logs, log_classes, True)):
            rankers = {
                "raw model, naive text (baseline)": naive_ranker(backend, naive),
                "similar, method='vector'": package_ranker(query, classes, logs, "vector"),
                "similar, method='hybrid'": package_ranker(query, classes, logs, "hybrid"),
            }
            print(signal)
            for label, rank in rankers.items():
                show = args.show_tuning and label.endswith("'hybrid'")
                tuning = score(rank, [q for q in queries() if q.half == "tuning"], show)
                held_out = "" if args.tuning_only else "{:13.3f} {:7.3f}".format(
                    *score(rank, [q for q in queries() if q.half == "held-out"], False))
                print(f"  {label:32} {tuning[0]:10.3f} {tuning[1]:7.3f} {held_out}")
    database.close()


if __name__ == "__main__":
    main()
