"""What the data directory of the embedded server says about it, and its inter-process lock.

* ``postmaster.pid`` (PostgreSQL's): whether a server runs there, its pid, socket and TCP address.
* ``.otel-pgvector-processes``: the processes using the server, one a line, each named by its
  pid and, where ``/proc`` tells it, its start time. A process that died without letting go is
  skipped, never trusted: its pid must name a live process (not a zombie) that started when it did,
  so a later process given the same pid is not taken for it either.
* ``.otel-pgvector-server``: who started the running server, and whether it is *pinned*
  (``otel-pgvector db start``: it runs until ``otel-pgvector db stop``, whoever exits).

These files are read and written under :func:`locked`, an ``flock`` on the data directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from .embedded_access import ServerAccount, TcpListener, write_private

_PROCESSES = ".otel-pgvector-processes"
_SERVER = ".otel-pgvector-server"
_PROC = Path("/proc/self/stat").exists()  # Linux: process start times and states


@dataclass(frozen=True)
class Running:
    """A server running in a data directory, as its ``postmaster.pid`` describes it."""

    pid: int
    socket_dir: Path
    port: int
    listen_address: str  # the first entry of listen_addresses; empty without a TCP listener
    started_at: float  # seconds since the epoch

    @property
    def dsn(self) -> str:
        """The URI of its socket (peer authentication: no password)."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/postgres?host={host}&port={self.port}"

    @property
    def listener(self) -> TcpListener | None:
        """Its TCP address, if it has one this package can describe."""
        try:
            return TcpListener(self.listen_address, self.port) if self.listen_address else None
        except ValueError:  # a list of addresses, set by hand: PostgreSQL records the first one
            return None


def read_running(data_dir: Path) -> Running | None:
    """The server running in ``data_dir``, from its ``postmaster.pid``; None when there is none."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    # pid, data directory, start time, port, socket directory, listen address, shared memory, status
    if len(lines) < 8 or lines[7].strip() != "ready" or process_key(int(lines[0])) is None:
        return None
    running = Running(int(lines[0]), Path(lines[4]), int(lines[3]), lines[5].strip(), float(lines[2]))
    return running if (running.socket_dir / f".s.PGSQL.{running.port}").exists() else None


@contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Hold the inter-process lock of the server in ``data_dir``: an ``flock`` on the directory."""
    import fcntl  # POSIX only; the embedded server refuses Windows before this is reached

    descriptor = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def process_key(pid: int) -> str | None:
    """How the list of users names process ``pid``: ``"<pid> <start time>"`` where ``/proc``
    tells the start time, else ``"<pid>"``; None when no such process runs (a zombie does not)."""
    if not _PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, as another user
        return str(pid)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # after the command name: state (field 3 of proc(5)), ..., starttime (field 22)
    return None if fields[0] in ("Z", "X") else f"{pid} {fields[19]}"


def _still_running(key: str) -> bool:
    try:
        pid = int(key.split()[0])
    except (IndexError, ValueError):
        return False
    now = process_key(pid)
    # a key without a start time was written where /proc is missing: its pid is all there is
    return now is not None and (now == key or " " not in key)


def attached(data_dir: Path) -> set[str]:
    """The keys of the processes using the server that are still running."""
    try:
        listed = (data_dir / _PROCESSES).read_text().splitlines()
    except FileNotFoundError:
        return set()
    return {key for key in listed if _still_running(key)}


def record_attached(data_dir: Path, keys: set[str], account: ServerAccount) -> None:
    write_private(data_dir / _PROCESSES, "".join(f"{key}\n" for key in sorted(keys)), account)


def pid_of(key: str) -> int:
    return int(key.split()[0])


@dataclass(frozen=True)
class ServerRecord:
    """Who started the server whose postmaster is ``postmaster_pid``, and whether it is pinned."""

    postmaster_pid: int
    started_by: str
    pinned: bool


def read_record(data_dir: Path, running: Running) -> ServerRecord | None:
    """The record of the running server; None when there is none, or it is of an earlier one."""
    try:
        record = ServerRecord(**json.loads((data_dir / _SERVER).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return record if record.postmaster_pid == running.pid else None


def write_record(data_dir: Path, record: ServerRecord, account: ServerAccount) -> None:
    write_private(data_dir / _SERVER, json.dumps(asdict(record)) + "\n", account)


def forget_server(data_dir: Path) -> None:
    """Remove the list of users and the record of a server that stopped: they were of that server."""
    for name in (_PROCESSES, _SERVER):
        (data_dir / name).unlink(missing_ok=True)


def disk_usage(directory: Path) -> int:
    """Bytes allocated on disk to the files under ``directory`` (files the server adds or removes
    meanwhile are counted or not)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total
