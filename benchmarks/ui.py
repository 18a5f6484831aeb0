"""``otel-pgvector ui`` page times at scale, against a primary-key lookup measured in the same run.

    python benchmarks/ui.py [--spans 1000000] [--repeat 20] [--dsn postgresql://...]

Fills a fresh embedded server (or ``--dsn``) as ``benchmarks/query.py`` does (its ``fill``:
traces of 5-50 spans over the last 24 hours, one in 2,000 of 1,000 spans), then serves the UI
(the same Starlette app and uvicorn server as the command, on 127.0.0.1) and times whole
HTTP GETs of the pages a person opens first: the trace list (default filters: the last hour,
50 traces) and a 1,000-span trace (its waterfall and logs; a span's details come on a click).
Each case runs ``--repeat`` times after a warm-up, in turn with the others; p50/p95 are
printed with their ratio to the baseline, a primary-key lookup of one span through
``TelemetryQuery.sql``, and beside them the queries alone (``find_traces``, ``get_trace``),
so the rendering's share shows. Target (issue 14): each page under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import fill, print_report  # benchmarks/query.py: the read-side benchmark's data and report

from opentelemetry_exporter_pgvector import PgvectorSettings, TelemetryQuery
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory
from opentelemetry_exporter_pgvector.ui.app import create_app
from opentelemetry_exporter_pgvector.ui.server import listen

TARGET_MS = 1000.0


def timed(calls: list[Callable[[], object]], repeat: int) -> list[tuple[float, float]]:
    """p50 and p95 in milliseconds of each of ``calls``, run in turn ``repeat`` times after one
    warm-up: interleaved, so a burst of load on the shared machine weighs on all of them alike."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, spent in zip(calls, times, strict=True):
            started = time.perf_counter()
            call()
            spent.append((time.perf_counter() - started) * 1000)
    return [(statistics.median(spent), sorted(spent)[min(repeat - 1, round(0.95 * (repeat - 1)))])
            for spent in times]


def get(url: str) -> int:
    """Fetch a page whole; its size in bytes (a failed page stops the benchmark)."""
    with urllib.request.urlopen(url, timeout=60) as answer:
        assert answer.status == 200, url
        return len(answer.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    workdir = server_parent_directory(prefix="otel-pgvector-bench-ui-")
    settings = PgvectorSettings(dsn=args.dsn, embedded_dir=workdir / "pg", embedding="off", timeout=60,
                                schema="bench_ui", pool_max_size=4)
    started = time.monotonic()
    big = f"{fill(settings, args.spans):032x}"
    print(f"filled {args.spans} spans in {time.monotonic() - started:.0f} s")
    with TelemetryQuery(settings) as query:
        with Database(settings).connect() as conn:  # the steady state autovacuum keeps
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE bench_ui.otel_spans")
        sock = listen(0)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(create_app(query), log_level="warning", access_log=False,
                                               lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        one = query.sql("SELECT otel_trace_id_hex(trace_id), span_id, start_time FROM otel_spans"
                        " LIMIT 1").rows[0]
        lookup = "SELECT * FROM otel_spans WHERE trace_id = %s::uuid AND span_id = %s AND start_time = %s"
        sizes = {"list": get(f"{base}/traces"), "trace": get(f"{base}/traces/{big}")}
        cases: list[tuple[str, Callable[[], object], float | None]] = [
            ("primary-key lookup of one span (baseline)", lambda: query.sql(lookup, list(one)), None),
            ("find_traces, last hour, 50 traces (query only)", lambda: query.find_traces(limit=50), None),
            (f"GET /traces: the trace list page ({sizes['list'] // 1024} KiB)",
             lambda: get(f"{base}/traces"), TARGET_MS),
            ("get_trace + logs_for_trace, 1,000 spans (queries only)",
             lambda: (query.get_trace(big), query.logs_for_trace(big)), None),
            (f"GET /traces/<id>: a 1,000-span trace page ({sizes['trace'] // 1024} KiB)",
             lambda: get(f"{base}/traces/{big}"), TARGET_MS),
        ]
        measured = timed([call for _, call, _ in cases], args.repeat)
        results = [(name, p50, p95, target)
                   for (name, _, target), (p50, p95) in zip(cases, measured, strict=True)]
        server.should_exit = True
        thread.join(timeout=30)
    print_report("page or query", results)


if __name__ == "__main__":
    main()
