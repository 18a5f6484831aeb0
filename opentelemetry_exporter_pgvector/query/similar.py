"""Similarity search over span and log shapes: "show me spans (log lines) like this one".

Vectors live on the shapes (``otel_shapes``), not on spans, so a search is two steps: the
nearest shapes by cosine distance through the HNSW index, with the service/status filters
applied during the index scan (pgvector 0.8 iterative scans, ``relaxed_order``, so a filter
does not starve the result), or, when a service filter leaves few shapes, an exact scan of
them through the ``(service_name, status_code)`` index; then, per shape, its spans in the time window
through the ``(shape_key, start_time)`` index: count, first and last seen, and the latest
span as an example. Shapes without spans in the window are skipped, fetching more
candidates until ``k`` results are found or the shapes run out.

:func:`similar` is the two jobs in turn: :func:`vector_plan` (or the model, for a text) turns
the query (a text, a stored span or a vector) into a vector, :func:`rank_plan` ranks the
shapes near it. Both are plans (``query/plan.py``), so ``TelemetryQuery`` and
``AsyncTelemetryQuery`` run the same statements. A text query is ranked ``hybrid`` by default:
the nearest shapes fused with the shapes whose text (``otel_shapes.search``) matches its words,
in one statement (:func:`_hybrid_statement`, docs/embeddings.md). Log-body shapes (signal
``log`` in ``otel_shapes``, ``service SEVERITY: masked body``) are searched the same way,
counting log records per shape through the ``(shape_key, time)`` index of ``otel_logs``: the
two differ only in a :class:`ShapeSignal`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import psycopg
from pgvector import Vector
from psycopg import sql

from ..config import PgvectorSettings
from ..convert.glossary import glosses
from ..convert.spans import signed_span_id, unsigned_span_id
from ..db.database import Database
from ..embedding.encoder import load_encoder_backend
from ..embedding.model import configured_model_name
from ..errors import NotFound, QueryError
from .concepts import ConceptWeight, failure_weights
from .plan import Fetch, Plan, run
from .rows import Rows

# Candidate shapes fetched per round with a time window, as a multiple of k (and the growth
# per round), and the most ever fetched.
_OVERFETCH = 4
_MAX_CANDIDATES = 4096
_STATUSES = ("UNSET", "OK", "ERROR")
# A service filter matching at most this many shapes is answered by an exact scan.
EXACT_SCAN_LIMIT = 5000
# How a text query ranks shapes: "hybrid" fuses the vector and the full-text rankings,
# "vector" is cosine similarity alone (the only ranking of a span id or vector query).
METHODS = ("hybrid", "vector")
# Reciprocal rank fusion: a shape ranked r-th (from 1) in a ranking scores weight / (RRF_K + r),
# the text ranking's weight TEXT_WEIGHT, the vector ranking's 1. RRF_K is smaller than the usual
# 60 as only the first few ranks matter here; these four constants were chosen on the tuning half
# of tests/search_corpus.py (benchmarks/search_quality.py), the full-text ranking weighing less
# than the vectors as its words are matched without their rarity.
RRF_K = 10
TEXT_WEIGHT = 0.6
# In a hybrid ranking, a failure (an ERROR span, a log record of severity WARN or worse) ranks
# as if this much nearer in cosine distance: among shapes about as near, failures first, as a
# text query is nearly always about one; a success that matches clearly still comes first.
FAILURE_BONUS = 0.2
# Pseudo-relevance feedback: a shape's fused score gains this much times its cosine similarity
# to the best-scored shape, so the shapes most like the best answer follow it.
FEEDBACK = 0.1
# A hybrid search's fused score gains this much times the weight of the failure a shape is of
# (query/concepts.py): at 1, a shape of a failure the question is surely about comes before any other,
# unless the question nearly repeats a stored shape's text (cosine similarity NAMED or more): then it
# names what it wants, and the nearest shapes come first as they are. Both chosen on the tuning
# queries of tests/search_corpus.py, NAMED also by a success named outright staying first.
FAILURE_WEIGHT = 1.0
NAMED = 0.8
# Each ranking of a hybrid search considers at least this many candidates before fusion.
HYBRID_CANDIDATES = 50
# The full-text ranking ranks at most this many of the shapes matching any of the words: with
# 100k shapes a common word matches tens of thousands, and ranking them all took 0.5 s
# (docs/benchmarks.md). The bound keeps a text query's cost flat; where more shapes match, the
# vector ranking carries the search.
TEXT_SCAN_LIMIT = 2000
# Status codes of failures: ERROR for spans; log severities WARN and worse (as FAILURE_SEVERITIES).
_FAILURE_STATUS = "^(WARN|ERR|FATAL|CRIT|ALERT|EMERG|SEVERE|PANIC)"

Reader = Callable[[], AbstractContextManager[psycopg.Connection]]
# A shape's spans in the window: count, first and last start, the latest one's span and trace id.
_SpanStats = tuple[int, dt.datetime, dt.datetime, int, uuid.UUID]
# A shape's log records in the window: count, first and last time, the latest one's body and trace id.
_LogStats = tuple[int, dt.datetime, dt.datetime, str | None, str | None]
Result = TypeVar("Result")


@dataclass(frozen=True)
class SimilarSpan:
    """A shape of span near the query, and its spans in the window.

    ``similarity`` is the cosine similarity of the shape's text to the query, negative values
    clamped to 0, so it lies in [0, 1]; ``first_seen``/``last_seen`` are the earliest and
    latest start times of its spans in the window, the example span the latest of them.
    """

    similarity: float
    text: str
    service_name: str
    kind: str | None
    status_code: str | None
    span_count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    example_span_id: str
    example_trace_id: str
    shape_key: int


@dataclass(frozen=True)
class SimilarTrace:
    """A trace holding a span of a shape near the query: a row of ``find_similar_traces``.

    ``similarity`` is the shape's (as in :class:`SimilarSpan`); ``span_id`` and ``start_time``
    are the shape's latest span, which is in this trace; ``span_count`` is how many spans of
    the shape the window holds, in this trace or others.
    """

    trace_id: str
    similarity: float
    span_id: str
    service_name: str
    text: str
    start_time: dt.datetime
    span_count: int


def similar_traces(spans: Iterable[SimilarSpan]) -> Rows[SimilarTrace]:
    """The traces of ``spans``' example spans, in ``spans``' order (most similar first); a trace
    that is the example of several shapes is listed once, with the first (most similar)."""
    traces: dict[str, SimilarTrace] = {}
    for span in spans:
        traces.setdefault(span.example_trace_id, SimilarTrace(
            span.example_trace_id, span.similarity, span.example_span_id, span.service_name, span.text,
            span.last_seen, span.span_count,
        ))
    return Rows(traces.values(), SimilarTrace)


@dataclass(frozen=True)
class SimilarLog:
    """A log-body shape near the query, and its records in the window.

    ``text`` is the shape (``checkout WARN: payment <num> declined``); ``similarity`` as in
    :class:`SimilarSpan`; the example is the latest record in the window, its trace id None
    when it was logged outside any span.
    """

    similarity: float
    text: str
    service_name: str
    severity_text: str | None
    record_count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    example_body: str | None
    example_trace_id: str | None
    shape_key: int


def parse_span_id(span_id: str | int) -> int:
    """A span id given as 16 hex digits (or an int) as the signed value stored."""
    if isinstance(span_id, int):
        value = span_id
    else:
        try:
            value = int(span_id.strip().removeprefix("0x"), 16)
        except ValueError:
            raise QueryError(f"span id {span_id!r} is not hexadecimal") from None
    if not 0 <= value < 1 << 64:
        raise QueryError(f"span id {span_id!r} does not fit in 64 bits")
    return signed_span_id(value)


@dataclass(frozen=True)
class SpanWindow:
    """Spans started (log records stamped) in ``[since, until)``; either end may be open."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def condition(self, column: str = "s.start_time") -> sql.Composable:
        """`` AND ...`` conditions on ``column`` (nothing for an open end)."""
        parts: list[sql.Composable] = [sql.SQL("")]
        if self.since is not None:
            parts.append(sql.SQL(" AND {} >= {}").format(sql.SQL(column), sql.Literal(self.since)))
        if self.until is not None:
            parts.append(sql.SQL(" AND {} < {}").format(sql.SQL(column), sql.Literal(self.until)))
        return sql.Composed(parts)


