"""``PgvectorSpanExporter``: spans into ``otel_spans``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..config import PgvectorSettings
from ..convert.spans import SpanConverter
from .base import PgvectorExporterBase

logger = logging.getLogger(__name__)


class PgvectorSpanExporter(PgvectorExporterBase, SpanExporter):
    """Writes each batch of spans to PostgreSQL with one COPY, in one transaction.

    ``PgvectorSpanExporter()`` reads ``OTEL_EXPORTER_PGVECTOR_*``; keyword arguments (``dsn=``,
    ``schema=``, ``timeout=``...) or a :class:`PgvectorSettings` override them. With no DSN,
    the embedded PostgreSQL server is started on the first export.
    """

    signal = "spans"

    def __init__(self, settings: PgvectorSettings | None = None, **overrides: Any) -> None:
        super().__init__(settings, **overrides)
        self._converter = SpanConverter(self.settings.max_value_length)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._begin():
            return SpanExportResult.FAILURE
        try:
            ok = self._write(self._converter.convert_batch(spans), len(spans))
            return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
        finally:
            self._end()

    def shutdown(self) -> None:
        self._shutdown_exporter()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered in this exporter, so this method does nothing."""
        return True
