"""Shape text, masking and keys, and what deferred/off modes store."""

from __future__ import annotations

import gc
import random
import tracemalloc
from pathlib import Path

import psycopg
import pytest
from opentelemetry.trace import SpanKind
from shape_workload import SpanSpec, export_specs

import opentelemetry_exporter_pgvector.convert as convert
from opentelemetry_exporter_pgvector import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.shapes import (
    MAX_SHAPE_TEXT_LENGTH,
    SHAPE_ATTRIBUTES,
    ShapeBuilder,
    log_shape_text,
    mask,
    shape_key,
    shape_text,
)
from opentelemetry_exporter_pgvector.convert.values import TRUNCATION_MARK
from opentelemetry_exporter_pgvector.db.known_keys import KnownKeys


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("order 88231 failed after 2.5 s", "order <num> failed after <num> s"),
        ("user 3fa85f64-5717-4562-b3fc-2c963f66afa6 missing", "user <uuid> missing"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 span 0x00f067aa0ba902b7", "trace <hex> span <hex>"),
        ("ECONNREFUSED 10.0.3.7:6379", "ECONNREFUSED <ip>:<num>"),
        ("from fe80::1ff:fe23:4567:890a", "from <ip>"),
        ("KeyError: 'sku-4412'", "KeyError: <str>"),
        ('duplicate key "orders_pkey"', "duplicate key <str>"),
        ("KeyError: 'sku-4412 not found in eu-west'", "KeyError: 'sku-<num> not found in eu-west'"),
        ("at 2024-05-01T12:00:00.123Z retrying", "at <time> retrying"),
        ("deadline exceeded for http2 stream", "deadline exceeded for http2 stream"),
        # hex ids from 8 digits on; shorter runs are numbers or words
        ("build deadbee1 failed", "build <hex> failed"),
        ("build eadbee1 failed", "build eadbee1 failed"),
        ("job 12345678 done", "job <hex> done"),
        ("job 1234567 done", "job <num> done"),
        ("commit 0x1f2e3d4c pushed", "commit <hex> pushed"),
    ],
)
def test_mask_replaces_per_request_values(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_shape_text_keeps_what_carries_meaning() -> None:
    text = shape_text(
        "payments", "INSERT payment", "CLIENT", "ERROR",
        "TimeoutError: connection to payments-db:5432 timed out after 5000 ms",
        "TimeoutError", "connection to payments-db:5432 timed out after 5000 ms",
        {"db.system.name": "postgresql", "http.response.status_code": 504, "url.path": "/orders/17"},
    )
    assert text == (
        "timeout (the call got no answer before its deadline)"  # what it means first (convert/glossary.py)
        " | TimeoutError: connection to payments-db:<num> timed out after <num> ms"
        " | payments CLIENT INSERT payment | 504 gateway timeout postgresql | ERROR"
    )
    assert shape_text("web", "GET /", "SERVER", "ERROR", "upstream failed") == "web SERVER GET / | ERROR: upstream failed"


@pytest.mark.parametrize(("components", "text"), [
    # the exception's type or message alone still leads
    ({"exception_type": "TimeoutError"}, "TimeoutError | web SERVER GET / | ERROR"),
    ({"exception_message": "took 5000 ms"}, "took <num> ms | web SERVER GET / | ERROR"),
    # integer status codes stay as they are, every other value is masked
    ({"attributes": {"http.status_code": "504", "db.operation.name": 7}},
     "web SERVER GET / | <num> <num> | ERROR"),
    ({"attributes": {"http.response.status_code": 504}},
     "timeout (the call got no answer before its deadline) | web SERVER GET / | 504 gateway timeout | ERROR"),
    ({"attributes": {"rpc.grpc.status_code": 14}}, "web SERVER GET / | 14 UNAVAILABLE | ERROR"),
    ({"name": ""}, "web SERVER | ERROR"),
    ({"attributes": {"http.route": ""}}, "web SERVER GET / | ERROR"),  # nothing left to show
])
def test_shape_text_of_partial_components(components: dict[str, object], text: str) -> None:
    arguments: dict[str, object] = {"service": "web", "name": "GET /", "kind": "SERVER", "status": "ERROR"}
    assert shape_text(**{**arguments, **components}) == text  # type: ignore[arg-type]


def test_log_shape_text_and_shape_keys() -> None:
    assert log_shape_text("checkout", None, "order 17 paid") == "checkout LOG: order <num> paid"
    assert log_shape_text("checkout", "WARN", "") == "checkout WARN:"
    assert shape_key("m", "a \ud800 b") == shape_key("m", "a ? b")  # a lone surrogate does not raise
    assert shape_key("m", "text") != shape_key("other model", "text")
    # keys are stored: the same text must keep its key from one release to the next
    assert shape_key("all-MiniLM-L6-v2", "web SERVER GET / | ERROR") == -4735734994875392222
    builder = ShapeBuilder("all-MiniLM-L6-v2")
    row = builder.shape(("svc", "op", "INTERNAL", "ERROR", "upstream failed", None, None,
                         (None,) * len(SHAPE_ATTRIBUTES)))
    assert row == (4549364719254920085, "span", "svc", "INTERNAL", "ERROR", "all-MiniLM-L6-v2",
                   "svc INTERNAL op | ERROR: upstream failed")


def test_known_keys_keep_the_most_recently_used() -> None:
    """Bounded memory (docs/reliability.md): at most 100,000 keys per table, the least recently
    used forgotten first (forgetting one only costs a redundant insert)."""
    known = KnownKeys(capacity=3)
    known.add_all(["a", "b", "c"])
    assert "a" in known  # used: now the most recent
    known.add_all(["d"])
    assert ("b" in known, len(known)) == (False, 3)
    assert all(key in known for key in ("a", "c", "d"))
    default = KnownKeys()
    default.add_all(range(100_001))
    assert len(default) == 100_000 and 0 not in default and 100_000 in default


def test_unhashable_components_still_get_a_shape() -> None:
    builder = ShapeBuilder("all-MiniLM-L6-v2")
    values = (None,) * 2 + (["/a", "/b"],) + (None,) * 15
    row = builder.shape(("svc", "op", "INTERNAL", "OK", None, None, None, values))
    assert row[0] == builder.shape(("svc", "op", "INTERNAL", "OK", None, None, None, values))[0]
    assert "[<str>, <str>]" in row[-1]


def _span_components(message: str, route: object = "/orders/{id}") -> tuple[object, ...]:
    values = [None] * len(SHAPE_ATTRIBUTES)
    values[SHAPE_ATTRIBUTES.index("http.route")] = route
    return ("svc", "op", "SERVER", "ERROR", message, None, None, tuple(values))


def test_components_longer_than_what_shapes_read_share_an_entry() -> None:
    """A 1 MB status message is masked from its first 500 characters: the cache keys by those."""
    builder = ShapeBuilder("m")
    head = "payment declined: " + "x" * 600
    first = builder.shape(_span_components(head + "a" * 1_000_000))
    assert builder.shape(_span_components(head + "b" * 1_000_000)) is first  # the same cached row
    assert first[-1] == f"svc SERVER op | /orders/{{id}} | ERROR: {head[:486]}{TRUNCATION_MARK}"
    # the same key for a shorter message with the same first 501 characters: still the same text
    assert builder.shape(_span_components(head[:501]))[-1] == first[-1]


def _traced_by_conversion() -> int:
    """Bytes still allocated in this file or in convert/, where the shape builder and its cache
    allocate: what another thread allocates meanwhile (a maintenance pass of an exporter another
    test left running, logging into the captured log) is not the cache's, and once made this
    test fail."""
    snapshot = tracemalloc.take_snapshot().filter_traces([
        tracemalloc.Filter(True, __file__), tracemalloc.Filter(True, str(Path(convert.__file__).parent / "*")),
    ])
    return sum(statistic.size for statistic in snapshot.statistics("filename"))


def test_shape_cache_is_bounded_in_bytes_and_emptied_by_clear() -> None:
    """It held 16,384 entries whatever their size: 1 GB of 1 MB status messages (issue 11)."""
    words = random.Random(5)
    builder = ShapeBuilder("m", cache_bytes=1 << 20)
    warm_up = ShapeBuilder("m", cache_bytes=1 << 20)  # one-time allocations are not the cache's
    tracemalloc.start()
    try:
        for _ in range(200):
            message = " ".join("".join(words.choices("abcdefghij", k=8)) for _ in range(100))
            warm_up.shape(_span_components(message, route=message))
        warm_up.clear()
        gc.collect()
        before = _traced_by_conversion()
        for _ in range(5_000):  # unique shapes of about 2 KB: 10 MB if nothing were evicted
            message = " ".join("".join(words.choices("abcdefghij", k=8)) for _ in range(100))
            builder.shape(_span_components(message, route=message))
        gc.collect()
        held = _traced_by_conversion() - before
        builder.clear()
        gc.collect()
        cleared = _traced_by_conversion() - before
    finally:
        tracemalloc.stop()
    assert held < 1.5 * (1 << 20)  # the 1 MiB it counts, and what its count leaves out
    assert cleared < 64 * 1024


def test_a_span_shape_text_is_a_template_not_a_payload() -> None:
    """25 components of up to 500 masked characters each: cut at MAX_SHAPE_TEXT_LENGTH."""
    values = tuple(f"value-{index}-" + "z" * 600 for index in range(len(SHAPE_ATTRIBUTES)))
    row = ShapeBuilder("m").shape(("svc", "op", "SERVER", "ERROR", "m" * 600, "E" * 600, "e" * 600, values))
    assert len(row[-1]) == MAX_SHAPE_TEXT_LENGTH and row[-1].endswith(TRUNCATION_MARK)


def _stored(conn: psycopg.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    spans = conn.execute("SELECT name, shape_key FROM otel_spans ORDER BY name").fetchall()
    shapes = conn.execute("SELECT shape_key, text, embedding FROM otel_shapes ORDER BY text").fetchall()
    return spans, shapes


def test_spans_differing_in_ids_and_numbers_share_one_shape(
    shape_settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    specs = [
        SpanSpec("checkout", f"GET /api/orders/{order}", SpanKind.SERVER,
                 LookupError(f"order {order} for user {user} not found in 10.0.{order % 200}.7 at 2024-05-0{order % 9 + 1}"),
                 {"http.request.method": "GET", "url.path": f"/api/orders/{order}"})
        for order, user in ((17, "3fa85f64-5717-4562-b3fc-2c963f66afa6"), (90210, "0b7e4e2c-0000-4f3b-8d5e-9c7a6b5d4e3f"))
    ] + [SpanSpec("checkout", "GET /api/orders/17", SpanKind.SERVER, ValueError("order 17 not found"))]
    export_specs(shape_settings, specs)
    spans, shapes = _stored(conn)
    keys = [key for _, key in spans]
    assert None not in keys
    assert len(set(keys)) == 2  # the LookupError spans share a shape; the ValueError span has its own
    assert {key for key, _, _ in shapes} == set(keys)
    texts = [text for _, text, _ in shapes]
    assert texts[0].startswith("not found (the requested item does not exist)"
                               " | LookupError: order <num> for user <uuid> not found in <ip> at <time> |")
    assert all(embedding is None for _, _, embedding in shapes)  # deferred: vectors come later


def test_off_mode_stores_no_shapes(settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    export_specs(settings, [SpanSpec("svc", "op")])  # the fixture's settings have embedding="off"
    spans, shapes = _stored(conn)
    assert spans == [("op", None)]
    assert shapes == []


def test_bad_text_in_a_shape_is_sanitized_without_losing_the_batch(
    shape_settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    specs = [SpanSpec("svc", "op\x00", SpanKind.INTERNAL, RuntimeError("bad \udc80 byte\x00 " + "x" * 5000)),
             SpanSpec("svc", "fine")]
    export_specs(shape_settings, specs)
    spans, shapes = _stored(conn)
    assert len(spans) == 2 and len(shapes) == 2
    assert all("\x00" not in text and len(text) < 1200 for _, text, _ in shapes)


def test_repeated_batches_insert_each_shape_once(shape_settings: PgvectorSettings, conn: psycopg.Connection) -> None:
    export_specs(shape_settings, [SpanSpec("svc", "op"), SpanSpec("svc", "op2")], times=3)
    spans, shapes = _stored(conn)
    assert len(spans) == 6 and len(shapes) == 2
