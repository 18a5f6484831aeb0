"""Configuration: one settings object shared by the exporters, the query layer and the CLI.

Values come from constructor keyword arguments first, then from environment variables
prefixed ``OTEL_EXPORTER_PGVECTOR_`` (the way ``OTEL_EXPORTER_OTLP_*`` configures the OTLP
exporters), then from the defaults below. Invalid values raise :class:`ConfigurationError`
whose message names the environment variable, because that is what a user of
``opentelemetry-instrument`` actually set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import unquote

import platformdirs
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from typing_extensions import TypedDict, Unpack

from .errors import ConfigurationError

ENV_PREFIX = "OTEL_EXPORTER_PGVECTOR_"
APP_NAME = "opentelemetry-exporter-pgvector"

EmbeddingMode = Literal["inline", "deferred", "off"]
EmbeddingBackendKind = Literal["auto", "onnx", "torch"]
MetricsTemporality = Literal["cumulative", "delta", "lowmemory"]
HistogramAggregation = Literal["explicit_bucket_histogram", "base2_exponential_bucket_histogram"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SECRET_KEYS = frozenset({"password", "sslpassword"})
_URI_SCHEMES = ("postgresql://", "postgres://")  # libpq's, case-sensitive
_SPACE = " \t\n\r\f\v"  # C isspace(): what libpq's key=value parser skips
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BACKSLASH_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)  # a trailing lone backslash is dropped


class _Secret(NamedTuple):
    """A password value as libpq reads it, and where it is in the connection string."""

    key: str
    start: int
    end: int
    value: str


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with every password replaced by ``***`` so it can be logged or shown.

    libpq's own parser (``conninfo_to_dict``) says what the passwords are; they are found in the
    text by libpq's rules (a URI's ``user:secret@`` up to the first ``@``, query keys
    percent-decoded as in ``pass%77ord=``; key=value values with their quotes and backslashes)
    and masked only where what is found agrees with libpq, so ``?``, ``#``, ``&`` or ``@`` in a
    password cannot leave part of it shown. A string libpq cannot parse, or does not read as
    found here, or a URI it misreads (:func:`_misread_uri`: pieces of a password taken for the
    host, port or database), shows nothing that might be secret: its scheme at most.
    """
    if not dsn:
        return dsn
    try:
        parsed = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - libpq's message quotes the string: show nothing of it
        return _hidden(dsn)
    is_uri = dsn.startswith(_URI_SCHEMES)
    if is_uri and _misread_uri(parsed):
        return _hidden(dsn)
    found = _uri_secrets(dsn) if is_uri else _keyword_secrets(dsn)
    last = {secret.key: secret.value for secret in found}  # libpq keeps a keyword's last value
    if any(last.get(key, "") != parsed.get(key, "") for key in _SECRET_KEYS):
        return _hidden(dsn)
    for secret in sorted(found, key=lambda secret: secret.start, reverse=True):
        rest = dsn[secret.end :]
        # a quoted value may touch the next keyword: "password='x'port=5" must not become "***port=5"
        blank = " " if rest and not is_uri and rest[0] not in _SPACE else ""
        dsn = dsn[: secret.start] + "***" + blank + rest
    return dsn


def _hidden(dsn: str) -> str:
    scheme = _SCHEME.match(dsn)
    return f"{scheme[0]}***" if scheme else "<unparsable DSN>"


def _misread_uri(parsed: dict[str, Any]) -> bool:
    """True when libpq reads a URI as no working one reads: a port that is not a number, or an
    ``@`` in a host name or the database name. That is what an unencoded ``/`` or ``@`` in the
    password makes of it (``u:pa/ss@h/db`` is host ``u``, port ``pa``, database ``ss@h/db``)."""
    ports = str(parsed.get("port", "")).split(",")
    hosts = str(parsed.get("host", "")).split(",")
    return (
        any(port and not (port.isascii() and port.isdigit()) for port in ports)
        or any("@" in host and not host.startswith("/") for host in hosts)
        or "@" in str(parsed.get("dbname", ""))
    )


