"""The dead-letter spool: batches the database did not take, kept on local disk until it does.

Layout. A spool directory belongs to one database and schema. Each process appends to its own
segment files, named ``<created ns>-<pid>-<token>-<seq>.seg`` so that sorting names sorts
segments oldest first, and holds an exclusive ``flock`` on ``owner-<pid>-<token>.lock`` while
it lives. No two processes ever append to one file; a process whose owner lock can be taken
is dead, and its segments are adopted (replayed) by the next process that looks.

Records. One record is one batch: a 16-byte header (magic, payload length, CRC-32 of the
payload, row count) and a payload that is ``marshal`` of ``(version, batch id, parts)``, each
part being ``(table name, ((column, type), ...), insert_if_absent, [row tuples])``. Rows are
the converted wire values (ints, bytes, str, floats, None), so nothing is re-encoded lossily,
and the column list makes every record self-describing: decoding needs no registry of table
specs, and a record written by an older version still names exactly what it holds. ``marshal``
runs in C (a 512-span batch encodes in about 0.3 ms) and is only ever read back after its CRC
matched; the directory is created ``0700``, since ``marshal`` is not meant for untrusted input.

Torn and corrupt records. A record cut short by a crash, or damaged on disk, fails its length
or CRC check; the reader counts one corrupt region and resynchronizes on the next magic whose
record checks out, so damage never blocks the records after it.

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

import fcntl
import logging
import marshal
import mmap
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..convert.table import Column, Row, RowStream, TableRows, TableSpec
from ..errors import SpoolError

logger = logging.getLogger(__name__)

MAGIC = b"OTPS"
_HEADER = struct.Struct("<4sIII")  # magic, payload length, crc32(payload), rows
_FORMAT = 1
_MARSHAL_VERSION = 4
_MIN_SEGMENT = 64 * 1024
_MAX_SEGMENT = 16 * 1024 * 1024


def materialized_rows(part: TableRows) -> list[Row]:
    """Every row of ``part`` as a list, converting what a :class:`RowStream` has not yet."""
    rows = part.rows
    if isinstance(rows, RowStream):
        return rows.materialize()
    return rows if isinstance(rows, list) else list(rows)


def encode_batch(batch_id: bytes, parts: Sequence[TableRows]) -> tuple[bytes, int]:
    """One spool record for a batch, and its row count."""
    encoded = []
    count = 0
    for part in parts:
        rows = materialized_rows(part)
        count += len(rows)
        columns = tuple((column.name, column.type) for column in part.table.columns)
        encoded.append((part.table.name, columns, part.insert_if_absent, rows))
    payload = marshal.dumps((_FORMAT, batch_id, tuple(encoded)), _MARSHAL_VERSION)
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload), count) + payload, count


def decode_payload(payload: bytes) -> tuple[bytes, list[TableRows]]:
    """The batch id and parts of a record payload whose CRC matched."""
    version, batch_id, encoded = marshal.loads(payload)
    if version != _FORMAT:
        raise ValueError(f"unknown spool record format {version}")
    parts = [
        TableRows(TableSpec(name, tuple(Column(*column) for column in columns)), rows, insert_if_absent=flag)
        for name, columns, flag, rows in encoded
    ]
    return batch_id, parts


@dataclass(frozen=True)
class ScannedRecord:
    """A record found in a segment: where it is, what it holds, and what damage preceded it."""

    offset: int
    end: int
    rows: int
    payload: bytes
    corrupt_before: int  # corrupt regions skipped just before this record (0 or 1)


def read_record(data: bytes | mmap.mmap, offset: int) -> ScannedRecord | None:
    """The first valid record at or after ``offset``, skipping a damaged region; None at the end.

    A damaged region (however long) counts as one corrupt record; one that runs to the end of
    the data (a torn tail) comes back as an empty record so that it is counted too.
    """
    size = len(data)
    corrupt = 0
    while offset < size:
        if offset + _HEADER.size <= size:
            magic, length, crc, rows = _HEADER.unpack_from(data, offset)
            end = offset + _HEADER.size + length
            if magic == MAGIC and end <= size:
                payload = bytes(data[offset + _HEADER.size:end])
                if zlib.crc32(payload) == crc:
                    return ScannedRecord(offset, end, rows, payload, corrupt)
        corrupt = 1
        found = data.find(MAGIC, offset + 1)
        if found < 0:
            break
        offset = found
    return ScannedRecord(size, size, 0, b"", 1) if corrupt else None


def scan_records(path: Path) -> Iterable[ScannedRecord]:
    """Every valid record of a segment file, oldest first; a trailing torn region yields an empty one."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            offset = 0
            while offset < size:
                record = read_record(data, offset)
                if record is None:
                    return
                yield record
                offset = record.end


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
    owner_lock: int | None = None  # the adopted dead owner's lock this segment keeps held


