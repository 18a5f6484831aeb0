"""The package's exceptions: one hierarchy under :class:`PgvectorError`.

As in psycopg_pool (``PoolTimeout``, ``PoolClosed``), each failure a caller may want to tell
apart has its own class, and one base class lets the CLI (or an application) catch them all
at once. Which of them the write path retries is decided in ``write/retry.py``, by class:
:class:`DatabaseUnavailable` is transient, :class:`DatabaseClosed` never is, since a closed
handle stays closed. None of their messages holds a password.

Errors that are also a built-in kind keep that base too (a :class:`ConfigurationError` is a
``ValueError``, a :class:`SpoolError` an ``OSError``), so code written against the built-in
kinds keeps working.
"""

from __future__ import annotations


class PgvectorError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(PgvectorError, ValueError):
    """A setting has an invalid value; the message names the environment variable to fix."""


class DatabaseUnavailable(PgvectorError):
    """The database could not be reached or prepared in time; worth retrying later."""


class DatabaseBusy(DatabaseUnavailable):
    """Every pooled connection stayed in use by this process for the whole wait for one.

    Back pressure, not a failure: the database is answering the exports that hold them, so
    the write path waits again within the export timeout and the circuit breaker does not
    count it.
    """


class EmbeddedServerUnavailable(DatabaseUnavailable):
    """The embedded server cannot be used: the extra is missing or the server failed to start."""


class DatabaseClosed(PgvectorError):
    """The :class:`~.db.database.Database` handle was closed; retrying cannot help."""


class SchemaError(PgvectorError):
    """The server cannot hold the schema: pgvector missing, or a server or extension too old."""


class PgvectorMissingError(SchemaError):
    """The pgvector extension is not installed on the server, or cannot be created there."""


class EmbeddingDimensionError(SchemaError):
    """The model's vectors do not fit the ``otel_shapes.embedding`` column."""


class EmbeddingModelError(PgvectorError, ValueError):
    """The embedding model cannot be used as configured.

    Its files are malformed, it pools in a way the ONNX backend does not implement, its ONNX
    export does not reproduce torch, or it is not the model the settings name. Loading the
    model fails with it, so the CLI reports one line instead of an unexpected error.
    """


class SpoolError(PgvectorError, OSError):
    """A batch could not be written to the local dead-letter spool."""


class SpoolRecordError(PgvectorError, ValueError):
    """A spool record whose checksum matched cannot be decoded: a format this release does
    not know, or a payload that is not the batch it should be (rows not matching their
    columns). The spool moves such a record to its quarantine directory."""


class UnsendableRow(PgvectorError, ValueError):
    """A row holds a value its column's wire type cannot carry (an integer beyond int8, text
    where bytes belong): the row's fault, so poison-row isolation sets it aside."""


class QueryError(PgvectorError, ValueError):
    """A query's arguments are invalid (a malformed id, an unknown severity, a bad range)."""


class NotFound(PgvectorError, LookupError):
    """What a query refers to (a span, a trace) is not stored."""


class PortUnavailable(PgvectorError, OSError):
    """``otel-pgvector ui`` cannot listen on the port asked for (in use, or reserved to root)."""
