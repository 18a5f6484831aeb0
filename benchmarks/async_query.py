"""The async client against the sync one, and the ``trace`` command's reads, one run.

    python benchmarks/async_query.py [--spans 100000] [--repeat 30] [--dsn postgresql://...]

Fills a fresh embedded server (or ``--dsn``) with ``benchmarks/query.py``'s traces (5-50 spans
across six services, one in 2,000 of 1,000 spans, over 24 hours) and one log record per four
spans over the last hour, then
times each read of the list below through ``TelemetryQuery`` and through ``AsyncTelemetryQuery``
(one event loop, awaited one at a time, as a request handler would). Each of the ``--repeat``
rounds times the baseline (a primary-key lookup of one span through the sync SQL hatch), the
sync call and the async call in turn, so each ratio is of neighbouring measurements (the
machine's load drifts); printed are the medians of the per-round ratios. A method the async
client lacks is left out, so the script also runs against a tree before its async twins.

"trace command's reads" is what ``otel-pgvector trace`` asks: ``trace_context`` alone where
``TraceContext.as_trace`` exists, else ``trace_context`` then ``get_trace`` (the spans twice).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from query import SERVICES, fill

from opentelemetry_exporter_pgvector import (
    AsyncTelemetryQuery,
    PgvectorLogExporter,
    PgvectorSettings,
    TelemetryQuery,
)
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory


def fill_logs(settings: PgvectorSettings, count: int) -> None:
    """``count`` log records over the last hour, spread over the services, a tenth warnings."""
    now = time.time_ns()
    per_service = count // len(SERVICES)
    for service in SERVICES:
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        provider.add_log_record_processor(BatchLogRecordProcessor(PgvectorLogExporter(settings),
                                                                  max_export_batch_size=512))
        logger = provider.get_logger("benchmarks.async_query")
        for index in range(per_service):
            at = now - (index * 3_600_000_000_000) // per_service
            warning = index % 10 == 0
            outcome = "slow" if warning else "served"
            logger.emit(body=f"order {index} of {service} {outcome} in {index % 97} ms",
                        timestamp=at, observed_timestamp=at,
                        severity_number=SeverityNumber.WARN if warning else SeverityNumber.INFO)
        provider.shutdown()


def cases(big: str, now: dt.datetime) -> list[tuple[str, str, dict[str, Any]]]:
    day = now - dt.timedelta(hours=24)
    return [
        ("get_trace, 1,000 spans", "get_trace", {"trace_id": big}),
        ("trace_context, 1,000 spans", "trace_context", {"trace_id": big}),
        ("find_traces, service, 1 h", "find_traces", {"service": "frontend"}),
        ("errors, 24 h", "errors", {"since": day}),
        ("search_logs, service, 1 h", "search_logs", {"service": "payments"}),
        ("service_summary, 24 h", "service_summary", {"since": day}),
        ("storage_stats (estimates)", "storage_stats", {}),
        ("sql, one span by key", "sql", {}),  # filled in below: the baseline's statement
    ]


def clock(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


async def clock_async(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def trace_command_reads(query: TelemetryQuery, trace_id: str) -> None:
    context = query.trace_context(trace_id)
    if hasattr(context, "as_trace"):
        context.as_trace()
    else:
        query.get_trace(trace_id)


Case = tuple[str, Callable[[], object], Callable[[], Awaitable[object]] | None]
Ratios = tuple[str, float, float | None, float | None]


async def measure(settings: PgvectorSettings, measured: list[tuple[str, str, dict[str, Any]]],
                  baseline: Callable[[TelemetryQuery], object], big: str, repeat: int) -> list[Ratios]:
    """Per case: the medians of sync / baseline, async / baseline and async / sync."""
    with TelemetryQuery(settings) as query:
        async with AsyncTelemetryQuery(settings) as async_query:
            cases: list[Case] = [
                (label, functools.partial(getattr(query, name), **kwargs),
                 functools.partial(getattr(async_query, name), **kwargs)
                 if hasattr(async_query, name) else None)
                for label, name, kwargs in measured
            ]
            cases.append(("trace command's reads, 1,000", functools.partial(trace_command_reads, query, big),
                          None))
            return [await _ratios(case, functools.partial(baseline, query), repeat) for case in cases]


async def _ratios(case: Case, baseline: Callable[[], object], repeat: int) -> Ratios:
    label, call, async_call = case
    call()  # warm-ups
    if async_call is not None:
        await async_call()
    to_sync, to_async, async_to_sync = [], [], []
    for _ in range(repeat):
        base, sync = clock(baseline), clock(call)
        to_sync.append(sync / base)
        if async_call is not None:
            asynchronous = await clock_async(async_call)
            to_async.append(asynchronous / base)
            async_to_sync.append(asynchronous / sync)
    if async_call is None:
        return label, statistics.median(to_sync), None, None
    return label, statistics.median(to_sync), statistics.median(to_async), statistics.median(async_to_sync)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    workdir = server_parent_directory(prefix="otel-pgvector-bench-")
    settings = PgvectorSettings(dsn=args.dsn, embedded_dir=workdir / "pg", embedding="off", timeout=60,
                                schema="bench_async", pool_max_size=2)
    big = f"{fill(settings, args.spans):032x}"
    fill_logs(settings, args.spans // 4)
    now = dt.datetime.now(dt.timezone.utc)
    with Database(settings).connect() as conn:  # the steady state autovacuum keeps
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE bench_async.otel_spans")
        conn.execute("VACUUM ANALYZE bench_async.otel_logs")
    lookup = "SELECT * FROM otel_spans WHERE trace_id = %s::uuid AND span_id = %s AND start_time = %s"
    with TelemetryQuery(settings) as query:
        one = list(query.sql(
            "SELECT otel_trace_id_hex(trace_id), span_id, start_time FROM otel_spans LIMIT 1").rows[0])
    measured = cases(big, now)
    measured[-1] = ("sql, one span by key", "sql", {"query": lookup, "params": one})
    results = asyncio.run(measure(settings, measured, lambda query: query.sql(lookup, one), big, args.repeat))
    print("baseline: a primary-key lookup of one span through the sync SQL hatch, in each round")
    print(f"{'query':32} {'sync x lookup':>14} {'async x lookup':>15} {'async / sync':>13}")
    for label, sync, async_, versus in results:
        async_cell = f"{async_:15.1f}" if async_ is not None else f"{'-':>15}"
        versus_cell = f"{versus:13.2f}" if versus is not None else f"{'-':>13}"
        print(f"{label:32} {sync:14.1f} {async_cell} {versus_cell}")


if __name__ == "__main__":
    main()
