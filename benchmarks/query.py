"""Read-side latency at scale: p50/p95 of each query against a primary-key lookup, one run.

    python benchmarks/query.py [--spans 1000000] [--repeat 30] [--dsn postgresql://...]

Fills a fresh embedded server (or ``--dsn``) through the real exporter with realistic traces
of 5-50 spans across six services (a few of 1,000 spans), spread over the last 24 hours,
about 4 % failing, with HTTP and DB attributes, and one log record per four spans beside
them; then times each query ``--repeat`` times and prints p50/p95 and their ratio to the
baseline, a primary-key lookup of one span measured in the same run. Targets (docs/
benchmarks.md, issue 13): ``get_trace`` of a 1,000-span trace p95 <= 50 ms; ``find_traces``
with a service + attribute + min-duration filter over the last hour p95 <= 100 ms; ``errors``
and ``red`` over 24 h <= 500 ms; the same bounds for what the Grafana dashboards run (issue 14):
the 1,000-span trace's frame, and RED over 24 h in one-minute steps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from opentelemetry_exporter_pgvector import PgvectorSettings, PgvectorSpanExporter, TelemetryQuery
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory

SERVICES = ("frontend", "checkout", "payments", "inventory", "shipping", "search")
ROUTES = ("/api/checkout", "/api/orders/{id}", "/api/search", "/api/cart", "/health")
SCOPE = InstrumentationScope("benchmarks.query", "1.0")
BATCH = 512
MS = 1_000_000


def _trace(rng: random.Random, trace_id: int, start_ns: int, size: int,
           resources: dict[str, Resource]) -> list[ReadableSpan]:
    """One trace: a SERVER root, then SERVER/CLIENT/INTERNAL children across services."""
    spans: list[ReadableSpan] = []
    failing = rng.random() < 0.04
    route = rng.choice(ROUTES)
    root_ms = rng.lognormvariate(3.5, 0.8)
    for index in range(size):
        service = SERVICES[0] if index == 0 else rng.choice(SERVICES[1:])
        parent = None if index == 0 else rng.randrange(1, index + 1)
        kind = SpanKind.SERVER if index == 0 or rng.random() < 0.3 else rng.choice(
            (SpanKind.CLIENT, SpanKind.INTERNAL))
        offset_ms = 0.0 if index == 0 else rng.uniform(0, root_ms * 0.8)
        duration_ms = root_ms if index == 0 else rng.uniform(0.1, root_ms - offset_ms)
        error = failing and index == size - 1
        attributes: dict[str, Any] = (
            {
                "http.request.method": "POST",
                "http.route": route,
                "http.response.status_code": 500 if failing else 200,
                "customer.tier": rng.choice(("free", "pro")),
            }
            if index == 0
            else {"db.system.name": "postgresql", "db.operation.name": "SELECT"}
            if kind is SpanKind.CLIENT
            else {"work.item": index}
        )
        start = start_ns + int(offset_ms * MS)
        events = (
            (
                Event(
                    "exception",
                    {
                        "exception.type": rng.choice(("TimeoutError", "KeyError")),
                        "exception.message": "payments-db timed out after 5000 ms",
                    },
                    timestamp=start,
                ),
            )
            if error
            else ()
        )
        spans.append(
            ReadableSpan(
                name=route if index == 0 else f"{service} op {index % 7}",
                context=SpanContext(trace_id, index + 1, is_remote=False, trace_flags=TraceFlags(1)),
                parent=SpanContext(trace_id, parent, is_remote=False) if parent is not None else None,
                resource=resources[service],
                attributes=attributes,
                events=events,
                kind=kind,
                status=Status(StatusCode.ERROR, "payments-db timed out")
                if error
                else Status(StatusCode.UNSET),
                start_time=start,
                end_time=start + int(duration_ms * MS),
                instrumentation_scope=SCOPE,
            )
        )
    return spans


def fill(settings: PgvectorSettings, total: int, seed: int = 5) -> int:
    """Export about ``total`` spans over the last 24 hours; return a 1,000-span trace's id."""
    rng = random.Random(seed)
    resources = {service: Resource.create({"service.name": service}) for service in SERVICES}
    now = time.time_ns()
    exporter = PgvectorSpanExporter(settings)
    big = 0
    written = 0
    pending: list[ReadableSpan] = []
    trace_id = 1 << 100
    try:
        while written + len(pending) < total:
            trace_id += 1
            big_trace = trace_id % 2000 == 0
            size = 1000 if big_trace else rng.randint(5, 50)
            if big_trace and not big:
                big = trace_id
            # the first 1,000-span trace started ten minutes ago, inside every window measured
            start = now - 600_000 * MS if trace_id == big else now - rng.randrange(24 * 3600 * 1000) * MS
            pending.extend(_trace(rng, trace_id, start, size, resources))
            while len(pending) >= BATCH:
                batch, pending = pending[:BATCH], pending[BATCH:]
                assert exporter.export(batch).name == "SUCCESS"
                written += len(batch)
        if pending:
            assert exporter.export(pending).name == "SUCCESS"
            written += len(pending)
    finally:
        exporter.shutdown()
    return big


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 of ``call`` in milliseconds over ``repeat`` runs, after one warm-up."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    workdir = server_parent_directory(prefix="otel-pgvector-bench-")
    settings = PgvectorSettings(
        dsn=args.dsn,
        embedded_dir=workdir / "pg",
        embedding="off",
        timeout=60,
        schema="bench_query",
        pool_max_size=2,
    )
    started = time.monotonic()
    big = fill(settings, args.spans)
    print(f"filled {args.spans} spans in {time.monotonic() - started:.0f} s")
    now = dt.datetime.now(dt.timezone.utc)
    with TelemetryQuery(settings) as query:
        query.sql("SELECT 1")
        with Database(settings).connect() as conn:  # the steady state autovacuum keeps
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE bench_query.otel_spans")
        one = query.sql(
            "SELECT otel_trace_id_hex(trace_id), span_id, start_time FROM otel_spans LIMIT 1"
        ).rows[0]
        lookup = "SELECT * FROM otel_spans WHERE trace_id = %s::uuid AND span_id = %s AND start_time = %s"
        cases: list[tuple[str, Callable[[], object], float | None]] = [
            ("primary-key lookup of one span (baseline)", lambda: query.sql(lookup, list(one)), None),
            ("get_trace, 1,000 spans", lambda: query.get_trace(f"{big:032x}"), 50.0),
            (
                "find_traces service+attribute+min duration, 1 h",
                lambda: query.find_traces(
                    service="frontend",
                    attributes={"customer.tier": "pro"},
                    min_duration=50,
                    since=now - dt.timedelta(hours=1),
                ),
                100.0,
            ),
            ("errors, 24 h", lambda: query.errors(since=now - dt.timedelta(hours=24)), 500.0),
            ("red by service, 24 h", lambda: query.red(since=now - dt.timedelta(hours=24)), 500.0),
            ("service_map, 1 h", lambda: query.service_map(since=now - dt.timedelta(hours=1)), None),
            # what the Grafana dashboards run (docs/grafana.md): the Traces panel's frame, and
            # the Overview's RED panel over 24 h in one-minute steps (Grafana's 1440 points)
            (
                "Grafana trace frame, 1,000 spans",
                lambda: query.sql("SELECT * FROM otel_trace_for_grafana(%s)", [f"{big:032x}"]),
                50.0,
            ),
            (
                "Grafana RED panel, 24 h in 1 min steps",
                lambda: query.sql(
                    "SELECT * FROM otel_red(%s, %s, interval '1 minute')",
                    [now - dt.timedelta(hours=24), now],
                    limit=100_000,
                ),
                500.0,
            ),
        ]
        results = [(name, *timed(call, args.repeat), target) for name, call, target in cases]
    print_report("query", results)


def print_report(label: str, results: list[tuple[str, float, float, float | None]]) -> None:
    """One line per case: p50 and p95 (ms), p50 over the first case's (the baseline), and the
    verdict against its p95 target, if it has one."""
    width = max(len(label), *(len(name) for name, *_ in results))
    baseline = results[0][1]
    print(f"{label:{width}} {'p50 ms':>8} {'p95 ms':>8} {'x lookup p50':>13} {'target p95':>12}")
    for name, p50, p95, target in results:
        verdict = "" if target is None else f"<= {target:g} {'ok' if p95 <= target else 'MISSED'}"
        print(f"{name:{width}} {p50:8.2f} {p95:8.2f} {p50 / baseline:13.1f} {verdict:>12}")


if __name__ == "__main__":
    main()
