"""``PgvectorSpanExporter``: spans into ``otel_spans``, their shapes into ``otel_shapes``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..config import PgvectorSettings
from ..convert.spans import SpanConverter
from ..convert.table import TableRows
from ..embedding.model import configured_model_name
from ..embedding.shape import SHAPE_TABLE, ShapeBuilder
from .base import PgvectorExporterBase

if TYPE_CHECKING:
    from ..embedding.encoder import ShapeEncoder

logger = logging.getLogger(__name__)

# In inline mode, the largest share of the export timeout an export waits for its new shapes'
# vectors (after writing its spans and the shapes without vectors), whatever
# OTEL_EXPORTER_PGVECTOR_EMBEDDING_INLINE_WAIT says; never past the timeout.
INLINE_EMBED_SHARE = 0.5


class PgvectorSpanExporter(PgvectorExporterBase, SpanExporter):
    """Writes each batch of spans to PostgreSQL with one COPY, in one transaction.

    ``PgvectorSpanExporter()`` reads ``OTEL_EXPORTER_PGVECTOR_*``; keyword arguments (``dsn=``,
    ``schema=``, ``timeout=``...) or a :class:`PgvectorSettings` override them. With no DSN,
    the embedded PostgreSQL server is started on the first export.

    ``embedding`` decides what happens to span shapes: ``off`` stores none; ``deferred`` (the
    default) stores each span's shape key and new shapes without vectors, at full speed and
    without importing numpy, torch or onnxruntime; ``inline`` also embeds new shapes on a
    background pool: once the batch is committed (spans written at full speed, COPY
    overlapping conversion), the export waits for its new shapes' vectors up to
    ``embedding_inline_wait`` (0.2 s; at most half the export timeout), unless the encoder
    already has a backlog, which the wait could not get through. The wait is short by
    default because an exporter blocked for seconds makes the SDK's BatchSpanProcessor queue
    overflow and drop spans, and a cold start brings hundreds of new shapes at once (seconds
    of encoding). A shape not embedded in time keeps its vector-less row until the encoder
    finishes in the background (or ``otel-pgvector embed`` fills it); no span is ever held
    back past the timeout or dropped for it.
    """

    signal = "spans"

    def __init__(self, settings: PgvectorSettings | None = None, **overrides: Any) -> None:
        super().__init__(settings, **overrides)
        mode = self.settings.embedding
        shapes = None if mode == "off" else ShapeBuilder(configured_model_name(self.settings))
        self._converter = SpanConverter(self.settings.max_value_length, shapes)
        self._encoder: ShapeEncoder | None = None
        if mode == "inline":
            from ..embedding.encoder import ShapeEncoder  # numpy and a model: inline mode only

            self._encoder = ShapeEncoder(self.settings, self.database)

    @property
    def encoder(self) -> ShapeEncoder | None:
        """The shape encoder of ``inline`` mode (its ``stats``), else None."""
        return self._encoder

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._begin():
            return SpanExportResult.FAILURE
        try:
            started = time.monotonic()
            timeout = self.settings.timeout
            parts = self._converter.convert_batch(spans)
            ok = self._write(parts, len(spans))
            if ok and self._encoder is not None:
                budget = min(self.settings.embedding_inline_wait, timeout * INLINE_EMBED_SHARE,
                             timeout - (time.monotonic() - started))
                self._embed_new_shapes(parts, budget)
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
        finally:
            self._end()

    def _embed_new_shapes(self, parts: Sequence[TableRows], budget: float) -> None:
        """Embed the batch's new shapes (already written without vectors), waiting up to ``budget``."""
        assert self._encoder is not None
        try:
            shapes = [row for part in parts if part.table is SHAPE_TABLE for row in part.rows]
            # Behind a backlog (a cold start's burst of new shapes) waiting would not get this
            # batch's vectors in time, only slow the export down: it is left to the background.
            backlogged = self._encoder.backlog > 0
            futures = self._encoder.submit(shapes)
            late = len(futures) if backlogged else self._encoder.wait(futures, budget)
        except Exception:  # embedding is best effort; the spans are written regardless
            logger.exception("could not embed span shapes; they are left for `otel-pgvector embed`")
            return
        if late:
            logger.debug("%d span shapes not embedded within the export; filled later", late)

    def shutdown(self) -> None:
        if self._encoder is not None:
            self._encoder.close(self.settings.timeout * INLINE_EMBED_SHARE)
        self._shutdown_exporter()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Spans are written by export(); in inline mode, wait for the shapes being embedded."""
        if self._encoder is None:
            return True
        return self._encoder.flush(timeout_millis / 1000)
