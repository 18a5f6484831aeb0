"""This package's own warnings, when the only handler that took them is OpenTelemetry's.

Records logged by this package (and psycopg, the embedded server) are never exported: they
would loop back into the exporter that logs them. But under ``opentelemetry-instrument``
with logging auto-instrumentation, OpenTelemetry's handler on the root logger is often the
only handler, so Python's last-resort stderr output does not apply either, and a warning
such as "circuit breaker open: spooling to disk" would reach nobody. The log exporter hands
such records here; one that no other handler showed, at WARNING or above, is written to
stderr the way Python's last resort would.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry.sdk._logs import ReadableLogRecord

# OpenTelemetry severity numbers (1-24) to logging levels: WARN is 13-16, ERROR 17-20, FATAL 21-24.
_LEVEL_BY_SEVERITY = ((21, logging.CRITICAL), (17, logging.ERROR), (13, logging.WARNING))


def _level(record: ReadableLogRecord) -> int:
    severity = record.log_record.severity_number
    number = severity.value if severity is not None else 0
    return next((level for floor, level in _LEVEL_BY_SEVERITY if number >= floor), logging.INFO)


def shown_elsewhere(logger_name: str, level: int) -> bool:
    """True when a handler other than OpenTelemetry's would emit a ``level`` record of ``logger_name``."""
    logger: logging.Logger | None = logging.getLogger(logger_name)
    while logger is not None:
        for handler in logger.handlers:
            if level >= handler.level and not type(handler).__module__.startswith("opentelemetry"):
                return True
        logger = logger.parent if logger.propagate else None
    return False


def show_unexported(record: ReadableLogRecord) -> None:
    """Write one of our own records to stderr if it is a warning or worse that nobody else shows."""
    level = _level(record)
    name = record.instrumentation_scope.name if record.instrumentation_scope is not None else ""
    if level < logging.WARNING or shown_elsewhere(name, level):
        return
    body = record.log_record.body
    text = body if isinstance(body, str) else repr(body)
    print(f"{logging.getLevelName(level)} {name}: {text}", file=sys.stderr)
