"""The spool's record format, pinned: what a record holds byte by byte, and how damage is skipped.

Spool files outlive the process (and the release) that wrote them, so the expected values
here are literals written from the format's description, never taken from the codec.
"""

from __future__ import annotations

import marshal
import struct
import zlib
from pathlib import Path

import pytest

from opentelemetry_exporter_pgvector.convert.table import Column, RowStream, TableRows, TableSpec
from opentelemetry_exporter_pgvector.errors import SpoolRecordError
from opentelemetry_exporter_pgvector.write.spool_format import (
    SegmentContents,
    decode_payload,
    encode_batch,
    scan_records,
    scan_segment,
)

HEADER = struct.Struct("<4sIII")  # magic, payload length, crc32(payload), row count
ODD = TableSpec("odd", (Column("a", "int8"), Column("b", "bytea"), Column("c", "text"),
                        Column("d", "float8")))
KEYS = TableSpec("dict", (Column("k", "uuid"),))
BATCH_ID = bytes(range(16))
ODD_ROWS = [(1, b"\x00\xff", "h\u00e9 \ud800", -0.0), (None, b"", "", 1.5)]
KEY_ROWS = [(b"k" * 16,)]

# The record of BATCH_ID with ODD_ROWS and KEY_ROWS (insert-if-absent), as written by the spool of
# 0.1.0.dev0: a spool file left by an earlier release must decode to exactly these rows.
RECORD_OF_0_1_0 = bytes.fromhex(
    "4f545053c4000000ac1d9020030000002903e901000000f310000000000102030405060708090a0b0c0d0e0f2902a904"
    "da036f646429042902da0161da04696e74382902da0162da0562797465612902da0163da04746578742902da0164da06"
    "666c6f61743846db02000000a9047200000000f30200000000fff50700000068c3a920eda080e70000000000000080a9"
    "044ef300000000da00e7000000000000f83fa904da0464696374a9012902da016bda047575696454db01000000a901f3"
    "100000006b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
)


def known_batch() -> list[TableRows]:
    return [TableRows(ODD, list(ODD_ROWS)), TableRows(KEYS, list(KEY_ROWS), insert_if_absent=True)]


def assert_known_parts(parts: list[TableRows]) -> None:
    odd, keys = parts
    assert (odd.table, odd.insert_if_absent, keys.table, keys.insert_if_absent) == (ODD, False, KEYS, True)
    # repr, not ==: it also tells -0.0 from 0.0, and a list from a tuple
    assert repr(odd.rows) == repr(ODD_ROWS) and repr(keys.rows) == repr(KEY_ROWS)


def test_a_record_of_an_earlier_release_decodes_to_its_rows() -> None:
    magic, length, crc, rows = HEADER.unpack_from(RECORD_OF_0_1_0)
    payload = RECORD_OF_0_1_0[HEADER.size:]
    assert (magic, length, crc, rows) == (b"OTPS", len(payload), zlib.crc32(payload), 3)
    batch_id, parts = decode_payload(payload)
    assert batch_id == BATCH_ID
    assert_known_parts(parts)


def test_a_record_is_a_header_and_a_marshalled_self_describing_payload() -> None:
    record, rows = encode_batch(BATCH_ID, known_batch())
    assert rows == 3
    magic, length, crc, header_rows = HEADER.unpack_from(record)
    payload = record[HEADER.size:]
    assert (magic, length, crc, header_rows) == (b"OTPS", len(payload), zlib.crc32(payload), 3)
    assert marshal.loads(payload) == (1, BATCH_ID, (
        ("odd", (("a", "int8"), ("b", "bytea"), ("c", "text"), ("d", "float8")), False, ODD_ROWS),
        ("dict", (("k", "uuid"),), True, KEY_ROWS),
    ))
    batch_id, parts = decode_payload(payload)
    assert batch_id == BATCH_ID
    assert_known_parts(parts)


