"""PgvectorSettings: precedence, env vars, validation messages, and DSN password redaction."""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path

import platformdirs
import psycopg
import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from psycopg.conninfo import conninfo_to_dict

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import (
    ENV_PREFIX,
    ConfigurationError,
    PgvectorSettings,
    redact_dsn,
)
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.errors import DatabaseUnavailable

from dsn_cases import ISSUE_CASES, MISREAD_CASES, PIECES, VALID_CASES

SECRET = "s3cr3t"
URI_DSN = f"postgresql://u:{SECRET}@127.0.0.1:1/db"
KEYVALUE_DSN = f"host=127.0.0.1 port=1 user=u password={SECRET} dbname=db"


def test_defaults_without_env_use_embedded_server() -> None:
    settings = PgvectorSettings()
    assert settings.dsn.get_secret_value() == ""
    assert settings.uses_embedded_server
    assert settings.db_schema == "public"
    assert settings.timeout == 10.0
    assert settings.embedding == "deferred"
    assert settings.redacted_dsn == f"embedded:{settings.embedded_dir}"


def test_the_default_embedded_directory_is_reachable_by_the_server_user() -> None:
    """As root the server runs as embedded_postgres, who may not enter /root (0700): root's
    default is under /var/lib; anyone else's stays in their own data directory."""
    if os.geteuid() == 0:
        assert PgvectorSettings().embedded_dir == Path("/var/lib/opentelemetry-exporter-pgvector/postgres")
    else:
        expected = platformdirs.user_data_path("opentelemetry-exporter-pgvector") / "postgres"
        assert PgvectorSettings().embedded_dir == expected


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "DSN": "postgresql://u@dbhost:5433/telemetry",
        "EMBEDDED_DIR": str(tmp_path / "pg"),
        "SCHEMA": "from_env",
        "TIMEOUT": "3.5",
        "POOL_MIN_SIZE": "2",
        "POOL_MAX_SIZE": "7",
        "EMBEDDING": "inline",
        "MAX_VALUE_LENGTH": "1000",
        "PARTITION_DAYS_AHEAD": "5",
    }
    for name, value in env.items():
        monkeypatch.setenv(ENV_PREFIX + name, value)
    settings = PgvectorSettings()
    assert settings.dsn.get_secret_value() == "postgresql://u@dbhost:5433/telemetry"
    assert settings.embedded_dir == tmp_path / "pg"
    assert settings.db_schema == "from_env"
    assert settings.timeout == 3.5
    assert (settings.pool_min_size, settings.pool_max_size) == (2, 7)
    assert settings.embedding == "inline"
    assert settings.max_value_length == 1000
    assert settings.partition_days_ahead == 5
    assert not settings.uses_embedded_server


def test_env_var_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PREFIX.lower() + "timeout", "4")
    assert PgvectorSettings().timeout == 4


def test_kwargs_take_precedence_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PREFIX + "DSN", "postgresql://env@envhost/envdb")
    monkeypatch.setenv(ENV_PREFIX + "SCHEMA", "env_schema")
    monkeypatch.setenv(ENV_PREFIX + "TIMEOUT", "3")
    monkeypatch.setenv(ENV_PREFIX + "EMBEDDING", "inline")
    settings = PgvectorSettings(
        dsn="postgresql://kw@kwhost/kwdb", schema="kw_schema", timeout=7, embedding="off"
    )
    assert settings.dsn.get_secret_value() == "postgresql://kw@kwhost/kwdb"
    assert settings.db_schema == "kw_schema"
    assert settings.timeout == 7
    assert settings.embedding == "off"
    # what is not passed still comes from the environment
    assert PgvectorSettings(timeout=8).db_schema == "env_schema"


def test_schema_kwarg_field_name_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PgvectorSettings(schema="by_kwarg").db_schema == "by_kwarg"
    assert PgvectorSettings(db_schema="by_field").db_schema == "by_field"
    monkeypatch.setenv(ENV_PREFIX + "SCHEMA", "by_env")
    assert PgvectorSettings().db_schema == "by_env"
    assert PgvectorSettings(schema="by_kwarg").db_schema == "by_kwarg"