@dataclass(frozen=True)
class Ranking:
    """What the shapes near a query vector are ranked under; checked when made, before any work.

    At most ``k`` (1-1000) results; shapes less similar than ``min_similarity`` (0-1) left out;
    only shapes of ``service`` and of status ``status`` (UNSET, OK or ERROR, any case); only
    spans in ``window`` counted, and shapes without any skipped; a text query ranked by
    ``method`` (one of :data:`METHODS`).
    """

    k: int = 10
    min_similarity: float | None = None
    service: str | None = None
    status: str | None = None
    window: SpanWindow = SpanWindow()
    method: str = "hybrid"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise QueryError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not 1 <= self.k <= 1000:
            raise QueryError(f"k must be between 1 and 1000, got {self.k}")
        if self.min_similarity is not None and not 0 <= self.min_similarity <= 1:
            raise QueryError(f"min_similarity must be between 0 and 1, got {self.min_similarity}")
        if self.status_code is not None and self.status_code not in _STATUSES:
            raise QueryError(f"status must be one of {', '.join(_STATUSES)}, got {self.status!r}")

    @property
    def status_code(self) -> str | None:
        """``status`` as stored: upper case."""
        return None if self.status is None else self.status.upper()


@dataclass(frozen=True)
class SimilarQuery:
    """A similarity search, checked when made: exactly one of ``text``, ``span_id`` (16 hex
    digits or an int) and ``vector`` to search near, and the ``ranking``."""

    ranking: Ranking
    text: str | None = None
    span_id: str | int | None = None
    vector: Sequence[float] | None = None

    def __post_init__(self) -> None:
        _check_one_query(self.text, self.span_id, self.vector)
        if self.span_id is not None:
            parse_span_id(self.span_id)

    @property
    def words(self) -> str | None:
        """The text the full-text ranking matches: a text query's, when ranked ``hybrid``."""
        return self.text if self.ranking.method == "hybrid" else None


