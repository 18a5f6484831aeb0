"""``PgvectorLogExporter``: log records into ``otel_logs``.

The SDK's log API (``opentelemetry.sdk._logs``) is still underscore-private and has changed
between minor releases; this module is written against opentelemetry-sdk 1.45, the range
pinned in pyproject.toml and tested.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..convert.logs import LogConverter, is_own_record
from .base import PgvectorExporterBase
from .own_records import show_unexported


class PgvectorLogExporter(PgvectorExporterBase, LogRecordExporter):
    """Writes each batch of log records to PostgreSQL with one COPY, in one transaction.

    Use it with ``BatchLogRecordProcessor``, or ``OTEL_LOGS_EXPORTER=pgvector``. Configured like
    :class:`~opentelemetry_exporter_pgvector.PgvectorSpanExporter`; log bodies get shapes in
    ``otel_shapes`` (masked like span texts) under the same ``embedding`` modes. Records logged by this
    package, psycopg and the embedded server are never exported (no feedback loop through a
    ``LoggingHandler`` on the root logger).
    """

    signal = "log records"
    has_shapes = True

    def __init__(
        self, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> None:
        super().__init__(settings, **overrides)
        self._converter = LogConverter(self.settings.max_value_length, self.shapes)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        records = []
        for record in batch:
            if is_own_record(record):
                show_unexported(record)  # never exported, but a warning must reach someone
            else:
                records.append(record)
        # Only our own records: nothing to write, and no database touched.
        ok = self._export(len(records), lambda: self._converter.convert_batch(records))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE
