"""Text and JSON sanitizing, checked against what PostgreSQL actually accepts and stores."""

from __future__ import annotations

import base64
import json
import math
from types import MappingProxyType
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes

from opentelemetry_exporter_pgvector.convert.values import (
    DEPTH_MARK,
    MAX_JSON_DEPTH,
    TRUNCATION_MARK,
    attributes_jsonb,
    bounded_repr,
    clean_optional_text,
    clean_text,
    int_text,
    sanitize_json_value,
    to_json,
    to_jsonb,
)


@pytest.fixture
def table(conn: psycopg.Connection, schema: str) -> str:
    """A table with a text and a jsonb column in this test's schema."""
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute("CREATE TABLE value_check (id serial PRIMARY KEY, body text, doc jsonb)")
    return "value_check"


def store_json(conn: psycopg.Connection, encoded: bytes) -> Any:
    """Insert serialized JSON into a jsonb column; return what PostgreSQL gives back."""
    row = conn.execute(
        "INSERT INTO value_check (doc) VALUES (%s::jsonb) RETURNING doc", (encoded.decode(),)
    ).fetchone()
    assert row is not None
    return row[0]


def store_text(conn: psycopg.Connection, text: str) -> str:
    row = conn.execute("INSERT INTO value_check (body) VALUES (%s) RETURNING body", (text,)).fetchone()
    assert row is not None
    return row[0]


# --- text ---------------------------------------------------------------------------------------


def test_clean_text_leaves_clean_text_alone() -> None:
    for text in ("", "plain ascii", "ünïcödé ✓ 😀", "a\\u0000b"):
        assert clean_text(text, 100) == text
    value = "already clean"
    assert clean_text(value, 100) is value


def test_clean_text_removes_nul(conn: psycopg.Connection, table: str) -> None:
    with pytest.raises(psycopg.DataError):  # what the sanitizing protects against
        with conn.transaction():
            store_text(conn, "a\x00b")
    cleaned = clean_text("a\x00b\x00\x00c\x00", 100)
    assert cleaned == "abc"
    assert store_text(conn, cleaned) == "abc"


def test_clean_text_replaces_lone_surrogates(conn: psycopg.Connection, table: str) -> None:
    cleaned = clean_text("x\ud800y\udfffz é", 100)
    assert cleaned == "x\ufffdy\ufffdz é"
    assert store_text(conn, cleaned) == cleaned
    # a surrogate pair in a Python str is two lone surrogates, each replaced
    assert clean_text("\ud83d\ude00", 100) == "\ufffd\ufffd"


def test_clean_text_truncates_with_mark() -> None:
    long = "abcdefghij" * 20
    cut = clean_text(long, 64)
    assert len(cut) == 64
    assert cut.endswith(TRUNCATION_MARK)
    assert cut == long[: 64 - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    exact = "y" * 64
    assert clean_text(exact, 64) == exact
    assert clean_text("z" * 65, 64).endswith(TRUNCATION_MARK)


def test_clean_text_truncates_then_cleans_within_limit() -> None:
    cut = clean_text("\x00" * 10 + "\ud800" * 200, 64)
    assert len(cut) <= 64
    assert "\x00" not in cut
    cut.encode("utf-8")


def test_clean_optional_text() -> None:
    assert clean_optional_text(None, 64) is None
    assert clean_optional_text("", 64) == ""
    assert clean_optional_text("a\x00", 64) == "a"


# --- JSON ---------------------------------------------------------------------------------------


def test_json_nul_removed_in_values_and_keys(conn: psycopg.Connection, table: str) -> None:
    value = {"k\x00ey": "v\x00al", "list": ["\x00", "a\x00"]}
    with pytest.raises(psycopg.DataError):  # jsonb refuses \u0000
        with conn.transaction():
            store_json(conn, json.dumps(value).encode())
    encoded = to_json(value, 100)
    assert b"\\u0000" not in encoded
    assert store_json(conn, encoded) == {"key": "val", "list": ["", "a"]}


def test_json_lone_surrogates_replaced(conn: psycopg.Connection, table: str) -> None:
    encoded = to_json({"s\ud800": ["\udc00x"]}, 100)
    encoded.decode("utf-8")
    assert store_json(conn, encoded) == {"s\ufffd": ["\ufffdx"]}


def test_json_nan_and_infinities(conn: psycopg.Connection, table: str) -> None:
    value = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "list": [1.5, math.nan], "none": None}
    assert store_json(conn, to_json(value, 100)) == {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "list": [1.5, "NaN"],
        "none": None,
    }
    assert json.loads(to_json(math.nan, 100)) == "NaN"


def test_json_null_stays_null(conn: psycopg.Connection, table: str) -> None:
    """The fast path treats "null" as a hint of NaN; real nulls and the string 'null' survive."""
    assert store_json(conn, to_json({"a": None, "b": "null"}, 100)) == {"a": None, "b": "null"}


