"""Fork safety: a forked child exports with the parent's exporter without breaking the parent."""

from __future__ import annotations

import os

import psycopg
import pytest
from fork_helpers import wait_for_child
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings
from opentelemetry_exporter_pgvector.convert.spans import signed_span_id

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")


def make_spans(prefix: str, count: int) -> tuple[ReadableSpan, ...]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "forking"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("fork")
    for index in range(count):
        tracer.start_span(f"{prefix}-{index}").end()
    provider.shutdown()
    return memory.get_finished_spans()


def backend_pid(exporter: PgvectorSpanExporter) -> int:
    with exporter.database.connection(5) as conn:
        return conn.info.backend_pid


def test_export_in_parent_child_and_parent_again(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    # one pooled connection, so the parent's connection can be recognized after the fork
    settings = PgvectorSettings(
        dsn=server_dsn, schema=schema, timeout=10, embedding="off", pool_min_size=1, pool_max_size=1
    )
    exporter = PgvectorSpanExporter(settings)
    before, in_child, after = (
        make_spans("parent-before", 3),
        make_spans("child", 4),
        make_spans("parent-after", 5),
    )
    try:
        assert exporter.export(before) is SpanExportResult.SUCCESS
        parent_backend = backend_pid(exporter)

        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                ok = exporter.export(in_child) is SpanExportResult.SUCCESS
                code = 0 if ok and backend_pid(exporter) != parent_backend else 1
            finally:
                os._exit(code)
        assert wait_for_child(pid) == 0

        # the child neither used nor closed the parent's connection
        assert backend_pid(exporter) == parent_backend
        assert exporter.export(after) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    expected = sorted(signed_span_id(span.context.span_id) for span in (*before, *in_child, *after))
    stored = [span_id for (span_id,) in conn.execute("SELECT span_id FROM otel_spans ORDER BY span_id")]
    assert stored == expected
    assert conn.execute(
        "SELECT count(DISTINCT span_id) FROM otel_spans WHERE name LIKE 'child-%'"
    ).fetchone() == (4,)


def test_child_of_an_exporter_that_never_exported(
    settings: PgvectorSettings, conn: psycopg.Connection
) -> None:
    exporter = PgvectorSpanExporter(settings)
    spans = make_spans("fresh-child", 2)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if exporter.export(spans) is SpanExportResult.SUCCESS else 1
            finally:
                os._exit(code)
        assert wait_for_child(pid) == 0
        assert exporter.export(make_spans("parent", 1)) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone() == (3,)


def test_the_at_fork_hook_resets_registered_objects_in_the_child_only() -> None:
    """forksafe calls after_fork_in_child() in a forked child, never in the parent."""
    from opentelemetry_exporter_pgvector.forksafe import reset_after_fork

    class Owner:
        def __init__(self) -> None:
            self.pid = os.getpid()

        def after_fork_in_child(self) -> None:
            self.pid = os.getpid()

    owner = Owner()
    reset_after_fork(owner)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports whether the hook ran before any code of its own
        os.write(write, b"reset" if owner.pid == os.getpid() else b"stale")
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"reset"
    assert owner.pid == os.getpid()
