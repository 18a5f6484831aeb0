"""Every command with hostile values: no traceback, one line, the documented exit status.

The convention (docs/cli.md, cli/outcome.py): 0 done, 1 nothing found or database not
usable, 2 usage or configuration. Each row states its expected status literally.
"""

from __future__ import annotations

import re

import pytest

from opentelemetry_exporter_pgvector.cli.main import main

INJECTION = "'; DROP TABLE otel_spans; --"
UNICODE = "ünïcödé ☃ 日本"

CASES: list[tuple[list[str], int]] = [
    # logs
    (["logs", "--limit", "-1"], 2),
    (["logs", "--limit", "0"], 2),
    (["logs", "--limit", "99999999999999999999"], 2),
    (["logs", "--limit", "garbage"], 2),
    (["logs", "--since", "10000000d"], 2),
    (["logs", "--since", "99999999999d"], 2),
    (["logs", "--since", ""], 2),
    (["logs", "--since", "-5m"], 2),
    (["logs", "--since", UNICODE], 2),
    (["logs", "--since", INJECTION], 2),
    (["logs", "--severity", "loud"], 2),
    (["logs", "--severity", INJECTION], 2),
    (["logs", "--trace", "xyz"], 2),
    (["logs", "--trace", INJECTION], 2),
    (["logs", "--trace", "4bf92f3577b34da6a3ce929d0e0e4736"], 1),  # well formed, not stored
    (["logs", INJECTION], 1),  # a search for odd words finds nothing, and drops nothing
    (["logs", UNICODE], 1),
    (["logs", ""], 1),
    (["logs", "--patterns", "--since", "1h"], 1),
    # metrics
    (["metrics", "http.server.request.duration", "--agg", "P95"], 1),  # case-insensitive choice
    (["metrics", "x", "--agg", "p42"], 2),
    (["metrics", "x", "--step", "0s"], 2),
    (["metrics", "x", "--step", "-1m"], 2),
    (["metrics", "x", "--step", "garbage"], 2),
    (["metrics", "x", "--since", "2999-01-01T00:00"], 2),  # in the future
    (["metrics", "x", "--since", "2026-13-45"], 2),
    (["metrics", INJECTION], 1),
    (["metrics", UNICODE, "--since", "2026-11-01T00:00:00+01:00"], 1),
    # similar (no model needed for these: they fail or finish before embedding anything)
    (["similar"], 2),
    (["similar", "x", "--span-id", "00f067aa0ba902b7"], 2),
    (["similar", "--span-id", "zz"], 2),
    (["similar", "--span-id", "1" * 40], 2),
    (["similar", "--span-id", "00f067aa0ba902b7"], 1),  # well formed, not stored
    (["similar", "--span-id", "00f067aa0ba902b7", "-k", "0"], 2),
    (["similar", "--span-id", "00f067aa0ba902b7", "--min-similarity", "2"], 2),
    (["similar", "--span-id", "00f067aa0ba902b7", "--status", "BROKEN"], 2),
    (["similar", "--span-id", "00f067aa0ba902b7", "--since", "yesterday"], 2),
    (["similar", "--span-id", "00f067aa0ba902b7", "--method", "bm25"], 2),
    # trace
    (["trace", "xyz"], 2),
    (["trace", INJECTION], 2),
    (["trace", UNICODE], 2),
    (["trace", "0" * 32], 2),  # the all-zero id marks records outside any trace
    (["trace", "4bf92f3577b34da6a3ce929d0e0e4736"], 1),
    (["trace", "xyz", "--details"], 2),
    (["trace", "4bf92f3577b34da6a3ce929d0e0e4736", "--json"], 1),  # not stored: no JSON, one line
    # traces
    (["traces"], 1),
    (["traces", "--status", "error"], 1),  # case-insensitive choice
    (["traces", "--status", "BROKEN"], 2),
    (["traces", "--min-duration", "-5"], 2),
    (["traces", "--min-duration", "garbage"], 2),
    (["traces", "--min-duration", "5d"], 2),  # days are no span duration
    (["traces", "--max-duration", "99999999999999999999h"], 2),
    (["traces", "--min-trace-duration", ""], 2),
    (["traces", "--attr", "novalue"], 2),
    (["traces", "--attr", "=5"], 2),
    (["traces", "--limit", "0"], 2),
    (["traces", "--limit", "99999999999999999999"], 2),
    (["traces", "--since", "garbage"], 2),
    (["traces", "--since", "2999-01-01T00:00"], 2),  # after until (now)
    (["traces", "--service", INJECTION], 1),
    (["traces", "--name", UNICODE, "--root-name", INJECTION], 1),
    (["traces", "--attr", f"k={INJECTION}", "--attr", f"{UNICODE}=[1, 2]"], 1),
    (["traces", "--attr", "http.response.status_code=500", "--min-duration", "0"], 1),
    # compare
    (["compare", "4bf92f3577b34da6a3ce929d0e0e4736"], 2),
    (["compare", "xyz", "4bf92f3577b34da6a3ce929d0e0e4736"], 2),
    (["compare", "4bf92f3577b34da6a3ce929d0e0e4736", INJECTION], 2),
    (["compare", "4bf92f3577b34da6a3ce929d0e0e4736", "5bf92f3577b34da6a3ce929d0e0e4736", "--top", "0"], 2),
    (["compare", "4bf92f3577b34da6a3ce929d0e0e4736", "5bf92f3577b34da6a3ce929d0e0e4736"], 1),
    # errors
    (["errors"], 1),
    (["errors", "--by", "SHAPE"], 1),
    (["errors", "--by", "colour"], 2),
    (["errors", "--limit", "0"], 2),
    (["errors", "--since", UNICODE], 2),
    (["errors", "--since", "2h", "--until", "3h"], 2),
    (["errors", "--service", INJECTION, "--json"], 1),
    # services
    (["services"], 1),
    (["services", "--json"], 1),
    (["services", "--since", "garbage"], 2),
    (["services", "--since", "1h", "--until", "2h"], 2),
    # latency
    (["latency"], 2),  # --service is required
    (["latency", "--service", INJECTION], 1),
    (["latency", "--service", UNICODE, "--by", "OPERATION"], 1),
    (["latency", "--service", "x", "--by", "host"], 2),
    (["latency", "--service", "x", "--step", "0s"], 2),
    (["latency", "--service", "x", "--since", "2999-01-01"], 2),
    (["latency", "--service", "x", "--since", "1h", "--until", "2h"], 2),
    # metrics --list
    (["metrics"], 2),
    (["metrics", "x", "--list"], 2),
    (["metrics", "--list"], 1),
    (["metrics", "--list", "--service", INJECTION, "--json"], 1),
    # sql
    (["sql", "select 1"], 0),
    (["sql", "select 1 where false"], 1),
    (["sql", ""], 2),
    (["sql", INJECTION], 2),
    (["sql", UNICODE], 2),
    (["sql", "DELETE FROM otel_spans"], 2),
    (["sql", "select 1; drop table otel_spans"], 2),
    (["sql", "with gone as (delete from otel_spans returning 1) select * from gone"], 2),
    (["sql", "EXPLAIN ANALYZE select 1"], 2),
    (["sql", "select * from no_such_table"], 2),
    (["sql", "select pg_sleep(10)", "--timeout", "0.2"], 2),
    (["sql", "select 1", "--limit", "0"], 2),
    (["sql", "select 1", "--timeout", "0"], 2),
    (["sql", "select 1", "--timeout", "-1"], 2),
    (["sql", "select 1", "--timeout", "garbage"], 2),
    # logs: the ways of searching exclude each other (no case reaches the embedding model)
    (["logs", "x", "--patterns"], 2),
    (["logs", "x", "--similar", "y"], 2),
    (["logs", "--similar", "x", "--patterns"], 2),
    (["logs", "--similar", "x", "--trace", "4bf92f3577b34da6a3ce929d0e0e4736"], 2),
    (["logs", "--patterns", "--severity", "warn"], 2),
    (["logs", "--similar", "x", "--limit", "5000"], 2),
    (["logs", INJECTION, "--json"], 1),
    # setup commands
    (["demo", "--requests", "-1"], 2),
    (["demo", "--requests", "garbage"], 2),
    (["embed", "--batch-size", "0"], 2),
    (["db", "grant-readonly", ""], 2),
    (["db", "grant-readonly", "a" * 64], 2),
    (["db", "grant-readonly", "postgres"], 2),  # a superuser cannot be made read-only
    (["no-such-command"], 2),
    (["logs", "--no-such-option"], 2),
]