def test_unprefixed_schema_env_var_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only OTEL_EXPORTER_PGVECTOR_SCHEMA configures the schema, not a generic SCHEMA variable."""
    monkeypatch.setenv("SCHEMA", "not_ours")
    monkeypatch.setenv("DB_SCHEMA", "not_ours_either")
    assert PgvectorSettings().db_schema == "public"


INVALID = [
    ({"timeout": 0}, "TIMEOUT", "0"),
    ({"timeout": 601}, "TIMEOUT", "601"),
    ({"schema": "bad;name"}, "SCHEMA", "bad;name"),
    ({"schema": "x" * 64}, "SCHEMA", "x" * 64),
    ({"embedding": "sometimes"}, "EMBEDDING", "sometimes"),
    ({"dsn": "mysql://x"}, "DSN", "mysql://x"),
    ({"max_value_length": 10}, "MAX_VALUE_LENGTH", "10"),
    ({"pool_max_size": 0}, "POOL_MAX_SIZE", "0"),
]


@pytest.mark.parametrize(("kwargs", "env", "_raw"), INVALID)
def test_invalid_kwarg_names_env_var(kwargs: dict, env: str, _raw: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        PgvectorSettings(**kwargs)
    assert ENV_PREFIX + env in str(error.value)


@pytest.mark.parametrize(("_kwargs", "env", "raw"), INVALID)
def test_invalid_env_var_is_named(monkeypatch: pytest.MonkeyPatch, _kwargs: dict, env: str, raw: str) -> None:
    monkeypatch.setenv(ENV_PREFIX + env, raw)
    with pytest.raises(ConfigurationError) as error:
        PgvectorSettings()
    assert ENV_PREFIX + env in str(error.value)


SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_temp", "pg_temp_3", "pg_toast", "pg_toast_temp_1",
                  "pg_mine", "PG_CATALOG", "Information_Schema"]


@pytest.mark.parametrize("schema", SYSTEM_SCHEMAS)
def test_system_schemas_are_refused(monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    """pg_temp and pg_catalog took every batch into the spool for ever while export() said SUCCESS."""
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "SCHEMA: .*system schema") as by_keyword:
        PgvectorSettings(schema=schema)
    assert repr(schema) in str(by_keyword.value) and "reserved" in str(by_keyword.value)
    monkeypatch.setenv(ENV_PREFIX + "SCHEMA", schema)
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "SCHEMA: .*system schema"):
        PgvectorSettings()


@pytest.mark.parametrize("schema", ["pg", "pgx", "my_pg_schema", "information", "public", "_pg_"])
def test_schemas_that_only_look_like_system_ones_are_accepted(schema: str) -> None:
    assert PgvectorSettings(schema=schema).db_schema == schema


def test_the_server_reserves_the_pg_prefix_too(conn: psycopg.Connection) -> None:
    """The rule refused at configuration is PostgreSQL's own: CREATE SCHEMA pg_x fails with 42939."""
    with pytest.raises(psycopg.errors.ReservedName):
        conn.execute("CREATE SCHEMA pg_otel_pgvector_probe")


def test_pool_min_above_max_names_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "POOL_MIN_SIZE"):
        PgvectorSettings(pool_min_size=5, pool_max_size=2)
    monkeypatch.setenv(ENV_PREFIX + "POOL_MIN_SIZE", "9")
    monkeypatch.setenv(ENV_PREFIX + "POOL_MAX_SIZE", "3")
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "POOL_MIN_SIZE"):
        PgvectorSettings()


def test_initial_backoff_above_max_names_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "RETRY_INITIAL_BACKOFF"):
        PgvectorSettings(retry_initial_backoff=2.0, retry_max_backoff=1.0)
    assert PgvectorSettings(retry_initial_backoff=1.0, retry_max_backoff=1.0).retry_initial_backoff == 1.0
    monkeypatch.setenv(ENV_PREFIX + "RETRY_INITIAL_BACKOFF", "5")
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "RETRY_MAX_BACKOFF"):
        PgvectorSettings()  # the default maximum is 1.0


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        PgvectorSettings(timeout=-1)


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="no_such_setting"):
        PgvectorSettings(no_such_setting=1)