def test_json_truncates_long_strings(conn: psycopg.Connection, table: str) -> None:
    stored = store_json(conn, to_json({"long": "x" * 500, "short": "y", "k" * 100: 1}, 64))
    assert stored["short"] == "y"
    assert len(stored["long"]) == 64 and stored["long"].endswith(TRUNCATION_MARK)
    (long_key,) = [key for key in stored if key.startswith("k")]
    assert len(long_key) == 64 and long_key.endswith(TRUNCATION_MARK)


def test_json_bytes_become_base64(conn: psycopg.Connection, table: str) -> None:
    raw = b"\x00\xff binary \x01"
    stored = store_json(conn, to_json({"b": raw, "ba": bytearray(b"xy"), "mv": memoryview(b"z")}, 100))
    assert stored == {
        "b": base64.b64encode(raw).decode(),
        "ba": base64.b64encode(b"xy").decode(),
        "mv": base64.b64encode(b"z").decode(),
    }
    assert base64.b64decode(stored["b"]) == raw


def test_json_non_string_keys(conn: psycopg.Connection, table: str) -> None:
    stored = store_json(
        conn, to_json({1: "int", None: "none", 2.5: "float", False: "bool", (1, 2): "t"}, 100)
    )
    assert stored == {"1": "int", "None": "none", "2.5": "float", "False": "bool", "(1, 2)": "t"}
    # a key too long for Python to print in decimal is written in hex, as such values are
    assert json.loads(to_json({7**6000: "huge", True: "bool"}, 100_000)) == {hex(7**6000): "huge", "True": "bool"}


def test_json_ints_beyond_64_bits(conn: psycopg.Connection, table: str) -> None:
    value = {"u64": 2**64, "big": 2**100, "neg": -(2**70), "i64": 2**63 - 1, "min": -(2**63), "huge": 10**400}
    encoded = to_json(value, 100)
    assert json.loads(encoded) == value
    assert store_json(conn, encoded) == value
    row = conn.execute(
        "SELECT (%s::jsonb ->> 'big')::numeric = 2::numeric ^ 100", (encoded.decode(),)
    ).fetchone()
    assert row == (True,)


def test_json_ints_too_long_to_print_become_hex(conn: psycopg.Connection, table: str) -> None:
    value = 7**6000  # about 5070 decimal digits: more than Python will print in decimal
    stored = store_json(conn, to_json({"huge": value, "fine": 10**400}, 100_000))
    assert stored["huge"] == hex(value)
    assert int(stored["huge"], 16) == value
    assert stored["fine"] == 10**400


def test_json_nested_structures(conn: psycopg.Connection, table: str) -> None:
    value = {
        "a": [1, 2.5, True, None, "s", {"b": [math.inf, {"c\x00": "d\ud800"}]}],
        "t": (1, ("x", b"\x01")),
        "e": {},
        "l": [],
    }
    stored = store_json(conn, to_json(value, 100))
    assert stored == {
        "a": [1, 2.5, True, None, "s", {"b": ["Infinity", {"c": "d\ufffd"}]}],
        "t": [1, ["x", "AQ=="]],
        "e": {},
        "l": [],
    }


def test_json_types_preserved_on_fast_path(conn: psycopg.Connection, table: str) -> None:
    value = {"b": True, "f": False, "i": 42, "x": 1.5, "s": "str", "l": [1, 2], "n": -7}
    encoded = to_json(value, 100)
    assert json.loads(encoded) == value
    row = conn.execute(
        "SELECT jsonb_typeof(d->'b'), jsonb_typeof(d->'i'), jsonb_typeof(d->'x'), jsonb_typeof(d->'l'),"
        " (d->>'i')::int, (d->>'x')::float8 FROM (SELECT %s::jsonb AS d) q",
        (encoded.decode(),),
    ).fetchone()
    assert row == ("boolean", "number", "number", "array", 42, 1.5)


def test_json_unknown_objects_become_strings() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing\x00"

    assert json.loads(to_json([Thing(), {3}], 100)) == ["thing", "{3}"]
    assert sanitize_json_value(Thing(), 100) == "thing"


def test_attributes_jsonb_accepts_any_mapping() -> None:
    assert attributes_jsonb(None, 100) == b"\x01{}"
    assert attributes_jsonb({}, 100) == b"\x01{}"
    bounded = BoundedAttributes(attributes={"a": 1, "b": ("x", "y")})
    encoded = attributes_jsonb(bounded, 100)
    assert encoded[:1] == b"\x01"  # the jsonb binary format's version byte
    assert json.loads(encoded[1:]) == {"a": 1, "b": ["x", "y"]}
    proxy = MappingProxyType({"n": math.nan})
    assert json.loads(attributes_jsonb(proxy, 100)[1:]) == {"n": "NaN"}


