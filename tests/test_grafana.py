"""The Grafana dashboards of grafana/ work on real data, as far as can be told without Grafana.

Grafana cannot run here, so each step it would take is checked on its own: the provisioning
files and the dashboard JSON have the structure Grafana provisions (stable uids, the datasource
by uid, panel types of Grafana 11+, variables that resolve, links to dashboards that exist);
every panel's SQL, expanded exactly as Grafana expands it, runs on the demo's data as a role made
by ``otel-pgvector db grant-readonly`` and returns rows with the columns its panel reads; and the
trace frame has the columns and types Grafana's Traces panel draws. docs/grafana.md's setup block
runs as written, with a stand-in for ``docker`` that does what the container's datasource does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from psycopg import sql
from test_embedded_lifecycle import _cli, _free_port, data_dir, env, needs_proc  # noqa: F401 (fixtures)
from test_suggested_commands import DemoData, demo_data  # noqa: F401 (a fixture)

from opentelemetry_exporter_pgvector import PgvectorSettings, TelemetryQuery
from opentelemetry_exporter_pgvector.cli.main import cli
from opentelemetry_exporter_pgvector.convert.shapes import log_pattern_sql
from opentelemetry_exporter_pgvector.db.migrations import available_migrations
from opentelemetry_exporter_pgvector.db.roles import grant_read_only
from opentelemetry_exporter_pgvector.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
PROVISIONING = ROOT / "grafana" / "provisioning"
DASHBOARDS = sorted((PROVISIONING / "dashboards" / "otel-pgvector").glob("*.json"))
# The uids links and bookmarks rely on: renaming one breaks them, so it must be on purpose.
UIDS = {"otel-pgvector-overview", "otel-pgvector-trace", "otel-pgvector-logs-metrics"}
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "otel-pgvector"}
# Core panel types of Grafana 11 and later (public/app/plugins/panel/*).
PANEL_TYPES = {
    "timeseries", "table", "traces", "logs", "nodeGraph", "stat", "barchart", "bargauge", "gauge",
    "piechart", "heatmap", "histogram", "state-timeline", "status-history", "text", "row", "xychart",
}
# What each panel type reads from the frames its queries return.
TRACE_COLUMNS = {
    "traceID": "text", "spanID": "text", "parentSpanID": "text", "operationName": "text",
    "serviceName": "text", "serviceTags": "jsonb", "startTime": "double precision",
    "duration": "double precision", "tags": "jsonb", "logs": "jsonb", "kind": "text",
    "statusCode": "integer", "statusMessage": "text", "references": "jsonb",
}
LOG_COLUMNS = {"timestamp": "timestamp with time zone", "body": "text", "severity": "text", "labels": "jsonb"}
BUILTIN = re.compile(r"^__")  # $__interval, $__timeFilter(...): Grafana's, not the dashboard's


def _load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def _panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # the panels of a collapsed row


def _variables(board: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in board["templating"]["list"]}


def _sql_texts(board: Mapping[str, Any]) -> list[str]:
    texts = [target["rawSql"] for panel in _panels(board) for target in panel.get("targets", [])]
    queries = [variable["query"] for variable in _variables(board).values() if variable["type"] == "query"]
    return texts + queries


# --- Grafana's expansion of a panel's SQL --------------------------------------------------------
#
# In the order Grafana applies it:
# 1. the browser replaces template variables (packages/grafana-sql/src/datasource/SqlDatasource.ts,
#    interpolateVariable): a multi-value or All variable becomes its values quoted as SQL literals
#    and joined by commas; a single value is only escaped (' doubled), not quoted, which is why
#    the dashboards write '$trace_id'. $__interval and $__interval_ms come from the request.
# 2. the server's sqleng Interpolate (pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go)
#    replaces $__interval_ms, $__interval, $__unixEpochFrom() and $__unixEpochTo().
# 3. the PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go) replaces each
#    $__name(args) matched by \$([_a-zA-Z0-9]+)\(([^\)]*)\) with the SQL below; times are
#    RFC 3339 in UTC with nanoseconds, trailing zeros dropped (Go's time.RFC3339Nano).

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Request:
    """What Grafana sends with a panel's query: the time range, the interval and the variables."""

    since: dt.datetime
    until: dt.datetime
    interval: str  # as Grafana writes it: 1m, 30s, 200ms
    values: Mapping[str, str | list[str]]  # a list: a multi-value or All variable

    @property
    def interval_ms(self) -> int:
        return round(_seconds(self.interval) * 1000)


