"""``mask_sql`` in the real embedded PostgreSQL masks log bodies as Python's ``mask`` does.

Records stored without a shape get their log pattern from ``mask_sql``, records with one from
``mask``; a log statement must land in one pattern either way. The known differences (see
``mask_sql``'s docstring) are pinned in :func:`test_documented_differences` and left out of the
property test, and only they: text where a later rule's value starts first and runs into an
earlier rule's, ``::`` directly followed by a signed number, and characters outside printable
ASCII (tab and newline aside), which the server's locale classifies.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg import sql

from opentelemetry_exporter_pgvector.convert.shapes import (
    MASK_RULES,
    log_pattern_sql,
    mask,
    mask_sql,
    postgres_regex,
)

# Log bodies and their masked text, written by hand.
CORPUS = [
    ("order 88231 failed after 2.5 s", "order <num> failed after <num> s"),
    ("user 3fa85f64-5717-4562-b3fc-2c963f66afa6 not found", "user <uuid> not found"),
    ("trace 4bf92f3577b34da6a3ce929d0e0e4736 span 0x00f067aa0ba902b7", "trace <hex> span <hex>"),
    ("ECONNREFUSED 10.0.3.7:6379", "ECONNREFUSED <ip>:<num>"),
    ("accepted connection from fe80::1ff:fe23:4567:890a", "accepted connection from <ip>"),
    ("listening on [::1]:8080", "listening on [<ip>]:<num>"),
    ("peer 2001:db8:85a3:0:0:8a2e:370:7334 closed", "peer <ip> closed"),
    ("KeyError: 'sku-4412'", "KeyError: <str>"),
    ('duplicate key value violates unique constraint "orders_pkey"',
     "duplicate key value violates unique constraint <str>"),
    ("KeyError: 'sku-4412 not found in eu-west'", "KeyError: 'sku-<num> not found in eu-west'"),
    ("quoted `cfg.yaml` and \"two words\" kept", "quoted <str> and \"two words\" kept"),
    ("retrying at 2024-05-01T12:00:00.123Z", "retrying at <time>"),
    ("job scheduled for 2024-05-01 09:30:00+02:00 by cron", "job scheduled for <time> by cron"),
    ("created '2024-05-01 12:00:00' rows=3", "created '<time>' rows=<num>"),
    ("batch date 2024-05-01 processed", "batch date <time> processed"),
    ("connection to payments-db:5432 timed out after 5000 ms",
     "connection to payments-db:<num> timed out after <num> ms"),
    ("deadline exceeded for http2 stream", "deadline exceeded for http2 stream"),
    ("api v2 returned 503", "api v2 returned <num>"),
    ("sku-4412 out of stock", "sku-<num> out of stock"),
    ("pod web-7d9f8b6c5d-2x4zq restarted", "pod web-<hex>-<num>x4zq restarted"),
    ("request 0b7e4e2c-0000-4f3b-8d5e-9c7a6b5d4e3f-1 retried", "request <uuid>-<num> retried"),
    ("temperature -3.5e-2 below threshold", "temperature <num> below threshold"),
    ("scaled by 1e9 and +42", "scaled by <num> and <num>"),
    ("queue depth 0", "queue depth <num>"),
    ("GET /api/orders/17 returned 404 in 12ms", "GET /api/orders/<num> returned <num> in <num>ms"),
    ("checksum deadbeefcafe mismatch on disk 2", "checksum deadbeefcafe mismatch on disk <num>"),
    ("commit a1b2c3d4e5 deployed", "commit <hex> deployed"),
    ("ids 12345678 and 0x1f", "ids <hex> and <num>x1f"),
    ("latency p99=250.75ms at 10.0.0.12", "latency p99=<num>ms at <ip>"),
    ("range 10-20 and 1.5-2.5", "range <num>-<num> and <num>-<num>"),
    ("x<5 and y>-7", "x<5 and y><num>"),
    ("std::vector<int> size 3", "std::vector<int> size <num>"),
    ("multi\nline 7\ttabbed", "multi\nline <num>\ttabbed"),
    # Without a digit or a quote nothing is masked, even what looks like an id or an address.
    ("abcdefab-abcd-abcd-abcd-abcdefabcdef", "abcdefab-abcd-abcd-abcd-abcdefabcdef"),
    ("scope a :: b", "scope a :: b"),
    ("scope a :: b 5", "scope a <ip> b <num>"),
    ("no digits or quotes here", "no digits or quotes here"),
    ("", ""),
]


def _sql_masked(conn: psycopg.Connection, texts: list[str]) -> list[str]:
    query = sql.SQL("SELECT {} FROM unnest(%s::text[]) WITH ORDINALITY AS given(body, n) ORDER BY n").format(
        sql.SQL(mask_sql("given.body"))
    )
    return [masked for (masked,) in conn.execute(query, (texts,)).fetchall()]


def test_log_pattern_cuts_masks_and_strips_trailing_whitespace(conn: psycopg.Connection) -> None:
    query = sql.SQL("SELECT {} FROM unnest(%s::text[]) WITH ORDINALITY AS given(body, n) ORDER BY n").format(
        sql.SQL(log_pattern_sql("given.body"))
    )
    bodies = ["order 17 paid \t\r\n\x0b\x0c", "ends in XX", "x" * 600]
    patterns = [pattern for (pattern,) in conn.execute(query, (bodies,)).fetchall()]
    assert patterns == ["order <num> paid", "ends in XX", "x" * 486 + "...[truncated]"]


def test_sql_masks_the_corpus_as_python_does(conn: psycopg.Connection) -> None:
    texts = [text for text, _ in CORPUS]
    expected = [masked for _, masked in CORPUS]
    assert [mask(text) for text in texts] == expected
    assert _sql_masked(conn, texts) == expected


def test_documented_differences(conn: psycopg.Connection) -> None:
    """Python's single pass takes whichever value starts first; SQL's passes take rule by rule."""
    cases = [
        # a number's sign, decimal point or an address's :: running into a date, id or address
        ("-2024-05-01", "<num>-<num>-<num>", "-<time>"),
        ("1.2.3.4deadbeef", "<num>.<num>deadbeef", "<num>.<num>.<hex>"),
        ("::2024-05-01", "<ip>-<num>-<num>", "::<time>"),
        # an IPv6 address ending in :: and a signed number right after it
        ("fe80::-5", "<ip><num>", "<ip>-<num>"),
    ]
    assert [mask(text) for text, _, _ in cases] == [python for _, python, _ in cases]
    assert _sql_masked(conn, [text for text, _, _ in cases]) == [postgres for _, _, postgres in cases]


def test_postgres_regex_spells_word_boundaries_its_way() -> None:
    assert postgres_regex(r"\b\d+\b") == r"\y\d+\y"
    assert postgres_regex(r"\\b[\w<]") == r"\\b[\w<]"  # an escaped backslash, then a letter b


_RULES = [re.compile(rule.pattern) for rule in MASK_RULES]
_SINGLE_PASS = re.compile("|".join(f"(?P<{rule.name}>{rule.pattern})" for rule in MASK_RULES))
_NAMES = [rule.name for rule in MASK_RULES]


def _runs_into_an_earlier_rule(text: str) -> bool:
    """Whether a value Python's single pass masks contains the start of an earlier rule's value."""
    for match in _SINGLE_PASS.finditer(text):
        later = _NAMES.index(match.lastgroup or "")
        starts = (other.start() for rule in _RULES[:later] for other in rule.finditer(text))
        if any(match.start() < start < match.end() for start in starts):
            return True
    return False


def _comparable(text: str) -> bool:
    return not _runs_into_an_earlier_rule(text) and re.search(r"::[-+]\d", text) is None


# Values of every rule and the characters around them, glued together in any order.
_PIECES = st.sampled_from([
    "2024-05-01", "2024-05-01T12:00:00.123Z", "2024-05-01 12:00:00+02:00",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6", "10.0.3.7", "fe80::1ff:fe23:4567:890a", "::1", "fe80::",
    "1:2:3:4:5:6:7:8", "deadbeef12", "0x00f067aa",
    "'sku-4412'", '"x y"', "`a`", "'", '"', "5", "-5", "+3.5e-7", "1.5", "1e9", "v2", "http2", "sku", "e",
    "x", "<", ">", " ", "-", ".", ":", "::", "_", "Z", "T", ",", "\t", "\n",
])
_ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=4)
_TEXTS = st.lists(st.lists(st.one_of(_PIECES, _ASCII), max_size=8).map("".join), min_size=1, max_size=40)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=_TEXTS)
def test_sql_masks_generated_text_as_python_does(conn: psycopg.Connection, texts: list[str]) -> None:
    texts = [text for text in texts if _comparable(text)]
    assert _sql_masked(conn, texts) == [mask(text) for text in texts]


@pytest.mark.parametrize("text", ["-2024-05-01", "1.5::1", "fe80::-5"])
def test_the_property_tests_filter_leaves_out_the_documented_differences(text: str) -> None:
    assert not _comparable(text)
