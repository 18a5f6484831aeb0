"""Commands that set up and look after the database: migrate, db (the embedded server's lifecycle, its
DSN, psql), demo, model prepare, embed, dlq, health."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..config import PgvectorSettings, redact_dsn
from ..db.database import Database
from ..db.embedded import (
    EmbeddedServerStatus,
    embedded_psql,
    embedded_server_status,
    start_embedded_server,
    stop_embedded_server,
)
from ..db.embedded_access import TcpListener
from ..db.roles import grant_read_only
from ..errors import ConfigurationError
from ..extras import missing_extra_message
from .outcome import NOT_DONE, CommandFailed, NotInstalled
from .params import settings_of
from .render import ProgressBar, human_bytes, render_table

if TYPE_CHECKING:
    from ..demo import DemoResult
    from ..embedding.backends import PreparedModel


@click.command()
@click.option("--citus", is_flag=True,
              help="On a Citus coordinator, also distribute the tables over the workers (idempotent; "
              "docs/scaling.md). Refused on a server without Citus.")
@click.pass_context
def migrate(ctx: click.Context, citus: bool) -> None:
    """Create or upgrade the tables in the configured schema."""
    settings = settings_of(ctx)
    database = Database(settings)
    if citus:
        database.check_citus()  # before the migrations create anything on the wrong server
    applied = database.migrate()
    click.echo(
        f"schema {settings.db_schema} on {settings.redacted_dsn}: "
        + (f"applied {', '.join(applied)}" if applied else "already up to date")
    )
    if citus:
        distributed = database.distribute()
        click.echo("distributed " + "; ".join(distributed) if distributed else "tables already distributed")


@click.group()
def db() -> None:
    """The database the exporters write to, and the embedded server used when no DSN is set."""


@db.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Also listen on this TCP port, for the user postgres with a generated password "
              "(see: otel-pgvector db dsn --show-password).")
@click.option("--host", default=None,
              help="With --port, the address to listen on: 127.0.0.1 (this machine only) unless "
              "given; * for every address.")
@click.pass_context
def db_start(ctx: click.Context, port: int | None, host: str | None) -> None:
    """Start the embedded server, or keep the running one, until otel-pgvector db stop: apps that
    exit leave it running."""
    data_dir = _embedded_dir(ctx)
    if host is not None and port is None:
        raise click.UsageError("--host needs --port")
    try:
        listener = TcpListener(host or "127.0.0.1", port) if port is not None else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--host") from None
    started = start_embedded_server(data_dir, listener)
    status = embedded_server_status(data_dir)
    server = f"the embedded PostgreSQL server in {data_dir}"
    if started:
        click.echo(f"started {server}; it runs until: otel-pgvector db stop")
    else:
        click.echo(f"{server} was already running (started by {status.started_by or 'an unknown process'}); "
                   "it now runs until: otel-pgvector db stop")
    if status.listener is not None:
        click.echo(f"TCP: {status.listener}, user postgres with a password (the DSN: otel-pgvector db dsn "
                   "--show-password)")


@db.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded server, whoever started it; the processes using it lose their connections."""
    data_dir = _embedded_dir(ctx)
    status = stop_embedded_server(data_dir)
    if not status.running:
        click.echo(f"the embedded PostgreSQL server in {data_dir} is not running")
        return
    users = f" ({_users(status)} were using it)" if status.users else ""
    click.echo(f"stopped the embedded PostgreSQL server in {data_dir}{users}")


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Whether the embedded server runs, where, who started it, who uses it; exit 1 when it does not run."""
    status = embedded_server_status(_embedded_dir(ctx))
    since = f" since {status.started_at.astimezone():%Y-%m-%d %H:%M:%S}" if status.started_at else ""
    rows: list[tuple[str, object]] = [
        ("state", f"running (pid {status.pid}){since}" if status.running else "not running"),
        ("data directory", status.data_dir if status.initialized else f"{status.data_dir} (not created yet)"),
        ("size on disk", human_bytes(status.size_bytes)),
    ]
    if status.running:
        rows += [
            ("socket", status.socket),
            ("TCP", f"{status.listener}, password authentication" if status.listener else "none"),
            ("started by", status.started_by or "not recorded"),
            ("stops", "with otel-pgvector db stop" if status.pinned
             else "when the last process using it exits"),
            ("used by", _users(status) if status.users else "no process"),
        ]
    else:
        rows.append(("start it", "otel-pgvector db start"))
    click.echo(render_table(("embedded server", ""), rows))
    if not status.running:
        sys.exit(NOT_DONE)


@db.command("dsn")
@click.option("--show-password", is_flag=True, help="Print the password instead of masking it.")
@click.pass_context
def db_dsn(ctx: click.Context, show_password: bool) -> None:
    """Print the DSN: the configured one, else the running embedded server's (over TCP when it
    listens on TCP); it works after this command exits."""
    dsn = _dsn(settings_of(ctx), socket=False)
    click.echo(dsn if show_password else redact_dsn(dsn))


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def db_psql(ctx: click.Context, psql_args: tuple[str, ...]) -> None:
    """Open psql on the database (the embedded server's through its socket); the arguments
    after it go to psql, as in: otel-pgvector db psql -c 'select count(*) from otel_spans'."""
    on_path = shutil.which("psql")
    program = on_path or embedded_psql()
    if program is None:
        raise NotInstalled(
            "psql is not installed: apt install postgresql-client (Debian, Ubuntu), brew install libpq "
            "(macOS); or connect any client to: otel-pgvector db dsn"
        )
    params = conninfo_to_dict(_dsn(settings_of(ctx), socket=True))
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:  # in psql's environment, which only this user can read; not on its command line
        env["PGPASSWORD"] = str(password)
    if on_path is None and sys.stdin.isatty():
        click.echo("otel-pgvector: psql is not on PATH, so this is the embedded server's own, without line "
                   "editing (apt install postgresql-client for that)", err=True)
    sys.stdout.flush()
    os.execve(program, [str(program), "--dbname", make_conninfo("", **params), *psql_args], env)


# Grafana's PostgreSQL datasource knows these TLS modes; libpq's default (prefer) is not one.
_GRAFANA_SSLMODES = ("disable", "require", "verify-ca", "verify-full")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@db.command("grant-readonly")
@click.argument("role")
@click.pass_context
def db_grant_readonly(ctx: click.Context, role: str) -> None:
    """Create ROLE, or update it, as a login that may only read the schema's telemetry (SELECT,
    read-only transactions), with a new password; print the settings of Grafana's datasource
    for it as KEY=VALUE lines, for docker run --env-file (docs/grafana.md)."""
    settings = settings_of(ctx)
    database = Database(settings)
    database.migrate()  # the grants cover every table, so they must all exist first
    dsn = _dsn(settings, socket=False)
    with database.connect() as conn:
        password = grant_read_only(conn, settings.db_schema, role)
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "")
    if not host or host.startswith("/"):
        click.echo(f"otel-pgvector: role {role} may read schema {settings.db_schema}, but the server has no "
                   "TCP address for Grafana: start it with otel-pgvector db start --port N", err=True)
        host = ""
    sslmode = str(params.get("sslmode") or "")
    if sslmode not in _GRAFANA_SSLMODES:
        sslmode = "disable" if not host or host in _LOOPBACK else "require"
    values = {
        "GRAFANA_PGVECTOR_HOST": f"{host}:{params.get('port') or 5432}" if host else "",
        "GRAFANA_PGVECTOR_DATABASE": str(params.get("dbname") or "postgres"),
        "GRAFANA_PGVECTOR_USER": role,
        "GRAFANA_PGVECTOR_PASSWORD": password,
        "GRAFANA_PGVECTOR_SSLMODE": sslmode,
    }
    click.echo("".join(f"{key}={value}\n" for key, value in values.items()), nl=False)


def _embedded_dir(ctx: click.Context) -> Path:
    """The embedded server's data directory, for the commands that manage it; refused when a DSN
    is configured, since the exporters do not use the embedded server then."""
    settings = settings_of(ctx)
    if not settings.uses_embedded_server:
        raise ConfigurationError(
            f"a DSN is configured (--dsn or OTEL_EXPORTER_PGVECTOR_DSN): the exporters use "
            f"{settings.redacted_dsn}, not the embedded server that db start, stop and status manage"
        )
    return settings.embedded_dir


def _dsn(settings: PgvectorSettings, socket: bool) -> str:
    """The configured DSN, else the running embedded server's (its socket's if ``socket``)."""
    if not settings.uses_embedded_server:
        return settings.dsn.get_secret_value()
    status = embedded_server_status(settings.embedded_dir)
    dsn = status.socket_dsn if socket else status.dsn()
    if dsn is None:
        raise CommandFailed(
            f"the embedded PostgreSQL server in {status.data_dir} is not running: start it with "
            "otel-pgvector db start"
        )
    return dsn


def _users(status: EmbeddedServerStatus) -> str:
    count = len(status.users)
    return f"{count} process{'es' if count > 1 else ''}: pid {', '.join(map(str, status.users))}"


@click.command()
@click.option("--requests", type=click.IntRange(1, 100_000), default=60, show_default=True,
              help="Shop requests to simulate.")
@click.pass_context
def demo(ctx: click.Context, requests: int) -> None:
    """Run a small instrumented shop through the exporters, summarize what this run stored,
    and print commands to try on it."""
    from ..demo import RUN_ID_ATTRIBUTE, run_demo
    from ..exporters.logs import PgvectorLogExporter
    from ..exporters.metrics import PgvectorMetricExporter
    from ..exporters.trace import PgvectorSpanExporter
    from ..query.telemetry import TelemetryQuery

    settings = settings_of(ctx)
    if settings.embedding != "off":
        with contextlib.suppress(ModuleNotFoundError):  # stored without it; said after the summary
            _prepare_model(settings)
    result = run_demo(
        lambda: PgvectorSpanExporter(settings),
        requests=requests,
        log_exporter_factory=lambda: PgvectorLogExporter(settings),
        metric_exporter_factory=lambda: PgvectorMetricExporter(settings),
    )
    this_run = {RUN_ID_ATTRIBUTE: result.run_id}
    with TelemetryQuery(settings) as query:
        summary = query.service_summary(resource_attributes=this_run)
        counts = query.stored_counts(resource_attributes=this_run)
    schema = settings.db_schema
    click.echo(
        f"demo run {result.run_id}: {result.requests} requests ({result.failed_requests} failed) stored "
        f"{counts.spans} spans in {schema}.otel_spans, {counts.log_records} log records in "
        f"{schema}.otel_logs and {counts.metric_points} metric points in {schema}.otel_metric_points "
        f"on {settings.redacted_dsn}"
    )
    click.echo(
        render_table(
            ("service", "spans", "traces", "errors", "p50 ms", "p95 ms"),
            [(r.service_name, r.spans, r.traces, r.errors, r.p50_ms, r.p95_ms) for r in summary],
        )
    )
    embedded = False
    if settings.embedding != "off":
        try:
            count = _embed(settings, batch_size=settings.embedding_batch_size, follow=False)
        except ModuleNotFoundError as error:  # stored, but similarity search needs the model
            message = missing_extra_message(error)
            if message is None:
                raise
            click.echo(f"\nshapes not embedded: {message}")
        else:
            embedded = True
            click.echo(f"\nembedded {count} span and log shapes")
    _print_next_steps(ctx, result, embedded)


def _print_next_steps(ctx: click.Context, result: DemoResult, embedded: bool) -> None:
    """Commands that find this run's data, with the --dsn and --schema the demo was given.

    A password in the DSN is masked, so that command line says where to put it back.
    """
    from ..demo import SLOW_QUERY_SECONDS

    dsn, schema = ctx.find_root().obj["dsn"], ctx.find_root().obj["schema"]
    prefix = ["otel-pgvector"]
    note = ""
    if dsn is not None:
        if conninfo_to_dict(dsn).get("password"):
            dsn, note = redact_dsn(dsn), " (*** stands for your password)"
        prefix += ["--dsn", shlex.quote(dsn)]
    if schema is not None:
        prefix += ["--schema", shlex.quote(schema)]
    steps = []
    if result.failing_trace_id:
        steps.append((f"trace {result.failing_trace_id}", "a failed request: its spans, logs and metrics"))
    if result.slow_trace_id:
        slow_ms = f"{SLOW_QUERY_SECONDS * 1000:.0f} ms"
        steps.append((f"trace {result.slow_trace_id}", f"the slow request: its SELECT stock took {slow_ms}"))
    if result.failing_trace_id:
        steps.append(('logs "timed out"', "log records by word stem"))
    steps += [
        ("logs --patterns", "log bodies grouped by pattern, with counts"),
        ("metrics http.server.request.duration --agg p95", "request latency over the last hour"),
    ]
    if embedded:
        steps.append(('similar "payments database timed out"', "span shapes by meaning"))
    commands = [" ".join([*prefix, command]) for command, _ in steps]
    width = max(len(command) for command in commands)
    click.echo(f"\nnext{note}:")
    for command, (_, why) in zip(commands, steps, strict=True):
        click.echo(f"  {command.ljust(width)}  # {why}")


def _prepare_model(settings: PgvectorSettings) -> PreparedModel:
    """The one-time ONNX export, announced (it takes seconds) unless it was done before."""
    from ..embedding.backends import prepare_model

    return prepare_model(
        settings.embedding_backend, settings.embedding_model, settings.embedding_cache_dir,
        on_export=lambda: click.echo("preparing the embedding model: a one-time export to ONNX, about 15 s "
                                     f"(into {settings.embedding_cache_dir})..."),
    )


@click.group()
def model() -> None:
    """The embedding model of inline mode, embed and similar."""


@model.command("prepare")
@click.pass_context
def model_prepare(ctx: click.Context) -> None:
    """Export the embedding model to ONNX now (once, about 15 s), so that no exporter, embed or
    similar has to on first use; run it where the app's image or host is built."""
    prepared = _prepare_model(settings_of(ctx))
    if prepared.onnx_path is None:
        click.echo(f"{prepared.model_name} is ready: the torch backend needs no export")
    elif prepared.exported_now:
        click.echo(f"exported {prepared.model_name} to ONNX in {prepared.seconds:.1f} s: "
                   f"{prepared.onnx_path}")
    else:
        click.echo(f"{prepared.model_name} is ready (exported before): {prepared.onnx_path}")


