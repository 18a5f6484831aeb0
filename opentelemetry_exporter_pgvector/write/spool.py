"""The dead-letter spool: batches the database did not take, kept on local disk until it does.

Layout. A spool directory belongs to one database and schema. Each process appends to its own
segment files, named ``<created ns>-<pid>-<token>-<seq>.seg`` so that sorting names sorts
segments oldest first, and holds an exclusive ``flock`` on ``owner-<pid>-<token>.lock`` while
it lives. No two processes ever append to one file; a process whose owner lock can be taken
is dead, and its segments are adopted (replayed) by the next process that looks.

Records. One record is one batch, CRC-checked, self-describing and never rewritten in place;
``spool_format.py`` holds the format and the scanner that reads it back, skipping (and
counting) torn and corrupt records. A record whose CRC matches but which does not decode to a
batch (a later format, a garbled payload) is moved to ``quarantine/`` in the spool directory,
counted, and never holds up the records after it. A batch the database refuses as a whole when
replayed is appended again at the end (``set_aside``), so the batches after it go first.

Durability (fsync policy). Every append is one ``write()`` to the segment, so a record
survives the death of the process (SIGKILL, OOM kill) as soon as it is appended: before
``export()`` returns, unless the batch was queued for the write-behind thread
(``write_behind.py``). With
``dlq_fsync_interval`` > 0 the data reaches the disk within that many seconds (the replayer
thread fsyncs), so an operating system crash or power loss can lose the last interval; with 0
every append is fsynced before ``export()`` returns, at the price of a disk flush per batch.

Bounds. The spool never exceeds ``max_bytes`` on disk: before appending, whole segments are
dropped oldest first and their unreplayed batches and rows counted exactly. Memory holds one
small entry per segment and at most one record being replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..convert.table import TableRows
from ..errors import SpoolError, SpoolRecordError
from ..forksafe import reset_after_fork
from .spool_format import ScannedRecord, decode_payload, encode_batch, frame, read_record, scan_segment

logger = logging.getLogger(__name__)

_MIN_SEGMENT = 64 * 1024
_MAX_SEGMENT = 16 * 1024 * 1024
QUARANTINE = "quarantine"  # subdirectory of records that do not decode: <segment>-<offset>.rec


@dataclass(frozen=True, eq=False)
class _AdoptedOwner:
    """A dead process whose segments this one adopted, and our descriptor holding its owner lock.

    The lock stays held until the last of its segments is replayed or dropped, so that no
    other process adopts them meanwhile.
    """

    name: str  # "<pid>-<token>", as in its file names
    lock_fd: int


@dataclass
class _Segment:
    path: Path
    created_ns: int
    size: int = 0
    records: int = 0  # valid records in the file
    rows: int = 0
    consumed: int = 0  # records replayed (or found corrupt) from the front
    consumed_rows: int = 0
    read_offset: int = 0
    fd: int | None = None  # open for appending: the active segment of this process
    adopted_from: _AdoptedOwner | None = None  # None: written by this process


@dataclass(frozen=True)
class SpooledBatch:
    """A batch read back from the spool for replay; hand it to ``ack`` or ``release``."""

    batch_id: bytes
    parts: list[TableRows]
    rows: int
    _segment: _Segment = field(repr=False)
    _end: int = field(repr=False)
    _payload: bytes = field(repr=False)  # appended again if the batch is set aside


@dataclass(frozen=True)
class SpoolStats:
    """The spool's size now and what it did since this process opened it."""

    directory: str
    segments: int
    bytes: int
    peak_bytes: int
    pending_batches: int
    pending_rows: int
    oldest_age_seconds: float | None
    spooled_batches: int = 0
    spooled_rows: int = 0
    replayed_batches: int = 0
    replayed_rows: int = 0
    duplicate_batches: int = 0
    dropped_batches: int = 0
    dropped_rows: int = 0
    corrupt_records: int = 0
    failed_appends: int = 0
    quarantined_records: int = 0  # decodable by CRC, not as a batch: kept in quarantine/
    set_aside_batches: int = 0  # refused as a whole when replayed: appended again behind the others


def _segment_name_parts(name: str) -> tuple[int, str] | None:
    """(created ns, owner) of a segment file name, or None if it is not one."""
    if not name.endswith(".seg"):
        return None
    pieces = name[:-4].split("-")
    if len(pieces) != 4 or not pieces[0].isdigit():
        return None
    return int(pieces[0]), f"{pieces[1]}-{pieces[2]}"


