"""What the wire and the indexes accept: timestamps and indexed text, and where an original goes.

A row the database can never take would fail its batch on every retry and every replay, so
conversion never produces one; where it has to change a value, the row keeps the original.

* Timestamps are Unix nanoseconds. The SDK accepts a float (``time.time_ns() * 1.0``) or any
  int; floats are rounded to the nanosecond, and values outside ``[0, 2**63 - 1]`` (1970-01-01
  to 2262-04-11) are clamped into it: the range of the int64 nanoseconds the SDKs count in,
  in which every duration (end minus start) fits a ``bigint`` too. A value that is no number
  (NaN, an infinity, a string) counts as missing, as None does.
* Text in a btree index (service names, span and metric names, the severity of log shapes)
  is cut to :data:`INDEX_TEXT_BYTES` bytes of UTF-8: btree refuses an index row over 2704
  bytes (error 54000), and ``(service_name, name, start_time)`` holds two such texts. Two
  texts of 1024 bytes, their headers and a timestamp make about 2,080 bytes; incompressible
  text gets no help from compression.
* What a converter changed is kept under :data:`ORIGINALS_KEY` in the row's ``attributes``
  (field name -> original value): ``attributes ? 'otel_pgvector.original'`` finds such rows.
  A service name needs no copy: the resource's attributes in ``otel_resources`` hold it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .values import TRUNCATION_MARK

MAX_UNIX_NANOS = 2**63 - 1
INDEX_TEXT_BYTES = 1024
# Text this short fits whatever its characters: UTF-8 spends at most 4 bytes on one.
INDEX_SAFE_CHARS = INDEX_TEXT_BYTES // 4
ORIGINALS_KEY = "otel_pgvector.original"


def unix_nanos(value: Any, field: str, originals: dict[str, Any]) -> int | None:
    """``value`` as a timestamp every column and duration can hold; None when it is missing.

    A value that had to be clamped, or is no number, is recorded in ``originals[field]``.
    """
    if type(value) is int and 0 <= value <= MAX_UNIX_NANOS:  # nearly always
        return value
    if value is None:
        return None
    try:
        nanos = round(value)  # a float to the nearest nanosecond; an int (or subclass) as it is
    except (TypeError, ValueError, OverflowError):  # a string, NaN, an infinity
        originals[field] = value
        return None
    clamped = min(max(int(nanos), 0), MAX_UNIX_NANOS)
    if clamped != nanos:
        originals[field] = value
    return clamped


def index_text(text: str) -> str:
    """``text`` (already cleaned) cut to at most :data:`INDEX_TEXT_BYTES` bytes of UTF-8.

    A cut text ends with :data:`~.values.TRUNCATION_MARK`, and never in the middle of a character.
    """
    if len(text) <= INDEX_SAFE_CHARS:
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= INDEX_TEXT_BYTES:
        return text
    return encoded[: INDEX_TEXT_BYTES - len(TRUNCATION_MARK)].decode("utf-8", "ignore") + TRUNCATION_MARK


def indexed_field(text: str, field: str, originals: dict[str, Any]) -> str:
    """:func:`index_text` of a field whose whole ``text`` the row keeps in ``originals`` when cut."""
    bounded = index_text(text)
    if bounded is not text:
        originals[field] = text
    return bounded


def with_originals(attributes: Mapping[str, Any], originals: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attributes`` with ``originals`` under :data:`ORIGINALS_KEY` (a copy), or as they are if none."""
    return {**attributes, ORIGINALS_KEY: originals} if originals else attributes
