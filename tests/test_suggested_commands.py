"""What the demo and the documentation tell people to run works on the demo's data.

One schema is filled by the README's own ``otel-pgvector demo`` (real exporters, shapes embedded
by the real model). Then every command the demo printed under "next", every ``otel-pgvector``
command in a ``sh`` block and every statement in a ``sql`` block of README.md and docs/*.md runs
as written and must return rows. The commands are read from the demo's output and the files, so
a new suggestion or example is tested without touching this file.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner, Result
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from ui_server import fetch, running_ui

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.config import ENV_PREFIX, PgvectorSettings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The literal trace id the SQL examples use where a statement needs one; the demo's slow trace
# takes its place (its metric points keep exemplars, so the exemplar example finds them too).
EXAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# Subcommands that search: they must print a table with at least one row (or a non-empty JSON answer).
SEARCHES = {"similar", "logs", "metrics", "trace", "traces", "compare", "errors", "services", "latency", "sql"}
OTEL_PGVECTOR = Path(sys.executable).parent / "otel-pgvector"
# Commands that start, stop or exec on the embedded server: the documents' sequences of them run
# as written, each on a server of their own, in tests/test_embedded_lifecycle.py.
_LIFECYCLE = re.compile(r"^db (start|stop|status|psql)\b")
# `ui` serves until interrupted: the documents' ui commands run as servers, in
# test_documented_ui_command_serves_the_demo_traces.
_SERVES = re.compile(r"^ui\b")
# An otel-pgvector invocation inside a shell line: it ends at a comment, `;`, `&`, `|`, `)` or an
# output redirection (`> grafana.env`; `<trace id>` is a placeholder, not a redirection).
_INVOCATION = re.compile(r"""otel-pgvector((?:[ \t]+(?:"[^"]*"|'[^']*'|[^\s"'#;&|)>][^\s"'#;&|)]*))*)""")


def _blocks(language: str) -> Iterator[tuple[str, str]]:
    """(file name, text) of every fenced code block of ``language`` in the documents."""
    for path in DOCUMENTS:
        for block in re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), re.DOTALL | re.MULTILINE):
            yield path.relative_to(ROOT).as_posix(), block


def _documented_commands() -> list[str]:
    """The argument strings of every ``otel-pgvector`` invocation in a sh block, once each."""
    commands: dict[str, None] = {}
    for _, block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            for match in _INVOCATION.finditer(line):
                commands[match.group(1).strip()] = None
    return list(commands)


def _documented_statements() -> list[tuple[str, str]]:
    """(file name, statement) of every statement in a sql block."""
    return [
        (name, statement.strip())
        for name, block in _blocks("sql")
        for statement in re.split(r";[ \t]*(?:\n|$)", block)
        if statement.strip()
    ]


@dataclass(frozen=True)
class DemoData:
    schema: str
    env: dict[str, str]
    demo: Result
    suggestions: list[str]
    failing_trace_id: str
    failing_span_id: str
    slow_trace_id: str


def _invoke(env: dict[str, str], args: list[str]) -> Result:
    return CliRunner(env=env).invoke(cli, args)


def _suggestions(output: str) -> list[tuple[list[str], str]]:
    """The demo's "next" commands as (argv after otel-pgvector, what the comment says)."""
    lines = output.split("\nnext", 1)[1].splitlines()[1:]
    suggestions = []
    for line in itertools.takewhile(lambda text: text.startswith("  otel-pgvector "), lines):
        command, _, comment = line.partition("  # ")
        argv = shlex.split(command)
        assert argv[0] == "otel-pgvector", line
        suggestions.append((argv[1:], comment))
    return suggestions


