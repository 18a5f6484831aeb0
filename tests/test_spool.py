"""The dead-letter spool on disk: lossless records, torn and corrupt records, bounds, processes."""

from __future__ import annotations

import marshal
import os
import struct
import time
import uuid
import zlib
from pathlib import Path

import pytest
from span_factory import make_spans

from opentelemetry_exporter_pgvector.convert.dead_letters import DEAD_LETTER_TABLE
from opentelemetry_exporter_pgvector.convert.scope import RESOURCE_TABLE
from opentelemetry_exporter_pgvector.convert.spans import SPAN_TABLE, SpanConverter
from opentelemetry_exporter_pgvector.convert.table import Column, TableRows, TableSpec
from opentelemetry_exporter_pgvector.errors import SpoolError
from opentelemetry_exporter_pgvector.write.spool import Spool, inspect_directory
from opentelemetry_exporter_pgvector.write.spool_format import encode_batch, scan_records

ODD = TableSpec("odd_table", (Column("a", "int8"), Column("b", "bytea"), Column("c", "text"),
                              Column("d", "float8")))


def odd_batch(index: int, rows: int = 3) -> list[TableRows]:
    values = [(index * 1000 + n, bytes([n % 256]) * n, f"text \ud800 \x00 {n}",
               float("nan") if n % 2 else -0.0) for n in range(rows)]
    return [TableRows(ODD, values)]


def drain(spool: Spool) -> list[tuple[bytes, list[TableRows]]]:
    out = []
    while (batch := spool.next_batch()) is not None:
        out.append((batch.batch_id, batch.parts))
        spool.ack(batch)
    return out


def test_round_trip_is_lossless_and_self_describing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 1.0)
    parts = SpanConverter(1000).convert_batch(make_spans(10))
    ids = [uuid.uuid4().bytes for _ in range(3)]
    spool.append(ids[0], parts)
    spool.append(ids[1], odd_batch(1))
    spool.append(ids[2], [TableRows(RESOURCE_TABLE, [], insert_if_absent=True)])
    read = drain(spool)
    assert [batch_id for batch_id, _ in read] == ids
    spans, resources, letters = read[0][1]
    assert spans.table == SPAN_TABLE and resources.table == RESOURCE_TABLE and resources.insert_if_absent
    assert letters.table == DEAD_LETTER_TABLE and letters.rows == []
    assert spans.rows == parts[0].rows.materialize() and resources.rows == list(parts[1].rows)
    odd = read[1][1][0]
    assert odd.table == ODD
    for got, expected in zip(odd.rows, odd_batch(1)[0].rows, strict=True):
        assert got[:3] == expected[:3] and repr(got[3]) == repr(expected[3])  # nan, -0.0, surrogates
    assert spool.stats().pending_batches == 0 and not list(tmp_path.glob("*.seg"))
    spool.close()


def test_torn_tail_is_counted_and_does_not_block(tmp_path: Path) -> None:
    writer = Spool(tmp_path, 1 << 20, 0)
    for index in range(3):
        writer.append(bytes([index]) * 16, odd_batch(index))
    segment = next(tmp_path.glob("*.seg"))
    size = segment.stat().st_size
    with open(segment, "r+b") as file:
        file.truncate(size - 10)  # the last record torn, as by a crash mid-write
    os.close(writer._owner_fd)  # the writer "dies": its lock is gone
    writer._owner_fd = None
    reader = Spool(tmp_path, 1 << 20, 0)
    assert reader.adopt_orphans() == 1
    assert [batch_id[0] for batch_id, _ in drain(reader)] == [0, 1]
    assert reader.stats().corrupt_records == 1
    reader.close()