def span_query(
    *,
    text: str | None = None,
    span_id: str | int | None = None,
    vector: Sequence[float] | None = None,
    k: int = 10,
    min_similarity: float | None = None,
    service: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    method: str = "hybrid",
) -> SimilarQuery:
    """The checked query of ``similar_spans`` (either client): a bad argument fails here, before
    the model loads or the database is read; a bad query first."""
    _check_one_query(text, span_id, vector)
    ranking = Ranking(k, min_similarity, service, status, SpanWindow(since, until), method)
    return SimilarQuery(ranking, text, span_id, vector)


def log_query(
    *,
    text: str | None = None,
    vector: Sequence[float] | None = None,
    k: int = 10,
    min_similarity: float | None = None,
    service: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    method: str = "hybrid",
) -> SimilarQuery:
    """The checked query of ``similar_logs`` (either client), as :func:`span_query`."""
    _check_one_query(text, None, vector)
    return SimilarQuery(Ranking(k, min_similarity, service, None, SpanWindow(since, until), method), text,
                        None, vector)


def similar(read: Reader, database: Database, settings: PgvectorSettings, query: SimilarQuery,
            signal: ShapeSignal[Result]) -> Rows[Result]:
    """The ``k`` shapes of ``signal`` best matching ``query`` with records in its window, best
    first: the synchronous client's search (the asynchronous one runs the same plans).

    A text is embedded with the configured model before the transaction, and the failures it is
    about recognized (:func:`encode_query`); a stored span's shape vector is read (its text
    embedded if it has none yet) by :func:`vector_plan`; then :func:`rank_plan` ranks the shapes.
    """
    encoded = encode_query(settings, query.text) if query.text is not None else None
    with read() as conn:
        if encoded is None:
            found = run(conn, vector_plan(database, query))
            encoded = EncodedQuery(found if isinstance(found, Vector) else encode_text(settings, found))
        return run(conn, rank_plan(database, configured_model_name(settings), encoded, query, signal))


def _check_one_query(text: str | None, span_id: str | int | None, vector: Sequence[float] | None) -> None:
    if sum(query is not None for query in (text, span_id, vector)) != 1:
        raise QueryError("give exactly one of text, span_id or vector")


def encode_text(settings: PgvectorSettings, text: str) -> Vector:
    """``text`` embedded with the configured model (loaded on first use)."""
    return as_vector(load_encoder_backend(settings).encode([text])[0])


class EncodedQuery(NamedTuple):
    """What a query is ranked by: its ``vector`` and, for a text, the well-known failures it is
    about (``query/concepts.py``; empty for a vector or a stored span)."""

    vector: Vector
    failures: tuple[ConceptWeight, ...] = ()


