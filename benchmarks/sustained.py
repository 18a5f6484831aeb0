"""The sustained-ingest knee: the highest request rate a gunicorn app holds with nothing dropped.

    python benchmarks/sustained.py [--modes noop,off,deferred,inline] [--seconds 10] [--workers 2]
                                   [--start-rate 100] [--factor 1.5] [--bisect 2] [--dsn postgresql://...]

The app is ``benchmarks/sustained_app.py`` under gunicorn (sync workers, ``--workers``
processes, each building its providers and exporters after the fork in ``post_fork``); every
request makes five spans, three log lines and four metric updates, through the SDK's batch
processors with their default settings. A load generator in this process (asyncio, one
connection per request on loopback, open loop: requests are sent on schedule whether or not
earlier ones were answered) drives it at a target rate for ``--seconds``.

A step holds when the app answered at least 97 % of the target rate with no failed request,
the batch processors dropped nothing (every span and log record produced reached
``export()``), no export failed, and every exported span and record is in the database. The
knee of a mode is the highest rate that holds: the rate is raised by ``--factor`` from
``--start-rate`` until a step fails, then bisected ``--bisect`` times. The modes are searched
together (at each rate, every mode still holding runs once, one after the other), so that the
load other processes put on the machine falls on them alike. Each step runs a fresh
gunicorn (so queues, pools and encoders start empty) against tables emptied beforehand.

Modes: ``noop`` is the baseline, the same app and SDK pipeline with exporters that discard
their batches: its knee is the app's own limit on this machine. ``off``, ``deferred`` and
``inline`` are the pgvector exporters with that ``EMBEDDING`` setting. The figure is each
mode's knee as a ratio of the noop knee measured in the same run; beside it, noop's CPU per
request over the mode's (app processes and PostgreSQL; the median over the rates where both
held, each listed), which predicts the knee ratio of a machine the app saturates and is less
disturbed by other load than the knee itself. Printed per step:
spans/s produced, the share of them that landed, dropped records, request latency, the span
exporter's ``export()`` p50/p99, CPU (cores) of the app's processes, of PostgreSQL and of the
load generator, and CPU per request. Each step starts with a 2 s warm-up at 20 requests/s
(connections, first exports, the model in inline mode) and ``--settle`` idle seconds, outside
the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from psycopg import sql

from opentelemetry_exporter_pgvector import PgvectorSettings
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import (
    embedded_server_dsn,
    embedded_server_status,
    server_parent_directory,
)

HERE = Path(__file__).resolve().parent
APP = HERE / "sustained_app.py"
HOLDS_SHARE = 0.97  # of the target rate the app must answer
WARM_UP_RATE, WARM_UP_SECONDS = 20.0, 2.0
SPANS_PER_REQUEST = 5  # as sustained_app.py makes them
TABLES = ("otel_spans", "otel_logs", "otel_metric_points")


@dataclass
class Load:
    """What the load generator saw."""

    sent: int = 0
    answered: int = 0
    failed: int = 0  # connection errors, timeouts, or a status other than 200 and the app's own 500s
    skipped: int = 0  # not sent: too many requests already in flight
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)


@dataclass
class Step:
    mode: str
    rate: float
    load: Load
    workers: list[dict[str, object]]
    landed_spans: int | None
    landed_logs: int | None
    app_cpu: float
    db_cpu: float
    client_cpu: float

    def total(self, key: str) -> int:
        return sum(int(worker[key]) for worker in self.workers)  # type: ignore[call-overload]

    @property
    def achieved(self) -> float:
        return self.load.answered / self.load.elapsed if self.load.elapsed else 0.0

    @property
    def spans_per_second(self) -> float:
        """Spans the app produced a second in the measured window."""
        return self.load.answered * SPANS_PER_REQUEST / self.load.elapsed if self.load.elapsed else 0.0

    @property
    def dropped(self) -> int:
        return (self.total("spans_produced") - self.total("spans_exported")
                + self.total("logs_produced") - self.total("logs_exported"))

    @property
    def lost(self) -> int:
        """Exported but not in the database (failed exports, batches left spooled)."""
        if self.landed_spans is None or self.landed_logs is None:
            return 0
        exported = self.total("spans_exported") + self.total("logs_exported")
        return exported - self.landed_spans - self.landed_logs

    @property
    def holds(self) -> bool:
        return (self.achieved >= HOLDS_SHARE * self.rate and self.load.failed == 0 and self.load.skipped == 0
                and self.dropped == 0 and self.total("spans_failed") + self.total("logs_failed") == 0
                and self.lost == 0 and len(self.workers) > 0)

    def cpu_per_request_us(self) -> float:
        """CPU of the app's processes and PostgreSQL per answered request: what a saturated
        machine divides its cores by, so less disturbed by other load than the knee itself."""
        return (self.app_cpu + self.db_cpu) * self.load.elapsed / max(self.load.answered, 1) * 1e6

    def export_ms(self, quantile: float) -> float:
        seconds = sorted(s for worker in self.workers for s in worker["span_export_seconds"])  # type: ignore[attr-defined]
        if not seconds:
            return float("nan")
        return seconds[min(len(seconds) - 1, int(quantile * len(seconds)))] * 1000


async def _get(port: int, number: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/orders/{number} HTTP/1.1\r\nHost: shop.internal\r\nUser-Agent: knee/1\r\n"
                 "Connection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    return response


async def _request(port: int, number: int, load: Load, timeout: float) -> None:
    started = time.perf_counter()
    try:
        response = await asyncio.wait_for(_get(port, number), timeout)
    except (OSError, asyncio.TimeoutError):
        load.failed += 1
        return
    status = response[9:12]
    if status in (b"200", b"500"):  # the app fails one order in fifty on purpose
        load.answered += 1
        load.latencies.append(time.perf_counter() - started)
    else:
        load.failed += 1


async def _drive(port: int, rate: float, seconds: float, max_in_flight: int) -> Load:
    """Send ``rate`` requests a second for ``seconds``, on schedule (open loop)."""
    load = Load()
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[None]] = set()
    started = loop.time()
    for number in range(round(rate * seconds)):
        delay = started + number / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            load.skipped += 1
            continue
        load.sent += 1
        task = asyncio.create_task(_request(port, number, load, timeout=30))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    while in_flight:
        await asyncio.gather(*list(in_flight))
    load.elapsed = loop.time() - started
    return load


def _cpu(roots: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process in the trees under ``roots``."""
    seconds: dict[int, float] = {}
    for root in roots:
        try:
            parent = psutil.Process(root)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds[process.pid] = times.user + times.system
    return seconds