def _embed(settings: PgvectorSettings, batch_size: int, follow: bool) -> int:
    """Fill missing shape vectors, with a progress bar (rate, ETA) when stdout is a terminal."""
    from tqdm import tqdm

    from ..embedding.backfill import count_missing, embed_missing
    from ..embedding.encoder import load_encoder_backend
    from ..embedding.model import configured_model_name

    backend = load_encoder_backend(settings)
    database = Database(settings)
    try:
        total = None if follow else count_missing(database, configured_model_name(settings))
        with tqdm(total=total, unit="shape", desc="embedding", disable=not sys.stdout.isatty()) as bar:
            return embed_missing(
                database,
                backend,
                batch_size=batch_size,
                follow=follow,
                on_batch=lambda keys: bar.update(len(keys)),
            )
    finally:
        database.close()


@click.command()
@click.option("--follow", is_flag=True, help="Keep running, embedding new shapes as they arrive.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="Shapes claimed and encoded per transaction "
    "(default: $OTEL_EXPORTER_PGVECTOR_EMBEDDING_BATCH_SIZE).",
)
@click.pass_context
def embed(ctx: click.Context, follow: bool, batch_size: int | None) -> None:
    """Embed the span shapes stored without a vector (deferred mode). Safe to run several at once."""
    settings = settings_of(ctx)
    done = _embed(settings, batch_size or settings.embedding_batch_size, follow)
    click.echo(f"embedded {done} shapes")