def encode_query(settings: PgvectorSettings, text: str) -> EncodedQuery:
    """A query text's vector, and the failures it is about: it is weighed against every failure's
    meaning and descriptions (:func:`.concepts.failure_weights`), a failure whose glossary pattern
    it matches ("deadlock on orders") counting as a little nearer. The text is embedded as it is:
    leading it with a matched failure's meaning, as shape texts are led, misread questions that
    say "timed out" of another failure (docs/benchmarks.md).
    """
    backend = load_encoder_backend(settings)
    vector = backend.encode([text])[0]
    return EncodedQuery(as_vector(vector),
                        failure_weights(backend, settings.embedding_cache_dir, vector, glosses(text)))


def as_vector(values: Any) -> Vector:
    """A vector of floats, from a list, an array or a stored pgvector value."""
    if hasattr(values, "to_list"):
        values = values.to_list()
    return Vector([float(value) for value in values])


def vector_plan(database: Database, query: SimilarQuery) -> Plan[Vector | str]:
    """The vector of a ``vector`` or ``span_id`` query, or the text to embed for it.

    ``span_id`` names a stored span, the latest one in the window, whose shape's vector is
    taken, or, while the shape has none yet, its text returned to be embedded. Raises
    :class:`NotFound` for a span not stored.
    """
    if query.span_id is None:
        assert query.vector is not None
        return as_vector(query.vector)
    span = parse_span_id(query.span_id)
    statement = sql.SQL(
        "SELECT h.text, h.embedding FROM {spans} s JOIN {shapes} h USING (shape_key)"
        " WHERE s.span_id = %s{window} ORDER BY s.start_time DESC LIMIT 1"
    ).format(spans=database.qualified("otel_spans"), shapes=database.qualified("otel_shapes"),
             window=query.ranking.window.condition())
    rows = yield Fetch(statement, (span,))
    if not rows:
        raise NotFound(f"no span {unsigned_span_id(span):016x} with a shape is stored")
    text, embedding = rows[0]
    return text if embedding is None else as_vector(embedding)


@dataclass(frozen=True)
class ShapeSignal(Generic[Result]):
    """What tells a search of span shapes from one of log shapes: the ``otel_shapes.signal``, the
    statement summarizing the records of candidate shapes in a window (``stats``: one row per
    shape key of its ``bigint[]`` parameter that has records, the key first), and the result
    made of a candidate and its summary, of type ``row``."""

    signal: str
    stats: Callable[[Database, SpanWindow], sql.Composed]
    result: Callable[[tuple[Any, ...], Any], Result]
    row: type[Result]


def rank_plan(
    database: Database, model: str, encoded: EncodedQuery, query: SimilarQuery, signal: ShapeSignal[Result],
) -> Plan[Rows[Result]]:
    """The shapes of ``model`` and ``signal`` best matching ``query`` under its ranking, best first:
    nearest ``encoded.vector``, or, for a text query ranked ``hybrid``, nearest fused with the
    best full-text matches of its text, the shapes of the failures it is about first.

    Candidates come best first from :func:`_nearest`; those below ``min_similarity`` are
    dropped, and each other gets the summary of its records in the window from
    ``signal.stats``. Shapes without records in the window are skipped; while
    fewer than ``k`` results remain and more shapes may, the candidates grow
    :data:`_OVERFETCH`-fold, up to :data:`_MAX_CANDIDATES`. Raises :class:`QueryError` when
    ``query_vector`` does not have the shapes' dimension.
    """
    ranking = query.ranking
    # Without a window every stored shape normally has spans, so k candidates suffice (each
    # one costs a count of its spans); with one, many may have none in it.
    candidates = ranking.k * _OVERFETCH if ranking.window.bounded else ranking.k
    dimensions = len(encoded.vector.to_list())
    column_rows = yield Fetch(_DIMENSION, (database.schema,))
    column = int(column_rows[0][0]) if column_rows and column_rows[0][0] > 0 else None
    if dimensions != column:
        raise QueryError(f"the query vector has {dimensions} dimensions, the shapes {column}")
    while True:
        nearest = yield from _nearest(database, encoded, model, query, candidates, signal.signal)
        if ranking.min_similarity is not None:
            nearest = [row for row in nearest if 1 - row[-1] >= ranking.min_similarity]
        keys = [row[0] for row in nearest]
        stats = {row[0]: tuple(row[1:]) for row in (
            (yield Fetch(signal.stats(database, ranking.window), (keys,))) if keys else [])}
        results = [signal.result(row, stats[row[0]]) for row in nearest if row[0] in stats][: ranking.k]
        exhausted = len(nearest) < candidates or candidates >= _MAX_CANDIDATES
        if len(results) >= ranking.k or exhausted:
            return Rows(results, signal.row)
        candidates = min(candidates * _OVERFETCH, _MAX_CANDIDATES)


