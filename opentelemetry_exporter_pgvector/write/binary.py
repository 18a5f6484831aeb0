"""Tiny binary COPY adapters for the row values the converters produce.

Rows hold plain Python values that are cheap to build and to spool to disk: timestamps as
Unix nanoseconds (``int``), trace ids as 128-bit ``int``, JSON already serialized to
``bytes``. These dumpers frame them in PostgreSQL's binary format directly, instead of
building a ``datetime``, a ``uuid.UUID`` and re-serializing JSON for every row. They are
registered by type oid only, so they apply where the column types are declared (COPY with
``set_types``) and never change how ordinary query parameters are adapted.
"""

from __future__ import annotations

import struct

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

# PostgreSQL counts binary timestamps in microseconds from 2000-01-01 UTC.
_PG_EPOCH_MICROS = 946_684_800 * 1_000_000
_pack_int64 = struct.Struct(">q").pack


def _oid(name: str) -> int:
    info = psycopg.adapters.types.get(name)
    assert info is not None, name
    return info.oid


class UnixNanosTimestamptzDumper(Dumper):
    """``int`` Unix nanoseconds -> binary ``timestamptz`` (microsecond precision)."""

    format = Format.BINARY
    oid = _oid("timestamptz")

    def dump(self, obj: int) -> Buffer:
        return _pack_int64(obj // 1000 - _PG_EPOCH_MICROS)


class IntUuidDumper(Dumper):
    """128-bit ``int`` (an OpenTelemetry trace id) -> binary ``uuid``."""

    format = Format.BINARY
    oid = _oid("uuid")

    def dump(self, obj: int) -> Buffer:
        return obj.to_bytes(16, "big")


class SerializedJsonbDumper(Dumper):
    """UTF-8 JSON ``bytes`` -> binary ``jsonb`` (a version byte, then the text)."""

    format = Format.BINARY
    oid = _oid("jsonb")

    def dump(self, obj: bytes) -> Buffer:
        return b"\x01" + obj


def register_copy_dumpers(conn: psycopg.Connection) -> None:
    """Make COPY with declared column types accept the converters' plain row values."""
    for dumper in (UnixNanosTimestamptzDumper, IntUuidDumper, SerializedJsonbDumper):
        conn.adapters.register_dumper(None, dumper)