@dataclass(frozen=True)
class SpooledBatch:
    """A batch read back from the spool for replay; hand it to ``ack`` or ``release``."""

    batch_id: bytes
    parts: list[TableRows]
    rows: int
    _segment: _Segment = field(repr=False)
    _end: int = field(repr=False)


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


def _segment_name_parts(name: str) -> tuple[int, str] | None:
    """(created ns, owner) of a segment file name, or None if it is not one."""
    if not name.endswith(".seg"):
        return None
    pieces = name[:-4].split("-")
    if len(pieces) != 4 or not pieces[0].isdigit():
        return None
    return int(pieces[0]), f"{pieces[1]}-{pieces[2]}"


def inspect_directory(directory: Path) -> SpoolStats:
    """Size and contents of a spool directory as found on disk, by any process, without locking."""
    segments = bytes_total = batches = rows = corrupt = 0
    oldest: int | None = None
    if directory.is_dir():
        for path in sorted(directory.glob("*.seg")):
            parsed = _segment_name_parts(path.name)
            if parsed is None:
                continue
            segments += 1
            try:
                bytes_total += path.stat().st_size
                for record in scan_records(path):
                    corrupt += record.corrupt_before
                    if record.payload:
                        batches += 1
                        rows += record.rows
            except FileNotFoundError:  # replayed and removed while we looked
                continue
            oldest = parsed[0] if oldest is None else min(oldest, parsed[0])
    age = (time.time_ns() - oldest) / 1e9 if oldest is not None else None
    return SpoolStats(str(directory), segments, bytes_total, bytes_total, batches, rows, age, corrupt_records=corrupt)