def _uri_secrets(dsn: str) -> list[_Secret]:
    """The password values of a URI, located as libpq's ``conninfo_uri_parse_options`` does."""
    found = []
    start = dsn.index("://") + 3
    at, slash = dsn.find("@", start), dsn.find("/", start)
    if at != -1 and (slash == -1 or at < slash):  # user info, "user[:password]@", ends at the first @
        colon = dsn.find(":", start, at)
        if colon != -1:
            found.append(_Secret("password", colon + 1, at, unquote(dsn[colon + 1 : at])))
        start = at + 1
    query = dsn.find("?", start)
    if query != -1:
        position = query + 1
        for pair in dsn[position:].split("&"):
            key, _, value = pair.partition("=")
            name = unquote(key.strip(_SPACE))  # libpq 17+ ignores blanks around keys and values
            if name in _SECRET_KEYS:
                begin = position + len(key) + 1
                found.append(_Secret(name, begin, begin + len(value), unquote(value.strip(_SPACE))))
            position += len(pair) + 1
    return found


def _keyword_secrets(dsn: str) -> list[_Secret]:
    """The password values of a key=value string, located as libpq's ``conninfo_parse`` does."""
    found = []
    position, length = 0, len(dsn)
    while position < length:
        if dsn[position] in _SPACE:
            position += 1
            continue
        key_start = position
        while position < length and dsn[position] != "=" and dsn[position] not in _SPACE:
            position += 1
        key = dsn[key_start:position]
        begin = position = _past_space(dsn, _past_space(dsn, position) + 1)  # past "=" and blanks
        quoted = dsn.startswith("'", position)
        position += quoted
        while position < length and (dsn[position] != "'" if quoted else dsn[position] not in _SPACE):
            position += 2 if dsn[position] == "\\" else 1
        value = dsn[begin + quoted : min(position, length)]
        position += quoted
        if key in _SECRET_KEYS:
            found.append(_Secret(key, begin, min(position, length), _BACKSLASH_ESCAPE.sub(r"\1", value)))
    return found


def _past_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def default_embedding_cache_dir() -> Path:
    """Where the ONNX backend caches its export unless configured: per user, never site-packages.

    The settings' default and :func:`~.embedding.backends.load_backend` (called without a
    cache directory) both use it, so the two cannot drift apart.
    """
    return platformdirs.user_cache_path(APP_NAME) / "onnx"


def default_embedded_dir() -> Path:
    """Where the embedded server keeps its data unless configured: per user, or for root under
    ``/var/lib``. As root the server runs as the ``embedded_postgres`` user, who may not enter
    root's home (0700), and this package does not open it up (see ``db/embedded_access.py``)."""
    if os.name == "posix" and os.geteuid() == 0:
        return Path("/var/lib") / APP_NAME / "postgres"
    return platformdirs.user_data_path(APP_NAME) / "postgres"


def _env_name(location: str) -> str:
    """The environment variable of the field an error location (field name or alias) refers to."""
    for name, field in PgvectorSettings.model_fields.items():
        alias = field.validation_alias
        if location == name or (isinstance(alias, str) and location.lower() == alias.lower()):
            return alias.upper() if isinstance(alias, str) else ENV_PREFIX + name.upper()
    return location


