"""The otel-pgvector command: migrate, db dsn, demo, and one-line errors with exit status 2."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from opentelemetry_exporter_pgvector.cli.main import cli, main
from opentelemetry_exporter_pgvector.db.migrations import available_migrations
from opentelemetry_exporter_pgvector.demo import SERVICES, SLOW_QUERY_SECONDS

from dsn_cases import MISREAD_CASES, PIECES, VALID_CASES

OTEL_PGVECTOR = Path(sys.executable).parent / "otel-pgvector"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [str(OTEL_PGVECTOR), *args], capture_output=True, text=True, timeout=120, env={**os.environ}
    )


def test_migrate_twice(server_dsn: str, schema: str, conn: psycopg.Connection) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["--dsn", server_dsn, "--schema", schema, "migrate"])
    assert first.exit_code == 0, first.output
    names = [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    assert f"schema {schema} on" in first.output
    assert "applied " + ", ".join(names) in first.output
    second = runner.invoke(cli, ["--dsn", server_dsn, "--schema", schema, "migrate"])
    assert second.exit_code == 0, second.output
    assert "already up to date" in second.output
    assert "applied" not in second.output
    assert conn.execute("SELECT count(*) FROM otel_schema_migrations").fetchone() == (len(names),)
    assert conn.execute("SELECT to_regclass('otel_spans') IS NOT NULL").fetchone() == (True,)


def test_migrate_reads_env(
    monkeypatch: pytest.MonkeyPatch, server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_DSN", server_dsn)
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_SCHEMA", schema)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert conn.execute("SELECT count(*) FROM otel_schema_migrations").fetchone() == (
        len(available_migrations()),
    )


def test_db_dsn_masks_password() -> None:
    runner = CliRunner()
    masked = runner.invoke(cli, ["--dsn", "postgresql://u:topsecret@localhost/db", "db", "dsn"])
    assert masked.exit_code == 0, masked.output
    assert masked.output.strip() == "postgresql://u:***@localhost/db"
    shown = runner.invoke(
        cli, ["--dsn", "postgresql://u:topsecret@localhost/db", "db", "dsn", "--show-password"]
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == "postgresql://u:topsecret@localhost/db"
    keyvalue = runner.invoke(cli, ["--dsn", "host=localhost password=topsecret dbname=db", "db", "dsn"])
    assert keyvalue.output.strip() == "host=localhost password=*** dbname=db"


@pytest.mark.parametrize(("dsn", "shown"), VALID_CASES)
def test_db_dsn_and_health_mask_passwords_libpq_reads(
    dsn: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The passwords of issue 11 that the regex redaction showed: ``?``, ``#``, ``pass%77ord=``, ``&``."""
    runner = CliRunner()
    masked = runner.invoke(cli, ["--dsn", dsn, "db", "dsn"])
    assert masked.exit_code == 0, masked.output
    assert masked.output.strip() == shown
    assert runner.invoke(cli, ["--dsn", dsn, "db", "dsn", "--show-password"]).output.strip() == dsn
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_TIMEOUT", "2")
    health = runner.invoke(cli, ["--dsn", dsn, "health"])
    assert health.exit_code == 1, health.output
    assert re.search(rf"reachable +no: database {re.escape(shown)} unavailable", health.output), health.output
    assert not any(piece in health.output for piece in PIECES), health.output