@click.group()
def dlq() -> None:
    """The local dead-letter spool of batches the database did not take."""


@dlq.command("status")
@click.pass_context
def dlq_status(ctx: click.Context) -> None:
    """Segments, bytes and age of the spool, records quarantined, and rows the database rejected."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        report = query.health()
    click.echo(
        render_table(
            ("spool", "segments", "bytes", "batches", "oldest s", "quarantined", "rejected rows"),
            [
                (
                    report.spool_dir,
                    report.spool_segments,
                    report.spool_bytes,
                    report.spool_batches,
                    report.oldest_spooled_seconds,
                    report.spool_quarantined,
                    report.dead_letter_rows if report.reachable else "(unreachable)",
                )
            ],
        )
    )


@dlq.command("replay")
@click.pass_context
def dlq_replay(ctx: click.Context) -> None:
    """Replay the spools of exited processes now, exactly once, with a progress bar."""
    from ..write.delivery import replay_spooled

    database = Database(settings_of(ctx))
    try:
        with ProgressBar("replaying") as bar:
            report = replay_spooled(database, bar.update)
    finally:
        database.close()
    click.echo(
        f"replayed {report.replayed_batches} batches ({report.replayed_rows} rows), "
        f"{report.duplicate_batches} already stored; {report.left_batches} left (held by running processes, "
        f"or not taken now)"
    )
    if report.set_aside_batches:
        raise CommandFailed(f"the database refused {report.set_aside_batches} spooled batches as a whole "
                            "(the warnings above say why); they stay spooled, behind the others")
    if report.interrupted:
        raise CommandFailed("the database stopped taking batches during the replay; the rest stay spooled")


@click.command("health")
@click.pass_context
def health(ctx: click.Context) -> None:
    """Reachability, versions, migration, breaker state and spool size; exit 1 when unreachable."""
    from ..query.telemetry import TelemetryQuery

    with TelemetryQuery(settings_of(ctx)) as query:
        report = query.health()
    click.echo(
        render_table(
            ("check", "value"),
            [
                ("reachable", "yes" if report.reachable else f"no: {report.error}"),
                ("postgresql", report.server_version),
                ("pgvector", report.pgvector_version),
                ("migration", f"{report.migration_version} of {report.latest_migration}"),
                ("breaker", report.breaker_state or "no exporter in this process"),
                (
                    "spool",
                    f"{report.spool_batches} batches, {report.spool_bytes} bytes in {report.spool_dir}",
                ),
                ("rejected rows", report.dead_letter_rows),
            ],
        )
    )
    if not report.reachable:
        sys.exit(NOT_DONE)
