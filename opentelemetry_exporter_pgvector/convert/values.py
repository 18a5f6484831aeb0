"""Text and JSON values made safe for PostgreSQL, fast when they already are.

PostgreSQL rejects NUL characters in ``text`` and ``jsonb``, lone UTF-16 surrogates (which
cannot be encoded as UTF-8), and NaN or infinities in JSON. One such value must not fail the
COPY of the whole batch, so every string and JSON document goes through here. The common
case costs almost nothing: ``str.isascii`` plus a substring test for text, and one
``orjson.dumps`` (about 15x faster than the standard library here) plus two byte scans for
JSON. Only values that fail those checks take the slow path, whose recursion is bounded by
:data:`MAX_JSON_DEPTH` (well within Python's recursion limit) and whose JSON is written by
orjson too, so no value, however deep, reaches Python's or the JSON encoder's limits.

Sanitizing rules, applied the same way to every signal:

* NUL characters are removed; lone surrogates become U+FFFD.
* Strings longer than ``max_length`` characters are cut and end with :data:`TRUNCATION_MARK`.
* Float NaN and infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
  (the protobuf JSON mapping's spelling).
* Integers too long to print in decimal (over about 4200 digits) become hex strings
  (:func:`int_text`, the rule for every integer the converters turn into text).
* Arrays and maps nested deeper than :data:`MAX_JSON_DEPTH` (orjson's own limit) are cut: the
  array or map at depth ``MAX_JSON_DEPTH + 1`` becomes the string :data:`DEPTH_MARK`.
* ``bytes`` become base64 strings (as in OTLP/JSON); other unknown objects their ``str()``.
* Mapping keys become strings.
"""

from __future__ import annotations

import base64
import enum
import math
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson

TRUNCATION_MARK = "...[truncated]"
DEPTH_MARK = "...[nested too deep]"
JSONB_VERSION = b"\x01"
EMPTY_JSONB_OBJECT = JSONB_VERSION + b"{}"
EMPTY_JSONB_ARRAY = JSONB_VERSION + b"[]"
# orjson refuses arrays and maps nested deeper than this; the sanitizing path cuts them there,
# so what it writes orjson can write too, and its recursion stays far from Python's limit.
MAX_JSON_DEPTH = 254
_MAX_DECIMAL_INT_BITS = 14_000  # about 4200 decimal digits, under sys.get_int_max_str_digits()
# The integers orjson writes as JSON numbers itself; larger ones are handed to it as text.
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


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
    return orjson.dumps(_sanitized(value, max_length, 0, _int_fragment))


def _int_fragment(value: int) -> orjson.Fragment:
    """An integer beyond 64 bits in the one form orjson writes it: its decimal text."""
    return orjson.Fragment(str(value))


def int_text(value: int) -> str:
    """An integer as text: decimal, or hex (``0x...``) past the 4300 digits Python prints in decimal."""
    return str(value) if value.bit_length() <= _MAX_DECIMAL_INT_BITS else hex(value)


def sanitize_json_value(value: Any, max_length: int) -> Any:
    """Return a copy of ``value`` made of JSON types that ``jsonb`` accepts (see module doc)."""
    return _sanitized(value, max_length, 0, int)


def _sanitized(value: Any, max_length: int, depth: int, big_int: Callable[[int], Any]) -> Any:
    """:func:`sanitize_json_value`, ``depth`` arrays and maps down, with ints beyond 64 bits
    (and within decimal) given as ``big_int`` makes them.

    Loops rather than comprehensions: one stack frame per level, not two.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value, max_length)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
        if value.bit_length() <= _MAX_DECIMAL_INT_BITS:
            return big_int(value)
        return clean_text(hex(value), max_length)  # Python refuses to print it in decimal
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return clean_text(base64.b64encode(bytes(value)).decode("ascii"), max_length)
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_JSON_DEPTH:
            return DEPTH_MARK
        if isinstance(value, Mapping):
            clean: dict[str, Any] = {}
            for key, item in value.items():
                clean_key = clean_text(_key_text(key), max_length)
                clean[clean_key] = _sanitized(item, max_length, depth + 1, big_int)
            return clean
        items = []
        for item in value:
            items.append(_sanitized(item, max_length, depth + 1, big_int))
        return items
    return clean_text(str(value), max_length)


def _key_text(key: Any) -> str:
    return int_text(key) if isinstance(key, int) and not isinstance(key, bool) else str(key)


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


class _BoundedRepr(reprlib.Repr):
    """``reprlib``'s bounded depth and lengths, made total: integers too long to print in decimal
    are shown in hex, any mapping as a dict, and objects by their fields (an SDK record's own
    repr tells nothing, or recurses through its attributes without a bound)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 6
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 20
        self.maxstring = self.maxother = 500

    def repr_int(self, x: int, level: int) -> str:
        text = int_text(x)
        return text if len(text) <= self.maxother else f"{text[: self.maxother]}...({x.bit_length()} bits)"

    def repr_instance(self, x: Any, level: int) -> str:
        if isinstance(x, Mapping):  # repr_dict reads only len(), keys and items
            return self.repr_dict(cast("dict[Any, Any]", x), level)
        fields = getattr(x, "__dict__", None)
        if not fields or isinstance(x, enum.Enum):
            return super().repr_instance(x, level)  # builtin repr, or a placeholder if it fails
        if level <= 0:
            return f"{type(x).__name__}(...)"
        shown = ", ".join(
            f"{name}={self.repr1(value, level - 1)}" for name, value in list(fields.items())[: self.maxdict]
        )
        return f"{type(x).__name__}({shown})"


_bounded_repr = _BoundedRepr()


def bounded_repr(value: Any) -> str:
    """A repr of ``value`` that never fails and stays small, however deep or large ``value`` is.

    At most 6 levels, 20 items per level and 500 characters per string are shown.
    """
    return _bounded_repr.repr(value)
