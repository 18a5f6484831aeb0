"""Python function calls per record in ``export()``, and exporter CPU against the OTLP encoding.

    python benchmarks/python_calls.py [--dsn postgresql://...] [--batches 10]

The call count (cProfile's, over ``--batches`` exports after a warm-up) does not depend on the
machine's load, unlike CPU time: it shows how much Python work a change removed when the CPU
ratios drown in noise. The CPU ratio beside it is the median over the same number of further
exports of ``time.process_time()`` around ``export()`` over that around the OTLP protobuf
encoding of the same batch. Records: the metric collection and log records of
``log_metric_throughput.py`` and the spans of ``export_throughput.py``; embeddings off.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_throughput import BATCH, realistic_spans
from log_metric_throughput import realistic_logs, realistic_metrics

from opentelemetry_exporter_pgvector import (
    PgvectorLogExporter,
    PgvectorMetricExporter,
    PgvectorSettings,
    PgvectorSpanExporter,
)
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory


def measure(exporter: Any, warm_up: Any, profiled: list[Any], timed: list[Any], size: int,
            encode: Any) -> tuple[float, float]:
    """(Python calls per record, median exporter CPU over OTLP encode CPU)."""
    exporter.export(warm_up)
    profile = cProfile.Profile()
    profile.enable()
    for batch in profiled:
        exporter.export(batch)
    profile.disable()
    calls = pstats.Stats(profile).total_calls / (len(profiled) * size)  # type: ignore[attr-defined]
    ratios = []
    for batch in timed:
        started = time.process_time()
        encode(batch).SerializeToString()
        otlp = time.process_time() - started
        started = time.process_time()
        exporter.export(batch)
        ratios.append((time.process_time() - started) / otlp)
    exporter.shutdown()
    return calls, statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    base = {"dsn": args.dsn, "embedded_dir": server_parent_directory(prefix="otel-pgvector-bench-") / "pg",
            "embedding": "off"}
    n = args.batches

    def settings(signal: str) -> PgvectorSettings:
        return PgvectorSettings(**base, schema=f"bench_calls_{signal}_{os.getpid()}")

    data, points = realistic_metrics()
    logs = realistic_logs(BATCH * n)
    log_batches = [logs[i : i + BATCH] for i in range(0, len(logs), BATCH)]
    spans = realistic_spans(BATCH * (2 * n + 1))  # spans have a primary key: each exported once
    span_batches = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]
    results = {
        "metric point": measure(PgvectorMetricExporter(settings("metrics")), data, [data] * n, [data] * n,
                                points, encode_metrics),
        "log record": measure(PgvectorLogExporter(settings("logs")), log_batches[0], log_batches,
                              log_batches, BATCH, encode_logs),
        "span": measure(PgvectorSpanExporter(settings("spans")), span_batches[0], span_batches[1 : n + 1],
                        span_batches[n + 1 :], BATCH, encode_spans),
    }
    for record, (calls, ratio) in results.items():
        print(f"{record}: {calls:.1f} Python calls per record in export(); "
              f"exporter CPU x OTLP encode {ratio:.2f}")


if __name__ == "__main__":
    main()
