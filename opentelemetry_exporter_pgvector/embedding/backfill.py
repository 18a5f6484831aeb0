"""``otel-pgvector embed``: fill the vectors the exporter left missing.

In ``deferred`` mode (the default) spans are written with their shape keys and the shapes
without vectors; in ``inline`` mode a shape not embedded within the export timeout is too.
This fills them. Each batch is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` in its own
transaction, encoded and updated before the commit, so several workers (on several machines)
share the queue and every missing vector is filled exactly once: a claimed row is skipped by
the others, and a committed one no longer matches ``embedding IS NULL``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from psycopg import sql

from ..convert.shapes import SHAPE_TABLE
from ..db.database import Database
from .backends import EmbeddingBackend
from .encoder import check_dimension

logger = logging.getLogger(__name__)


def count_missing(database: Database, model: str) -> int:
    """How many shapes of ``model`` have no vector yet."""
    with database.connection(database.settings.timeout) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE embedding IS NULL AND model = %s").format(
                database.qualified(SHAPE_TABLE.name)
            ),
            (model,),
        ).fetchone()
    return int(row[0]) if row else 0


def embed_missing(
    database: Database,
    backend: EmbeddingBackend,
    *,
    batch_size: int = 64,
    follow: bool = False,
    poll_interval: float = 2.0,
    stop: threading.Event | None = None,
    on_batch: Callable[[Sequence[int]], None] | None = None,
) -> int:
    """Embed shapes of ``backend``'s model that lack a vector; return how many this call did.

    Without ``follow`` it returns when no unclaimed shape is left; with it, it polls every
    ``poll_interval`` seconds until ``stop`` is set. ``on_batch`` receives the keys of each
    committed batch (progress bars, tests).
    """
    stop = stop or threading.Event()
    table = database.qualified(SHAPE_TABLE.name)
    claim = sql.SQL(
        "SELECT shape_key, text FROM {} WHERE embedding IS NULL AND model = %s"
        " ORDER BY first_seen LIMIT %s FOR UPDATE SKIP LOCKED"
    ).format(table)
    update = sql.SQL("UPDATE {} SET embedding = %s, embedded_at = now() WHERE shape_key = %s").format(table)
    with database.connection(database.settings.timeout) as conn:
        check_dimension(conn, database, backend)
    done = 0
    while not stop.is_set():
        with database.connection(database.settings.timeout) as conn, conn.transaction():
            claimed = conn.execute(claim, (backend.model_name, batch_size)).fetchall()
            if claimed:
                vectors = backend.encode([text for _, text in claimed])
                with conn.cursor() as cursor:
                    cursor.executemany(
                        update, [(vector, key) for (key, _), vector in zip(claimed, vectors, strict=True)]
                    )
        if claimed:
            done += len(claimed)
            if on_batch is not None:
                on_batch([key for key, _ in claimed])
        elif not follow:
            break
        else:
            stop.wait(poll_interval)
    logger.info("embedded %d shapes", done)
    return done
