"""The shape caches of deferred mode, measured: memory bounded in bytes, and released on shutdown.

Issue 11: with shape caches bounded by entry count (16,384), RSS went from 52 MB to 1,059 MB
after 1,000 spans with unique 1 MB status messages, and to 2,070 MB after 20,000 logs with
unique 60 KB bodies, and stayed there after shutdown. Here the same kind of workload runs in a
child process (tests/memory_workload.py) once with embeddings off and once deferred; the
difference between the two is what the shapes cost.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

SPANS = 500  # each with a unique 1 MB status message: 500 MB held before
LOGS = 2_000  # each with a unique 60 KB body: 120 MB held before
MIB = 1 << 20
# Two caches (the span and the log exporter's) of 16 MiB each as they count bytes, and half as
# much again for what their count leaves out (allocator rounding, dict growth).
CACHE_BOUND = 2 * 16 * MIB * 1.5


def run_workload(server_dsn: str, schema: str, embedding: str) -> dict[str, int]:
    script = Path(__file__).with_name("memory_workload.py")
    done = subprocess.run(
        [sys.executable, str(script), server_dsn, schema, embedding, str(SPANS), str(LOGS)],
        capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_unique_huge_messages_leave_shape_memory_bounded_and_released(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    off = run_workload(server_dsn, schema, "off")
    deferred = run_workload(server_dsn, schema, "deferred")

    # every record of both runs (and their warm-up records) is stored
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (2 * (SPANS + 1),)
    assert conn.execute("SELECT count(*) FROM otel_logs").fetchone() == (2 * (LOGS + 1),)
    shapes = deferred["traced_alive"] - off["traced_alive"]
    released = deferred["traced_after"] - off["traced_after"]
    rss_deferred, rss_off = deferred["rss_alive"], off["rss_alive"]
    print(
        f"\nshape memory, deferred minus off: traced {shapes / MIB:.1f} MiB with the exporters alive,"
        f" {released / MIB:.2f} MiB after shutdown; RSS growth deferred {rss_deferred / MIB:.0f} MiB,"
        f" off {rss_off / MIB:.0f} MiB (ratio {rss_deferred / max(rss_off, 1):.2f})"
    )
    assert shapes < CACHE_BOUND
    assert released < MIB