def test_to_jsonb_is_accepted_as_binary_jsonb(conn: psycopg.Connection, table: str) -> None:
    """The binary form is what COPY sends: PostgreSQL's jsonb_recv must accept it as is."""
    value = {"k\x00": ["v\ud800", math.nan, 2**70]}
    encoded = to_jsonb(value, 100)
    assert encoded == b"\x01" + to_json(value, 100)
    with conn.cursor() as cursor, cursor.copy("COPY value_check (doc) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["bytea"])
        copy.write_row((encoded,))
    assert conn.execute("SELECT doc FROM value_check").fetchone() == ({"k": ["v\ufffd", "NaN", 2**70]},)


# --- property: whatever goes in, PostgreSQL accepts what comes out ----------------------------

_nasty_chars = st.sampled_from(
    ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\\", '"', "\u2028", "é", "😀", "a", "null"]
)
_text = st.one_of(st.text(max_size=20), st.lists(_nasty_chars, max_size=12).map("".join))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.binary(max_size=16),
)
_keys = st.one_of(_text, st.integers(min_value=-(2**70), max_value=2**70), st.none(), st.booleans())
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(_keys, children, max_size=5),
    ),
    max_leaves=25,
)


def _same(stored: Any, parsed: Any) -> bool:
    """Equal as JSON documents; jsonb keeps numbers as numeric, so floats compare as floats."""
    if isinstance(parsed, float) or (isinstance(stored, float) and not isinstance(parsed, bool)):
        return not isinstance(stored, (bool, str)) and float(stored) == float(parsed)
    if isinstance(parsed, list):
        return isinstance(stored, list) and len(stored) == len(parsed) and all(map(_same, stored, parsed))
    if isinstance(parsed, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == parsed.keys()
            and all(_same(stored[key], parsed[key]) for key in parsed)
        )
    return type(stored) is type(parsed) and stored == parsed


def _has_forbidden(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, list):
        return any(_has_forbidden(item) for item in value)
    if isinstance(value, dict):
        return any(_has_forbidden(key) or _has_forbidden(item) for key, item in value.items())
    return False


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_values)
def test_to_json_output_is_accepted_by_postgresql(conn: psycopg.Connection, value: Any) -> None:
    encoded = to_json(value, 64)
    text = encoded.decode("utf-8")  # valid UTF-8: no lone surrogates survived
    parsed = json.loads(text)
    assert not _has_forbidden(parsed)
    # nothing but the forbidden parts is lost: the output is the sanitized value
    assert _same(parsed, json.loads(json.dumps(sanitize_json_value(value, 64))))
    row = conn.execute("SELECT %s::jsonb", (text,)).fetchone()
    assert row is not None
    assert _same(row[0], parsed), (row[0], parsed)


def test_json_nested_deeper_than_orjson_takes_is_cut_with_a_marker(
    conn: psycopg.Connection, table: str
) -> None:
    """Python's recursion limit dropped such a value (RecursionError); orjson stops at 254 levels."""
    value: Any = "leaf"
    for index in range(10_000):
        value = [value] if index % 2 else {"in": value, "nan": math.nan}
    stored = store_json(conn, to_json(value, 100))
    depth = 0
    while isinstance(stored, (list, dict)):
        assert stored == [stored[0]] if isinstance(stored, list) else set(stored) == {"in", "nan"}
        stored = stored[0] if isinstance(stored, list) else stored["in"]
        depth += 1
    assert (depth, stored) == (MAX_JSON_DEPTH, DEPTH_MARK)
    shallow = {"a": [[{"b": 1}]]}
    assert to_json(shallow, 100) == json.dumps(shallow, separators=(",", ":")).encode()


def test_json_deep_and_big_ints_together_keep_the_ints(conn: psycopg.Connection, table: str) -> None:
    value: Any = [2**64, -(2**70), 10**400, 7**6000]
    for _ in range(300):
        value = [value]
    stored = store_json(conn, to_json(value, 100_000))
    for _ in range(MAX_JSON_DEPTH - 1):
        stored = stored[0]
    assert stored == [DEPTH_MARK]
    shallow = [[[2**64, -(2**70), 10**400, 7**6000]]]
    assert store_json(conn, to_json(shallow, 100_000)) == [[[2**64, -(2**70), 10**400, hex(7**6000)]]]


def test_int_text_prints_what_python_can_and_hex_beyond() -> None:
    assert int_text(-(10**4000)) == str(-(10**4000))
    assert int_text(10**10_000) == hex(10**10_000)
    assert int(int_text(-(7**6000)), 16) == -(7**6000)
    # the bound: 14,000 bits (4,215 digits) still print in decimal, one bit more does not
    assert int_text(2**13_999) == str(2**13_999) and int_text(2**14_000) == hex(2**14_000)
    assert json.loads(to_json([2**13_999, 2**14_000], 100_000)) == [2**13_999, hex(2**14_000)]


def test_bounded_repr_never_fails_and_stays_small() -> None:
    deep: Any = 1
    for _ in range(10_000):
        deep = {"k": deep}

    class Record:
        def __init__(self) -> None:
            self.name = "n" * 10_000
            self.attributes = MappingProxyType({"deep": deep, "big": 10**10_000})

    text = bounded_repr(Record())
    assert text.startswith("Record(name='nnn") and len(text) < 3000
    assert text.count("{'k': ") < 6 and "{...}" in text  # six levels at most, the record included
    assert "...(33220 bits)" in text
    assert bounded_repr([1, "a", b"b", 2.5, None]) == repr([1, "a", b"b", 2.5, None])
