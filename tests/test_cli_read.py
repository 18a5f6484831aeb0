"""The read commands on known data: traces, trace, compare, errors, services, latency,
metrics --list, sql.

One schema holds hand-built traces (trace_factory.py: every id, service, duration and status
written out), two log records inside them and one counter, so each command's answer is known
literally. Output is captured, so it is plain text: at most 100 columns, no escape sequence.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from opentelemetry import trace as trace_api
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from trace_factory import TRACE_A, TRACE_B, checkout_trace, export, span

from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorMetricExporter, PgvectorSettings
from opentelemetry_exporter_pgvector.cli.main import cli

A, B = f"{TRACE_A:032x}", f"{TRACE_B:032x}"
TRACE_D = 0xD0000000000000000000000000000005  # its "late job" names a parent that was never exported
D = f"{TRACE_D:032x}"
ABSENT = "4bf92f3577b34da6a3ce929d0e0e4736"


def _log(settings: PgvectorSettings, service: str, severity: SeverityNumber, body: str, trace: int,
         span_id: int) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(PgvectorLogExporter(settings)))
    context = trace_api.set_span_in_context(
        NonRecordingSpan(SpanContext(trace, span_id, is_remote=False, trace_flags=TraceFlags(1))))
    provider.get_logger("tests.cli").emit(body=body, severity_number=severity, severity_text=severity.name,
                                          context=context)
    provider.shutdown()


@pytest.fixture(scope="module")
def shop(server_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Root options of a schema holding traces A (payments 10 ms), B (payments 250 ms, failing
    with TimeoutError) and D (an orphan), two log records and one counter point."""
    schema = f"test_{os.getpid()}_cli_read"
    settings = PgvectorSettings(dsn=server_dsn, schema=schema, timeout=10, embedding="off",
                                dlq_dir=tmp_path_factory.mktemp("cli-read-spool"))
    orphaned = [span(TRACE_D, 1, None, "frontend", "GET /orphans", 0, 8, SpanKind.SERVER),
                span(TRACE_D, 3, 2, "worker", "late job", 2, 4)]
    export(settings, checkout_trace(TRACE_A, 10), checkout_trace(TRACE_B, 250, "TimeoutError"), orphaned)
    _log(settings, "payments", SeverityNumber.WARN, "charge timed out after 250 ms", TRACE_B, 4)
    _log(settings, "checkout", SeverityNumber.INFO, "placing order 7", TRACE_A, 2)
    reader = PeriodicExportingMetricReader(PgvectorMetricExporter(settings), export_interval_millis=3_600_000)
    meters = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "checkout"}))
    orders = meters.get_meter("shop").create_counter("shop.orders", unit="{order}", description="orders placed")
    orders.add(1, {"outcome": "placed"})
    meters.shutdown()
    try:
        yield ["--dsn", server_dsn, "--schema", schema]
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run(shop: list[str], *args: str) -> Result:
    """``otel-pgvector ARGS`` on the shop; its output must fit 100 columns and be plain text."""
    result = CliRunner().invoke(cli, [*shop, *args])
    lines = result.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines), "\n".join(line for line in lines if len(line) > 100)
    assert "\x1b" not in result.stdout
    return result


