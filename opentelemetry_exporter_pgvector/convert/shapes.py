"""Span shapes: the text embedded for a span, and the key spans of one shape share.

A shape is what stays the same across the millions of spans one code path emits: service,
span name, kind, status and status message, exception type and message, and the attributes
that carry meaning (HTTP method/route/status, database system/operation, RPC service/method,
messaging destination, error type). Values unique per request (numbers, UUIDs, hex ids, IP
addresses, quoted literals, timestamps) are masked, so spans that differ only in those get
one text. The text is embedded once, in ``otel_shapes``; spans carry its 64-bit key.

This runs on every exported span, including in ``deferred`` mode, so it must cost little:
:meth:`ShapeBuilder.shape` looks the span's raw (unmasked) components up in a cache, so a
repeated shape costs one tuple hash and one dict lookup; the regular expressions only run on
cache misses. Shapes are part of turning records into rows; ``embedding/`` only turns their
texts into vectors. This module imports only the standard library and ``convert``'s own
row and value helpers.

A shape is a template, not a payload, so its size is bounded however large the record: each
free-text component is masked from its first :data:`MAX_COMPONENT_LENGTH` characters, a span
shape text is cut at :data:`MAX_SHAPE_TEXT_LENGTH`, and the cache is keyed by components cut
where their text stops mattering, and bounded in bytes (:data:`DEFAULT_CACHE_BYTES`).
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple, cast

from .glossary import FAILURE_SEVERITIES, glosses, status_name
from .limits import index_text
from .table import Column, Row, TableSpec
from .values import TRUNCATION_MARK, bounded_repr, clean_text, int_text

SHAPE_TABLE = TableSpec(
    name="otel_shapes",
    columns=(
        Column("shape_key", "int8"),
        Column("signal", "text"),
        Column("service_name", "text"),
        Column("kind", "text"),
        Column("status_code", "text"),
        Column("model", "text"),
        Column("text", "text"),
    ),
)

# Attributes whose values tell what a span did, in the order they appear in the text. Old and
# current semantic-convention names both count; per-request values (url.path, db.query.text,
# client.address...) are deliberately absent.
SHAPE_ATTRIBUTES = (
    "http.request.method",
    "http.method",
    "http.route",
    "http.response.status_code",
    "http.status_code",
    "db.system.name",
    "db.system",
    "db.operation.name",
    "db.operation",
    "db.collection.name",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "messaging.system",
    "messaging.operation.type",
    "messaging.destination.name",
    "error.type",
)

# Longest masked free-text component kept (the model reads 256 tokens at most anyway).
MAX_COMPONENT_LENGTH = 500
# Longest span shape text. Its components are bounded, but there are 25 of them; normal texts
# are a few hundred characters, and the model reads the first thousand or so. A log shape text
# is bounded by its parts: a service name and a severity of at most 1,024 bytes each and a
# body masked from its first 500 characters (a mask at most quadruples them).
MAX_SHAPE_TEXT_LENGTH = 2048
# Bytes of one ShapeBuilder's cache (its keys and rows, as CPython sizes them); typical shapes
# take about 1 KiB each, and a service has a few hundred.
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
# A component's shape text depends on its first MAX_COMPONENT_LENGTH characters and on whether
# there are more, so the cache keys by that much of it.
_KEY_CHARS = MAX_COMPONENT_LENGTH + 1
# What an entry costs beyond its key and row: its dict slot and its place in the eviction order.
_ENTRY_OVERHEAD = 200


class MaskRule(NamedTuple):
    r"""One kind of per-request value: its placeholder's name and the pattern of its values.

    ``pattern`` is written in the part of regular expressions Python's ``re`` and PostgreSQL's
    AREs read alike, so one definition serves the exporter (:func:`mask`) and the server
    (:func:`mask_sql`): ``\b`` only outside brackets (:func:`postgres_regex` spells it ``\y``,
    as ``\b`` is a backspace there); ``\d``, ``\w`` and ``\s`` meant for ASCII text; ``(?:``,
    ``(?=``, ``(?!`` and ``(?<!`` (PostgreSQL 9.6+), but no capturing or named groups and no
    backreferences; bounds up to 255. ``word_edged`` says whether values begin and end with a
    word character (all but quoted ones, and IPv6 addresses at a ``::``), which decides what
    stands in for a value between the SQL passes (see :func:`mask_sql`).
    """

    name: str
    pattern: str
    word_edged: bool = True


# The masking rules, in priority order: where values of two rules start at the same place,
# the earlier rule's wins. Quoted values come first: nothing else can start at a quote, so
# their place is free, and running them first in SQL keeps a timestamp with a space inside
# quotes masked inside, as Python's single pass does.
MASK_RULES = (
    # quoted values ('sku-4412', "orders_pkey"); a quoted phrase with spaces is a message
    # (KeyError quotes its whole message), so it is kept and masked inside instead
    MaskRule("str", r"'[^'\s]{1,200}'|" r'"[^"\s]{1,200}"|`[^`\s]{1,200}`', word_edged=False),
    # ISO 8601 / RFC 3339 timestamps and bare dates
    MaskRule(
        "time", r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    ),
    MaskRule("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    # IPv4, then IPv6 in full and compressed (::) forms
    MaskRule(
        "ip",
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
        r"|(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"
        r"|(?<![\w:])(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?(?![\w:])",
    ),
    # hex ids of 8+ digits with at least one decimal digit (so plain words survive)
    MaskRule("hex", r"\b(?:0x)?(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"),
    MaskRule("num", r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"),
)

# One alternation, so a text is scanned once; earlier alternatives win at a position.
_MASK = re.compile("|".join(f"(?P<{rule.name}>{rule.pattern})" for rule in MASK_RULES))
_PLACEHOLDERS = {rule.name: f"<{rule.name}>" for rule in MASK_RULES}
# Text without a digit or a quote has nothing to mask (an address without digits aside).
_MAYBE_MASKED = r"[\d'" '"`]'
_MAYBE_MASKED_RE = re.compile(_MAYBE_MASKED)
# What mask_sql puts in place of a word-edged value until its last pass: word characters at
# the edges, as the value had, around control characters no log text carries.
_SQL_MARKER = "_\x01{}\x01_"

RawComponents = tuple[Any, ...]


def mask(text: str) -> str:
    """``text`` with per-request values replaced by placeholders (``<num>``, ``<uuid>``...)."""
    if not _MAYBE_MASKED_RE.search(text):
        return text
    return _MASK.sub(lambda match: _PLACEHOLDERS[match.lastgroup or "num"], text)


def postgres_regex(pattern: str) -> str:
    r"""A :class:`MaskRule` pattern as PostgreSQL reads it: ``\y`` for each word boundary ``\b``."""
    return re.sub(r"\\.", lambda escape: r"\y" if escape.group() == r"\b" else escape.group(), pattern)


def _sql_string(text: str) -> str:
    """``text`` as an escape string constant, read the same whatever ``standard_conforming_strings``
    says; ASCII control characters are spelled in octal, so the SQL text stays readable."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return "E'" + "".join(
        f"\\{ord(char):03o}" if char.isascii() and not char.isprintable() else char for char in escaped
    ) + "'"


def mask_sql(expression: str) -> str:
    """A SQL expression for :func:`mask` of the text SQL ``expression`` gives, computed in the server.

    Records stored without a shape are masked when queried (``log_patterns``), and must land
    in the patterns their shaped twins have. PostgreSQL has no single-pass replacement with a
    placeholder per alternative, so the rules run one after another, a nested
    ``regexp_replace(..., 'g')`` each, in :data:`MASK_RULES` order. Later rules then see what
    earlier ones put in, where Python's single pass sees the original text: so a word-edged
    value is first replaced by a marker that is itself word-edged (``_`` + control characters
    + ``_``), which a last pass turns into the placeholder. A number after a masked id then
    keeps its sign out (``pod-<hex>-<num>``), as in Python, instead of gluing it to ``<hex>``.

    The result equals :func:`mask` except for texts no log line is likely to carry, tested in
    ``tests/test_mask_sql.py``: a later rule's value that starts first and runs into an earlier
    rule's (``-2024-05-01``: Python takes the number ``-2024``, SQL the date), an IPv6 address
    ending in ``::`` directly followed by a signed number, characters outside ASCII or ASCII
    control characters (classified by the server's locale, not Python's Unicode tables), and
    the markers' control character in the text itself. ``expression`` is evaluated once.
    """
    masked = "component.raw"
    for rule in MASK_RULES:
        stand_in = _SQL_MARKER.format(rule.name) if rule.word_edged else _PLACEHOLDERS[rule.name]
        pattern = postgres_regex(rule.pattern)
        masked = f"regexp_replace({masked}, {_sql_string(pattern)}, {_sql_string(stand_in)}, 'g')"
    markers = _SQL_MARKER.format("(" + "|".join(rule.name for rule in MASK_RULES if rule.word_edged) + ")")
    placeholder = r"<\1>"
    masked = f"regexp_replace({masked}, {_sql_string(markers)}, {_sql_string(placeholder)}, 'g')"
    return (
        f"(SELECT CASE WHEN component.raw ~ {_sql_string(_MAYBE_MASKED)} THEN {masked} ELSE component.raw END"
        f" FROM (VALUES ({expression})) AS component(raw))"
    )


def _component_text(value: Any) -> str:
    """A component as text before masking: strings as they are, others as a bounded repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int_text(value)
    return bounded_repr(value)


def _masked(value: Any) -> str | None:
    """A component as it appears in a shape text: its first characters, masked."""
    if value is None or value == "":
        return None
    return mask(clean_text(_component_text(value), MAX_COMPONENT_LENGTH))


def _is_status_code(value: Any) -> bool:
    """An integer status code, shown as it is: codes tell shapes apart. Absurd ones are masked."""
    return isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64


def _key_part(value: Any) -> Hashable:
    """What of a component decides its shape text (see :data:`_KEY_CHARS`), small and hashable."""
    if isinstance(value, str):
        return value[:_KEY_CHARS]
    if value is None or isinstance(value, (bool, float)) or _is_status_code(value):
        return cast(Hashable, value)
    return type(value).__name__, _component_text(value)[:_KEY_CHARS]


def _bounded_key(components: RawComponents) -> RawComponents:
    """``components`` with each cut to what decides the shape text: the key a cache may keep."""
    *scalars, values = components
    return (*map(_key_part, scalars), tuple(map(_key_part, values)))


def shape_text(
    service: str,
    name: str,
    kind: str,
    status: str,
    status_message: Any = None,
    exception_type: Any = None,
    exception_message: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> str:
    """The text embedded for a span of this shape; the one definition of a span's shape.

    ``TimeoutError: connection to payments-db:<num> timed out after <num> ms | payments CLIENT
    INSERT payment | postgresql INSERT | ERROR``: the exception first, then service, kind and
    name, the values of :data:`SHAPE_ATTRIBUTES` (their keys add tokens that carry no
    meaning), the status last. Measured with all-MiniLM-L6-v2 on the tests' shapes, this order
    puts different timeouts 0.15-0.28 cosine ahead of unrelated successes, against 0.01-0.17
    with the exception after the name and ``key=value`` attributes. The status message is
    left out when it only repeats the exception, as web frameworks often make it. Attribute
    values are masked too except integer status codes, which tell shapes apart (an HTTP or gRPC
    code followed by its standard name). A failed span (status ERROR, or an exception) whose
    raw components name a well-known failure starts with its meaning (``timeout (the call got
    no answer before its deadline) | TimeoutError: ...``, ``convert/glossary.py``): measured on
    the corpus of near-neighbour failures (``benchmarks/search_quality.py``) it took the vector
    ranking's held-out precision@3 from 0.42 to 0.70. The text is cut at
    :data:`MAX_SHAPE_TEXT_LENGTH` characters.
    """
    error_type, error_message = _masked(exception_type), _masked(exception_message)
    parts: list[str] = []
    if status == "ERROR" or error_type is not None or error_message is not None:
        meaning = _failure_meaning(exception_type, exception_message, status_message, attributes)
        parts.extend(filter(None, [meaning]))
    if error_type or error_message:
        parts.append(": ".join(part for part in (error_type, error_message) if part))
    parts.append(f"{service} {kind} {_masked(name) or ''}".rstrip())
    if attributes:
        values = []
        for key in SHAPE_ATTRIBUTES:
            value = attributes.get(key)
            if value is None:
                continue
            if key.endswith("status_code") and _is_status_code(value):
                values.append(" ".join(filter(None, (str(value), status_name(key, value)))))
            else:
                values.append(_masked(value) or "")
        if any(values):
            parts.append(" ".join(value for value in values if value))
    message = _masked(status_message)
    if message and not (error_message and error_message in message):
        parts.append(f"{status}: {message}")
    else:
        parts.append(status)
    return clean_text(" | ".join(parts), MAX_SHAPE_TEXT_LENGTH)


def _failure_meaning(exception_type: Any, exception_message: Any, status_message: Any,
                     attributes: Mapping[str, Any] | None) -> str | None:
    """The glosses (``convert/glossary.py``) of what a failed span's raw components name: read
    before masking, so numeric codes (SQLSTATE ``23505``, a gRPC or HTTP status) still count."""
    texts = [_component_text(value)[:MAX_COMPONENT_LENGTH]
             for value in (exception_type, exception_message, status_message) if value is not None]
    for key, value in (attributes or {}).items():
        if key.endswith("status_code") and _is_status_code(value):
            texts.extend(filter(None, [status_name(key, value)]))
    return glosses(*texts)


def log_shape_text(service: str, severity: str | None, body: str) -> str:
    """The text embedded for a log record: ``checkout ERROR: payment <num> declined``.

    The body masked as span components are, so records one log statement emits share a
    shape; the distinct log shapes with their counts are the service's log patterns. A record
    of severity WARN or worse whose body names a well-known failure starts with its meaning,
    as a span's text does (``deadlock (...) | orders ERROR: deadlock detected``); patterns
    are read after the first ``": "``, which no meaning holds.
    """
    text = f"{service} {severity or 'LOG'}: {_masked(body) or ''}".rstrip()
    failed = severity is not None and FAILURE_SEVERITIES.match(severity) is not None
    meaning = glosses(body[:MAX_COMPONENT_LENGTH]) if failed else None
    return f"{meaning} | {text}" if meaning else text


def log_pattern_sql(body: str) -> str:
    """A SQL expression for what :func:`log_shape_text` makes of the stored log body ``body``
    after the ``: ``: the pattern of a record stored without a shape.

    The body is cut as :func:`~.values.clean_text` cuts a component (stored text holds no NUL
    or lone surrogate, the rest of what it does), masked by :func:`mask_sql`, and stripped of
    trailing whitespace as ``str.rstrip`` strips it, in ASCII: spelling other Unicode spaces
    would need a UTF-8 server, and a body ending in one is as rare as the texts ``mask_sql``
    already leaves aside.
    """
    kept = MAX_COMPONENT_LENGTH - len(TRUNCATION_MARK)
    cut = (
        f"CASE WHEN length({body}) > {MAX_COMPONENT_LENGTH}"
        f" THEN left({body}, {kept}) || {_sql_string(TRUNCATION_MARK)} ELSE {body} END"
    )
    whitespace = "".join(char for char in map(chr, range(128)) if char.isspace())
    return f"rtrim({mask_sql(cut)}, {_sql_string(whitespace)})"


def shape_key(model: str, text: str) -> int:
    """64 bits of BLAKE2b over model and text, as the signed value a ``bigint`` holds."""
    digest = hashlib.blake2b(model.encode(), digest_size=8, person=b"otel-shape")
    digest.update(b"\x00" + text.encode("utf-8", "replace"))
    return int.from_bytes(digest.digest(), "big", signed=True)


def _footprint(value: Any) -> int:
    """Bytes CPython spends on ``value``, a tuple's items included (shared objects count each time)."""
    if type(value) is tuple:
        return sys.getsizeof(value) + sum(map(_footprint, value))
    return sys.getsizeof(value)


class _ShapeCache:
    """Shape rows by key, oldest evicted first once keys and rows together pass ``max_bytes``.

    A lookup takes no lock (one dict lookup, atomic under the GIL); adding and evicting take one.
    Oldest-first rather than least-recently-used, so that a hit costs that lookup alone; a shape
    still in use that is evicted costs one rebuild. Keys must be bounded (:func:`_bounded_key`):
    the cache holds them.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._rows: dict[Hashable, Row] = {}
        self._order: deque[tuple[Hashable, int]] = deque()  # (key, bytes), oldest first
        self._bytes = 0
        self._lock = threading.Lock()
        # the row of a key, or None: the dict's own method, with no Python call around it
        self.get: Callable[[Hashable], Row | None] = self._rows.get

    def put(self, key: Hashable, row: Row) -> None:
        size = _footprint(key) + _footprint(row) + _ENTRY_OVERHEAD
        with self._lock:
            if key in self._rows:  # another thread built it meanwhile
                return
            self._rows[key] = row
            self._order.append((key, size))
            self._bytes += size
            while self._bytes > self._max_bytes:
                oldest, oldest_size = self._order.popleft()
                del self._rows[oldest]
                self._bytes -= oldest_size

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._order.clear()
            self._bytes = 0


class ShapeBuilder:
    """Shape key and dictionary row of spans and log records, cached by their components.

    One instance per converter. The cache maps a record's components (its values before
    masking, cut where their text stops mattering) to the ``otel_shapes`` row, whose first
    value is the key; it holds at most ``cache_bytes`` and is emptied by :meth:`clear`.
    """

    def __init__(self, model: str, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.model = model
        self._cache = _ShapeCache(cache_bytes)

    def shape(self, components: RawComponents) -> Row:
        """The ``otel_shapes`` row of a span whose raw components are ``components``.

        ``components`` is ``(service, name, kind, status, status_message, exception_type,
        exception_message, attribute_values)`` with ``attribute_values`` the values of
        :data:`SHAPE_ATTRIBUTES` in order (None when absent). Components short and hashable,
        as nearly all are, are found as they are; others through their bounded key.
        """
        try:
            row = self._cache.get(components)
        except TypeError:  # an unhashable attribute value (a list): its bounded key is hashable
            row = None
        return self._shape_by_bounded_key(components) if row is None else row

    def _shape_by_bounded_key(self, components: RawComponents) -> Row:
        key = _bounded_key(components)
        row = self._cache.get(key)
        if row is None:
            row = self._build(components)
            self._cache.put(key, row)
        return row

    def log_shape(self, service: str, severity: str | None, body: str) -> Row:
        """The ``otel_shapes`` row of a log record (kind ``LOG``, its severity as status).

        The severity goes into the indexed ``status_code`` column: it is cut to fit a btree row
        (``otel_logs.severity_text`` keeps it whole). The cache keys by the severity as it came,
        which the cache counts in its bytes like any key.
        """
        key = (service, severity, body[:_KEY_CHARS])
        row = self._cache.get(key)
        if row is None:
            row = self._build_log(*key)
            self._cache.put(key, row)
        return row

    def clear(self) -> None:
        """Forget every cached shape (the exporter shuts down: its memory goes back)."""
        self._cache.clear()

    def _build_log(self, service: str, severity: str | None, body: str) -> Row:
        severity = None if severity is None else index_text(severity)
        text = log_shape_text(service, severity, body)
        return (shape_key(self.model, text), "log", service, "LOG", severity, self.model, text)

    def _build(self, components: RawComponents) -> Row:
        service, name, kind, status, status_message, exception_type, exception_message, values = components
        attributes = {
            key: value for key, value in zip(SHAPE_ATTRIBUTES, values, strict=True) if value is not None
        }
        text = shape_text(
            service, name, kind, status, status_message, exception_type, exception_message, attributes
        )
        return (shape_key(self.model, text), "span", service, kind, status, self.model, text)