def _cores(before: dict[int, float], after: dict[int, float], elapsed: float) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items()) / elapsed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            time.sleep(0.1)
            continue
        # every worker has forked and run post_fork once the master has them all
        if len(psutil.Process(process.pid).children()) >= workers:
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start serving within 60 s")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="otel-pgvector-knee-"))
        if args.dsn:
            self.dsn, self.postmaster = args.dsn, None
        else:
            data_dir = server_parent_directory(prefix="otel-pgvector-knee-") / "pg"
            self.dsn = embedded_server_dsn(data_dir)  # this process keeps the server up
            self.postmaster = embedded_server_status(data_dir).pid
        self.databases: dict[str, Database] = {}
        self.steps: list[Step] = []

    def cpu_ratios(self, mode: str) -> list[float]:
        """noop's CPU per request over ``mode``'s at each rate where both held (the same rate:
        fixed costs such as idle threads weigh more at low rates)."""
        held = {(step.mode, step.rate): step for step in self.steps if step.holds}
        return [held["noop", rate].cpu_per_request_us() / step.cpu_per_request_us()
                for (held_mode, rate), step in sorted(held.items())
                if held_mode == mode and ("noop", rate) in held]

    def database(self, mode: str) -> Database:
        if mode not in self.databases:
            database = Database(PgvectorSettings(dsn=self.dsn, schema=f"knee_{mode}", embedding=mode))
            database.migrate()
            self.databases[mode] = database
        return self.databases[mode]

    def step(self, mode: str, rate: float) -> Step:
        stats_dir = Path(tempfile.mkdtemp(dir=self.workdir))
        env = dict(os.environ, KNEE_STATS_DIR=str(stats_dir),
                   KNEE_EXPORTER="noop" if mode == "noop" else "pgvector",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
        if mode != "noop":
            database = self.database(mode)
            with database.connect() as conn:
                tables = sql.SQL(", ").join(database.qualified(table) for table in TABLES)
                conn.execute(sql.SQL("TRUNCATE {}").format(tables))
                conn.commit()
            env.update(OTEL_EXPORTER_PGVECTOR_DSN=self.dsn, OTEL_EXPORTER_PGVECTOR_SCHEMA=f"knee_{mode}",
                       OTEL_EXPORTER_PGVECTOR_EMBEDDING=mode,
                       OTEL_EXPORTER_PGVECTOR_DLQ_DIR=str(stats_dir / "spool"))
        port = _free_port()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(APP), "--workers", str(self.args.workers),
             "--bind", f"127.0.0.1:{port}", "--backlog", "4096", "--graceful-timeout", "120",
             "--log-level", "warning", "sustained_app:app"],
            env=env, cwd=HERE,
        )
        try:
            _wait_until_serving(port, gunicorn, self.args.workers)
            # warm-up, outside the measured window: connections, the first exports, the model
            asyncio.run(_drive(port, WARM_UP_RATE, WARM_UP_SECONDS, self.args.max_in_flight))
            time.sleep(self.args.settle)
            roots = [gunicorn.pid]
            app_before, db_before = _cpu(roots), _cpu([self.postmaster] if self.postmaster else [])
            client_before, wall_before = time.process_time(), time.perf_counter()
            load = asyncio.run(_drive(port, rate, self.args.seconds, self.args.max_in_flight))
            elapsed = time.perf_counter() - wall_before
            app_cpu = _cores(app_before, _cpu(roots), elapsed)
            db_cpu = _cores(db_before, _cpu([self.postmaster] if self.postmaster else []), elapsed)
            client_cpu = (time.process_time() - client_before) / elapsed
        finally:
            gunicorn.send_signal(signal.SIGTERM)  # graceful: workers flush their exporters, then exit
            gunicorn.wait(timeout=300)
        workers = [json.loads(path.read_text()) for path in sorted(stats_dir.glob("worker-*.json"))]
        landed_spans = landed_logs = None
        if mode != "noop":
            database = self.database(mode)
            with database.connect() as conn:
                counts = sql.SQL("SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})")
                row = conn.execute(counts.format(database.qualified("otel_spans"),
                                                 database.qualified("otel_logs"))).fetchone()
            assert row is not None
            landed_spans, landed_logs = int(row[0]), int(row[1])
        step = Step(mode, rate, load, workers, landed_spans, landed_logs, app_cpu, db_cpu, client_cpu)
        _print_step(step)
        return step

    def knees(self, modes: list[str]) -> dict[str, Step | None]:
        """Every mode's knee, searched together: at each rate the modes that still hold run one
        after the other, so they share the machine's background load as evenly as they can."""
        best: dict[str, Step | None] = dict.fromkeys(modes)
        failed_at: dict[str, float] = {}
        rate = self.args.start_rate
        while rate <= self.args.max_rate and len(failed_at) < len(modes):
            for mode in modes:
                if mode not in failed_at:
                    self._record(self.step(mode, rate), best, failed_at)
            rate *= self.args.factor
        for _ in range(self.args.bisect):
            for mode in modes:
                if mode in failed_at:
                    low = best[mode].rate if best[mode] else 0.0  # type: ignore[union-attr]
                    middle = round((low + failed_at[mode]) / 2)
                    if low < middle < failed_at[mode]:
                        self._record(self.step(mode, middle), best, failed_at)
        return best

    def _record(self, step: Step, best: dict[str, Step | None], failed_at: dict[str, float]) -> None:
        self.steps.append(step)
        if step.holds:
            best[step.mode] = step
        else:
            failed_at[step.mode] = step.rate

    def close(self) -> None:
        for database in self.databases.values():
            database.close()