@pytest.fixture(scope="module")
def demo_data(
    server_dsn: str, embedding_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoData]:
    """A schema the README's ``otel-pgvector demo`` filled, its output and example ids."""
    schema = f"test_{os.getpid()}_suggested"
    env = {
        ENV_PREFIX + "DSN": server_dsn,
        ENV_PREFIX + "SCHEMA": schema,
        ENV_PREFIX + "EMBEDDING_CACHE_DIR": str(embedding_cache_dir),
        ENV_PREFIX + "DLQ_DIR": str(tmp_path_factory.mktemp("suggested-spool")),
    }
    (quickstart,) = [command for command in _documented_commands() if command.startswith("demo")]
    demo = _invoke(env, shlex.split(quickstart))
    assert demo.exit_code == 0, demo.output
    suggested = _suggestions(demo.stdout)
    (failing,) = [argv[1] for argv, why in suggested if argv[0] == "trace" and "failed" in why]
    (slow,) = [argv[1] for argv, why in suggested if argv[0] == "trace" and "slow" in why]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        row = conn.execute(
            "SELECT otel_span_id_hex(span_id) FROM otel_spans"
            " WHERE trace_id = %s::uuid AND exception_type IS NOT NULL LIMIT 1",
            (failing,),
        ).fetchone()
    assert row is not None, "the failing trace has a span with its exception"
    try:
        yield DemoData(schema, env, demo, [shlex.join(argv) for argv, _ in suggested], failing, row[0], slow)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _table_rows(output: str) -> list[str]:
    """The rows of the first table in a command's output: the lines below its rule of dashes."""
    lines = output.splitlines()
    rule = next((i for i, line in enumerate(lines) if line and set(line) <= {"-", " "}), len(lines))
    return list(itertools.takewhile(bool, lines[rule + 1 :]))


def _assert_found_rows(args: list[str], result: Result) -> None:
    assert result.exit_code == 0, f"otel-pgvector {shlex.join(args)}: {result.output}"
    if args[0] not in SEARCHES:
        assert result.stdout.strip(), f"otel-pgvector {shlex.join(args)} printed nothing"
    elif "--json" in args:
        assert json.loads(result.stdout), f"otel-pgvector {shlex.join(args)}: {result.stdout}"
    else:
        assert _table_rows(result.stdout), f"otel-pgvector {shlex.join(args)}: {result.stdout}"


def test_the_demo_suggests_its_example_traces_and_each_search(demo_data: DemoData) -> None:
    subcommands = [shlex.split(command)[0] for command in demo_data.suggestions]
    assert sorted(subcommands) == ["logs", "logs", "metrics", "similar", "trace", "trace"]
    assert demo_data.failing_trace_id != demo_data.slow_trace_id


def test_every_command_the_demo_suggests_returns_rows(demo_data: DemoData) -> None:
    for command in demo_data.suggestions:
        args = shlex.split(command)
        _assert_found_rows(args, _invoke(demo_data.env, args))


def test_the_slow_trace_links_its_metric_points(demo_data: DemoData) -> None:
    """The slow request's duration lands in a bucket of its own, so its exemplar survives."""
    shown = _invoke(demo_data.env, ["trace", demo_data.slow_trace_id])
    assert shown.exit_code == 0, shown.output
    metrics = shown.stdout.split("\nmetrics\n", 1)[1].splitlines()
    linked = {re.split(" {2,}", line)[2] for line in metrics if line.endswith("linked")}  # time, service, metric
    # The order counter keeps one exemplar, picked at random among all orders by the SDK's
    # reservoir, so it may or may not be the slow request's; the durations always are.
    assert linked - {"shop.orders"} == {"http.server.request.duration", "db.client.operation.duration"}


@pytest.mark.parametrize(
    "command",
    [c for c in _documented_commands()
     if "--follow" not in c and not _LIFECYCLE.match(c) and not _SERVES.match(c)],
)
def test_documented_command_returns_rows(demo_data: DemoData, command: str) -> None:
    ids = {"<trace id>": demo_data.failing_trace_id, "<span id>": demo_data.failing_span_id}
    args = shlex.split(re.sub("|".join(ids), lambda placeholder: ids[placeholder[0]], command))
    result = demo_data.demo if args[0] == "demo" else _invoke(demo_data.env, args)
    _assert_found_rows(args, result)
    if args[:2] == ["db", "dsn"] and "--show-password" in args:  # psql "$(otel-pgvector db dsn ...)"
        with psycopg.connect(result.stdout.strip()) as conn:
            spans = conn.execute(f'SELECT count(*) FROM "{demo_data.schema}".otel_spans').fetchone()
        assert spans is not None and spans[0] > 0


def _help_examples() -> list[str]:
    """Commands quoted in backticks in the commands' --help texts, e.g. `metrics NAME --agg p95`."""
    pending: list[click.Command] = list(cli.commands.values())
    examples = []
    while pending:
        command = pending.pop()
        if isinstance(command, click.Group):
            pending += command.commands.values()
        examples += [quoted for quoted in re.findall(r"`([^`]+)`", command.help or "")
                     if quoted.split()[0] in cli.commands]
    return examples