def _found(shop: list[str], *args: str) -> str:
    result = _run(shop, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _rows(output: str) -> list[list[str]]:
    """The first table's rows below its rule, split on runs of two or more spaces."""
    lines = output.splitlines()
    rule = next(index for index, line in enumerate(lines) if line and set(line) <= {"-", " "})
    rows = []
    for line in lines[rule + 1:]:
        if not line:
            break
        rows.append(re.split(r" {2,}", line.strip()))
    return rows


def _nothing(shop: list[str], *args: str, message: str, empty: object = ()) -> None:
    """The command finds nothing: exit status 1 and one line on stderr matching ``message``, and
    with --json the same, after the ``empty`` answer (an empty list unless given)."""
    result = _run(shop, *args)
    assert result.exit_code == 1 and re.fullmatch(f"otel-pgvector: {message}\n", result.stderr), result.output
    as_json = _run(shop, *args, "--json")
    assert as_json.exit_code == 1 and re.fullmatch(f"otel-pgvector: {message}\n", as_json.stderr), as_json.output
    assert json.loads(as_json.stdout) == (empty if empty != () else [])


def test_traces_lists_what_matches_every_filter(shop: list[str]) -> None:
    everything = _rows(_found(shop, "traces"))
    assert sorted(row[0] for row in everything) == sorted([A, B, D])
    by_id = {row[0]: row for row in everything}
    assert by_id[B][2:] == ["frontend: POST /checkout", "270.00", "4", "1"]
    assert by_id[D][2:] == ["frontend: GET /orphans", "8.00", "2", "0"]
    assert [row[0] for row in _rows(_found(shop, "traces", "--status", "error"))] == [B]
    # one span must match every span filter: place_order of B is express and 265 ms long
    assert [row[0] for row in _rows(_found(shop, "traces", "--attr", "order.express=true",
                                           "--min-duration", "0.1s"))] == [B]
    assert [row[0] for row in _rows(_found(shop, "traces", "--attr", "http.response.status_code=500"))] == [B]
    assert [row[0] for row in _rows(_found(shop, "traces", "--attr", 'order.tags=["eu"]',
                                           "--service", "checkout", "--max-duration", "30"))] == [A]
    assert [row[0] for row in _rows(_found(shop, "traces", "--root-name", "GET /orphans"))] == [D]
    assert [row[0] for row in _rows(_found(shop, "traces", "--min-trace-duration", "100ms"))] == [B]
    assert len(_rows(_found(shop, "traces", "--limit", "2"))) == 2
    records = json.loads(_found(shop, "traces", "--name", "charge", "--status", "ERROR", "--json"))
    assert [(r["trace_id"], r["duration_ms"], r["span_count"], r["error_count"], r["services"]) for r in records] \
        == [(B, 270.0, 4, 1, ["checkout", "frontend", "inventory", "payments"])]
    _nothing(shop, "traces", "--attr", 'http.response.status_code="500"',  # a string: the stored one is an int
             message="no traces match in that window")


def test_trace_shows_the_waterfall_logs_and_details(shop: list[str]) -> None:
    output = _found(shop, "trace", B)
    lines = output.splitlines()
    assert lines[0] == f"trace {B}: 4 spans, 4 services, 1 error, 270.00 ms"
    assert lines[1].startswith("root frontend: POST /checkout, started ")
    assert lines[3].split() == ["span", "service", "duration", "ms", "0", "270.00", "ms"]
    assert lines[4] == "-" * 17 + " " + "-" * 10 + " " + "-" * 12 + " " + "-" * 58  # 100 columns in all
    # names indented by depth (charge first: payments' clock runs early), the failure marked
    assert [row[:3] for row in _rows(output)] == [
        ["POST /checkout", "frontend", "270.00"],
        ["place_order", "checkout", "265.00"],
        ["charge ✗", "payments", "250.00"],
        ["SELECT stock", "inventory", "4.00"],
    ]
    assert [len(line) - len(line.lstrip()) for line in lines[5:9]] == [0, 2, 4, 4]
    assert re.search(r"logs\ntime +service +severity +span +body\n-[- ]+\n.* payments +WARN +0000000000000004 +"
                     r"charge timed out after 250 ms\n", output)
    detailed = _found(shop, "trace", B, "--details").splitlines()
    place_order, charge, stock = (
        next(index for index, line in enumerate(detailed) if line.startswith(prefix))
        for prefix in ("  place_order", "    charge ✗", "    SELECT stock"))
    assert detailed[place_order + 1:charge] == [
        "      span 0000000000000002  SERVER  UNSET  started " + detailed[place_order + 1].split()[-1],
        "      order.express = true", '      order.tags = ["gift", "eu"]', "      order.total = 12.5"]
    assert re.fullmatch(r" {8}span 0000000000000004  SERVER  ERROR: TimeoutError happened  started \S+",
                        detailed[charge + 1])
    assert detailed[charge + 2:stock] == ["        exception TimeoutError: TimeoutError happened",
                                          "        log " + detailed[stock - 1].split()[1]
                                          + " WARN charge timed out after 250 ms"]
    assert "\nlogs\n" not in "\n".join(detailed)  # each record sits under its span


def test_trace_marks_orphans_and_prints_json(shop: list[str]) -> None:
    lines = _found(shop, "trace", D).splitlines()
    assert re.match(r"  late job \(orphan\) +worker +4\.00 ", lines[6]), lines
    assert lines[7] == "(orphan): its parent span is not stored; shown under the root"
    answer = json.loads(_found(shop, "trace", A, "--json"))
    assert (answer["trace_id"], answer["duration_ms"]) == (A, 30.0)
    assert [(s["name"], s["depth"], s["offset_ms"]) for s in answer["spans"]] == [
        ("POST /checkout", 0, 0.0), ("place_order", 1, 2.0), ("charge", 2, 1.0), ("SELECT stock", 2, 3.0)]
    assert [entry["body"] for entry in answer["logs"]] == ["placing order 7"] and answer["metrics"] == []
    missing = _run(shop, "trace", ABSENT)
    assert (missing.exit_code, missing.stderr) == (1, f"otel-pgvector: no spans of trace {ABSENT} are stored\n")


def test_compare_names_what_grew_and_what_failed(shop: list[str]) -> None:
    output = _found(shop, "compare", A, B)
    lines = output.splitlines()
    assert lines[:2] == [f"A {A}: 30.00 ms", f"B {B}: 270.00 ms (+240.00 ms)"]
    slowest = _rows(output.split("slowest changes\n", 1)[1])
    assert [row[0] for row in slowest] == ["POST /checkout", "place_order", "charge", "SELECT stock"]
    assert [row[2:] for row in slowest] == [
        ["30.00", "270.00", "+240.00"], ["25.00", "265.00", "+240.00"], ["10.00", "250.00", "+240.00"],
        ["4.00", "4.00", "+0.00"]]
    assert _rows(output.split("status changes\n", 1)[1]) == [["charge", "payments", "UNSET", "ERROR"]]
    assert "only in" not in output
    with_orphans = _found(shop, "compare", A, D)
    # other roots, so nothing matches: all of D is only in D
    assert _rows(with_orphans.split("only in B\n", 1)[1]) == [["GET /orphans", "frontend", "8.00", "UNSET"],
                                                               ["late job", "worker", "4.00", "UNSET"]]
    answer = json.loads(_found(shop, "compare", A, B, "--json"))
    assert (answer["a"], answer["b"], len(answer["spans"])) == (A, B, 4)
    missing = _run(shop, "compare", A, ABSENT)
    assert missing.exit_code == 1 and missing.stderr == f"otel-pgvector: no spans of trace {ABSENT} are stored\n"


def test_errors_group_the_failures(shop: list[str]) -> None:
    output = _found(shop, "errors")
    assert output.splitlines()[0].split() == ["count", "exception,", "latest", "message", "services", "last",
                                              "seen", "example", "trace"]
    rows = _rows(output)
    assert len(rows) == 2 and (rows[0][:3], rows[0][4:]) == (["1", "TimeoutError", "payments"], [B])
    assert rows[1] == ["TimeoutError happened"]  # the latest message, under the exception type
    assert [row[:3] for row in _rows(_found(shop, "errors", "--by", "SERVICE"))][0] == ["1", "payments", "payments"]
    groups = json.loads(_found(shop, "errors", "--by", "name", "--json"))
    assert [(g["key"], g["count"], g["example_trace_ids"]) for g in groups] == [("payments charge", 1, [B])]
    _nothing(shop, "errors", "--service", "inventory", message="no failed spans in that window")


def test_services_show_red_and_the_map(shop: list[str]) -> None:
    """Entry (SERVER) spans: frontend 8, 30, 270 ms; checkout 25, 265; payments 10, 250 (failed).
    p50 is the median, interpolated; the rate is per second of the one-hour window."""
    output = _found(shop, "services")
    assert output.splitlines()[0] == "requests (SERVER and CONSUMER spans)"
    assert output.splitlines()[1].split() == ["service", "requests", "rate", "/s", "errors", "error", "%",
                                              "p50", "ms", "p95", "ms", "p99", "ms"]
    red = {row[0]: row[1:5] + row[5:6] for row in _rows(output)}
    assert red == {"checkout": ["2", "0.00", "0", "0.0", "145.00"], "frontend": ["3", "0.00", "0", "0.0", "30.00"],
                   "payments": ["2", "0.00", "1", "50.0", "130.00"]}
    assert _rows(output.split("\ncalls\n", 1)[1]) == [
        ["checkout", "inventory", "2", "0", "4.00"],
        ["checkout", "payments", "2", "1", "238.00"],  # 10 + 0.95 * (250 - 10)
        ["frontend", "checkout", "2", "0", "253.00"],  # 25 + 0.95 * (265 - 25)
    ]
    answer = json.loads(_found(shop, "services", "--json"))
    assert {b["service_name"]: b["requests"] for b in answer["services"]} == {"checkout": 2, "frontend": 3,
                                                                               "payments": 2}
    assert len(answer["edges"]) == 3
    _nothing(shop, "services", "--since", "2001-01-01", "--until", "2001-01-02", message="no spans in that window",
             empty={"services": [], "edges": []})


def test_latency_of_one_service_over_time(shop: list[str]) -> None:
    output = _found(shop, "latency", "--service", "payments")
    assert output.splitlines()[0] == "payments: requests (SERVER and CONSUMER spans), buckets of 0:03:00"
    rows = _rows(output)  # the last hour in 20 buckets: one holds both requests, 2 in 180 s
    assert [row[1:] for row in rows] == [["2", "0.01", "1", "50.0", "130.00", "238.00", "247.60"]]
    by_operation = _rows(_found(shop, "latency", "--service", "frontend", "--by", "operation", "--step", "1h"))
    assert [row[1:4] for row in by_operation] == [["GET /orphans", "1", "0.00"], ["POST /checkout", "2", "0.00"]]
    buckets = json.loads(_found(shop, "latency", "--service", "checkout", "--json"))
    assert [(b["service_name"], b["requests"], b["p50_ms"]) for b in buckets] == [("checkout", 2, 145.0)]
    _nothing(shop, "latency", "--service", "inventory",  # only CLIENT spans: no requests of its own
             message=r"no requests \(SERVER or CONSUMER spans\) of 'inventory' since [0-9:.]+")


def test_metrics_list_names_the_stored_metrics(shop: list[str]) -> None:
    assert _rows(_found(shop, "metrics", "--list")) == [
        ["shop.orders", "sum", "{order}", "1", "1", "checkout", "orders placed"]]
    (record,) = json.loads(_found(shop, "metrics", "--list", "--json"))
    assert (record["name"], record["series"], record["services"]) == ("shop.orders", 1, ["checkout"])
    _nothing(shop, "metrics", "--list", "--service", "frontend", message=r"no metric points since [0-9:.]+")


def test_sql_prints_rows_read_only(shop: list[str]) -> None:
    assert _found(shop, "sql", "select count(*) from otel_spans").splitlines() == ["count", "-----", "10"]
    answer = json.loads(_found(shop, "sql", "SELECT name, attributes -> 'order.tags' AS tags, NULL AS nothing"
                                            " FROM otel_spans WHERE name = 'place_order' ORDER BY duration_ns",
                               "--json"))
    assert answer == {"columns": ["name", "tags", "nothing"], "truncated": False,
                      "rows": [["place_order", ["gift", "eu"], None], ["place_order", ["gift", "eu"], None]]}
    table = _rows(_found(shop, "sql", "select name, trace_id, 0.5::float8 as half from otel_spans"
                                      " where name = 'charge' order by duration_ns"))
    assert table == [["charge", A, "0.5"], ["charge", B, "0.5"]]
    cut = _run(shop, "sql", "select generate_series(1, 5) as n", "--limit", "2")
    assert cut.exit_code == 0 and _rows(cut.stdout) == [["1"], ["2"]]
    assert cut.stderr == "(the first 2 rows: raise --limit for more)\n"
    wide = _found(shop, "sql", f"select * from otel_spans_view where trace_id = '{B}' and name = 'charge'")
    assert wide.splitlines()[0] == "row 1"  # too many columns for a table: one line per column
    assert re.search(r"^exception_type +TimeoutError$", wide, re.MULTILINE)
    refused = _run(shop, "sql", "delete from otel_spans")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.output
    assert _found(shop, "sql", "select count(*) from otel_spans").splitlines()[2] == "10"
    _nothing(shop, "sql", "select 1 where false", message="the query returned no rows",
             empty={"columns": ["?column?"], "rows": [], "truncated": False})


def test_a_terminal_gets_colours_at_its_width(shop: list[str]) -> None:
    """Under a pseudo-terminal 120 columns wide the waterfall is that wide and coloured."""
    import pty
    import termios
    from fcntl import ioctl

    primary, secondary = pty.openpty()
    ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    code = "from opentelemetry_exporter_pgvector.cli.main import main; main()"
    # rich takes COLUMNS over the terminal's size, and NO_COLOR over colours
    environment = {**{k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}, "TERM": "xterm"}
    child = subprocess.Popen([sys.executable, "-c", code, *shop, "trace", A], stdin=secondary, stdout=secondary,
                             stderr=subprocess.PIPE, env=environment,
                             cwd=Path(__file__).parent.parent)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the child
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert child.wait(timeout=120) == 0, child.stderr.read() if child.stderr else ""
    shown = b"".join(chunks).decode()
    assert "\x1b[" in shown
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown).splitlines()
    assert max(len(line) for line in plain) == 120 and plain[0].startswith(f"trace {A}: 4 spans")