# The dimension of otel_shapes.embedding in a schema (atttypmod: -1 for a vector without one).
_DIMENSION = sql.SQL(
    "SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %s AND c.relname = 'otel_shapes' AND a.attname = 'embedding'"
)


def _similarity(distance: float) -> float:
    """Cosine similarity from pgvector's cosine distance, clamped to [0, 1]."""
    return max(0.0, min(1.0, 1 - distance))


def _similar_span(shape: tuple[Any, ...], stats: _SpanStats) -> SimilarSpan:
    """A result from a row of :func:`_nearest` and its shape's :func:`_span_stats`."""
    key, text, service, kind, status, distance = shape
    span_count, first_seen, last_seen, example_span, example_trace = stats
    return SimilarSpan(
        similarity=_similarity(distance),
        text=text,
        service_name=service,
        kind=kind,
        status_code=status,
        span_count=span_count,
        first_seen=first_seen,
        last_seen=last_seen,
        example_span_id=f"{unsigned_span_id(example_span):016x}",
        example_trace_id=example_trace.hex,
        shape_key=key,
    )


def _similar_log(shape: tuple[Any, ...], stats: _LogStats) -> SimilarLog:
    """A result from a row of :func:`_nearest` and its shape's :func:`_log_stats`; a log shape's
    status is the records' severity text."""
    key, text, service, _, severity, distance = shape
    record_count, first_seen, last_seen, example_body, example_trace = stats
    return SimilarLog(
        similarity=_similarity(distance),
        text=text,
        service_name=service,
        severity_text=severity,
        record_count=record_count,
        first_seen=first_seen,
        last_seen=last_seen,
        example_body=example_body,
        example_trace_id=example_trace,
        shape_key=key,
    )


def _nearest(database: Database, encoded: EncodedQuery, model: str, query: SimilarQuery, limit: int,
             signal: str) -> Plan[list[tuple[Any, ...]]]:
    """The ``limit`` best shapes of ``model`` and ``signal`` passing the ranking's filters:
    ``(shape_key, text, service_name, kind, status_code, cosine distance)``, best first.

    Without the query's words, the best are the nearest ``vector``. With them, the nearest and
    the shapes whose text best matches any of the words (:func:`_hybrid_statement`) are fused
    by reciprocal rank, in the same statement.
    """
    ranking = query.ranking
    service, status = ranking.service, ranking.status_code
    filters = [sql.SQL("embedding IS NOT NULL AND model = %(model)s AND signal = %(signal)s")]
    if service is not None:
        filters.append(sql.SQL("service_name = %(service)s"))
    if status is not None:
        filters.append(sql.SQL("status_code = %(status)s"))
    settings = {"hnsw.iterative_scan": "relaxed_order", "hnsw.ef_search": str(min(1000, max(64, limit)))}
    if service is not None:
        (matching,), = yield _few_shapes(database, service, status)
        if matching <= EXACT_SCAN_LIMIT:
            # Exact: a bitmap scan of the service's shapes and a sort beats walking the graph past
            # thousands of other services' shapes (docs/benchmarks.md: p95 53 ms with HNSW at 100k shapes).
            settings["enable_indexscan"] = "off"
    shapes, where = database.qualified("otel_shapes"), sql.SQL(" AND ").join(filters)
    params = {"vector": encoded.vector, "model": model, "signal": signal, "service": service,
              "status": status, "limit": limit, "words": query.words, "fusion": RRF_K,
              "text_weight": TEXT_WEIGHT, "candidates": max(limit, HYBRID_CANDIDATES), "bonus": FAILURE_BONUS,
              "failure": _FAILURE_STATUS, "feedback": FEEDBACK, "text_scan": TEXT_SCAN_LIMIT,
              "failures": [failure.meaning for failure in encoded.failures],
              "failure_weights": [failure.weight for failure in encoded.failures],
              "failure_weight": FAILURE_WEIGHT, "named": NAMED}
    if query.words is not None:
        return list((yield Fetch(_hybrid_statement(shapes, where), params, settings=settings)))
    statement = sql.SQL(
        "SELECT shape_key, text, service_name, kind, status_code, embedding <=> %(vector)s AS distance"
        " FROM {} WHERE {} ORDER BY embedding <=> %(vector)s LIMIT %(limit)s"
    ).format(shapes, where)
    rows = yield Fetch(statement, params, settings=settings)
    return sorted(rows, key=lambda row: row[-1])  # relaxed_order may return them slightly out of order


