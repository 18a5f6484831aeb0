"""OpenTelemetry exporters that store telemetry in PostgreSQL with pgvector.

``tracer_provider.add_span_processor(BatchSpanProcessor(PgvectorSpanExporter()))``, or
``OTEL_TRACES_EXPORTER=pgvector opentelemetry-instrument python app.py``.
"""

from .config import PgvectorSettings
from .errors import ConfigurationError, PgvectorError
from .exporters.logs import PgvectorLogExporter
from .exporters.metrics import PgvectorMetricExporter
from .exporters.trace import PgvectorSpanExporter
from .query.async_telemetry import AsyncTelemetryQuery
from .query.telemetry import TelemetryQuery
from .version import __version__

__all__ = [
    "AsyncTelemetryQuery",
    "ConfigurationError",
    "PgvectorError",
    "PgvectorLogExporter",
    "PgvectorMetricExporter",
    "PgvectorSettings",
    "PgvectorSpanExporter",
    "TelemetryQuery",
    "__version__",
]