class PgvectorSettings(BaseSettings):
    """Settings of the pgvector exporters; every field maps to ``OTEL_EXPORTER_PGVECTOR_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,  # a DSN in a validation error would leak its password
    )

    dsn: SecretStr = Field(
        default=SecretStr(""),
        repr=False,
        description="PostgreSQL URI or libpq key=value string; empty starts the embedded server. A "
        "SecretStr, so model_dump() and repr never hold the password: read it with get_secret_value().",
    )
    embedded_dir: Path = Field(
        default_factory=default_embedded_dir,
        description="Data directory of the embedded PostgreSQL server used when DSN is empty.",
    )
    db_schema: str = Field(
        default="public",
        # pydantic-settings does not prefix aliases, so the alias is the full variable name;
        # the ``schema=`` keyword is mapped onto the field in __init__.
        validation_alias=ENV_PREFIX + "SCHEMA",
        description="Schema holding the tables, so several apps or test runs can share one database.",
    )
    timeout: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Export timeout in seconds: no export() call blocks longer than this.",
    )
    pool_min_size: int = Field(default=1, ge=0, le=100, description="Connections kept open.")
    pool_max_size: int = Field(default=4, ge=1, le=100, description="Upper bound of open connections.")
    embedding: EmbeddingMode = Field(
        default="deferred",
        description="inline: embed new span shapes while exporting; deferred: leave it to "
        "`otel-pgvector embed`; off: no shapes, no vectors.",
    )
    embedding_model: Path | None = Field(
        default=None,
        description="Directory of a sentence-transformers model to embed span shapes with; "
        "empty uses the bundled all-MiniLM-L6-v2. Its dimension must match otel_shapes.embedding.",
    )
    embedding_backend: EmbeddingBackendKind = Field(
        default="auto",
        description="auto (currently onnx), onnx (ONNX Runtime, no torch once exported) or torch "
        "(sentence-transformers, the reference).",
    )
    embedding_cache_dir: Path = Field(
        default_factory=default_embedding_cache_dir,
        description="Where the ONNX backend keeps the model it exports once from the weights.",
    )
    embedding_batch_size: int = Field(
        default=64, ge=1, le=4096, description="Texts encoded per model call."
    )
    embedding_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Threads the ONNX backend computes with. One by default: an exporter borrows "
        "the application's CPUs; raise it for a dedicated `otel-pgvector embed` worker.",
    )
    embedding_inline_wait: float = Field(
        default=0.2,
        ge=0,
        le=600,
        description="In inline mode, the longest an export waits (after committing its spans) for "
        "its new shapes' vectors, capped at half the export timeout; later vectors are filled in "
        "the background.",
    )
    max_value_length: int = Field(
        default=65536,
        ge=64,
        le=100_000_000,
        description="Strings longer than this many characters are truncated before storage.",
    )
    partition_days_ahead: int = Field(
        default=2,
        ge=0,
        le=90,
        description="Daily partitions created ahead of today; records of days without a "
        "partition land in the default partition.",
    )

    metrics_temporality: MetricsTemporality = Field(
        default="cumulative",
        description="Temporality the metric exporter asks for, as OTEL_EXPORTER_OTLP_METRICS_"
        "TEMPORALITY_PREFERENCE: cumulative; delta (counters and histograms); lowmemory "
        "(synchronous counters and histograms delta).",
    )
    metrics_histogram_aggregation: HistogramAggregation = Field(
        default="explicit_bucket_histogram",
        description="Default aggregation of histogram instruments, as OTEL_EXPORTER_OTLP_METRICS_"
        "DEFAULT_HISTOGRAM_AGGREGATION.",
    )
    # --- resilience: retries, circuit breaker, dead-letter spool (docs/reliability.md) ---
    retry_max_attempts: int = Field(
        default=4, ge=1, le=100,
        description="Attempts per batch on transient errors (08xxx, 40001, 40P01, 57P0x, 53xxx, 25006), "
        "all within the export timeout.",
    )
    retry_initial_backoff: float = Field(
        default=0.05,
        gt=0,
        le=60,
        description="Seconds before the first retry; doubles per attempt, with jitter.",
    )
    retry_max_backoff: float = Field(
        default=1.0, gt=0, le=600, description="Upper bound of one retry pause in seconds."
    )
    breaker_threshold: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Consecutive failed batches that open the circuit breaker shared by the exporters "
        "of a database.",
    )
    breaker_cooldown: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Seconds the breaker stays open before one probe batch is let through.",
    )
    dlq_dir: Path = Field(
        default_factory=lambda: platformdirs.user_state_path(APP_NAME) / "spool",
        description="Directory of the local dead-letter spool holding batches the database did not take.",
    )
    dlq_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=4096,
        le=1 << 40,
        description="Upper bound of the spool on disk; when full the oldest batches are dropped and counted.",
    )
    dlq_fsync_interval: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds between fsyncs of the spool; 0 fsyncs every batch before export() returns.",
    )
    dlq_write_behind_batches: int = Field(
        default=8,
        ge=0,
        le=1024,
        description="Batches export() may hand to a background spool writer while the breaker is open, so it "
        "returns without converting or touching the disk; lost if the process is killed before they are "
        "written. 0: export() spools each batch itself before returning.",
    )
    dlq_replay_rate: float = Field(
        default=20.0,
        gt=0,
        le=10000,
        description="Spooled batches replayed per second at most, on one connection.",
    )
    ledger_retention_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days committed batch ids are kept for exactly-once replay; spooled batches older than "
        "this may be stored twice if their commit was ambiguous.",
    )
    # --- retention (docs/retention.md) ---
    retention_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="Days of spans, log records and metric points kept: whole daily partitions older than "
        "this are dropped, in the background at most once an hour and by `otel-pgvector retention`. "
        "0 keeps them for ever.",
    )
    retention_days_spans: int | None = Field(
        default=None, ge=0, le=36500, description="RETENTION_DAYS for spans only; empty uses RETENTION_DAYS."
    )
    retention_days_logs: int | None = Field(
        default=None, ge=0, le=36500,
        description="RETENTION_DAYS for log records only; empty uses RETENTION_DAYS.",
    )
    retention_days_metrics: int | None = Field(
        default=None, ge=0, le=36500,
        description="RETENTION_DAYS for metric points only; empty uses RETENTION_DAYS.",
    )
    dead_letter_retention_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="Days rows rejected by the database are kept in otel_dead_letters; 0 keeps them "
        "for ever.",
    )

    @classmethod
    def resolve(
        cls, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> PgvectorSettings:
        """``settings`` as given, or settings built from keyword ``overrides`` and the environment.

        The one rule every public constructor (exporters, ``TelemetryQuery``) follows: a
        settings object, or keywords, not both, since silently preferring one would hide the other.
        """
        if settings is not None and overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        return settings if settings is not None else cls(**overrides)

    def __init__(self, **values: Any) -> None:
        if "schema" in values and "db_schema" not in values:
            values["db_schema"] = values.pop("schema")
        try:
            super().__init__(**values)
        except ValidationError as error:
            problems = []
            for item in error.errors(include_input=False, include_url=False):
                field = str(item["loc"][0]) if item["loc"] else ""
                name = _env_name(field)
                problems.append(f"{name}: {item['msg']}")
            raise ConfigurationError("invalid pgvector exporter settings: " + "; ".join(problems)) from None

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value().strip()
        if not value:
            return SecretStr(value)
        if "://" in value and not value.lower().startswith(_URI_SCHEMES):
            raise ValueError("expected a postgresql:// or postgres:// URI or a libpq key=value string")
        try:
            parsed = conninfo_to_dict(value)
        except Exception:  # noqa: BLE001 - psycopg's message may quote the password: replace it
            raise ValueError("is not a valid PostgreSQL connection string") from None
        if value.startswith(_URI_SCHEMES) and _misread_uri(parsed):
            raise ValueError(
                "is a URI libpq would read part of the password from as host, port or database name: "
                "percent-encode '/' as %2F and '@' as %40 in the user name, password and database name"
            )
        return SecretStr(value)

    @field_validator("embedding_model", mode="before")
    @classmethod
    def _empty_model_is_bundled(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("retention_days_spans", "retention_days_logs", "retention_days_metrics", mode="before")
    @classmethod
    def _empty_retention_is_the_default(cls, value: Any) -> Any:
        """An empty variable means "not overridden", as it does for EMBEDDING_MODEL."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_temporality", "metrics_histogram_aggregation", mode="before")
    @classmethod
    def _lower_case_choice(cls, value: Any) -> Any:
        """Accept ``DELTA`` as the OTLP exporter's variable does."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("db_schema")
    @classmethod
    def _check_schema(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                "must be a plain SQL identifier (letters, digits, underscore; at most 63 characters)"
            )
        if value.lower().startswith("pg_") or value.lower() == "information_schema":
            # pg_temp would hold the tables for one session only and pg_catalog is the server's own:
            # migrations there fail or vanish, and every batch would go to the spool for ever.
            raise ValueError(
                f"{value!r} is a PostgreSQL system schema (names starting with pg_, and "
                "information_schema, are reserved for the server): choose a schema of your own"
            )
        return value

    @model_validator(mode="after")
    def _check_pool_sizes(self) -> PgvectorSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(
                f"{ENV_PREFIX}POOL_MIN_SIZE ({self.pool_min_size}) exceeds "
                f"{ENV_PREFIX}POOL_MAX_SIZE ({self.pool_max_size})"
            )
        return self

    @model_validator(mode="after")
    def _check_backoff(self) -> PgvectorSettings:
        if self.retry_initial_backoff > self.retry_max_backoff:
            raise ValueError(
                f"{ENV_PREFIX}RETRY_INITIAL_BACKOFF ({self.retry_initial_backoff}) exceeds "
                f"{ENV_PREFIX}RETRY_MAX_BACKOFF ({self.retry_max_backoff})"
            )
        return self

    @property
    def uses_embedded_server(self) -> bool:
        """True when no DSN is configured and the embedded PostgreSQL server is used."""
        return not self.dsn.get_secret_value()

    @property
    def redacted_dsn(self) -> str:
        """The DSN with its password masked, for logs and messages."""
        dsn = self.dsn.get_secret_value()
        return redact_dsn(dsn) if dsn else f"embedded:{self.embedded_dir}"

    def mask_passwords(self, text: str) -> str:
        """``text`` (a libpq or server message, which may quote connection options) with this
        DSN's password values replaced by ``***``."""
        parsed = conninfo_to_dict(self.dsn.get_secret_value())
        for key in _SECRET_KEYS:
            if parsed.get(key):
                text = text.replace(str(parsed[key]), "***")
        return text

    def with_application_name(self, conninfo: str) -> str:
        """Add ``application_name`` to a conninfo unless the user chose one, so DBAs see who we are."""
        if "application_name" in conninfo_to_dict(conninfo):
            return conninfo
        return make_conninfo(conninfo, application_name=APP_NAME)

    def __repr_args__(self) -> Any:
        yield "dsn", self.redacted_dsn
        yield from super().__repr_args__()