def test_help_examples_return_rows(demo_data: DemoData) -> None:
    examples = _help_examples()
    assert examples, "the help texts show no example (update this test if that is on purpose)"
    for example in examples:
        args = shlex.split(example)
        _assert_found_rows(args, _invoke(demo_data.env, args))


@pytest.mark.parametrize("command", [c for c in _documented_commands() if "--follow" in c])
def test_documented_follow_command_keeps_embedding_new_shapes(
    demo_data: DemoData, server_dsn: str, embedding_cache_dir: Path, command: str
) -> None:
    """``embed --follow`` has no rows to print: it must embed shapes that arrive while it runs."""
    settings = PgvectorSettings(dsn=server_dsn, schema=demo_data.schema, embedding="deferred",
                                embedding_cache_dir=embedding_cache_dir)
    follower = subprocess.Popen(
        [str(OTEL_PGVECTOR), *shlex.split(command)], env={**os.environ, **demo_data.env, "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for name in ("follow check one", "follow check two"):  # the second arrives after the first pass
            _export_span(settings, name)
            _wait_until_embedded(server_dsn, demo_data.schema, name, follower)
        assert follower.poll() is None, "still following"
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            _, stderr = follower.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Say where it waits: every thread's stack, from the fault handler. (This found a
            # suite run in the background with SIGINT ignored, which conftest.py now undoes.)
            follower.send_signal(signal.SIGABRT)
            _, stderr = follower.communicate(timeout=60)
            pytest.fail(f"embed --follow still running 60 s after Ctrl-C:\n{stderr}")
    assert follower.returncode == 130, stderr
    assert stderr.strip() == "otel-pgvector: interrupted"


@pytest.mark.parametrize("command", [c for c in _documented_commands() if _SERVES.match(c)])
def test_documented_ui_command_serves_the_demo_traces(demo_data: DemoData, command: str) -> None:
    """Each documented ``otel-pgvector ui ...`` serves the trace list with the demo's traces (on a
    free port, whatever port it names) and stops cleanly on Ctrl-C (``running_ui`` checks)."""
    with running_ui(demo_data.env, *shlex.split(command)[1:]) as url:
        page = fetch(url + "traces?limit=1000")  # the demo's first request (failed) is its oldest
    assert page.status == 200
    assert demo_data.failing_trace_id in page.body and demo_data.slow_trace_id in page.body


def _export_span(settings: PgvectorSettings, name: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "docs"}))
    provider.add_span_processor(SimpleSpanProcessor(PgvectorSpanExporter(settings)))
    provider.get_tracer("docs").start_span(name).end()
    provider.shutdown()


def _wait_until_embedded(server_dsn: str, schema: str, name: str, follower: subprocess.Popen[str]) -> None:
    """Poll for the shape of spans named ``name`` to get its vector; 120 s is a liveness bound."""
    deadline = time.monotonic() + 120
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline and follower.poll() is None:
            row = conn.execute(
                f'SELECT bool_and(embedding IS NOT NULL) FROM "{schema}".otel_shapes WHERE text LIKE %s',
                (f"%{name}%",),
            ).fetchone()
            if row is not None and row[0]:
                return
            time.sleep(0.2)
    pytest.fail(f"the shape of {name!r} was not embedded (follower exit status {follower.poll()})")


@pytest.mark.parametrize(
    ("document", "statement"),
    [pytest.param(name, statement, id=f"{name}-{number}")
     for number, (name, statement) in enumerate(_documented_statements())],
)
def test_documented_sql_returns_rows(
    demo_data: DemoData, server_dsn: str, document: str, statement: str
) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{demo_data.schema}", public')
        cursor = conn.execute(statement.replace(EXAMPLE_TRACE_ID, demo_data.slow_trace_id))
        rows = cursor.fetchall()
        columns = [column.name for column in cursor.description or ()]
    assert rows, f"{document}: no rows from\n{statement}"
    # a misspelt name in a scalar subquery or outer join still returns rows, but only NULLs there
    empty = [name for index, name in enumerate(columns) if all(row[index] is None for row in rows)]
    assert not empty, f"{document}: {empty} NULL in every row of\n{statement}"


def test_every_document_is_searched() -> None:
    """The extraction above finds what the documents show, so an empty list cannot pass silently."""
    commands = _documented_commands()
    assert "demo" in commands and "trace <trace id>" in commands and "embed --follow" in commands
    assert "ui" in commands
    documents = {name for name, _ in _documented_statements()}
    assert documents == {"README.md", "docs/grafana.md", "docs/retention.md", "docs/schema.md"}