def test_a_row_stream_is_encoded_with_the_rows_it_converts() -> None:
    stream = RowStream([1, 2, 3], lambda n: None if n == 2 else (n,))  # 2 cannot be converted
    record, rows = encode_batch(BATCH_ID, [TableRows(TableSpec("t", (Column("n", "int8"),)), stream)])
    assert rows == 2 and HEADER.unpack_from(record)[3] == 2
    assert decode_payload(record[HEADER.size:])[1][0].rows == [(1,), (3,)]


def test_a_payload_of_an_unknown_format_version_is_refused() -> None:
    with pytest.raises(SpoolRecordError, match="unknown spool record format 2"):
        decode_payload(marshal.dumps((2, BATCH_ID, ()), 4))


ODD_COLUMNS = (("a", "int8"), ("b", "bytea"), ("c", "text"), ("d", "float8"))
GARBLED = {
    "not marshal at all": b"\xffgarbage, but its CRC is right",
    "marshal of something else": marshal.dumps(["a", "list"], 4),
    "a batch id of 3 bytes": marshal.dumps((1, b"abc", ()), 4),
    "a part of three fields": marshal.dumps((1, BATCH_ID, (("odd", ODD_COLUMNS, False),)), 4),
    "a column that is a number": marshal.dumps((1, BATCH_ID, (("odd", ((1, "int8"),), False, []),)), 4),
    "a row of three values for four columns": marshal.dumps(
        (1, BATCH_ID, (("odd", ODD_COLUMNS, False, [(1, b"", "x", 0.5), (2, b"", "y")]),)), 4),
    "a row that is a list": marshal.dumps(
        (1, BATCH_ID, (("odd", ODD_COLUMNS, False, [[1, b"", "x", 0.5]]),)), 4),
}


@pytest.mark.parametrize("case", sorted(GARBLED))
def test_a_payload_that_is_not_a_batch_is_refused_with_one_error(case: str) -> None:
    """Whatever a CRC-valid payload holds, decoding raises SpoolRecordError, which the spool
    quarantines, never another exception that would stop the replay at this record."""
    with pytest.raises(SpoolRecordError, match="spool record"):
        decode_payload(GARBLED[case])


def test_a_header_that_counts_other_rows_than_the_payload_is_refused() -> None:
    payload = RECORD_OF_0_1_0[HEADER.size:]
    assert decode_payload(payload, 3)[0] == BATCH_ID
    with pytest.raises(SpoolRecordError, match="counts 4 rows"):
        decode_payload(payload, 4)


def test_the_scanner_skips_garbage_and_a_torn_tail_in_a_real_file(tmp_path: Path) -> None:
    first, _ = encode_batch(b"1" * 16, known_batch())
    second, _ = encode_batch(b"2" * 16, [TableRows(KEYS, [(b"x" * 16,), (b"y" * 16,)])])
    third, _ = encode_batch(b"3" * 16, known_batch())
    garbage = b"\x00not a record\xff"
    segment = tmp_path / "segment.seg"
    segment.write_bytes(first + garbage + second + third[:-5])  # the third cut short mid-write
    found = list(scan_records(segment))
    assert [(record.end, record.rows, record.corrupt_before) for record in found] == [
        (len(first), 3, 0),
        (len(first) + len(garbage) + len(second), 2, 1),  # the garbage: one corrupt region
        (segment.stat().st_size, 0, 1),  # the torn tail: counted, holds nothing
    ]
    assert [decode_payload(record.payload)[0] for record in found[:2]] == [b"1" * 16, b"2" * 16]
    assert found[2].payload == b""
    assert scan_segment(segment) == SegmentContents(segment.stat().st_size, 2, 5, 2)


def test_an_empty_segment_holds_nothing_and_a_missing_one_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty.seg"
    empty.write_bytes(b"")
    assert list(scan_records(empty)) == []
    assert scan_segment(empty) == SegmentContents(0, 0, 0, 0)
    with pytest.raises(FileNotFoundError):
        scan_segment(tmp_path / "gone.seg")