def _seconds(interval: str) -> float:
    """gtime.ParseInterval for the units Grafana's intervals use."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", interval.strip("'"))
    assert match is not None, f"not an interval Grafana writes: {interval!r}"
    return int(match[1]) * _UNITS[match[2]]


def _go_float(value: float) -> str:
    """Go's %v of a float64 as Grafana prints interval seconds: 60, 0.5."""
    return str(int(value)) if value == int(value) else repr(value)


def _rfc3339_nano(moment: dt.datetime) -> str:
    text = moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return text + (f".{fraction}" if fraction else "") + "Z"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _macro(name: str, args: list[str], request: Request, following: str) -> str:
    since, until = _rfc3339_nano(request.since), _rfc3339_nano(request.until)
    if name == "__timeGroup" and following.startswith(","):
        name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility: $__timeGroup(...), aliases
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{since}' AND '{until}'"
    if name == "__timeFrom":
        return f"'{since}'"
    if name == "__timeTo":
        return f"'{until}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        seconds = _go_float(_seconds(args[1]))
        group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        return group + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        start, end = int(request.since.timestamp()), int(request.until.timestamp())
        return f"{args[0]} >= {start} AND {args[0]} <= {end}"
    raise AssertionError(f"macro ${name} is not one the dashboards are tested with")


def expand(text: str, request: Request) -> str:
    """``text`` as Grafana's PostgreSQL datasource sends it to the server for ``request``."""
    scoped = {**request.values, "__interval": request.interval, "__interval_ms": str(request.interval_ms)}

    def variable(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in scoped:
            return match[0]  # not a variable: a macro, left to the server
        value = scoped[name]
        if isinstance(value, list):
            return ",".join(map(_quote, value))
        return value.replace("'", "''")

    text = _VARIABLE.sub(variable, text)
    text = text.replace("$__interval_ms", str(request.interval_ms)).replace("$__interval", request.interval)
    text = text.replace("$__unixEpochFrom()", str(int(request.since.timestamp())))
    text = text.replace("$__unixEpochTo()", str(int(request.until.timestamp())))
    return _MACRO.sub(
        lambda match: _macro(match[1], [arg.strip() for arg in match[2].split(",")], request,
                             text[match.end():]),
        text,
    )


def test_the_expansion_matches_grafanas_own_examples() -> None:
    """The expansions macros_test.go expects, for its range and a 5m interval."""
    since = dt.datetime(2018, 4, 12, 18, 0, tzinfo=dt.timezone.utc)
    request = Request(since, since + dt.timedelta(minutes=5), "5m", {"one": "it's", "many": ["a", "b'c"]})
    assert expand("WHERE $__timeFilter(time_column)", request) == (
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    assert expand("GROUP BY $__timeGroup(time_column,'5m')", request) == (
        "GROUP BY floor(extract(epoch from time_column)/300)*300"
    )
    assert expand("SELECT $__timeGroup(time_column, $__interval), x", request) == (
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", x'
    )
    assert expand("select $__timeFrom(), '$one', x IN ($many), $__interval_ms", request) == (
        "select '2018-04-12T18:00:00Z', 'it''s', x IN ('a','b''c'), 300000"
    )
    half = Request(since.replace(microsecond=500000), since, "500ms", {})
    assert expand("$__timeGroupAlias(t, $__interval) $__timeFrom()", half) == (
        "floor(extract(epoch from t)/0.5)*0.5 AS \"time\" '2018-04-12T18:00:00.5Z'"
    )


# --- provisioning and structure -------------------------------------------------------------------


def test_the_datasource_is_provisioned_from_the_environment_with_a_stable_uid() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "otel-pgvector.yaml").read_text())
    (datasource,) = provisioned["datasources"]
    assert {"type": datasource["type"], "uid": datasource["uid"]} == DATASOURCE
    settings = [datasource["url"], datasource["user"], datasource["jsonData"]["database"],
                datasource["jsonData"]["sslmode"], datasource["secureJsonData"]["password"]]
    names = ["HOST", "USER", "DATABASE", "SSLMODE", "PASSWORD"]
    assert settings == [f"${{GRAFANA_PGVECTOR_{name}}}" for name in names]
    assert datasource["jsonData"]["timescaledb"] is False  # the macros expand as tested here