def inspect_directory(directory: Path) -> SpoolStats:
    """Size and contents of a spool directory as found on disk, by any process, without locking.

    It takes no lock and adopts nothing, so ``health()`` and ``otel-pgvector dlq`` can look
    while exporters of running processes append; a count can be a record behind theirs.
    """
    segments = bytes_total = batches = rows = corrupt = quarantined = 0
    oldest: int | None = None
    if directory.is_dir():
        for path in sorted(directory.glob("*.seg")):
            parsed = _segment_name_parts(path.name)
            if parsed is None:
                continue
            try:
                contents = scan_segment(path)
            except FileNotFoundError:  # replayed and removed while we looked
                continue
            segments += 1
            bytes_total += contents.bytes
            batches += contents.records
            rows += contents.rows
            corrupt += contents.corrupt_records
            oldest = parsed[0] if oldest is None else min(oldest, parsed[0])
        quarantined = sum(1 for _ in (directory / QUARANTINE).glob("*.rec"))
    age = (time.time_ns() - oldest) / 1e9 if oldest is not None else None
    return SpoolStats(str(directory), segments, bytes_total, bytes_total, batches, rows, age,
                      corrupt_records=corrupt, quarantined_records=quarantined)


class Spool:
    """This process's append-only spool in ``directory``; thread-safe and fork-aware."""

    def __init__(self, directory: Path, max_bytes: int, fsync_interval: float) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync_interval = fsync_interval
        self._segment_target = max(_MIN_SEGMENT, min(_MAX_SEGMENT, max_bytes // 8))
        # What appends showed of the directory and its disk (a forked child shares both):
        self._writable = False  # the last append succeeded (unknown before the first one)
        self._largest = 0  # bytes of the largest record appended
        self._counts = dict.fromkeys(
            ("spooled_batches", "spooled_rows", "replayed_batches", "replayed_rows", "duplicate_batches",
             "dropped_batches", "dropped_rows", "corrupt_records", "failed_appends", "quarantined_records",
             "set_aside_batches"), 0)
        self._reset_process_state()
        reset_after_fork(self)

    def _reset_process_state(self) -> None:
        """Start as a fresh owner: at construction, and in a forked child."""
        self._lock = threading.Lock()
        self._owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._owner_fd: int | None = None
        self._segments: list[_Segment] = []
        self._adopted: set[str] = set()
        self._active: _Segment | None = None
        self._seq = 0
        self._bytes = 0
        self._peak = 0
        self._unsynced: list[int] = []
        self._dirty = False
        self._in_flight: SpooledBatch | None = None
        # Batches set aside: id -> (segment, end) of the copy appended last. Older copies of
        # one (left on disk by an earlier run, whose read positions die with it) are skipped.
        self._moved: dict[bytes, tuple[_Segment, int]] = {}

    def after_fork_in_child(self) -> None:
        """A forked child shares the parent's open files and flocks: it closes its copies (the
        parent's locks stay held through the parent's descriptors, and are freed when the
        parent exits, so its segments can be adopted), never writes to the parent's segments,
        and becomes an owner of its own."""
        inherited = {self._owner_fd, *self._unsynced}
        for segment in self._segments:
            owner = segment.adopted_from
            inherited.update((segment.fd, owner.lock_fd if owner is not None else None))
        for fd in inherited - {None}:
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]
        self._reset_process_state()

    def _ensure_owner(self) -> None:
        if self._owner_fd is not None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / f"owner-{self._owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._owner_fd = fd

    # --- appending -------------------------------------------------------------------------

    def append(self, batch_id: bytes, parts: Sequence[TableRows]) -> int:
        """Write one batch as a record; return its size. Raises :class:`SpoolError` when it cannot."""
        record, rows = encode_batch(batch_id, parts)
        with self._lock:
            if len(record) > self.max_bytes:
                self._counts["dropped_batches"] += 1
                self._counts["dropped_rows"] += rows
                self._writable = False
                raise SpoolError(f"a batch of {len(record)} bytes exceeds the spool size {self.max_bytes}")
            self._write(record, rows)
            self._counts["spooled_batches"] += 1
            self._counts["spooled_rows"] += rows
            return len(record)

    def _write(self, record: bytes, rows: int) -> tuple[_Segment, int]:
        """Append ``record`` to this process's active segment (under the lock); return the
        segment and the offset where the record ends."""
        try:
            self._ensure_owner()
            self._make_room(len(record))
            segment = self._active_segment(len(record))
            assert segment.fd is not None
            written = os.write(segment.fd, record)
            if written != len(record):  # the disk is full: take the torn tail back
                os.ftruncate(segment.fd, segment.size)
                raise OSError(f"short write to {segment.path}")
            if self.fsync_interval == 0:
                os.fsync(segment.fd)
            else:
                self._dirty = True
        except OSError as error:
            self._counts["failed_appends"] += 1
            self._writable = False
            raise SpoolError(f"could not spool a batch to {self.directory}: {error}") from error
        segment.size += len(record)
        segment.records += 1
        segment.rows += rows
        self._bytes += len(record)
        self._peak = max(self._peak, self._bytes)
        self._writable = True
        self._largest = max(self._largest, len(record))
        return segment, segment.size

    def has_room(self, batches: int) -> bool:
        """Whether ``batches`` more batches, each up to twice the largest spooled so far, would be
        taken: the last append succeeded, such a batch fits the spool's bound, and the filesystem
        has the space for all of them.

        The write-behind fast path asks before it acknowledges a batch it has not written yet:
        a spool that has never taken a batch, or refused the last one, is not assumed to take
        the next (docs/reliability.md, "What export() returns").
        """
        need = 2 * self._largest
        if not self._writable or need > self.max_bytes:
            return False
        try:
            filesystem = os.statvfs(self.directory)
        except OSError:
            return False
        return filesystem.f_bavail * filesystem.f_frsize >= batches * need

    def _active_segment(self, incoming: int) -> _Segment:
        active = self._active
        if active is not None and active.fd is not None and active.size + incoming <= self._segment_target:
            return active
        if active is not None and active.fd is not None:
            self._unsynced.append(active.fd)  # fsynced and closed by the next sync()
            active.fd = None
        created = time.time_ns()
        self._seq += 1
        path = self.directory / f"{created:020d}-{self._owner}-{self._seq:06d}.seg"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        if self.fsync_interval == 0:
            _fsync_directory(self.directory)
        segment = self._active = _Segment(path, created, fd=fd)
        self._segments.append(segment)
        return segment

    def _make_room(self, incoming: int) -> None:
        """Drop the oldest segments until ``incoming`` more bytes fit, counting what they held."""
        while self._segments and self._bytes + incoming > self.max_bytes:
            segment = self._segments[0]
            batches = segment.records - segment.consumed
            rows = segment.rows - segment.consumed_rows
            out = self._in_flight
            if out is not None and out._segment is segment:  # counted by release() if its replay fails
                batches -= 1
                rows -= out.rows
            self._counts["dropped_batches"] += batches
            self._counts["dropped_rows"] += rows
            logger.warning(
                "dead-letter spool full (%d bytes): dropped its oldest %d batches (%d rows)",
                self.max_bytes, batches, rows,
            )
            self._remove(segment)

    def _remove(self, segment: _Segment) -> None:
        self._segments.remove(segment)
        self._bytes -= segment.size
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        if segment is self._active:
            self._active = None
        segment.path.unlink(missing_ok=True)
        self._release_owner_if_done(segment)
        for batch_id in [batch_id for batch_id, (where, _) in self._moved.items() if where is segment]:
            del self._moved[batch_id]  # its last copy is gone (dropped for room), so are the older ones

    def _release_owner_if_done(self, segment: _Segment) -> None:
        owner = segment.adopted_from
        if owner is not None and not any(other.adopted_from is owner for other in self._segments):
            self._release_owner(owner)

    def _release_owner(self, owner: _AdoptedOwner) -> None:
        """Its segments are all gone: remove its lock file and let go of the lock."""
        (self.directory / f"owner-{owner.name}.lock").unlink(missing_ok=True)
        self._adopted.discard(owner.name)
        os.close(owner.lock_fd)

    # --- durability --------------------------------------------------------------------------

    def sync(self) -> None:
        """fsync what was appended since the last call (the replayer calls this periodically)."""
        with self._lock:
            if not self._dirty and not self._unsynced:
                return
            pending, self._unsynced = self._unsynced, []
            active_fd = self._active.fd if self._active is not None else None
            self._dirty = False
        for fd in pending:
            os.fsync(fd)
            os.close(fd)
        if active_fd is not None:
            with contextlib.suppress(OSError):  # closed by a concurrent drop; it had nothing left to keep
                os.fsync(active_fd)
        _fsync_directory(self.directory)

    # --- adopting the spools of dead processes ------------------------------------------------

    def adopt_orphans(self) -> int:
        """Take over the segments of processes that died; return how many segments were adopted."""
        if not self.directory.is_dir():
            return 0
        by_owner: dict[str, list[tuple[Path, int]]] = {}
        for path in self.directory.glob("*.seg"):
            parsed = _segment_name_parts(path.name)
            if parsed is not None and parsed[1] != self._owner:
                by_owner.setdefault(parsed[1], []).append((path, parsed[0]))
        adopted = 0
        for name, paths in by_owner.items():
            with self._lock:
                if name in self._adopted:
                    continue
            fd = os.open(self.directory / f"owner-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its owner (or another adopter) is alive
                continue
            owner = _AdoptedOwner(name, fd)
            segments = [segment for path, created_ns in sorted(paths)
                        if (segment := self._scan(path, created_ns, owner)) is not None]
            with self._lock:
                self._adopted.add(name)
                for segment in segments:
                    self._segments.append(segment)
                    self._bytes += segment.size
                self._segments.sort(key=lambda segment: segment.path.name)
                self._peak = max(self._peak, self._bytes)
                if not segments:
                    self._release_owner(owner)
            adopted += len(segments)
            if segments:
                logger.warning(
                    "adopted %d dead-letter spool segments of exited process %s (%d batches) for replay",
                    len(segments), name.split("-")[0], sum(segment.records for segment in segments),
                )
        return adopted

    def _scan(self, path: Path, created_ns: int, owner: _AdoptedOwner) -> _Segment | None:
        """An adopted segment as found on disk (its corrupt records counted), or None if it is gone."""
        try:
            contents = scan_segment(path)
        except FileNotFoundError:
            return None
        with self._lock:
            self._counts["corrupt_records"] += contents.corrupt_records
        return _Segment(path, created_ns, size=contents.bytes, records=contents.records, rows=contents.rows,
                        adopted_from=owner)

    # --- replaying ----------------------------------------------------------------------------

    def pending(self) -> bool:
        """True while some segment holds bytes not yet replayed."""
        return any(segment.read_offset < segment.size for segment in self._segments)

    def next_batch(self) -> SpooledBatch | None:
        """The oldest batch not yet replayed, or None. One batch is out at a time.

        Records that do not decode as a batch are quarantined on the way, never returned.
        """
        with self._lock:
            if self._in_flight is not None:
                raise RuntimeError("the previous spooled batch was neither acked nor released")
            while self._segments:
                segment = self._segments[0]
                record = self._read(segment)
                if record is None or not record.payload:
                    self._remove(segment)  # read to its end: every batch in it was replayed
                    continue
                try:
                    batch_id, parts = decode_payload(record.payload, record.rows)
                except SpoolRecordError as error:
                    self._quarantine(segment, record, error)
                    continue
                if self._moved.get(batch_id, (segment, record.end)) != (segment, record.end):
                    self._consume(segment, record.end, record.rows)  # an older copy of a batch set aside
                    continue
                batch = SpooledBatch(batch_id, parts, record.rows, segment, record.end, record.payload)
                self._in_flight = batch
                return batch
            return None

    def _quarantine(self, segment: _Segment, record: ScannedRecord, error: SpoolRecordError) -> None:
        """Move a record that does not decode out of the way: into ``quarantine/``, whole, for an
        operator (or a later release) to read, counted; the records after it replay as usual."""
        data = frame(record.payload, record.rows)
        path = self.directory / QUARANTINE / f"{segment.path.stem}-{record.end - len(data):012d}.rec"
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as failure:
            self._counts["corrupt_records"] += 1
            logger.error("skipped a spool record that does not decode (%s) and could not be quarantined "
                         "to %s: %s", error, path, failure)
        else:
            self._counts["quarantined_records"] += 1
            logger.warning("quarantined a spool record that does not decode to %s: %s", path, error)
        self._consume(segment, record.end, record.rows)

    def _read(self, segment: _Segment) -> ScannedRecord | None:
        if segment.read_offset >= segment.size:
            return None
        try:
            with open(segment.path, "rb") as file, mmap.mmap(file.fileno(), segment.size,
                                                              access=mmap.ACCESS_READ) as data:
                record = read_record(data, segment.read_offset)
        except (FileNotFoundError, ValueError):
            segment.read_offset = segment.size
            return None
        if record is None:
            segment.read_offset = segment.size
            return None
        if record.corrupt_before and segment.adopted_from is None:
            self._counts["corrupt_records"] += record.corrupt_before  # adopted ones counted by _scan
        if not record.payload:
            segment.read_offset = segment.size
        return record

    def ack(self, batch: SpooledBatch, duplicate: bool = False) -> None:
        """``batch`` is in the database now (stored by this replay, or found in the ledger)."""
        with self._lock:
            self._in_flight = None
            self._counts["duplicate_batches" if duplicate else "replayed_batches"] += 1
            if not duplicate:
                self._counts["replayed_rows"] += batch.rows
            self._moved.pop(batch.batch_id, None)
            self._consume(batch._segment, batch._end, batch.rows)

    def _consume(self, segment: _Segment, end: int, rows: int) -> None:
        """The record of ``segment`` ending at ``end`` is done with: read past it (under the lock)."""
        if segment not in self._segments:
            return  # dropped for room meanwhile; its other batches were counted then
        segment.read_offset = end
        segment.consumed += 1
        segment.consumed_rows += rows
        if segment.read_offset >= segment.size:  # all replayed (the next append starts a new one)
            self._remove(segment)

    def release(self, batch: SpooledBatch) -> None:
        """The replay of ``batch`` failed: it stays first in line."""
        with self._lock:
            self._release(batch)

    def _release(self, batch: SpooledBatch) -> None:
        self._in_flight = None
        if batch._segment not in self._segments:  # dropped for room while it was out
            self._counts["dropped_batches"] += 1
            self._counts["dropped_rows"] += batch.rows

    def set_aside(self, batch: SpooledBatch) -> None:
        """The database refused ``batch`` as a whole (not a transient error): append it again at
        the end, so the batches after it are replayed first; it is tried again in its new turn.

        Its old record stays on disk until its segment is read to the end, and read positions
        do not outlive the process: a later run finds both copies, replays the first it meets
        and skips the other (or, if that one is stored, the ledger does). Raises
        :class:`SpoolError` if it cannot be appended; it then stays first in line.
        """
        with self._lock:
            try:
                self._moved[batch.batch_id] = self._write(frame(batch._payload, batch.rows), batch.rows)
            except SpoolError:
                self._release(batch)
                raise
            self._in_flight = None
            self._counts["set_aside_batches"] += 1
            self._consume(batch._segment, batch._end, batch.rows)

    # --- reporting and closing ----------------------------------------------------------------

    def stats(self) -> SpoolStats:
        with self._lock:
            pending_batches = sum(segment.records - segment.consumed for segment in self._segments)
            pending_rows = sum(segment.rows - segment.consumed_rows for segment in self._segments)
            oldest = min((segment.created_ns for segment in self._segments), default=None)
            return SpoolStats(
                str(self.directory), len(self._segments), self._bytes, self._peak, pending_batches,
                pending_rows, (time.time_ns() - oldest) / 1e9 if oldest is not None else None, **self._counts,
            )

    def close(self) -> None:
        """fsync and close this process's files; segments stay on disk for the next process."""
        self.sync()
        with self._lock:
            for segment in self._segments:
                if segment.fd is not None:
                    os.close(segment.fd)
                    segment.fd = None
            owners = {segment.adopted_from for segment in self._segments if segment.adopted_from is not None}
            for owner in owners:
                os.close(owner.lock_fd)
            self._segments.clear()
            self._moved.clear()
            self._active = None
            self._adopted.clear()
            if self._owner_fd is not None:
                os.close(self._owner_fd)
                self._owner_fd = None
                if not any(self.directory.glob(f"*-{self._owner}-*.seg")):
                    (self.directory / f"owner-{self._owner}.lock").unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make new or removed file names durable, where the platform allows fsync on a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