@pytest.fixture
def migrated(server_dsn: str, schema: str) -> list[str]:
    """Root options pointing at this test's schema, migrated, with nothing stored."""
    root = ["--dsn", server_dsn, "--schema", schema]
    with pytest.raises(SystemExit) as done:
        main([*root, "migrate"])
    assert done.value.code == 0
    return root


def test_hostile_values_give_one_line_and_the_documented_status(
    migrated: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    failures = []
    for args, expected in CASES:
        with pytest.raises(SystemExit) as done:
            main([*migrated, *args])
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        ok = done.value.code == expected and "Traceback" not in captured.err + captured.out
        if expected:
            ok = ok and len(lines) == 1 and lines[0].startswith("otel-pgvector: ")
        if not ok:
            failures.append(f"{args}: status {done.value.code} (expected {expected}), stderr {captured.err!r}")
    assert failures == []


@pytest.mark.parametrize("schema_name", [INJECTION, "", "a" * 64, UNICODE, "bad;name"])
def test_hostile_schema_names_are_configuration_errors(
    schema_name: str, server_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--dsn", server_dsn, "--schema", schema_name, "migrate"])
    captured = capsys.readouterr()
    assert done.value.code == 2
    assert captured.err.count("\n") == 1 and "OTEL_EXPORTER_PGVECTOR_SCHEMA" in captured.err


def _run_without(module: str, args: list[str]) -> tuple[int, str]:
    """``otel-pgvector ARGS`` in a child Python where ``module`` cannot be imported, as with a
    machine that installed the package without the extra that brings it."""
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from opentelemetry_exporter_pgvector.cli.main import main\n"
            f"main({args!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


def test_a_missing_extra_is_named_in_one_line(migrated: list[str]) -> None:
    status, stderr = _run_without("numpy", [*migrated, "similar", "payments timed out"])
    assert status == 2
    assert stderr == ("otel-pgvector: this needs the 'embeddings' extra (no module named 'numpy'): "
                      "pip install 'opentelemetry-exporter-pgvector[embeddings]'\n")


def test_the_demo_without_the_embeddings_extra_stores_and_names_it(migrated: list[str]) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['tqdm'] = None\n"
            "from opentelemetry_exporter_pgvector.cli.main import main\n"
            f"main({[*migrated, 'demo', '--requests', '4']!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^demo run [0-9a-f-]{36}: 4 requests ", done.stdout, re.MULTILINE), done.stdout
    assert ("shapes not embedded: this needs the 'embeddings' extra (no module named 'tqdm'): "
            "pip install 'opentelemetry-exporter-pgvector[embeddings]'") in done.stdout
    assert "otel-pgvector similar" not in done.stdout.split("\nnext:\n", 1)[1]  # nothing to find it by
