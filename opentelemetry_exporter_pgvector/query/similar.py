"""Similarity search over span shapes: "show me spans like this one".

Vectors live on the shapes (``otel_shapes``), not on spans, so a search is two steps: the
nearest shapes by cosine distance through the HNSW index, with the service/status filters
applied during the index scan (pgvector 0.8 iterative scans, ``relaxed_order``, so a filter
does not starve the result), or, when a service filter leaves few shapes, an exact scan of
them through the ``(service_name, status_code)`` index; then, per shape, its spans in the time window
through the ``(shape_key, start_time)`` index: count, first and last seen, and the latest
span as an example. Shapes without spans in the window are skipped, fetching more
candidates until ``k`` results are found or the shapes run out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg
from pgvector import Vector
from psycopg import sql

from ..config import PgvectorSettings
from ..convert.spans import signed_span_id, unsigned_span_id
from ..db.database import Database
from ..embedding.encoder import column_dimension, load_encoder_backend
from ..embedding.model import configured_model_name
from ..errors import NotFound, QueryError

# Candidate shapes fetched per round with a time window, as a multiple of k (and the growth
# per round), and the most ever fetched.
_OVERFETCH = 4
_MAX_CANDIDATES = 4096
_STATUSES = ("UNSET", "OK", "ERROR")
# A service filter matching at most this many shapes is answered by an exact scan.
EXACT_SCAN_LIMIT = 5000

Reader = Callable[[], AbstractContextManager[psycopg.Connection]]


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


def similar_spans(
    read: Reader,
    database: Database,
    settings: PgvectorSettings,
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
) -> list[SimilarSpan]:
    """The ``k`` shapes nearest the query with spans in ``[since, until)``, most similar first.

    Exactly one of ``text`` (embedded with the configured model), ``span_id`` (that span's
    shape; found by scanning spans, within the window when one is given) or ``vector`` is
    the query.
    """
    if sum(query is not None for query in (text, span_id, vector)) != 1:
        raise QueryError("give exactly one of text, span_id or vector")
    if not 1 <= k <= 1000:
        raise QueryError(f"k must be between 1 and 1000, got {k}")
    if min_similarity is not None and not 0 <= min_similarity <= 1:
        raise QueryError(f"min_similarity must be between 0 and 1, got {min_similarity}")
    if status is not None and status.upper() not in _STATUSES:
        raise QueryError(f"status must be one of {', '.join(_STATUSES)}, got {status!r}")
    model = configured_model_name(settings)
    window = _Window(since, until)

    if text is not None:
        vector = load_encoder_backend(settings).encode([text])[0]
    elif span_id is not None:
        vector = _span_vector(read, database, settings, parse_span_id(span_id), window)
    assert vector is not None
    query_vector = Vector([float(value) for value in vector])

    results: list[SimilarSpan] = []
    # Without a window every stored shape normally has spans, so k candidates suffice (each
    # one costs a count of its spans); with one, many may have none in it.
    candidates = k * _OVERFETCH if since is not None or until is not None else k
    with read() as conn:
        dimension = column_dimension(conn, database)
        if len(query_vector.to_list()) != dimension:
            raise QueryError(
                f"the query vector has {len(query_vector.to_list())} dimensions, the shapes {dimension}"
            )
        while True:
            nearest = _nearest(conn, database, query_vector, model, service, status, candidates)
            if min_similarity is not None:
                nearest = [row for row in nearest if 1 - row[-1] >= min_similarity]
            stats = _span_stats(conn, database, [row[0] for row in nearest], window)
            results = [
                SimilarSpan(
                    similarity=max(0.0, min(1.0, 1 - distance)),
                    text=shape_text,
                    service_name=shape_service,
                    kind=kind,
                    status_code=shape_status,
                    span_count=stats[key][0],
                    first_seen=stats[key][1],
                    last_seen=stats[key][2],
                    example_span_id=f"{unsigned_span_id(stats[key][3]):016x}",
                    example_trace_id=stats[key][4].hex,
                    shape_key=key,
                )
                for key, shape_text, shape_service, kind, shape_status, distance in nearest
                if key in stats
            ][:k]
            exhausted = len(nearest) < candidates or candidates >= _MAX_CANDIDATES
            if len(results) >= k or exhausted:
                return results
            candidates = min(candidates * _OVERFETCH, _MAX_CANDIDATES)


@dataclass(frozen=True)
class _Window:
    since: dt.datetime | None
    until: dt.datetime | None

    def condition(self) -> sql.Composable:
        parts: list[sql.Composable] = [sql.SQL("")]
        if self.since is not None:
            parts.append(sql.SQL(" AND s.start_time >= {}").format(sql.Literal(self.since)))
        if self.until is not None:
            parts.append(sql.SQL(" AND s.start_time < {}").format(sql.Literal(self.until)))
        return sql.Composed(parts)


def _span_vector(read: Reader, database: Database, settings: PgvectorSettings, span: int,
                 window: _Window) -> Any:
    """The vector of a stored span's shape, embedding the shape's text if it has none yet."""
    query = sql.SQL(
        "SELECT h.text, h.embedding FROM {spans} s JOIN {shapes} h USING (shape_key)"
        " WHERE s.span_id = %s{window} ORDER BY s.start_time DESC LIMIT 1"
    ).format(spans=database.qualified("otel_spans"), shapes=database.qualified("otel_shapes"),
             window=window.condition())
    with read() as conn:
        row = conn.execute(query, (span,)).fetchone()
    if row is None:
        raise NotFound(f"no span {unsigned_span_id(span):016x} with a shape is stored")
    text, embedding = row
    if embedding is not None:
        return embedding.to_list() if hasattr(embedding, "to_list") else list(embedding)
    return load_encoder_backend(settings).encode([text])[0]


def _nearest(conn: psycopg.Connection, database: Database, vector: Vector, model: str,
             service: str | None, status: str | None, limit: int) -> list[tuple[Any, ...]]:
    filters = [sql.SQL("embedding IS NOT NULL AND model = %(model)s AND signal = 'span'")]
    if service is not None:
        filters.append(sql.SQL("service_name = %(service)s"))
    if status is not None:
        filters.append(sql.SQL("status_code = %(status)s"))
    if service is not None and _few_shapes(conn, database, service, status):
        # Exact: a bitmap scan of the service's shapes and a sort beats walking the graph past
        # thousands of other services' shapes (docs/benchmarks.md: p95 53 ms with HNSW at 100k shapes).
        conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                 " set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(64, limit))),))
    query = sql.SQL(
        "SELECT shape_key, text, service_name, kind, status_code, embedding <=> %(vector)s AS distance"
        " FROM {} WHERE {} ORDER BY embedding <=> %(vector)s LIMIT %(limit)s"
    ).format(database.qualified("otel_shapes"), sql.SQL(" AND ").join(filters))
    rows = conn.execute(query, {"vector": vector, "model": model, "service": service,
                                "status": status.upper() if status else None, "limit": limit}).fetchall()
    return sorted(rows, key=lambda row: row[-1])  # relaxed_order may return them slightly out of order


def _few_shapes(conn: psycopg.Connection, database: Database, service: str, status: str | None) -> bool:
    """Whether at most :data:`EXACT_SCAN_LIMIT` shapes match, counted on the service index."""
    query = sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE service_name = %s{} LIMIT %s) AS matching"
    ).format(database.qualified("otel_shapes"),
             sql.SQL(" AND status_code = %s") if status is not None else sql.SQL(""))
    params = (service, status.upper(), EXACT_SCAN_LIMIT + 1) if status is not None else (service, EXACT_SCAN_LIMIT + 1)
    row = conn.execute(query, params).fetchone()
    return row is not None and row[0] <= EXACT_SCAN_LIMIT


def _span_stats(conn: psycopg.Connection, database: Database, keys: list[int],
                window: _Window) -> dict[int, tuple[int, dt.datetime, dt.datetime, int, uuid.UUID]]:
    if not keys:
        return {}
    query = sql.SQL(
        "SELECT n.shape_key, st.span_count, st.first_seen, st.last_seen, ex.span_id, ex.trace_id"
        " FROM unnest(%s::bigint[]) AS n(shape_key)"
        " CROSS JOIN LATERAL (SELECT count(*) AS span_count, min(s.start_time) AS first_seen,"
        "   max(s.start_time) AS last_seen FROM {spans} s WHERE s.shape_key = n.shape_key{window}) st"
        " JOIN LATERAL (SELECT s.span_id, s.trace_id FROM {spans} s WHERE s.shape_key = n.shape_key{window}"
        "   ORDER BY s.start_time DESC LIMIT 1) ex ON true"
    ).format(spans=database.qualified("otel_spans"), window=window.condition())
    return {row[0]: tuple(row[1:]) for row in conn.execute(query, (keys,)).fetchall()}
