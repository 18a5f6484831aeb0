"""Embedding shapes off the exporter's thread: a bounded pool that batches, caches and stores.

The exporter hands :meth:`ShapeEncoder.submit` the ``otel_shapes`` rows of each batch. A
shape already known to have a vector costs one lookup in a bounded LRU (a cache hit); a new
one is queued, and the pool's worker encodes queued texts in batches (whatever accumulated
while the previous batch was encoding, up to the batch size), then upserts their vectors.

The upsert fills ``embedding`` of an existing row without one, or inserts the whole row, so it
does not matter whether the exporter's transaction that inserts the shape (vector-less,
``ON CONFLICT DO NOTHING``) commits before or after it. A shape whose encoding fails or is
dropped because the queue is full is left without a vector for ``otel-pgvector embed``; spans
are never held back for it.

This module needs numpy and an embedding backend; the exporter imports it only in ``inline``
mode.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from ..config import PgvectorSettings
from ..convert.shapes import SHAPE_TABLE
from ..convert.table import Row
from ..db.database import Database
from ..db.known_keys import KnownKeys
from ..db.shared import SharedRegistry
from ..errors import EmbeddingDimensionError, EmbeddingModelError
from ..forksafe import reset_after_fork
from .backends import EmbeddingBackend, load_backend
from .model import configured_model_name

logger = logging.getLogger(__name__)

# Niceness of encoder threads (Linux), see _lower_thread_priority.
ENCODER_NICENESS = 10

_backends: dict[tuple[object, ...], EmbeddingBackend] = {}
_backends_lock = threading.Lock()


def load_encoder_backend(settings: PgvectorSettings) -> EmbeddingBackend:
    """The embedding backend ``settings`` select, loaded once per process and shared.

    The exporter, the query layer and the backfill of one process use the same model, which
    takes hundreds of MB; loading it once is what makes that affordable.
    """
    key = _backend_key(settings)
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = load_backend(
                settings.embedding_backend,
                settings.embedding_model,
                settings.embedding_cache_dir,
                settings.embedding_batch_size,
                settings.embedding_threads,
            )
            expected = configured_model_name(settings)
            if backend.model_name != expected:
                raise EmbeddingModelError(f"loaded model {backend.model_name!r}, expected {expected!r}")
            _backends[key] = backend
        return backend


def _backend_key(settings: PgvectorSettings) -> tuple[object, ...]:
    return (settings.embedding_backend, settings.embedding_model, settings.embedding_cache_dir,
            settings.embedding_batch_size, settings.embedding_threads)


def encoder_backend_loaded(settings: PgvectorSettings) -> bool:
    """Whether :func:`load_encoder_backend` has the backend of ``settings`` loaded in this process."""
    with _backends_lock:
        return _backend_key(settings) in _backends


def column_dimension(conn: psycopg.Connection, database: Database) -> int | None:
    """The dimension of ``otel_shapes.embedding`` (None if the column has none)."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'",
        (database.qualified(SHAPE_TABLE.name).as_string(conn),),
    ).fetchone()
    return int(row[0]) if row and row[0] > 0 else None


def check_dimension(conn: psycopg.Connection, database: Database, backend: EmbeddingBackend) -> None:
    """Raise :class:`EmbeddingDimensionError` unless the model's dimension is the column's."""
    column = column_dimension(conn, database)
    if column != backend.dimension:
        raise EmbeddingDimensionError(
            f"model {backend.model_name} makes {backend.dimension}-dimensional vectors but "
            f"{database.schema}.otel_shapes.embedding is vector({column}); use a model of "
            f"{column} dimensions (OTEL_EXPORTER_PGVECTOR_EMBEDDING_MODEL) or change the column "
            "and its index to the model's dimension"
        )