class Spool:
    """This process's append-only spool in ``directory``; thread-safe and fork-aware."""

    def __init__(self, directory: Path, max_bytes: int, fsync_interval: float) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync_interval = fsync_interval
        self._segment_target = max(_MIN_SEGMENT, min(_MAX_SEGMENT, max_bytes // 8))
        self._counts = dict.fromkeys(
            ("spooled_batches", "spooled_rows", "replayed_batches", "replayed_rows", "duplicate_batches",
             "dropped_batches", "dropped_rows", "corrupt_records", "failed_appends"), 0)
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        """Start as a fresh owner: at construction, and in a forked child (see ``_check_fork``)."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._owner = f"{self._pid}-{secrets.token_hex(4)}"
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

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            # A forked child shares the parent's open files and flocks. It closes its copies
            # (the parent's locks stay held through the parent's descriptors, and are freed
            # when the parent exits, so its segments can be adopted), never writes to the
            # parent's segments, and becomes an owner of its own.
            inherited = {self._owner_fd, *self._unsynced}
            for segment in self._segments:
                inherited.update((segment.fd, segment.owner_lock))
            for fd in inherited - {None}:
                try:
                    os.close(fd)  # type: ignore[arg-type]
                except OSError:
                    pass
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
        self._check_fork()
        with self._lock:
            if len(record) > self.max_bytes:
                self._counts["dropped_batches"] += 1
                self._counts["dropped_rows"] += rows
                raise SpoolError(f"a batch of {len(record)} bytes exceeds the spool size {self.max_bytes}")
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
                raise SpoolError(f"could not spool a batch to {self.directory}: {error}") from error
            segment.size += len(record)
            segment.records += 1
            segment.rows += rows
            self._bytes += len(record)
            self._peak = max(self._peak, self._bytes)
            self._counts["spooled_batches"] += 1
            self._counts["spooled_rows"] += rows
            return len(record)

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
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        self._release_owner_if_done(segment)

    def _release_owner_if_done(self, segment: _Segment) -> None:
        fd = segment.owner_lock
        if fd is None or any(other.owner_lock == fd for other in self._segments):
            return
        parsed = _segment_name_parts(segment.path.name)
        if parsed is not None:
            (self.directory / f"owner-{parsed[1]}.lock").unlink(missing_ok=True)
            self._adopted.discard(parsed[1])
        os.close(fd)

    # --- durability --------------------------------------------------------------------------

    def sync(self) -> None:
        """fsync what was appended since the last call (the replayer calls this periodically)."""
        self._check_fork()
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
            try:
                os.fsync(active_fd)
            except OSError:  # closed by a concurrent drop; it had nothing left to keep
                pass
        _fsync_directory(self.directory)

    # --- adopting the spools of dead processes ------------------------------------------------

    def adopt_orphans(self) -> int:
        """Take over the segments of processes that died; return how many segments were adopted."""
        self._check_fork()
        if not self.directory.is_dir():
            return 0
        by_owner: dict[str, list[Path]] = {}
        for path in self.directory.glob("*.seg"):
            parsed = _segment_name_parts(path.name)
            if parsed is not None and parsed[1] != self._owner:
                by_owner.setdefault(parsed[1], []).append(path)
        adopted = 0
        for owner, paths in by_owner.items():
            with self._lock:
                if owner in self._adopted:
                    continue
            fd = os.open(self.directory / f"owner-{owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its owner (or another adopter) is alive
                continue
            segments = [segment for path in sorted(paths) if (segment := self._scan(path, fd)) is not None]
            with self._lock:
                self._adopted.add(owner)
                for segment in segments:
                    self._segments.append(segment)
                    self._bytes += segment.size
                self._segments.sort(key=lambda segment: segment.path.name)
                self._peak = max(self._peak, self._bytes)
                if not segments:
                    self._release_empty_owner(owner, fd)
            adopted += len(segments)
            if segments:
                logger.warning(
                    "adopted %d dead-letter spool segments of exited process %s (%d batches) for replay",
                    len(segments), owner.split("-")[0], sum(segment.records for segment in segments),
                )
        return adopted

    def _release_empty_owner(self, owner: str, fd: int) -> None:
        (self.directory / f"owner-{owner}.lock").unlink(missing_ok=True)
        self._adopted.discard(owner)
        os.close(fd)

    def _scan(self, path: Path, owner_fd: int) -> _Segment | None:
        parsed = _segment_name_parts(path.name)
        try:
            segment = _Segment(path, parsed[0] if parsed else 0, size=path.stat().st_size, owner_lock=owner_fd)
            for record in scan_records(path):
                self._counts["corrupt_records"] += record.corrupt_before
                if record.payload:
                    segment.records += 1
                    segment.rows += record.rows
        except FileNotFoundError:
            return None
        return segment

    # --- replaying ----------------------------------------------------------------------------

    def pending(self) -> bool:
        """True while some segment holds bytes not yet replayed."""
        return any(segment.read_offset < segment.size for segment in self._segments)

    def next_batch(self) -> SpooledBatch | None:
        """The oldest batch not yet replayed, or None. One batch is out at a time."""
        self._check_fork()
        with self._lock:
            if self._in_flight is not None:
                raise RuntimeError("the previous spooled batch was neither acked nor released")
            while self._segments:
                segment = self._segments[0]
                record = self._read(segment)
                if record is not None and record.payload:
                    batch_id, parts = decode_payload(record.payload)
                    batch = SpooledBatch(batch_id, parts, record.rows, segment, record.end)
                    self._in_flight = batch
                    return batch
                self._remove(segment)  # read to its end: every batch in it was replayed
            return None

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
        if record.corrupt_before and segment.owner_lock is None:
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
            segment = batch._segment
            if segment not in self._segments:
                return  # dropped for room meanwhile; its other batches were counted then
            segment.read_offset = batch._end
            segment.consumed += 1
            segment.consumed_rows += batch.rows
            if segment.read_offset >= segment.size:  # all replayed (the next append starts a new one)
                self._remove(segment)

    def release(self, batch: SpooledBatch) -> None:
        """The replay of ``batch`` failed: it stays first in line."""
        with self._lock:
            self._in_flight = None
            if batch._segment not in self._segments:  # dropped for room while it was out
                self._counts["dropped_batches"] += 1
                self._counts["dropped_rows"] += batch.rows

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
        if self._pid != os.getpid():
            return
        self.sync()
        with self._lock:
            for segment in self._segments:
                if segment.fd is not None:
                    os.close(segment.fd)
                    segment.fd = None
            locks = {segment.owner_lock for segment in self._segments if segment.owner_lock is not None}
            for fd in locks:
                os.close(fd)
            self._segments.clear()
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
