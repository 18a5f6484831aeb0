"""The dead-letter spool's record format, and the scanner that finds records in a segment file.

Pure functions over bytes and files, apart from :class:`~.spool.Spool` (which owns the
directory, its locks and its threads), so the format can be read, tested and kept stable
on its own: spool files written by any earlier release must still decode.

Records. One record is one batch: a 16-byte header (magic, payload length, CRC-32 of the
payload, row count) and a payload that is ``marshal`` of ``(version, batch id, parts)``, each
part being ``(table name, ((column, type), ...), insert_if_absent, [row tuples])``. Rows are
the converted wire values (ints, bytes, str, floats, None), so nothing is re-encoded lossily,
and the column list makes every record self-describing: decoding needs no registry of table
specs, and a record written by an older version still names exactly what it holds. ``marshal``
runs in C (a 512-span batch encodes in about 0.3 ms) and is only ever read back after its CRC
matched; the spool directory is created ``0700``, since ``marshal`` is not meant for untrusted
input.

Torn and corrupt records. A record cut short by a crash, or damaged on disk, fails its length
or CRC check; the scanner counts one corrupt region and resynchronizes on the next magic whose
record checks out, so damage never blocks the records after it. A record whose CRC matches but
whose payload is not a batch this release can read (a later format version, a garbled
structure, rows that do not match their columns) raises :class:`SpoolRecordError` on
decoding; the spool moves it to its quarantine directory and goes on.
"""

from __future__ import annotations

import marshal
import mmap
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..convert.table import Column, Row, RowStream, TableRows, TableSpec
from ..errors import SpoolRecordError

MAGIC = b"OTPS"
_HEADER = struct.Struct("<4sIII")  # magic, payload length, crc32(payload), rows
_FORMAT_VERSION = 1  # the first item of every payload; a reader refuses versions it does not know
_MARSHAL_VERSION = 4


def materialized_rows(part: TableRows) -> list[Row]:
    """Every row of ``part`` as a list, converting what a :class:`RowStream` has not yet.

    Both the codec and poison-row bisection (``poison.py``) need all rows of a part at once.
    """
    rows = part.rows
    if isinstance(rows, RowStream):
        return rows.materialize()
    return rows if isinstance(rows, list) else list(rows)


def encode_batch(batch_id: bytes, parts: Sequence[TableRows]) -> tuple[bytes, int]:
    """One spool record (header and payload) for a batch, and its row count."""
    encoded = []
    count = 0
    for part in parts:
        rows = materialized_rows(part)
        count += len(rows)
        columns = tuple((column.name, column.type) for column in part.table.columns)
        encoded.append((part.table.name, columns, part.insert_if_absent, rows))
    payload = marshal.dumps((_FORMAT_VERSION, batch_id, tuple(encoded)), _MARSHAL_VERSION)
    return frame(payload, count), count


def frame(payload: bytes, rows: int) -> bytes:
    """The record of ``payload``: its header (magic, length, CRC-32, ``rows``) and the payload."""
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload), rows) + payload


def decode_payload(payload: bytes, rows: int | None = None) -> tuple[bytes, list[TableRows]]:
    """The batch id and parts of a record payload whose CRC matched; ``rows``, when given, is
    the count its header states.

    Raises :class:`SpoolRecordError` for anything but a batch of this format: an unknown
    version, a structure that is not ``(version, 16-byte id, parts)``, a row whose length is
    not its table's column count, a row count other than the header's.
    """
    try:
        version, batch_id, encoded = marshal.loads(payload)
    except (ValueError, EOFError, TypeError) as error:
        raise SpoolRecordError(f"undecodable spool record: {error}") from None
    if version != _FORMAT_VERSION:
        raise SpoolRecordError(f"unknown spool record format {version!r}")
    if not isinstance(batch_id, bytes) or len(batch_id) != 16 or not isinstance(encoded, tuple):
        raise SpoolRecordError("garbled spool record: not (format, 16-byte batch id, parts)")
    parts = [_decode_part(part) for part in encoded]
    if rows is not None and rows != sum(len(rows_of) for _, rows_of in parts):
        raise SpoolRecordError(f"garbled spool record: its header counts {rows} rows, its parts others")
    return batch_id, [TableRows(table, rows_of, insert_if_absent=flag) for (table, flag), rows_of in parts]


def _decode_part(part: Any) -> tuple[tuple[TableSpec, bool], list[Row]]:
    """One ``(table name, ((column, type)...), insert_if_absent, [rows])`` of a payload, checked."""
    try:
        name, columns, flag, rows = part
        table = TableSpec(name, tuple(Column(column, kind) for column, kind in columns))
    except (TypeError, ValueError):
        raise SpoolRecordError("garbled spool record: a part is not (table, columns, flag, rows)") from None
    texts = [table.name, *(text for column in table.columns for text in (column.name, column.type))]
    if not all(isinstance(text, str) for text in texts) or not isinstance(flag, bool) \
            or not isinstance(rows, list):
        raise SpoolRecordError(f"garbled spool record: a part of {name!r} has fields of the wrong types")
    width = len(table.columns)
    if not all(isinstance(row, tuple) and len(row) == width for row in rows):
        raise SpoolRecordError(f"garbled spool record: a row of {name} does not have its {width} columns")
    return (table, flag), rows


@dataclass(frozen=True)
class ScannedRecord:
    """A record found in a segment: where it ends, what it holds, and what damage preceded it."""

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
                    return ScannedRecord(end, rows, payload, corrupt)
        corrupt = 1
        found = data.find(MAGIC, offset + 1)
        if found < 0:
            break
        offset = found
    return ScannedRecord(size, 0, b"", 1) if corrupt else None


def scan_records(path: Path) -> Iterator[ScannedRecord]:
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


@dataclass(frozen=True)
class SegmentContents:
    """What a whole segment file holds: its size, its valid records and their rows, its damage."""

    bytes: int
    records: int
    rows: int
    corrupt_records: int


def scan_segment(path: Path) -> SegmentContents:
    """Read the segment file at ``path`` to its end; raises FileNotFoundError if it is gone."""
    size = path.stat().st_size
    records = rows = corrupt = 0
    for record in scan_records(path):
        corrupt += record.corrupt_before
        if record.payload:
            records += 1
            rows += record.rows
    return SegmentContents(size, records, rows, corrupt)
