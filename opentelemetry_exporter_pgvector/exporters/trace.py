"""``PgvectorSpanExporter``: spans into ``otel_spans``, their shapes into ``otel_shapes``."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..convert.spans import SpanConverter
from .base import PgvectorExporterBase


class PgvectorSpanExporter(PgvectorExporterBase, SpanExporter):
    """Writes each batch of spans to PostgreSQL with one COPY, in one transaction.

    ``PgvectorSpanExporter()`` reads ``OTEL_EXPORTER_PGVECTOR_*``; keyword arguments (``dsn=``,
    ``schema=``, ``timeout=``...) or a :class:`PgvectorSettings` override them. With no DSN,
    the embedded PostgreSQL server is started on the first export. ``embedding`` decides what
    happens to span shapes (see :class:`PgvectorExporterBase`).
    """

    signal = "spans"
    has_shapes = True

    def __init__(
        self, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> None:
        super().__init__(settings, **overrides)
        self._converter = SpanConverter(self.settings.max_value_length, self.shapes)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._export(len(spans), lambda: self._converter.convert_batch(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
