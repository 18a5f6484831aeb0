"""``otel-pgvector ui`` over HTTP, without a browser: its safety defaults and its errors.

The server runs as the installed script (``ui_server.running_ui``) against a schema holding
two traces from ``trace_factory``; each test states its expectation literally. The browser
tests (tests/test_ui_browser.py) check what the pages show; these check what the server
refuses, and that the command follows the CLI's error convention.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from trace_factory import TRACE_A, checkout_trace, export
from ui_server import OTEL_PGVECTOR, fetch, running_ui

from opentelemetry_exporter_pgvector.config import ENV_PREFIX, PgvectorSettings

pytest.importorskip("starlette", reason="needs the ui extra")


@pytest.fixture
def env(settings: PgvectorSettings, server_dsn: str, schema: str) -> dict[str, str]:
    export(settings, checkout_trace(TRACE_A, 30, "TimeoutError"))
    return {ENV_PREFIX + "DSN": server_dsn, ENV_PREFIX + "SCHEMA": schema}


@pytest.fixture
def url(env: dict[str, str]) -> Iterator[str]:
    with running_ui(env) as served:
        yield served


def test_it_listens_on_loopback_only_and_pages_answer(url: str) -> None:
    assert url.startswith("http://127.0.0.1:")
    page = fetch(url + "traces")
    assert page.status == 200
    assert f"{TRACE_A:032x}" in page.body
    assert fetch(url).status == 200  # / redirects to the trace list


def test_nothing_is_written_over_http(url: str) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert fetch(url + "traces", method=method).status == 405


def test_the_sql_page_exists_only_when_allowed(url: str, env: dict[str, str], server_dsn: str,
                                               schema: str) -> None:
    assert fetch(url + "sql?q=SELECT+1").status == 404
    assert 'href="/sql"' not in fetch(url + "traces").body
    with running_ui(env, "--allow-sql") as allowed:
        answer = fetch(allowed + "sql?q=SELECT+count(*)+AS+spans+FROM+otel_spans")
        assert answer.status == 200 and re.search(r"<td>4</td>", answer.body), answer.body
        refused = fetch(allowed + "sql?q=DELETE+FROM+otel_spans")
        assert refused.status == 400 and 'class="problem"' in refused.body
    with psycopg.connect(server_dsn) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}".otel_spans').fetchone() == (4,)


def test_a_foreign_host_name_is_refused(url: str) -> None:
    """A page whose DNS name was rebound to 127.0.0.1 cannot read the answers."""
    assert fetch(url + "traces", headers={"Host": "attacker.example"}).status == 400
    assert fetch(url.replace("127.0.0.1", "localhost") + "traces").status == 200


def test_every_answer_forbids_inline_script(url: str) -> None:
    for path in ("traces", "static/ui.js", "traces/" + "0" * 31 + "1"):
        policy = fetch(url + path).headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy


def test_bad_filters_and_ids_are_one_line_on_the_page(url: str) -> None:
    cases = {
        "traces?min_duration=abc": (400, "min_duration must be a number of milliseconds, got &#39;abc&#39;"),
        "traces?status=BROKEN": (400, "status must be one of UNSET, OK, ERROR, got &#39;BROKEN&#39;"),
        "traces?since=1y": (400, "since must be one of 15m, 1h, 6h, 24h, 7d, 30d, got &#39;1y&#39;"),
        "traces?attr=novalue": (400, "attr &#39;novalue&#39; is not KEY=VALUE"),
        "traces/xyz": (400, "not a trace id (32 hex digits): &#39;xyz&#39;"),
        "traces/4bf92f3577b34da6a3ce929d0e0e4736": (404, "no spans of trace 4bf92f3577b34da6a3ce929d0e0e"),
        f"traces/{TRACE_A:032x}/spans/00f067aa0ba902b7": (404, "span 00f067aa0ba902b7 is not stored"),
        "errors?group_by=colour": (400, "group_by must be one of"),
        "logs?severity=loud": (400, "unknown severity"),
        "metrics?agg=p42": (400, "agg must be one of"),
    }
    for path, (status, message) in cases.items():
        page = fetch(url + path)
        assert page.status == status, (path, page.body)
        problem = re.search(r'<p class="problem" role="alert">(.*?)</p>', page.body)
        assert problem is not None and message in problem[1], (path, page.body)


def test_the_command_refuses_bad_ports_in_one_line(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(OTEL_PGVECTOR), "ui", "--port", str(port)], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (f"otel-pgvector: cannot listen on 127.0.0.1:{port} (Address already in use);"
                           " choose another with --port (0 picks a free one)\n")
    for bad in ("-1", "65536", "http"):
        done = subprocess.run([str(OTEL_PGVECTOR), "ui", "--port", bad], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--port" in done.stderr, done.stderr


def test_without_the_ui_extra_the_command_names_it(env: dict[str, str]) -> None:
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from opentelemetry_exporter_pgvector.cli.main import main\n"
            "main(['ui', '--port', '0'])")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("otel-pgvector: this needs the 'ui' extra (no module named 'uvicorn'): "
                           "pip install 'opentelemetry-exporter-pgvector[ui]'\n")



def test_open_launches_the_browser_on_the_printed_url(env: dict[str, str], tmp_path: Path) -> None:
    """``--open`` goes through Python's ``webbrowser``, which runs ``$BROWSER`` (here a script
    that writes down the URL it was given, as a browser would be handed it)."""
    opened = tmp_path / "opened"
    write_then_rename = ("import os, sys; open(sys.argv[1] + '.part', 'w').write(sys.argv[2]);"
                         " os.replace(sys.argv[1] + '.part', sys.argv[1])")  # never seen half written
    browser = shlex.join([sys.executable, "-c", write_then_rename, str(opened)]) + " %s"
    with running_ui({**env, "BROWSER": browser}, "--open") as url:
        deadline = time.monotonic() + 60  # a liveness bound: the browser command starts at once
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text() == url