def store_vectors_statement(database: Database) -> sql.Composed:
    """Upsert of a shape row with its vector: fills a missing vector, never replaces one."""
    columns = SHAPE_TABLE.column_names
    return sql.SQL(
        "INSERT INTO {table} ({columns}, embedding, embedded_at) VALUES ({values}, %s, now())"
        " ON CONFLICT (shape_key) DO UPDATE SET embedding = EXCLUDED.embedding,"
        " embedded_at = EXCLUDED.embedded_at WHERE {table}.embedding IS NULL"
    ).format(
        table=database.qualified(SHAPE_TABLE.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )


def _lower_thread_priority() -> None:
    """Let the application's and the exporter's threads have the CPU first (Linux: per thread).

    Encoding is background work an exporter does with borrowed CPUs; the vectors may come a
    little later, spans must not. Elsewhere this is a no-op.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ENCODER_NICENESS)


@dataclass(frozen=True)
class EncoderStats:
    """Counters of a :class:`ShapeEncoder` since it started."""

    cache_hits: int
    cache_misses: int
    texts_encoded: int
    queue_depth: int
    dropped: int
    failed: int


class ShapeEncoder:
    """Embeds new shapes on a bounded thread pool and stores their vectors.

    ``workers`` threads (default 1: encoding is already multi-threaded inside the model, and
    the exporter shares the process with the application) take queued shapes in batches of
    ``settings.embedding_batch_size``. At most ``max_pending`` shapes wait; more are dropped
    (counted) and left to ``otel-pgvector embed``. ``backend`` returns the model, loaded on
    the pool's thread at the first new shape (default: :func:`load_encoder_backend`).
    Fork-safe: a child process starts its own pool and queue.
    """

    def __init__(
        self,
        settings: PgvectorSettings,
        database: Database,
        *,
        workers: int = 1,
        max_pending: int = 10_000,
        known_capacity: int = 100_000,
        backend: Callable[[], EmbeddingBackend] | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend or functools.partial(load_encoder_backend, settings)
        # the shared default backend may have been loaded by another user of this process
        self._model_loaded = backend is None and encoder_backend_loaded(settings)
        self._database = database
        self._workers = workers
        self._max_pending = max_pending
        self._embedded = KnownKeys(known_capacity)
        self._closed = False
        self._dimension_checked = False
        self._hits = self._misses = self._encoded = self._dropped = self._failed = 0
        self.after_fork_in_child()
        reset_after_fork(self)

    def after_fork_in_child(self) -> None:
        """Start with an empty queue and no pool: the parent's threads and queued shapes are its own."""
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, tuple[Row, Future[None]]] = OrderedDict()
        self._in_flight: dict[int, Future[None]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def stats(self) -> EncoderStats:
        with self._lock:
            return EncoderStats(
                self._hits, self._misses, self._encoded, len(self._pending), self._dropped, self._failed
            )

    @property
    def model_loaded(self) -> bool:
        """Whether the model is loaded. Until then a shape waits for the model's loading, and
        from an empty cache for its one-time ONNX export: seconds, no wait of an export's."""
        return self._model_loaded

    @property
    def backlog(self) -> int:
        """Shapes queued or being encoded."""
        with self._lock:
            return len(self._pending) + len(self._in_flight)

    def submit(self, shapes: Iterable[Row]) -> list[Future[None]]:
        """Queue the shapes not known to have a vector; futures resolve once each is stored."""
        futures: list[Future[None]] = []
        queued = False
        with self._lock:
            if self._closed:
                return futures
            for shape in shapes:
                key = shape[0]
                if key in self._embedded:
                    self._hits += 1
                    continue
                self._misses += 1
                waiting = self._pending.get(key)
                future = waiting[1] if waiting else self._in_flight.get(key)
                if future is None:
                    if len(self._pending) >= self._max_pending:
                        self._dropped += 1
                        continue
                    future = Future()
                    self._pending[key] = (shape, future)
                    queued = True
                futures.append(future)
            if queued:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="otel-pgvector-encoder")
                self._pool.submit(self._drain)
        return futures

    @staticmethod
    def wait(futures: Sequence[Future[None]], timeout: float) -> int:
        """Wait up to ``timeout`` seconds for ``futures``; return how many are not done."""
        if not futures:
            return 0
        _, not_done = wait_futures(futures, timeout=max(0.0, timeout))
        return len(not_done)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued shape; True if all were handled."""
        with self._lock:
            futures = [future for _, future in self._pending.values()] + list(self._in_flight.values())
        return self.wait(futures, timeout) == 0

    def _take(self) -> list[tuple[Row, Future[None]]]:
        with self._lock:
            batch: list[tuple[Row, Future[None]]] = []
            while self._pending and len(batch) < self._settings.embedding_batch_size and not self._closed:
                key, item = self._pending.popitem(last=False)
                self._in_flight[key] = item[1]
                batch.append(item)
            return batch

    def _drain(self) -> None:
        _lower_thread_priority()
        while batch := self._take():
            rows = [row for row, _ in batch]
            try:
                backend = self._backend()
                self._model_loaded = True
                vectors = backend.encode([row[-1] for row in rows])
                self._store(rows, vectors)
            except Exception as error:  # noqa: BLE001 - leave the shapes for `otel-pgvector embed`
                self._finish(rows, failed=True)
                logger.warning(
                    "could not embed %d span shapes (left for `otel-pgvector embed`): %s", len(rows), error
                )
                for _, future in batch:
                    future.set_exception(error)
                continue
            self._finish(rows, failed=False)
            for _, future in batch:
                future.set_result(None)

    def _finish(self, rows: list[Row], failed: bool) -> None:
        with self._lock:
            for row in rows:
                self._in_flight.pop(row[0], None)
            if failed:
                self._failed += len(rows)
            else:
                self._encoded += len(rows)
                self._embedded.add_all(row[0] for row in rows)

    def _store(self, rows: list[Row], vectors: npt.NDArray[np.float32]) -> None:
        database = self._database
        with database.connection(self._settings.timeout) as conn:
            if not self._dimension_checked:
                check_dimension(conn, database, self._backend())
                self._dimension_checked = True
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    store_vectors_statement(database),
                    [(*row, vector) for row, vector in zip(rows, vectors, strict=True)],
                )

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: no more shapes are taken."""
        return self._closed

    def close(self, timeout: float | None = None) -> None:
        """Stop taking work; wait up to ``timeout`` seconds for the batch being encoded."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            for _, future in self._pending.values():
                future.cancel()
            self._pending.clear()
            in_flight = list(self._in_flight.values())
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            self.wait(in_flight, self._settings.timeout if timeout is None else timeout)


_encoders: SharedRegistry[Database, ShapeEncoder] = SharedRegistry()


def acquire_encoder(settings: PgvectorSettings, database: Database) -> ShapeEncoder:
    """The process's encoder for ``database``, shared by its span and log exporters.

    One model in memory and one pool per database, however many exporters embed inline; give
    it back with :func:`release_encoder`.
    """
    return _encoders.acquire(database, lambda: ShapeEncoder(settings, database))


def release_encoder(database: Database, timeout: float) -> None:
    """Give back an encoder from :func:`acquire_encoder`; the last user closes it."""
    last = _encoders.release(database)
    if last is not None:
        last.close(timeout)