def test_the_dashboards_are_provisioned_from_the_mounted_folder() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "dashboards" / "otel-pgvector.yaml").read_text())
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    # docs/grafana.md mounts grafana/provisioning at /etc/grafana/provisioning
    mounted = Path(provider["options"]["path"]).relative_to("/etc/grafana/provisioning")
    assert sorted((PROVISIONING / mounted).glob("*.json")) == DASHBOARDS
    assert {_load(path)["uid"] for path in DASHBOARDS} == UIDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_structure(path: Path) -> None:
    board = _load(path)
    assert board["uid"] in UIDS and board["title"] and board["time"]["from"].startswith("now-")
    panels = list(_panels(board))
    assert len({panel["id"] for panel in panels}) == len(panels)
    variables = _variables(board)
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        position = panel["gridPos"]
        assert set(position) == {"x", "y", "w", "h"} and position["x"] + position["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["rawQuery"] is True
            assert target["format"] == ("time_series" if panel["type"] == "timeseries" else "table")
    for variable in variables.values():
        assert variable["type"] in ("query", "textbox", "custom", "interval", "constant")
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE and variable["query"] == variable["definition"]
    used = {name for text in _sql_texts(board) + [panel["title"] for panel in panels]
            for match in _VARIABLE.finditer(text) for name in (match[1] or match[2],)}
    assert {name for name in used if not BUILTIN.match(name)} <= set(variables)


def test_links_open_dashboards_that_exist_with_variables_they_have() -> None:
    boards = {_load(path)["uid"]: _load(path) for path in DASHBOARDS}
    links = [link["url"] for board in boards.values() for panel in _panels(board)
             for override in panel["fieldConfig"]["overrides"] for prop in override["properties"]
             if prop["id"] == "links" for link in prop["value"]]
    assert links, "the errors and recent traces link to the Trace dashboard"
    for url in links:
        match = re.fullmatch(r"/d/([\w-]+)/[\w-]+\?var-(\w+)=\$\{__value\.raw\}&\$\{__url_time_range\}", url)
        assert match is not None, url
        assert match[2] in _variables(boards[match[1]]), url


def test_the_log_pattern_function_masks_as_the_query_layer_does() -> None:
    """otel_log_pattern's expression is the one convert/shapes.py writes (see 0009_grafana.sql)."""
    (migration,) = [m for m in available_migrations() if m.name == "grafana"]
    assert log_pattern_sql("body") in migration.sql


# --- the panels' SQL on the demo's data -----------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """A connection as the read-only role, with the role's own settings applied."""

    conn: psycopg.Connection
    base: Request


@pytest.fixture(scope="module")
def reader(demo_data: DemoData, server_dsn: str) -> Iterator[Reader]:  # noqa: F811 (a fixture)
    """The demo's schema read as Grafana would: a role made by ``db grant-readonly``, over a time
    range around the demo's telemetry.

    The socket accepts only the server's own OS user (peer), so the role cannot log in here:
    the connection takes it with SET ROLE and applies the settings the command gave it
    (search_path, read-only transactions) from the catalog, as a login would.
    """
    role = f"grafana_{os.getpid()}"
    granted = CliRunner(env=demo_data.env).invoke(cli, ["db", "grant-readonly", role])
    assert granted.exit_code == 0, granted.output
    assert f"GRAFANA_PGVECTOR_USER={role}\n" in granted.stdout
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        settings = conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = %s::regrole", (role,)
        ).fetchall()
        for (setting,) in settings:
            name, _, value = setting.partition("=")
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        row = conn.execute("SELECT min(start_time), max(start_time) FROM otel_spans").fetchone()
        assert row is not None and row[0] is not None
        # Grafana's ranges are whole milliseconds
        since = (row[0] - dt.timedelta(minutes=5)).replace(microsecond=row[0].microsecond // 1000 * 1000)
        until = (row[1] + dt.timedelta(minutes=5)).replace(microsecond=row[1].microsecond // 1000 * 1000)
        try:
            yield Reader(conn, Request(since, until, "1m", {}))
        finally:
            conn.execute("RESET ROLE; RESET ALL")
            name = sql.Identifier(role)
            conn.execute(sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(name, name))


def _rows(reader: Reader, text: str, request: Request) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Column names, type names and rows of ``text`` expanded for ``request``."""
    with reader.conn.cursor() as cursor:
        cursor.execute(expand(text, request).encode())
        rows = cursor.fetchall()
        description = cursor.description or []
        oids = [column.type_code for column in description]
        types = cursor.execute("SELECT o::regtype::text FROM unnest(%s::oid[]) AS o", (oids,)).fetchall()
    return [column.name for column in description], [name for (name,) in types], rows


def _variable_values(board: Mapping[str, Any], reader: Reader, demo: DemoData) -> dict[str, str | list[str]]:
    """Each variable's value as a user would pick it: All for multi-value ones, the demo's failing
    trace, a search the demo's logs match, and the first value of the others' queries, in the
    dashboard's order (a variable's query may use the ones before it)."""
    chosen: dict[str, str | list[str]] = {}
    picks = {"trace_id": demo.failing_trace_id, "search": "timed out",
             "metric": "http.server.request.duration"}
    for name, variable in _variables(board).items():
        if variable["type"] == "textbox":
            chosen[name] = picks[name]
            continue
        request = Request(reader.base.since, reader.base.until, "1m", chosen)
        _, _, rows = _rows(reader, variable["query"], request)
        values = [str(row[0]) for row in rows]
        assert values, f"variable {name} has no value on the demo's data"
        if variable["includeAll"]:
            chosen[name] = values
        else:
            chosen[name] = picks[name] if picks.get(name) in values else values[0]
    return chosen


PANEL_CASES = [
    pytest.param(path, panel["id"], id=f"{path.stem}-{panel['title']}")
    for path in DASHBOARDS for panel in _panels(_load(path)) if panel["type"] != "row"
]


@pytest.mark.parametrize(("path", "panel_id"), PANEL_CASES)
@pytest.mark.parametrize("interval", ["1m", "5s"])
def test_every_panel_returns_rows_on_the_demos_data(
    reader: Reader, demo_data: DemoData, path: Path, panel_id: int, interval: str  # noqa: F811
) -> None:
    board = _load(path)
    (panel,) = [panel for panel in _panels(board) if panel["id"] == panel_id]
    values = _variable_values(board, reader, demo_data)
    request = Request(reader.base.since, reader.base.until, interval, values)
    frames = {}
    for target in panel["targets"]:
        columns, types, rows = _rows(reader, target["rawSql"], request)
        assert rows, f"{panel['title']} {target['refId']}: no rows from\n{expand(target['rawSql'], request)}"
        empty = [name for index, name in enumerate(columns) if all(row[index] is None for row in rows)]
        assert not empty or panel["type"] == "nodeGraph", f"{panel['title']}: {empty} NULL in every row"
        frames[target["refId"]] = dict(zip(columns, types, strict=True)), rows
    kind = panel["type"]
    if kind == "timeseries":
        ((columns, rows),) = frames.values()
        assert columns["time"] in ("timestamp with time zone", "double precision", "numeric")
        assert [row[0] for row in rows] == sorted(row[0] for row in rows), "time series come sorted by time"
        values = [name for name, type_name in columns.items() if name not in ("time", "metric")]
        assert values and all(columns[name] in ("double precision", "bigint", "numeric") for name in values)
    elif kind == "traces":
        ((columns, rows),) = frames.values()
        assert columns == TRACE_COLUMNS
    elif kind == "logs":
        ((columns, rows),) = frames.values()
        assert columns == LOG_COLUMNS
        labels = [row[3] for row in rows]
        assert all(isinstance(label, dict) for label in labels)
        assert all(isinstance(value, str) for label in labels for value in label.values())
    elif kind == "nodeGraph":
        nodes, edges = frames["nodes"], frames["edges"]
        assert {"id", "title", "mainstat", "secondarystat"} <= set(nodes[0])
        assert {"id", "source", "target", "mainstat"} <= set(edges[0])
        node_ids = {row[0] for row in nodes[1]}
        edge_ends = {end for row in edges[1] for end in row[1:3]}
        assert edge_ends <= node_ids and len(node_ids) >= 4
        arcs = [index for index, name in enumerate(nodes[0]) if name.startswith("arc__")]
        assert all(math.isclose(sum(row[index] for index in arcs), 1) for row in nodes[1]), "arcs add up to 1"


def test_the_trace_frame_has_the_shape_grafanas_traces_panel_reads(
    reader: Reader, demo_data: DemoData  # noqa: F811 (a fixture)
) -> None:
    trace_id = demo_data.failing_trace_id
    with reader.conn.cursor() as cursor:
        rows = cursor.execute("SELECT * FROM otel_trace_for_grafana(%s)", (trace_id,)).fetchall()
        names = [column.name for column in cursor.description or []]
        stored = cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status_code = 'ERROR') FROM otel_spans"
            " WHERE trace_id = %s::uuid",
            (trace_id,),
        ).fetchone()
    assert names == list(TRACE_COLUMNS)
    spans = [dict(zip(names, row, strict=True)) for row in rows]
    assert stored is not None and len(spans) == stored[0] > 1
    assert sum(span["statusCode"] == 2 for span in spans) == stored[1] > 0
    assert {span["traceID"] for span in spans} == {demo_data.failing_trace_id}
    ids = {span["spanID"] for span in spans}
    assert [span["parentSpanID"] for span in spans if span["parentSpanID"] not in ids] == [None]  # one root
    assert all(re.fullmatch(r"[0-9a-f]{16}", span["spanID"]) for span in spans)
    for span in spans:
        for column in ("tags", "serviceTags", "logs", "references"):
            assert isinstance(span[column], list), f"{column} must be a JSON array, not {type(span[column])}"
        assert all(set(tag) == {"key", "value"} for tag in span["tags"] + span["serviceTags"])
        assert {"key": "service.name", "value": span["serviceName"]} in span["serviceTags"]
        assert all({"timestamp", "fields"} <= set(log) and isinstance(log["fields"], list)
                   for log in span["logs"])
        assert span["kind"] in ("server", "client", "internal", "producer", "consumer")
        assert span["startTime"] > 1.7e12 and span["duration"] >= 0  # milliseconds
    failing = [span for span in spans if span["spanID"] == demo_data.failing_span_id]
    (exception,) = [log for log in failing[0]["logs"] if log["name"] == "exception"]
    fields = {field["key"]: field["value"] for field in exception["fields"]}
    assert fields["exception.type"] and fields["exception.stacktrace"].startswith("Traceback")
    start, duration = failing[0]["startTime"], failing[0]["duration"]
    assert start <= float(exception["timestamp"]) <= start + duration


def test_a_trace_id_that_is_empty_or_mistyped_finds_nothing(
    reader: Reader, demo_data: DemoData  # noqa: F811 (a fixture)
) -> None:
    dashed = re.sub(r"(.{8})(.{4})(.{4})(.{4})(.{12})", r"\1-\2-\3-\4-\5", demo_data.failing_trace_id)
    for trace_id, found in (("", False), ("not a trace", False), ("'; select 1; --", False),
                            (f" {dashed.upper()} ", True)):
        for function in ("otel_trace_for_grafana", "otel_trace_logs_for_grafana"):
            rows = reader.conn.execute(
                sql.SQL("SELECT count(*) FROM {}(%s)").format(sql.Identifier(function)), (trace_id,)
            ).fetchone()
            assert rows is not None and (rows[0] > 0) == found, (function, trace_id)


def test_the_read_only_role_cannot_write(reader: Reader) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.conn.execute("DELETE FROM otel_logs")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), reader.conn.transaction():
        reader.conn.execute("SET TRANSACTION READ WRITE")
        reader.conn.execute("DELETE FROM otel_logs")


# --- docs/grafana.md's setup, as written ---------------------------------------------------------

# Stands in for `docker run` (Docker cannot run here): what the container's Grafana does with the
# documented arguments, up to its first query. It reads the provisioning folder mounted at
# /etc/grafana/provisioning and the --env-file, substitutes the environment into the datasource
# as Grafana's provisioning does, connects with those settings over TCP, and runs a panel's query.
_DOCKER = r'''
import json, re, sys, psycopg, yaml
args = sys.argv[1:]
assert args[0] == "run" and args[-1].split(":")[0] == "grafana/grafana", args
env = dict(line.split("=", 1) for line in open(args[args.index("--env-file") + 1]).read().splitlines())
source, target, _ = args[args.index("-v") + 1].split(":")
assert target == "/etc/grafana/provisioning" and "--network" in args, args
text = open(source + "/datasources/otel-pgvector.yaml").read()
(datasource,) = yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], text))["datasources"]
host, port = datasource["url"].rsplit(":", 1)
options = datasource["jsonData"]
with psycopg.connect(host=host, port=port, dbname=options["database"], user=datasource["user"],
                     password=datasource["secureJsonData"]["password"], sslmode=options["sslmode"],
                     passfile="/nonexistent", connect_timeout=10) as conn:
    print(json.dumps(conn.execute(
        "SELECT current_user, current_setting('transaction_read_only'),"
        " (SELECT count(*) FROM otel_red(now() - interval '1 hour', now(), interval '1 minute'))"
    ).fetchone()))
'''


@needs_proc
def test_the_documented_setup_runs_as_written(
    data_dir: Path, env: dict[str, str], tmp_path: Path  # noqa: F811 (fixtures)
) -> None:
    document = (ROOT / "docs" / "grafana.md").read_text()
    block = re.search(r"## Setup\n\n.*?```sh\n(.*?)```", document, re.DOTALL)
    assert block is not None
    port = _free_port()  # the documented 5433 may be taken here
    script = block.group(1).replace("5433", str(port))
    assert script.count("otel-pgvector ") == 2 and "docker run" in script
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(f"#!{sys.executable}\n{_DOCKER}")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    path = os.pathsep.join([str(docker.parent), str(Path(sys.executable).parent), env["PATH"]])
    work = tmp_path / "clone"
    (work / "grafana").mkdir(parents=True)
    (work / "grafana" / "provisioning").symlink_to(PROVISIONING)
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, capture_output=True,
                              text=True, timeout=300, env={**env, "PATH": path})
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout.splitlines()[-1]) == ["grafana", "on", 0]  # read-only, no demo data
        settings = dict(line.split("=", 1) for line in (work / "grafana.env").read_text().splitlines())
        assert settings["GRAFANA_PGVECTOR_HOST"] == f"127.0.0.1:{port}"
        assert settings["GRAFANA_PGVECTOR_SSLMODE"] == "disable"
        assert len(settings["GRAFANA_PGVECTOR_PASSWORD"]) >= 32
    finally:
        assert _cli(env, "db", "stop").returncode == 0


def test_a_role_that_can_write_is_not_made_read_only(server_dsn: str, schema: str) -> None:
    """A member of pg_write_all_data would keep writing whatever SELECT it is granted."""
    role = f"writer_{os.getpid()}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_write_all_data").format(sql.Identifier(role)))
    try:
        args = ["--dsn", server_dsn, "--schema", schema, "db", "grant-readonly", role]
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 2
        assert f"role {role!r} can already write" in refused.stderr and "pg_write_all_data" in refused.stderr
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_role_that_may_not_grant_gets_one_line_saying_so(server_dsn: str, schema: str) -> None:
    """Run as a role without CREATEROLE (SET ROLE: the socket admits only the server's OS user)."""
    limited = f"limited_{os.getpid()}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(limited)))
        try:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(limited)))
            expected = (r"^could not make role 'reader_x' a reader of schema .*: "
                        r"permission denied to create role; connect as a role with CREATEROLE")
            with pytest.raises(ConfigurationError, match=expected):
                grant_read_only(conn, schema, "reader_x")
        finally:
            conn.execute("RESET ROLE")
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(limited)))
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'reader_x'").fetchone() is None