# --- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:s3cr3t@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("postgres://u:s3cr3t@host/db?sslmode=require", "postgres://u:***@host/db?sslmode=require"),
        (
            "postgresql://u@host/db?password=s3cr3t&sslmode=disable",
            "postgresql://u@host/db?password=***&sslmode=disable",
        ),
        (
            "postgresql://u@host/db?sslmode=disable&password=s3cr3t",
            "postgresql://u@host/db?sslmode=disable&password=***",
        ),
        ("host=h user=u password=s3cr3t dbname=d", "host=h user=u password=*** dbname=d"),
        ("host=h password = s3cr3t dbname=d", "host=h password = *** dbname=d"),
        ("host=h password='s3 cr\\'3t' dbname=d", "host=h password=*** dbname=d"),
        ("host=h sslpassword=s3cr3t", "host=h sslpassword=***"),
        ("host=h user=u dbname=d", "host=h user=u dbname=d"),
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("", ""),
        *ISSUE_CASES,
        ("postgresql://u:s3c%40r3t@h/db", "postgresql://u:***@h/db"),
        ("host=h password='s3c r3t'port=1", "host=h password=*** port=1"),
        ("host=h password=s3c\\ r3t port=1", "host=h password=*** port=1"),
        ("postgresql://u:s3c@h/db?sslpassword=r3t&password=s3cr3t",
         "postgresql://u:***@h/db?sslpassword=***&password=***"),
        ("postgresql:///db?host=/run/a@b", "postgresql:///db?host=/run/a@b"),  # an @ in a socket path is fine
        ("host=h password=s3c r3t", "<unparsable DSN>"),
        ("mysql://u:s3cr3t@h/db", "mysql://***"),
    ],
)
def test_redact_dsn(dsn: str, expected: str) -> None:
    assert redact_dsn(dsn) == expected
    assert not any(piece in redact_dsn(dsn) for piece in PIECES)


_dsn_parts = st.sampled_from(
    [*":/@?#&=%',[] \t\\", "%77", "%40", "%2F", "%3", "password", "sslpassword", "pass%77ord", "host", "u",
     "5"]
)


@given(st.sampled_from(["postgresql://", "postgres://", "", "host=h ", "password=", "postgresql://h/db?"]),
       st.lists(_dsn_parts, max_size=14).map("".join))
@hypothesis_settings(max_examples=3000, deadline=None)
def test_redaction_is_what_libpq_reads_with_the_passwords_masked(prefix: str, rest: str) -> None:
    """Whatever libpq parses, its redaction is hidden whole, or reads (by libpq) as the same options
    with *** for every password: the masking is where libpq finds the password, never next to it."""
    dsn = prefix + rest
    try:
        options = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        assume(False)
    redacted = redact_dsn(dsn)
    if redacted in ("<unparsable DSN>", "postgresql://***", "postgres://***"):
        return
    shown = conninfo_to_dict(redacted)
    for key in ("password", "sslpassword"):
        secret, mask = options.pop(key, ""), shown.pop(key, "")
        assert mask == "***" if secret else mask in ("", "***")  # an empty one (u:@) is masked too
    assert shown == options


@pytest.mark.parametrize(
    "dsn",
    [URI_DSN, KEYVALUE_DSN, "postgresql://u@127.0.0.1:1/db?password=s3cr3t", *(dsn for dsn, _ in VALID_CASES)],
)
def test_password_not_in_repr_str_dump_or_redacted_dsn(dsn: str) -> None:
    settings = PgvectorSettings(dsn=dsn)
    assert settings.dsn.get_secret_value() == dsn  # still usable to connect
    shown = (repr(settings), str(settings), settings.redacted_dsn, repr(Database(settings)),
             str(settings.model_dump()), settings.model_dump_json(), repr(settings.dsn))
    for text in shown:
        assert not any(piece in text for piece in PIECES), text
    assert settings.redacted_dsn == redact_dsn(dsn) and "***" in settings.redacted_dsn
    assert f"Database({redact_dsn(dsn)!r}" in repr(Database(settings))


