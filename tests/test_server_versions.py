"""The server and pgvector version check that runs before any migration."""

from __future__ import annotations

import psycopg
import pytest

from opentelemetry_exporter_pgvector.db.migrations import (
    check_versions,
    ensure_supported_versions,
    migrate,
    parse_pgvector_version,
)
from opentelemetry_exporter_pgvector.errors import SchemaError


@pytest.mark.parametrize(
    ("text", "expected"), [("0.8.1", (0, 8, 1)), ("0.10.0", (0, 10, 0)), ("1.0.12", (1, 0, 12))]
)
def test_pgvector_versions_parse_as_numbers(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_pgvector_version(text) == expected


# The last one has a full-width digit 8, which str.isdigit and a bare \d would accept.
@pytest.mark.parametrize("text", ["0.8", "0.8.1-dev", "v0.8.1", " 0.8.1", "0.8.1.2", "", "0.\uff18.1"])
def test_an_unreadable_pgvector_version_is_refused_by_name(text: str) -> None:
    with pytest.raises(SchemaError) as refused:
        parse_pgvector_version(text)
    assert str(refused.value) == (
        f"cannot read the pgvector version {text!r}: expected three numbers like '0.8.1'"
    )


@pytest.mark.parametrize(
    ("server_version_num", "installed", "default"),
    [
        (180006, "0.8.6", "0.8.6"),
        (140000, "0.8.0", "0.8.0"),
        (140000, None, "0.8.0"),  # about to be created at a recent enough version
        (170002, "0.10.0", None),  # compared as numbers: 0.10 is newer than 0.8
        (180006, None, None),  # no pgvector at all: ensure_pgvector explains how to install it
    ],
)
def test_recent_enough_versions_pass(
    server_version_num: int, installed: str | None, default: str | None
) -> None:
    assert check_versions(server_version_num, installed, default) is None


def refusal(server_version_num: int, installed: str | None, default: str | None) -> str:
    with pytest.raises(SchemaError) as refused:
        check_versions(server_version_num, installed, default)
    return str(refused.value)


REQUIRED = (
    "opentelemetry-exporter-pgvector requires PostgreSQL 14 or later (SQL-standard function bodies)"
    " and pgvector 0.8.0 or later (iterative index scans): "
)


def test_an_old_server_with_an_old_pgvector_is_refused_in_one_message() -> None:
    assert refusal(130004, "0.7.4", "0.7.4") == (
        "found PostgreSQL 13.4 and pgvector 0.7.4; " + REQUIRED
        + "upgrade the PostgreSQL server to 14 or later; and install pgvector 0.8.0 or later on the"
        " server, then run ALTER EXTENSION vector UPDATE; in this database"
    )


def test_the_installed_pgvector_counts_not_the_newer_files_on_the_server() -> None:
    # the server's package was upgraded, the database's extension was not
    assert refusal(170002, "0.7.4", "0.8.1") == (
        "found PostgreSQL 17.2 and pgvector 0.7.4; " + REQUIRED
        + "install pgvector 0.8.0 or later on the server, then run ALTER EXTENSION vector UPDATE;"
        " in this database"
    )


def test_a_pgvector_about_to_be_created_too_old_is_refused() -> None:
    assert refusal(160004, None, "0.5.1") == (
        "found PostgreSQL 16.4 and pgvector 0.5.1 (not yet created); " + REQUIRED
        + "install pgvector 0.8.0 or later on the server (the exporter then creates the extension)"
    )


def test_an_old_server_is_refused_even_with_a_recent_pgvector() -> None:
    assert refusal(90624, "0.8.1", "0.8.1") == (
        "found PostgreSQL 9.6.24 and pgvector 0.8.1; " + REQUIRED
        + "upgrade the PostgreSQL server to 14 or later"
    )


def test_an_old_server_without_pgvector_is_told_both() -> None:
    assert refusal(130022, None, None) == (
        "found PostgreSQL 13.22 and no pgvector; " + REQUIRED
        + "upgrade the PostgreSQL server to 14 or later; and install pgvector 0.8.0 or later on it"
    )


def test_the_embedded_server_passes_and_reports_what_it_checked(server_dsn: str, schema: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        assert migrate(conn, schema)  # checks, then creates pgvector if needed, then migrates
        release = conn.execute("SHOW server_version").fetchone()
        installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert release is not None and installed is not None
        assert ensure_supported_versions(conn) == (release[0].split()[0], installed[0])
