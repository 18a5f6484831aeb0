"""Text and JSON values made safe for PostgreSQL, fast when they already are.

PostgreSQL rejects NUL characters in ``text`` and ``jsonb``, lone UTF-16 surrogates (which
cannot be encoded as UTF-8), and NaN or infinities in JSON. One such value must not fail the
COPY of the whole batch, so every string and JSON document goes through here. The common
case costs almost nothing: ``str.isascii`` plus a substring test for text, and one
``orjson.dumps`` (about 15x faster than the standard library here) plus two byte scans for
JSON. Only values that fail those checks take the slow, recursive path.

Sanitizing rules, applied the same way to every signal:

* NUL characters are removed; lone surrogates become U+FFFD.
* Strings longer than ``max_length`` characters are cut and end with :data:`TRUNCATION_MARK`.
* Float NaN and infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
  (the protobuf JSON mapping's spelling).
* Integers too long to print in decimal (over about 4200 digits) become hex strings.
* ``bytes`` become base64 strings (as in OTLP/JSON); other unknown objects their ``str()``.
* Mapping keys become strings.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

TRUNCATION_MARK = "...[truncated]"
JSONB_VERSION = b"\x01"
EMPTY_JSONB_OBJECT = JSONB_VERSION + b"{}"
EMPTY_JSONB_ARRAY = JSONB_VERSION + b"[]"
_MAX_DECIMAL_INT_BITS = 14_000  # about 4200 decimal digits, under sys.get_int_max_str_digits()


def clean_text(value: str, max_length: int) -> str:
    """Return ``value`` as text PostgreSQL accepts, cut to ``max_length`` characters."""
    if len(value) > max_length:
        value = value[: max_length - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _replace_surrogates(value)
    return value


def _replace_surrogates(value: str) -> str:
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in value)


def clean_optional_text(value: str | None, max_length: int) -> str | None:
    """:func:`clean_text` for optional values; empty strings stay empty."""
    return None if value is None else clean_text(value, max_length)


def to_json(value: Any, max_length: int) -> bytes:
    """Serialize ``value`` to UTF-8 JSON that ``jsonb`` accepts.

    The fast path trusts orjson; ``null`` in its output may be a NaN it turned into null, and
    ``\\u0000`` a NUL that jsonb refuses, so either sends the value down the sanitizing path.
    """
    try:
        encoded = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        encoded = None
    if encoded is None or b"null" in encoded or b"\\u0000" in encoded or len(encoded) > max_length:
        return _sanitized_json(value, max_length)
    return encoded


def to_jsonb(value: Any, max_length: int) -> bytes:
    """:func:`to_json` in the jsonb binary format: a version byte, then the JSON text."""
    return JSONB_VERSION + to_json(value, max_length)


def _sanitized_json(value: Any, max_length: int) -> bytes:
    clean = sanitize_json_value(value, max_length)
    return json.dumps(clean, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def sanitize_json_value(value: Any, max_length: int) -> Any:
    """Return a copy of ``value`` made of JSON types that ``jsonb`` accepts (see module doc)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value, max_length)
    if isinstance(value, int):
        # Python refuses to print ints of more than 4300 digits; keep such a value as hex text.
        return value if value.bit_length() <= _MAX_DECIMAL_INT_BITS else clean_text(hex(value), max_length)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return clean_text(base64.b64encode(bytes(value)).decode("ascii"), max_length)
    if isinstance(value, Mapping):
        return {
            clean_text(str(key), max_length): sanitize_json_value(item, max_length)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [sanitize_json_value(item, max_length) for item in value]
    return clean_text(str(value), max_length)


def attribute_mapping(attributes: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The plain dict behind SDK attributes, which orjson serializes without a copy.

    ``BoundedAttributes`` keeps its items in ``_dict``; reading it avoids copying every
    attribute of every span through Python-level ``__getitem__`` calls (a quarter of the
    conversion cost). Any other mapping is used as it is.
    """
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return attributes if attributes is not None else {}


def attributes_jsonb(attributes: Mapping[str, Any] | None, max_length: int) -> bytes:
    """OpenTelemetry attributes (any ``Mapping``) as binary jsonb (see :func:`to_jsonb`)."""
    if not attributes:
        return EMPTY_JSONB_OBJECT
    return to_jsonb(attributes if type(attributes) is dict else dict(attributes), max_length)