@pytest.mark.parametrize(("dsn", "_shown"), MISREAD_CASES)
def test_a_uri_libpq_misreads_is_refused(monkeypatch: pytest.MonkeyPatch, dsn: str, _shown: str) -> None:
    with pytest.raises(ConfigurationError, match=ENV_PREFIX + "DSN: .*percent-encode") as by_keyword:
        PgvectorSettings(dsn=dsn)
    monkeypatch.setenv(ENV_PREFIX + "DSN", dsn)
    with pytest.raises(ConfigurationError) as by_env:
        PgvectorSettings()
    for error in (by_keyword.value, by_env.value):
        assert not any(piece in "".join(traceback.format_exception(error)) for piece in PIECES)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dsn": URI_DSN, "timeout": 0},
        {"dsn": f"mysql://u:{SECRET}@h/db"},
        {"dsn": f"host=h password={SECRET} ==bad"},
        {"dsn": f"host=h password='{SECRET}"},
        {"dsn": f"postgresql://u:{SECRET}@h/db?bogus_option=1"},
    ],
)
def test_password_not_in_configuration_error(kwargs: dict) -> None:
    with pytest.raises(ConfigurationError) as error:
        PgvectorSettings(**kwargs)
    assert SECRET not in str(error.value)
    assert SECRET not in "".join(traceback.format_exception(error.value))


@pytest.mark.parametrize("dsn", [URI_DSN, KEYVALUE_DSN] + [dsn for dsn, _ in VALID_CASES])
def test_password_not_in_connection_failure(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = PgvectorSettings(dsn=dsn, timeout=2, schema="nowhere")
    with pytest.raises(DatabaseUnavailable) as error:
        Database(settings).connect()
    assert "unavailable" in str(error.value)
    assert SECRET not in "".join(traceback.format_exception(error.value))

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("s").end()
    exporter = PgvectorSpanExporter(settings)
    try:
        started = time.monotonic()
        # not delivered, durably spooled for replay: SUCCESS (docs/reliability.md)
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
        assert time.monotonic() - started < settings.timeout + 10
        assert exporter.delivery.stats().spool.spooled_batches == 1
    finally:
        exporter.shutdown()
    # spooled, not lost: a warning (the first failure after a success), not an error
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any(redact_dsn(dsn) in record.getMessage() for record in warnings), "a failed export must be logged"
    for record in caplog.records:
        logged = record.getMessage() + ("".join(traceback.format_exception(*record.exc_info))
                                        if record.exc_info else "")
        assert not any(piece in logged for piece in (SECRET, *PIECES)), logged


def test_typed_keywords_match_the_settings_fields() -> None:
    """SettingsOverrides (what IDEs and mypy see) names every setting, with a type that admits it."""
    import typing

    from opentelemetry_exporter_pgvector.config import SettingsOverrides

    hints = typing.get_type_hints(SettingsOverrides)
    fields = {("schema" if name == "db_schema" else name): field.annotation
              for name, field in PgvectorSettings.model_fields.items()}
    assert set(hints) == set(fields)
    for name, annotation in fields.items():
        admitted = set(typing.get_args(hints[name])) | {hints[name]}
        members = set(typing.get_args(annotation)) if typing.get_origin(annotation) is not typing.Literal else set()
        assert annotation in admitted or (members and members <= admitted), name


def test_settings_or_keywords_not_both(server_dsn: str) -> None:
    from opentelemetry_exporter_pgvector import PgvectorSpanExporter, TelemetryQuery

    settings = PgvectorSettings(dsn=server_dsn)
    for build in (PgvectorSpanExporter, TelemetryQuery):
        with pytest.raises(TypeError, match="not both"):
            build(settings, timeout=3)  # type: ignore[operator]