def _print_step(step: Step) -> None:
    landed = "-" if step.landed_spans is None else f"{step.landed_spans / step.total('spans_produced'):.3f}"
    latencies = sorted(step.load.latencies) or [float("nan")]
    p99 = latencies[int(0.99 * len(latencies))]
    latency = f"{statistics.median(latencies) * 1000:6.1f} {p99 * 1000:7.1f}"
    print(f"{step.mode:9} {step.rate:7.0f} {step.achieved:8.1f} {step.spans_per_second:9.0f} "
          f"{landed:>8} {step.dropped:8d} {step.load.failed + step.load.skipped:6d} {latency} "
          f"{step.export_ms(0.5):8.2f} {step.export_ms(0.99):8.2f} {step.app_cpu:6.2f} {step.db_cpu:6.2f} "
          f"{step.client_cpu:6.2f} {step.cpu_per_request_us():7.0f}  {'holds' if step.holds else 'FAILS'}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="noop,off,deferred,inline")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--start-rate", type=float, default=100.0, help="requests/s of the first step")
    parser.add_argument("--factor", type=float, default=1.5, help="rate multiplier between steps")
    parser.add_argument("--max-rate", type=float, default=20_000.0)
    parser.add_argument("--bisect", type=int, default=2, help="bisection steps after the first failure")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the warm-up and the measured window (the inline model loads)")
    parser.add_argument("--max-in-flight", type=int, default=512, help="requests the generator keeps open")
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",")]
    if unknown := set(modes) - {"noop", "off", "deferred", "inline"}:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if "inline" in modes:
        from opentelemetry_exporter_pgvector.embedding.encoder import load_encoder_backend

        load_encoder_backend(PgvectorSettings(embedding="inline"))  # the ONNX export, before any step

    bench = Bench(args)
    print(f"gunicorn: {args.workers} sync workers; {args.seconds:.0f} s per step; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':9} {'req/s':>7} {'answered':>8} {'spans/s':>9} {'landed':>8} {'dropped':>8} "
          f"{'failed':>6} {'lat p50':>6} {'lat p99':>7} {'exp p50':>8} {'exp p99':>8} {'app':>6} {'pg':>6} "
          f"{'client':>6} {'us/req':>7}")
    try:
        knees = bench.knees(modes)
    finally:
        bench.close()
    print(f"\nknee (highest rate that holds), load average now {os.getloadavg()[0]:.1f}:")
    baseline = knees.get("noop")
    for mode, best in knees.items():
        if best is None:
            print(f"  {mode:9} none held from {args.start_rate:.0f} req/s")
            continue
        seconds = best.load.elapsed
        ratio = f"{best.rate / baseline.rate:.2f}x noop" if baseline else ""
        if baseline and (cpu := bench.cpu_ratios(mode)):
            ratio += f"; CPU/request {statistics.median(cpu):.2f}x ({', '.join(f'{r:.2f}' for r in cpu)})"
        spans = best.load.answered * SPANS_PER_REQUEST
        print(f"  {mode:9} {best.rate:7.0f} req/s {best.spans_per_second:8.0f} spans/s  {ratio:44}  "
              f"app CPU {best.app_cpu:.2f} cores ({best.app_cpu * seconds / spans * 1e6:.0f} us/span), "
              f"PostgreSQL {best.db_cpu:.2f} cores, export() p50 {best.export_ms(0.5):.2f} ms "
              f"p99 {best.export_ms(0.99):.2f} ms")


if __name__ == "__main__":
    main()