def test_corrupt_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    sizes = [spool.append(bytes([index]) * 16, odd_batch(index, rows=20)) for index in range(5)]
    segment = next(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[sizes[0] + sizes[1] + 100] ^= 0xFF  # a flipped bit inside the third record
    data[sizes[0] + 2] ^= 0xFF  # and a damaged header of the second
    segment.write_bytes(bytes(data))
    assert inspect_directory(tmp_path).corrupt_records == 1  # one damaged region: records 2 and 3
    assert [batch_id[0] for batch_id, _ in drain(spool)] == [0, 3, 4]
    assert spool.stats().corrupt_records == 1
    spool.close()


def test_full_spool_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 64 * 1024, 1.0)
    appended = 0
    while spool.stats().dropped_batches == 0 or appended < 200:
        spool.append(uuid.uuid4().bytes, odd_batch(appended, rows=10))
        appended += 1
        assert spool.stats().bytes <= 64 * 1024
    stats = spool.stats()
    kept = drain(spool)
    assert stats.dropped_batches + len(kept) == appended  # every batch is replayed or counted
    assert stats.dropped_rows == 10 * stats.dropped_batches
    assert [parts[0].rows[0][0] // 1000 for _, parts in kept] == list(range(stats.dropped_batches, appended))
    with pytest.raises(SpoolError):
        spool.append(uuid.uuid4().bytes, odd_batch(0, rows=20000))  # larger than the whole spool
    assert spool.stats().dropped_batches == stats.dropped_batches + 1
    spool.close()


def test_forked_child_spools_to_its_own_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    spool.append(b"p" * 16, odd_batch(1))
    pid = os.fork()
    if pid == 0:  # the child: append, close, leave without running the parent's cleanup
        try:
            spool.append(b"c" * 16, odd_batch(2))
            spool.close()
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    spool.append(b"q" * 16, odd_batch(3))
    owners = {path.name.split("-")[1] for path in tmp_path.glob("*.seg")}
    assert owners == {str(os.getpid()), str(pid)}
    assert spool.adopt_orphans() == 1  # the child exited: its segment is ours to replay
    assert sorted(batch_id[:1] for batch_id, _ in drain(spool)) == [b"c", b"p", b"q"]
    spool.close()


def test_a_live_owner_is_never_adopted(tmp_path: Path) -> None:
    first = Spool(tmp_path, 1 << 20, 0)
    second = Spool(tmp_path, 1 << 20, 0)
    first.append(b"f" * 16, odd_batch(1))
    assert second.adopt_orphans() == 0
    first.close()  # closed, its segment left behind for the next process
    assert second.adopt_orphans() == 1
    assert [batch_id for batch_id, _ in drain(second)] == [b"f" * 16]
    second.close()
    assert list(tmp_path.iterdir()) == []  # replayed segments and released locks are removed


def test_an_adopted_spool_stays_locked_until_its_last_batch_is_replayed(tmp_path: Path) -> None:
    writer = Spool(tmp_path, 1 << 20, 0)
    for index in range(12):  # about 25 KiB each: several segments of 128 KiB, one owner
        writer.append(bytes([index]) * 16, odd_batch(index, rows=200))
    writer.close()
    segments = len(list(tmp_path.glob("*.seg")))
    assert segments > 1
    first, second = Spool(tmp_path, 1 << 20, 0), Spool(tmp_path, 1 << 20, 0)
    assert first.adopt_orphans() == segments
    replayed = []
    while len(list(tmp_path.glob("*.seg"))) == segments:  # replay its first segment
        batch = first.next_batch()
        assert batch is not None
        replayed.append(batch.batch_id[0])
        first.ack(batch)
    assert second.adopt_orphans() == 0  # the segments left are still held by the first
    replayed += [batch_id[0] for batch_id, _ in drain(first)]
    assert replayed == list(range(12))
    assert list(tmp_path.iterdir()) == []  # the dead owner's lock file went with its last segment
    first.close()
    second.close()


def framed(payload: bytes, rows: int) -> bytes:
    """A record as the format describes it (magic, length, CRC-32, rows), whatever the payload."""
    return struct.pack("<4sIII", b"OTPS", len(payload), zlib.crc32(payload), rows) + payload


def test_records_that_do_not_decode_are_quarantined_and_the_rest_replay(tmp_path: Path) -> None:
    """A segment left by an exited process (a later release, or a bug) holds, between good
    records, three whose CRC is right and whose payload is no batch this release can read."""
    odd_columns = tuple((column.name, column.type) for column in ODD.columns)
    bad = [
        framed(b"\xffnot marshal, CRC right", 1),
        framed(marshal.dumps((2, b"f" * 16, ()), 4), 0),  # a future format version
        framed(marshal.dumps((1, b"w" * 16, (("odd_table", odd_columns, False, [(1, b"", "x")]),)), 4), 1),
    ]
    good = [encode_batch(bytes([index]) * 16, odd_batch(index))[0] for index in range(4)]
    segment = tmp_path / f"{time.time_ns():020d}-999999-dead0000-000001.seg"
    segment.write_bytes(good[0] + bad[0] + good[1] + bad[1] + good[2] + bad[2] + good[3])
    spool = Spool(tmp_path, 1 << 20, 0)
    assert spool.adopt_orphans() == 1
    assert [batch_id[0] for batch_id, _ in drain(spool)] == [0, 1, 2, 3]
    stats = spool.stats()
    assert (stats.quarantined_records, stats.corrupt_records, stats.pending_batches) == (3, 0, 0)
    quarantined = sorted((tmp_path / "quarantine").iterdir())
    assert [path.read_bytes() for path in quarantined] == bad  # whole, in segment order
    offsets = [len(good[0]), sum(map(len, good[:2] + bad[:1])), sum(map(len, good[:3] + bad[:2]))]
    assert [path.name for path in quarantined] == [f"{segment.stem}-{offset:012d}.rec" for offset in offsets]
    assert not segment.exists()
    assert inspect_directory(tmp_path).quarantined_records == 3
    spool.close()


def test_a_batch_set_aside_goes_behind_the_others(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    for index in range(3):
        spool.append(bytes([index]) * 16, odd_batch(index, rows=index + 1))
    first = spool.next_batch()
    assert first is not None and first.batch_id[0] == 0
    spool.set_aside(first)
    assert spool.stats().pending_batches == 3  # still spooled, now last
    read = drain(spool)
    assert [batch_id[0] for batch_id, _ in read] == [1, 2, 0]
    assert read[2][1][0].rows == odd_batch(0, rows=1)[0].rows
    stats = spool.stats()
    assert (stats.set_aside_batches, stats.spooled_batches, stats.replayed_batches) == (1, 3, 3)
    assert (stats.replayed_rows, stats.pending_batches) == (1 + 2 + 3, 0)
    spool.close()


def test_a_batch_set_aside_by_an_earlier_run_is_replayed_once_not_once_per_copy(tmp_path: Path) -> None:
    """Read positions die with the process: a later run finds the old record and the copy
    appended behind the others. It must go on with one of them, or a batch refused for good
    would be spooled once more per restart."""
    first = Spool(tmp_path, 1 << 20, 0)
    for index in range(3):
        first.append(bytes([index]) * 16, odd_batch(index))
    batch = first.next_batch()
    assert batch is not None
    first.set_aside(batch)  # refused as a whole; then the process exits
    first.close()
    second = Spool(tmp_path, 1 << 20, 0)
    assert second.adopt_orphans() == 1
    seen = []
    while (batch := second.next_batch()) is not None:
        seen.append(batch.batch_id[0])
        if len(seen) == 1:
            second.set_aside(batch)  # still refused
        else:
            second.ack(batch)
    assert seen == [0, 1, 2, 0]  # batch 0 once more, not once per copy on disk
    assert second.stats().pending_batches == 0 and not list(tmp_path.glob("*.seg"))
    second.close()


def test_room_is_known_only_once_the_spool_has_taken_a_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 64 * 1024, 1.0)
    assert not spool.has_room(8)  # nothing appended yet: unknown
    spool.append(b"a" * 16, odd_batch(0, rows=10))
    assert spool.has_room(8)
    size = spool.append(b"b" * 16, odd_batch(1, rows=250))
    assert 32 * 1024 < size <= 64 * 1024  # taken; a batch twice as large would not be
    assert not spool.has_room(1)


def _several_segments(directory: Path) -> list[Path]:
    """Twelve batches of 200 rows (about 25 KiB each) written by a process that has exited:
    several segments of 128 KiB, oldest first."""
    writer = Spool(directory, 1 << 20, 0)
    for index in range(12):
        writer.append(bytes([index]) * 16, odd_batch(index, rows=200))
    writer.close()
    segments = sorted(directory.glob("*.seg"))
    assert len(segments) > 1
    return segments


def test_inspect_directory_counts_what_is_on_disk(tmp_path: Path) -> None:
    segments = _several_segments(tmp_path)
    (tmp_path / "0-junk.seg").write_bytes(b"junk")  # not a segment's name (and sorted first): ignored
    (tmp_path / "x-1-2-3.seg").write_bytes(b"junk")  # nor is one whose time is not a number
    (tmp_path / "notes.txt").write_text("not a segment")
    stats = inspect_directory(tmp_path)
    assert (stats.directory, stats.segments, stats.pending_batches, stats.pending_rows, stats.corrupt_records) == (
        str(tmp_path), len(segments), 12, 12 * 200, 0)
    assert stats.bytes == stats.peak_bytes == sum(path.stat().st_size for path in segments)
    oldest_ns = min(int(path.name.split("-")[0]) for path in segments)  # segment names start with it
    assert stats.oldest_age_seconds is not None
    assert abs(stats.oldest_age_seconds - (time.time_ns() - oldest_ns) / 1e9) < 60
    # the age is the oldest segment's, wherever it sorts: make the first one an hour older
    first = segments[0]
    created, rest = first.name.split("-", 1)
    first.rename(first.with_name(f"{int(created) - 3600 * 10**9:020d}-{rest}"))
    age = inspect_directory(tmp_path).oldest_age_seconds
    assert age is not None and 3600 <= age < 3600 + 60
    missing = inspect_directory(tmp_path / "missing")
    assert (missing.segments, missing.bytes, missing.oldest_age_seconds) == (0, 0, None)


def test_an_adopted_spool_counts_its_batches_rows_and_damage(tmp_path: Path) -> None:
    segments = _several_segments(tmp_path)
    for path in segments[:2]:  # the first record of the first two segments damaged
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
    assert inspect_directory(tmp_path).corrupt_records == 2
    reader = Spool(tmp_path, 1 << 20, 0)
    assert reader.adopt_orphans() == len(segments)
    stats = reader.stats()
    assert (stats.segments, stats.pending_batches, stats.pending_rows, stats.corrupt_records) == (
        len(segments), 10, 10 * 200, 2)
    assert stats.bytes == stats.peak_bytes == sum(path.stat().st_size for path in segments)
    assert len(drain(reader)) == 10
    assert reader.stats().corrupt_records == 2  # counted when adopted, not again when read
    reader.close()


def test_replay_counters_and_pending_batches_are_exact(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    for index in range(3):
        spool.append(bytes([index]) * 16, odd_batch(index, rows=4))
    first = spool.next_batch()
    assert first is not None
    with pytest.raises(RuntimeError, match="neither acked nor released"):
        spool.next_batch()  # one batch out at a time
    spool.release(first)  # its replay failed: it stays first in line
    again = spool.next_batch()
    assert again is not None and again.batch_id == first.batch_id
    spool.ack(again, duplicate=True)  # found in the ledger
    assert (spool.stats().pending_batches, spool.stats().pending_rows) == (2, 8)
    for remaining in (1, 0):
        batch = spool.next_batch()
        assert batch is not None
        spool.ack(batch)
        assert (spool.stats().pending_batches, spool.stats().pending_rows) == (remaining, 4 * remaining)
    stats = spool.stats()
    assert (stats.replayed_batches, stats.duplicate_batches, stats.replayed_rows, stats.segments) == (2, 1, 8, 0)
    # the replayed segment is gone; a batch appended now goes to a new one and is replayed too
    spool.append(b"n" * 16, odd_batch(9))
    assert [batch_id for batch_id, _ in drain(spool)] == [b"n" * 16]
    spool.close()


def test_each_damaged_region_of_a_live_segment_counts_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    sizes = [spool.append(bytes([index]) * 16, odd_batch(index, rows=20)) for index in range(5)]
    segment = next(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[sizes[0] + 100] ^= 0xFF  # inside the second record
    data[sum(sizes[:3]) + 100] ^= 0xFF  # inside the fourth
    segment.write_bytes(bytes(data))
    assert [batch_id[0] for batch_id, _ in drain(spool)] == [0, 2, 4]
    assert spool.stats().corrupt_records == 2
    spool.close()


def test_a_stray_byte_and_a_tail_shorter_than_a_header_are_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    sizes = [spool.append(bytes([index]) * 16, odd_batch(index)) for index in range(2)]
    spool.close()
    segment = next(tmp_path.glob("*.seg"))
    data = segment.read_bytes()
    # one stray byte before the second record, and a torn header of 5 bytes at the end
    segment.write_bytes(data[:sizes[0]] + b"x" + data[sizes[0]:] + data[:5])
    records = [(record.corrupt_before, record.rows) for record in scan_records(segment)]
    assert records == [(0, 3), (1, 3), (1, 0)]  # the torn tail comes back empty, to be counted


def test_replaying_an_older_segment_keeps_appending_to_the_active_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    for index in range(12):
        spool.append(bytes([index]) * 16, odd_batch(index, rows=200))
    before = sorted(tmp_path.glob("*.seg"))
    while sorted(tmp_path.glob("*.seg")) == before:  # replay the oldest segment
        batch = spool.next_batch()
        assert batch is not None
        spool.ack(batch)
    spool.append(b"n" * 16, odd_batch(99))  # small: it fits in the active segment
    assert sorted(tmp_path.glob("*.seg")) == before[1:]
    spool.close()


def test_appends_are_counted_and_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 0)
    for index in range(3):
        spool.append(bytes([index]) * 16, odd_batch(index, rows=index + 1))
    stats = spool.stats()
    counts = (stats.spooled_batches, stats.spooled_rows, stats.pending_batches, stats.pending_rows)
    assert counts == (3, 6, 3, 6)
    assert stats.oldest_age_seconds is not None and 0 <= stats.oldest_age_seconds < 600  # seconds, not ns
    assert stats.directory == str(tmp_path)
    assert {path.stat().st_mode & 0o777 for path in tmp_path.glob("*.seg")} == {0o600}
    spool.close()


def test_dropping_for_room_counts_exactly_what_was_lost(tmp_path: Path) -> None:
    """Dropped batches are the oldest not yet replayed, each counted once with its rows: a replayed
    one is not lost, and one out for replay when its segment goes is counted by release()."""
    rows = [100 + index % 3 * 20 for index in range(60)]  # 6-12 KiB each; the spool holds about 14
    spool = Spool(tmp_path, 128 * 1024, 1.0)
    for index in range(5):
        spool.append(index.to_bytes(16, "big"), odd_batch(index, rows=rows[index]))
    replayed = spool.next_batch()
    assert replayed is not None
    spool.ack(replayed)  # batch 0
    out = spool.next_batch()  # batch 1, out for replay while the spool fills
    assert out is not None
    for index in range(5, 60):
        spool.append(index.to_bytes(16, "big"), odd_batch(index, rows=rows[index]))
    spool.release(out)  # its replay failed after its segment was dropped
    stats = spool.stats()
    kept = [int.from_bytes(batch_id, "big") for batch_id, _ in drain(spool)]
    first_kept = 60 - len(kept)
    assert kept == list(range(first_kept, 60))
    counts = (stats.replayed_batches, stats.dropped_batches, stats.pending_batches)
    assert counts == (1, first_kept - 1, len(kept))
    assert stats.dropped_rows == sum(rows[1:first_kept])
    assert stats.bytes <= 128 * 1024 and first_kept > 20  # several segments were dropped


def test_a_batch_as_large_as_the_spool_fits_and_a_larger_one_is_refused(tmp_path: Path) -> None:
    size = Spool(tmp_path / "probe", 1 << 20, 1.0).append(b"p" * 16, odd_batch(1))
    alone = Spool(tmp_path / "alone", size, 1.0)
    alone.append(b"p" * 16, odd_batch(1))
    assert alone.stats().pending_batches == 1
    alone.close()
    spool = Spool(tmp_path / "exact", 2 * size, 1.0)
    spool.append(b"a" * 16, odd_batch(1))
    spool.append(b"b" * 16, odd_batch(1))  # exactly full: nothing dropped
    assert (spool.stats().dropped_batches, spool.stats().pending_batches) == (0, 2)
    with pytest.raises(SpoolError, match="exceeds the spool size"):
        spool.append(b"c" * 16, odd_batch(1, rows=200))
    assert (spool.stats().dropped_batches, spool.stats().dropped_rows) == (1, 200)
    spool.close()


def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DLQ_FSYNC_INTERVAL=0: every append is on disk when it returns; otherwise sync() does it."""
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    eager = Spool(tmp_path / "eager", 1 << 20, 0)
    eager.append(b"e" * 16, odd_batch(1))
    assert len(synced) >= 2  # the segment and its directory
    synced.clear()
    (tmp_path / "lazy").mkdir()
    lazy = Spool(tmp_path / "lazy", 1 << 20, 1.0)
    lazy.sync()
    assert synced == []  # nothing appended yet
    lazy.append(b"l" * 16, odd_batch(1))
    assert synced == []  # left to the replayer's periodic sync()
    lazy.sync()
    assert len(synced) >= 2
    synced.clear()
    lazy.sync()
    assert synced == []  # nothing appended since
    eager.close()
    lazy.close()


def test_adoption_of_several_dead_processes_and_of_nothing(tmp_path: Path) -> None:
    assert Spool(tmp_path / "missing", 1 << 20, 0).adopt_orphans() == 0  # no directory yet
    for name in ("first", "second"):
        writer = Spool(tmp_path, 1 << 20, 0)
        writer.append(name.encode().ljust(16), odd_batch(1))
        writer.close()
    reader = Spool(tmp_path, 1 << 20, 0)
    assert reader.adopt_orphans() == 2  # one segment of each
    assert reader.adopt_orphans() == 0  # already ours
    assert sorted(batch_id.strip() for batch_id, _ in drain(reader)) == [b"first", b"second"]
    reader.close()


def test_the_spool_directory_and_lock_are_private_and_created_with_parents(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "spool"
    spool = Spool(directory, 1 << 20, 0)
    assert (spool.stats().bytes, spool.stats().peak_bytes) == (0, 0)
    spool.append(b"a" * 16, odd_batch(1))
    assert directory.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in directory.glob("owner-*.lock")} == {0o600}
    assert spool.stats().peak_bytes == spool.stats().bytes
    spool.close()


def test_segments_are_an_eighth_of_the_spool(tmp_path: Path) -> None:
    """docs/reliability.md: segment size DLQ_MAX_BYTES / 8 (between 64 KiB and 16 MiB)."""
    spool = Spool(tmp_path, 8 << 20, 1.0)
    sizes = [spool.append(bytes([index % 256]) * 16, odd_batch(index, rows=200)) for index in range(60)]
    first = sorted(tmp_path.glob("*.seg"))[0].stat().st_size
    assert (1 << 20) - max(sizes) < first <= 1 << 20
    spool.close()


def test_a_spool_that_cannot_be_written_raises_and_counts(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the spool directory should go")
    spool = Spool(blocker / "spool", 1 << 20, 0)
    for attempt in (1, 2):
        with pytest.raises(SpoolError, match="could not spool a batch to"):
            spool.append(b"a" * 16, odd_batch(1))
        assert spool.stats().failed_appends == attempt
