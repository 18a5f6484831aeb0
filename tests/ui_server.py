"""``otel-pgvector ui`` as a user runs it: the installed script in a process of its own.

The server is started on port 0 (a free port: tests run in parallel sessions), its URL read
from the line it prints, and stopped with SIGINT, as Ctrl-C does; stopping checks the CLI's
convention for an interruption (exit status 130, one line on stderr, no traceback).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

OTEL_PGVECTOR = Path(sys.executable).parent / "otel-pgvector"
_ANNOUNCED = re.compile(r"^otel-pgvector ui: serving (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops it\)$")
# The server answers within this after printing its URL (its socket listens before the print);
# the bound is for a broken start, which would otherwise hang the test.
START_SECONDS = 120


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: str


def fetch(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Response:
    """One request; an HTTP error status is an answer too, not an exception."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return Response(answer.status, dict(answer.headers), answer.read().decode())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), error.read().decode())


@contextmanager
def running_ui(env: Mapping[str, str], *args: str) -> Iterator[str]:
    """``otel-pgvector ui ARGS --port 0`` running until the block ends; yields its URL.

    ``--port 0`` comes last, so it wins over a port ``ARGS`` names (a documented command's)."""
    process = subprocess.Popen(
        [str(OTEL_PGVECTOR), "ui", *args, "--port", "0"], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()  # blocks until the URL, or EOF if it failed
        match = _ANNOUNCED.match(line)
        if match is None:
            process.kill()
            _, stderr = process.communicate(timeout=START_SECONDS)
            raise AssertionError(f"otel-pgvector ui printed {line!r}, stderr: {stderr}")
        yield match[1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=START_SECONDS)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "otel-pgvector: interrupted", stderr  # click starts it on a new line
    assert stdout == ""