@pytest.mark.parametrize(("dsn", "_shown"), MISREAD_CASES)
@pytest.mark.parametrize("command", [["db", "dsn"], ["health"]])
def test_db_dsn_and_health_refuse_a_uri_libpq_misreads(
    dsn: str, _shown: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--dsn", dsn, *command])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, captured.err
    assert "OTEL_EXPORTER_PGVECTOR_DSN" in lines[0] and "percent-encode" in lines[0]
    assert not any(piece in captured.err + captured.out for piece in PIECES)


def test_demo_summarizes_its_own_run_and_suggests_its_traces(
    server_dsn: str, schema: str, conn: psycopg.Connection, embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run twice into one schema: the second run's counts are that run's rows, not the tables'."""
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR", str(embedding_cache_dir))
    options = ["--dsn", server_dsn, "--schema", schema]
    runs = [CliRunner().invoke(cli, [*options, "demo", "--requests", "20"]) for _ in range(2)]
    for run_result in runs:
        assert run_result.exit_code == 0, run_result.output
    result = runs[1]
    first_line = result.output.splitlines()[0]
    match = re.fullmatch(
        rf"demo run ([0-9a-f-]{{36}}): 20 requests \((\d+) failed\) stored (\d+) spans in "
        rf"{schema}\.otel_spans, (\d+) log records in {schema}\.otel_logs and (\d+) metric points in "
        rf"{schema}\.otel_metric_points on .*",
        first_line,
    )
    assert match, first_line
    run_id = match[1]
    failed, printed_spans, printed_logs, printed_points = (int(group) for group in match.groups()[1:])
    assert run_id not in runs[0].output

    resources = [key for (key,) in conn.execute(
        "SELECT resource_id FROM otel_resources WHERE attributes ->> 'demo.run_id' = %s", (run_id,)
    )]
    assert len(resources) == len(SERVICES)

    def of_this_run(query: str, *params: object) -> object:
        """The one value of ``query`` on the rows of this run's resources (the first parameter)."""
        row = conn.execute(query, (resources, *params)).fetchone()
        assert row is not None
        return row[0]

    assert printed_logs == of_this_run("SELECT count(*) FROM otel_logs WHERE resource_id = ANY(%s)") > 0
    assert printed_points == of_this_run(
        "SELECT count(*) FROM otel_metric_points WHERE resource_id = ANY(%s)"
    ) > 0
    assert printed_spans == of_this_run("SELECT count(*) FROM otel_spans WHERE resource_id = ANY(%s)") > 0
    assert conn.execute("SELECT count(*) FROM otel_spans").fetchone()[0] > printed_spans  # the first run's
    assert of_this_run("SELECT count(DISTINCT trace_id) FROM otel_spans WHERE resource_id = ANY(%s)") == 20
    per_service = dict(conn.execute(
        "SELECT service_name, count(*) FROM otel_spans WHERE resource_id = ANY(%s) GROUP BY 1", (resources,)
    ).fetchall())
    assert set(per_service) == set(SERVICES)
    failed_traces = of_this_run(
        "SELECT count(DISTINCT trace_id) FROM otel_spans"
        " WHERE resource_id = ANY(%s) AND status_code = 'ERROR'"
    )
    with_exception = of_this_run(
        "SELECT count(*) FROM otel_spans WHERE resource_id = ANY(%s) AND exception_type IS NOT NULL"
    )
    assert failed > 0 and with_exception
    assert failed_traces == failed
    # the summary table: a header, a rule, one line per service with this run's counts
    table = result.stdout.split("\n\n")[0].splitlines()[1:]
    assert table[0].split()[:4] == ["service", "spans", "traces", "errors"]
    assert set(table[1].replace(" ", "")) == {"-"}
    printed = {line.split()[0]: int(line.split()[1]) for line in table[2:]}
    assert printed == per_service

    # the suggestions repeat the options, so they find this run's data as they are printed
    lines = [line for line in result.stdout.split("\nnext:\n", 1)[1].splitlines() if line]
    suggested = [(shlex.split(line, comments=True), line.partition("  # ")[2]) for line in lines]
    assert suggested and all(argv[:5] == ["otel-pgvector", *options] for argv, _ in suggested)
    traces = {why: argv[6] for argv, why in suggested if argv[5] == "trace"}
    failing = traces["a failed request: its spans, logs and metrics"]
    slow = traces["the slow request: its SELECT stock took 250 ms"]
    in_trace = "SELECT {} FROM otel_spans WHERE resource_id = ANY(%s) AND trace_id = %s::uuid AND {}"
    assert of_this_run(in_trace.format("count(*)", "status_code = 'ERROR'"), failing)
    assert of_this_run(in_trace.format("count(*)", "status_code = 'ERROR'"), slow) == 0
    slow_query = of_this_run(in_trace.format("min(duration_ns)", "name = 'SELECT stock'"), slow)
    assert isinstance(slow_query, int) and slow_query >= SLOW_QUERY_SECONDS * 1e9


def test_demo_suggestions_mask_the_password_of_the_dsn(
    server_dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDING", "off")
    # peer authentication on the socket never asks for the password, so any one connects
    with_password = server_dsn.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    assert with_password != server_dsn
    result = CliRunner().invoke(cli, ["--dsn", with_password, "--schema", schema, "demo", "--requests", "1"])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    next_steps = result.stdout.split("\nnext", 1)[1]
    assert next_steps.startswith(" (*** stands for your password):\n")
    masked = shlex.quote(with_password.replace("s3cret", "***"))
    assert all(f"--dsn {masked} --schema {schema} " in line for line in next_steps.splitlines()[1:] if line)


def test_invalid_setting_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_TIMEOUT", "0")
    with pytest.raises(SystemExit) as exit_info:
        main(["migrate"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("otel-pgvector: ")
    assert "OTEL_EXPORTER_PGVECTOR_TIMEOUT" in lines[0]


def test_console_script_invalid_schema(schema: str) -> None:
    done = run("--schema", "bad;name", "migrate")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "OTEL_EXPORTER_PGVECTOR_SCHEMA" in lines[0]


def test_a_system_schema_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--schema", "pg_catalog", "migrate"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("otel-pgvector: invalid pgvector exporter settings: "
                               "OTEL_EXPORTER_PGVECTOR_SCHEMA:")
    assert "'pg_catalog' is a PostgreSQL system schema" in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


@pytest.mark.parametrize(
    ("args", "env_var", "status"),
    [
        (["--dsn", "mysql://u:topsecret@h/db", "migrate"], "OTEL_EXPORTER_PGVECTOR_DSN", 2),  # configuration
        (["--dsn", "postgresql://u:topsecret@127.0.0.1:1/db", "migrate"], None, 1),  # unreachable
    ],
)
def test_errors_never_show_the_password(
    args: list[str], env_var: str | None, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "topsecret" not in captured.err + captured.out
    if env_var:
        assert env_var in lines[0]
    else:
        assert "unavailable" in lines[0] and "u:***@127.0.0.1:1/db" in lines[0]


def test_version_and_usage_errors() -> None:
    version = run("--version")
    assert version.returncode == 0 and "otel-pgvector" in version.stdout
    usage = run("no-such-command")
    assert usage.returncode == 2
    assert "no-such-command" in usage.stderr


def test_an_unusable_embedded_directory_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded server failing to start is the package's error: one line, no traceback,
    exit status 1 (the database cannot be used)."""
    monkeypatch.setenv("OTEL_EXPORTER_PGVECTOR_EMBEDDED_DIR", "/proc/nope/pg")
    with pytest.raises(SystemExit) as exit_info:
        main(["migrate"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("otel-pgvector: could not start the embedded PostgreSQL server in /proc/nope/pg")
    assert "Traceback" not in captured.err


def test_an_unexpected_error_is_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """An error nobody anticipated (a bug) is one line too, with exit status 3."""
    import click

    from opentelemetry_exporter_pgvector.cli.main import OtelPgvectorGroup

    @click.group(cls=OtelPgvectorGroup)
    def app() -> None:
        """A group with the CLI's error convention and one broken command."""

    @app.command()
    def broken() -> None:
        raise RuntimeError("a bug\nwith a second line")

    with pytest.raises(SystemExit) as exit_info:
        app.main(["broken"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 3
    assert captured.err == "otel-pgvector: unexpected RuntimeError: a bug with a second line\n"


def test_a_time_past_what_a_date_holds_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "x", "--since", "99999999999d"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.err == (
        "otel-pgvector: Invalid value for '--since': '99999999999d' is longer than a date can express"
        " (see: otel-pgvector metrics --help)\n"
    )


def test_demo_announces_the_one_time_model_export_and_model_prepare_finds_it(
    server_dsn: str, schema: str, tmp_path: Path
) -> None:
    """From an empty model cache the demo says why the next seconds pass (the ONNX export, done in a
    child process: torch never enters the demo's), embeds its shapes with the model exported,
    and ``model prepare`` then finds the export instead of making another."""
    cache = tmp_path / "onnx"
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from opentelemetry_exporter_pgvector.cli.main import cli\n"
        f"result = CliRunner().invoke(cli, ['--dsn', {server_dsn!r}, '--schema', {schema!r}, 'demo',"
        " '--requests', '3'])\n"
        "print(result.exit_code, 'torch' in sys.modules)\n"
        "print(result.output)\n"
    )
    env = {**os.environ, "OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, env=env)
    status_line, *output = done.stdout.splitlines()
    assert status_line == "0 False", done.stdout + done.stderr
    assert output[0] == f"preparing the embedding model: a one-time export to ONNX, about 15 s (into {cache})..."
    assert output[1].startswith("demo run ")
    embedded = [line for line in output if line.startswith("embedded ")]
    assert re.fullmatch(r"embedded [1-9]\d* span and log shapes", embedded[0]), output
    (exported,) = cache.glob("all-MiniLM-L6-v2-*/model.onnx")

    again = CliRunner().invoke(cli, ["model", "prepare"],
                               env={"OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(cache)})
    assert again.exit_code == 0, again.output
    assert again.output == f"all-MiniLM-L6-v2 is ready (exported before): {exported}\n"


def test_model_prepare_exports_into_an_empty_cache(tmp_path: Path) -> None:
    """The command itself, from an empty cache: it exports (at normal priority: someone waits for
    it), says where and how long it took; the file is a model the ONNX backend runs."""
    from opentelemetry_exporter_pgvector.embedding.backends import OnnxBackend
    from opentelemetry_exporter_pgvector.embedding.model import default_model_path

    cache = tmp_path / "onnx"
    result = CliRunner().invoke(cli, ["model", "prepare"],
                                env={"OTEL_EXPORTER_PGVECTOR_EMBEDDING_CACHE_DIR": str(cache)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"preparing the embedding model: a one-time export to ONNX, about 15 s (into {cache})..."
    match = re.fullmatch(r"exported all-MiniLM-L6-v2 to ONNX in \d+\.\d s: (.+)", lines[1])
    assert match, lines
    backend = OnnxBackend(default_model_path(), Path(match[1]))
    (vector,) = backend.encode(["checkout SERVER GET /api/orders/{order_id}"])
    assert vector.shape == (384,) and abs(float((vector**2).sum()) - 1.0) < 1e-5