class SettingsOverrides(TypedDict, total=False):
    """The keyword arguments the exporters and ``TelemetryQuery`` accept, one per setting.

    Spelled out so that IDEs and mypy see ``PgvectorSpanExporter(dsn=..., timeout=...)``;
    tests/test_config.py checks it against :class:`PgvectorSettings`' fields, so the two cannot
    drift apart. ``schema`` is the keyword of the ``db_schema`` field. Paths may be strings.
    """

    dsn: str | SecretStr
    embedded_dir: Path | str
    schema: str
    timeout: float
    pool_min_size: int
    pool_max_size: int
    embedding: EmbeddingMode
    embedding_model: Path | str | None
    embedding_backend: EmbeddingBackendKind
    embedding_cache_dir: Path | str
    embedding_batch_size: int
    embedding_threads: int
    embedding_inline_wait: float
    max_value_length: int
    partition_days_ahead: int
    metrics_temporality: MetricsTemporality
    metrics_histogram_aggregation: HistogramAggregation
    retry_max_attempts: int
    retry_initial_backoff: float
    retry_max_backoff: float
    breaker_threshold: int
    breaker_cooldown: float
    dlq_dir: Path | str
    dlq_max_bytes: int
    dlq_fsync_interval: float
    dlq_write_behind_batches: int
    dlq_replay_rate: float
    ledger_retention_days: int
    retention_days: int
    retention_days_spans: int | None
    retention_days_logs: int | None
    retention_days_metrics: int | None
    dead_letter_retention_days: int
