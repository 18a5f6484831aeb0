"""The exporter as opentelemetry-instrument finds it: entry point and zero-code configuration."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import psycopg
from click.testing import CliRunner
from psycopg.rows import dict_row

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.convert.spans import signed_span_id

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "manual_spans_app.py"


def _readme_instrument_block() -> tuple[str, str]:
    """The README's install line and opentelemetry-instrument command (continuations joined)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.DOTALL | re.MULTILINE)
    (block,) = [block for block in blocks if "opentelemetry-instrument " in block]
    install, command = block.replace("\\\n", "").strip().splitlines()
    return install, command


def test_traces_exporter_entry_point() -> None:
    found = [
        entry for entry in entry_points(group="opentelemetry_traces_exporter") if entry.name == "pgvector"
    ]
    assert len(found) == 1
    assert found[0].load() is PgvectorSpanExporter


def test_opentelemetry_instrument_stores_the_app_spans(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    assert instrument.exists(), "opentelemetry-instrument is installed with the test extra"
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "pgvector",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "manual-spans-app",
        "OTEL_EXPORTER_PGVECTOR_DSN": server_dsn,
        "OTEL_EXPORTER_PGVECTOR_SCHEMA": schema,
        "OTEL_EXPORTER_PGVECTOR_EMBEDDING": "off",
    }
    done = subprocess.run(
        [str(instrument), sys.executable, str(APP)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "order handled" in done.stdout
    assert "Failed to export" not in done.stderr

    with conn.cursor(row_factory=dict_row) as cursor:
        rows = {row["name"]: row for row in cursor.execute("SELECT * FROM otel_spans_view")}
    assert set(rows) == {"handle-order", "load-inventory", "charge-card"}
    parent, ok, failed = rows["handle-order"], rows["load-inventory"], rows["charge-card"]
    assert {row["service_name"] for row in rows.values()} == {"manual-spans-app"}
    assert parent["resource_attributes"]["service.name"] == "manual-spans-app"
    assert len({row["trace_id"] for row in rows.values()}) == 1
    assert parent["parent_span_id"] is None
    assert ok["parent_span_id"] == failed["parent_span_id"] == parent["span_id"]
    assert {row["scope_name"] for row in rows.values()} == {"__main__"}
    assert failed["status_code"] == "ERROR"
    assert failed["exception_type"] == "ConnectionError"
    assert [event["name"] for event in failed["events"]] == ["exception"]
    assert ok["status_code"] == "UNSET" and ok["exception_type"] is None
    assert parent["status_code"] == "UNSET"
    assert parent["attributes"] == {"order.id": 4242, "order.payment_retried": True}
    assert ok["attributes"] == {"inventory.items": 3}
    assert failed["attributes"] == {"payment.amount": 12.5}
    assert parent["span_id_hex"] == f"{parent['span_id'] & (2**64 - 1):016x}"
    assert signed_span_id(int(parent["span_id_hex"], 16)) == parent["span_id"]


def test_example_app_configures_no_sdk(server_dsn: str, schema: str, conn: psycopg.Connection) -> None:
    """Without opentelemetry-instrument the API is a no-op: the app runs and nothing is stored."""
    env = {**os.environ, "OTEL_EXPORTER_PGVECTOR_DSN": server_dsn, "OTEL_EXPORTER_PGVECTOR_SCHEMA": schema}
    done = subprocess.run([sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "order handled" in done.stdout
    assert conn.execute("SELECT to_regclass(%s)", (f"{schema}.otel_spans",)).fetchone() == (None,)


UNREACHABLE_APP = """
import logging, time
from opentelemetry import trace
tracer = trace.get_tracer("shop")
for i in range(40):
    with tracer.start_as_current_span(f"op {i}"):
        logging.getLogger("shop").info("order %d", i)
    time.sleep(0.02)
"""


def test_an_unreachable_database_is_reported_once_under_logging_auto_instrumentation(tmp_path: Path) -> None:
    """OpenTelemetry's handler on the root logger is the only handler here, and our own records
    are never exported: the breaker's warning must still reach stderr, once, naming the error."""
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    app = tmp_path / "app.py"
    app.write_text(UNREACHABLE_APP)
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "pgvector",
        "OTEL_LOGS_EXPORTER": "pgvector",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BLRP_SCHEDULE_DELAY": "50",
        "OTEL_EXPORTER_PGVECTOR_DSN": "postgresql://u@127.0.0.1:1/db",
        "OTEL_EXPORTER_PGVECTOR_TIMEOUT": "2",
        "OTEL_EXPORTER_PGVECTOR_BREAKER_COOLDOWN": "600",
        "OTEL_EXPORTER_PGVECTOR_EMBEDDING": "off",
    }
    done = subprocess.run([str(instrument), sys.executable, str(app)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    opened = [line for line in done.stderr.splitlines() if "circuit breaker" in line and " open " in line]
    assert len(opened) == 1, done.stderr
    assert opened[0].startswith("WARNING opentelemetry_exporter_pgvector.write.breaker: ")
    assert "(last error: database postgresql://u@127.0.0.1:1/db unavailable" in opened[0]
    # the first failed batch warns, the later ones do not: not one line per batch
    assert done.stderr.count("could not write a batch") == 1, done.stderr


def test_readme_install_names_the_extra_that_brings_opentelemetry_instrument() -> None:
    install, _ = _readme_instrument_block()
    (extras,) = re.findall(r"\[([a-z,]+)\]", install)
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in extras.split(","):
        assert re.search(rf"^{extra} = \[", pyproject, re.MULTILINE), extra
    instrument = re.search(r"^instrument = \[(.*?)^\]", pyproject, re.DOTALL | re.MULTILINE)
    assert "instrument" in extras.split(",") and instrument is not None
    # the distro is what turns OTEL_*_EXPORTER=pgvector into configured providers
    assert '"opentelemetry-distro>=' in instrument.group(1)


def test_readme_instrument_command_stores_the_example_app_signals(
    server_dsn: str, schema: str, conn: psycopg.Connection
) -> None:
    """The README's command line, run by a shell as written; only where to store is added."""
    _, command = _readme_instrument_block()
    assert "OTEL_SERVICE_NAME=" in command
    service = shlex.split(command.split("OTEL_SERVICE_NAME=", 1)[1])[0]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the activated venv
        "OTEL_EXPORTER_PGVECTOR_DSN": server_dsn,
        "OTEL_EXPORTER_PGVECTOR_SCHEMA": schema,
    }
    done = subprocess.run(
        ["bash", "-c", command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    trace_id = re.fullmatch(r"trace ([0-9a-f]{32})\n", done.stdout)
    assert trace_id, done.stdout
    stored = conn.execute(
        "SELECT (SELECT array_agg(DISTINCT service_name) FROM otel_spans WHERE trace_id = %(t)s::uuid),"
        " (SELECT array_agg(DISTINCT service_name) FROM otel_logs WHERE trace_id = %(t)s::uuid),"
        " (SELECT array_agg(DISTINCT service_name) FROM otel_metric_points)",
        {"t": trace_id[1]},
    ).fetchone()
    assert stored == ([service], [service], [service])
    shown = CliRunner().invoke(cli, ["--dsn", server_dsn, "--schema", schema, "trace", trace_id[1]])
    assert shown.exit_code == 0, shown.output  # "prints its trace id for `otel-pgvector trace <id>`"
    assert f"trace {trace_id[1]}: 9 spans, " in shown.stdout