def _hybrid_statement(shapes: sql.Composable, where: sql.Composable) -> sql.Composed:
    """Reciprocal rank fusion of the nearest shapes and the best text matches, the shapes of the
    failures the question is about first, in one statement.

    The vector ranking orders by cosine distance, less :data:`FAILURE_BONUS` for a failure, the
    :data:`HYBRID_CANDIDATES` nearest (or more) and as many of the nearest shapes of the
    failures the question is about (``%(failures)s``, ``query/concepts.py``; a shape is of a
    failure when its text starts with the failure's meaning, found through the full-text index
    first, at most :data:`TEXT_SCAN_LIMIT` of them, materialized so that the planner does not
    walk the HNSW graph for the few it needs). The words are matched as any of them
    (``plainto_tsquery``'s lexemes joined by ``|`` instead of ``&``: a question in a person's
    words rarely holds all of a shape's words),
    through the GIN index on ``otel_shapes.search`` (migration 0011), at most
    :data:`TEXT_SCAN_LIMIT` of them ranked by ``ts_rank`` (normalized by the text's length, so
    a long text matching a common word does not win). A shape's score is the sum over the two
    rankings of ``weight / (RRF_K + rank)``, plus :data:`FAILURE_WEIGHT` times its failure's
    weight unless the nearest shape is at least :data:`NAMED` similar, plus the
    :data:`FEEDBACK` term.
    """
    return sql.SQL(
        "WITH words AS ("
        "   SELECT replace(plainto_tsquery('english', %(words)s)::text, ' & ', ' | ')::tsquery AS q),"
        " failures AS ("
        "   SELECT * FROM unnest(%(failures)s::text[], %(failure_weights)s::float8[]) AS f(meaning, weight)),"
        " described AS MATERIALIZED ("
        "   SELECT shape_key, text, status_code, embedding <=> %(vector)s AS distance"
        "   FROM {shapes}, failures f WHERE search @@ plainto_tsquery('english', f.meaning)"
        "   AND starts_with(text, f.meaning || ' | ') AND {where} LIMIT %(text_scan)s),"
        " candidates AS ("
        "   (SELECT shape_key, text, status_code, embedding <=> %(vector)s AS distance"
        "     FROM {shapes} WHERE {where} ORDER BY embedding <=> %(vector)s LIMIT %(candidates)s)"
        "   UNION (SELECT * FROM described ORDER BY distance LIMIT %(candidates)s)),"
        " nearest AS (SELECT shape_key, row_number() OVER (ORDER BY"
        "   distance - CASE WHEN status_code ~* %(failure)s THEN %(bonus)s ELSE 0 END, shape_key) AS rank,"
        "   (SELECT max(f.weight) FROM failures f WHERE starts_with(text, f.meaning || ' | ')) AS described"
        "   FROM candidates),"
        " matching AS (SELECT shape_key, row_number() OVER (ORDER BY score DESC, shape_key) AS rank FROM ("
        "   SELECT shape_key, ts_rank(search, words.q, 1) AS score FROM ("
        "     SELECT shape_key, search FROM {shapes}, words WHERE search @@ words.q AND {where}"
        "     LIMIT %(text_scan)s) AS matched, words"
        "   ORDER BY score DESC, shape_key LIMIT %(candidates)s) AS candidates),"
        " named AS (SELECT min(distance) <= 1 - %(named)s AS named FROM candidates),"
        " fused AS (SELECT s.shape_key, s.text, s.service_name, s.kind, s.status_code, s.embedding,"
        "   s.embedding <=> %(vector)s AS distance, coalesce(1.0 / (%(fusion)s + nearest.rank), 0)"
        "   + %(text_weight)s * coalesce(1.0 / (%(fusion)s + matching.rank), 0)"
        "   + CASE WHEN named.named THEN 0 ELSE %(failure_weight)s * coalesce(nearest.described, 0) END"
        "   AS score"
        "   FROM nearest FULL JOIN matching USING (shape_key) JOIN {shapes} s USING (shape_key), named),"
        " best AS (SELECT embedding FROM fused ORDER BY score DESC, shape_key LIMIT 1)"
        " SELECT shape_key, text, service_name, kind, status_code, distance FROM fused, best"
        " ORDER BY score + %(feedback)s * (1 - (fused.embedding <=> best.embedding)) DESC, shape_key"
        " LIMIT %(limit)s"
    ).format(shapes=shapes, where=where)