def _panel_sql(title: str) -> str:
    """The SQL of the one panel titled ``title`` (with a single query) among the dashboards."""
    (text,) = [target["rawSql"] for path in DASHBOARDS for panel in _panels(_load(path))
               if panel["title"] == title for target in panel["targets"]]
    return text


def test_the_dashboards_answer_what_the_query_layer_answers(
    reader: Reader, demo_data: DemoData, server_dsn: str  # noqa: F811 (a fixture)
) -> None:
    """The panels that mirror a TelemetryQuery call give its answer on the same data and window:
    one definition, whether it is read from Grafana or from Python."""
    since, until = reader.base.since, reader.base.until

    def panel(title: str) -> set[tuple[Any, ...]]:
        boards = [_load(path) for path in DASHBOARDS]
        (board,) = [board for board in boards if any(shown["title"] == title for shown in _panels(board))]
        values = {**_variable_values(board, reader, demo_data), "search": ""}  # every record, as the query
        _, _, rows = _rows(reader, _panel_sql(title), Request(since, until, "1m", values))
        width = 3 if title == "Services" else 2
        return {tuple(row[:width]) for row in rows}

    with TelemetryQuery(PgvectorSettings(dsn=server_dsn, schema=demo_data.schema, embedding="off")) as query:
        red = {(row.service_name, row.requests, row.errors) for row in query.red(since=since, until=until)}
        errors = {(group.key, group.count) for group in query.errors(since=since, until=until)}
        patterns = {(pattern.pattern, pattern.count) for pattern in query.log_patterns(since=since)}
    assert panel("Services") == red and red
    assert panel("Recent errors") == errors and errors
    assert panel("Log patterns") == patterns and len(patterns) > 3