def _few_shapes(database: Database, service: str, status: str | None) -> Fetch[tuple[int]]:
    """How many shapes match, counted on the service index up to :data:`EXACT_SCAN_LIMIT` + 1.

    ``status`` is a status code as stored (upper case)."""
    statement = sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE service_name = %s{} LIMIT %s) AS matching"
    ).format(database.qualified("otel_shapes"),
             sql.SQL(" AND status_code = %s") if status is not None else sql.SQL(""))
    filters = (service,) if status is None else (service, status)
    return Fetch(statement, (*filters, EXACT_SCAN_LIMIT + 1))


# The records of candidate shapes: per shape, the window's count, first and last time, and its
# latest record, in one statement and never with a join per shape. On Citus (docs/scaling.md)
# the records are distributed by trace_id and joined only on that column, so a LATERAL join
# from the shape keys into otel_spans or otel_logs is refused ("complex joins are only
# supported when all distributed tables are co-located"). Here the counts (filtered by shape
# key alone) are computed on every shard and merged; they are joined back to the records by
# shape key and time as an intermediate result; the choice among records of the same
# microsecond is made last, on the coordinator, by a total order, so every server picks the
# same one. On one node the (shape_key, time) index of the table answers both halves.


def _shape_records(table: sql.Composable, time: str, example: str, trace: str,
                   window: SpanWindow) -> sql.Composed:
    """Rows ``(shape_key, count, first, last, example, trace)`` for the shapes of the ``bigint[]``
    parameter that have records in ``window``; ``example`` and ``trace`` are of the latest record."""
    return sql.SQL(
        "WITH counted AS MATERIALIZED (SELECT r.shape_key, count(*) AS n, min(r.{time}) AS first_seen,"
        "   max(r.{time}) AS last_seen FROM {table} r"
        "   WHERE r.shape_key = ANY(%s::bigint[]){window} GROUP BY 1),"
        " latest AS MATERIALIZED (SELECT c.shape_key, c.n, c.first_seen, c.last_seen, r.{time_ns} AS tie,"
        "   r.{example} AS example, r.trace_id FROM counted c"
        "   JOIN {table} r ON r.shape_key = c.shape_key AND r.{time} = c.last_seen)"
        " SELECT DISTINCT ON (shape_key) shape_key, n, first_seen, last_seen, example, {trace} FROM latest"
        " ORDER BY shape_key, tie DESC, example DESC, trace_id DESC"
    ).format(time=sql.Identifier(time), time_ns=sql.Identifier(f"{time}_ns"), table=table,
             example=sql.Identifier(example), trace=sql.SQL(trace), window=window.condition(f"r.{time}"))


def _span_stats(database: Database, window: SpanWindow) -> sql.Composed:
    """Per shape: span count, first and last start, the latest span's span and trace id
    (:data:`_SpanStats`)."""
    return _shape_records(database.qualified("otel_spans"), "start_time", "span_id", "trace_id", window)


def _log_stats(database: Database, window: SpanWindow) -> sql.Composed:
    """Per shape: record count, first and last time, the latest record's body and trace id in hex,
    None outside a trace (:data:`_LogStats`)."""
    return _shape_records(
        database.qualified("otel_logs"), "time", "body",
        "CASE WHEN trace_id <> '00000000-0000-0000-0000-000000000000' THEN otel_trace_id_hex(trace_id) END",
        window)


SPAN_SHAPES: ShapeSignal[SimilarSpan] = ShapeSignal("span", _span_stats, _similar_span, SimilarSpan)
LOG_SHAPES: ShapeSignal[SimilarLog] = ShapeSignal("log", _log_stats, _similar_log, SimilarLog)
