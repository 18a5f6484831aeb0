"""``otel-pgvector``: set up the database, run the demo, and ask questions of the telemetry.

Every command uses the same settings as the exporters (``OTEL_EXPORTER_PGVECTOR_*``, or the
embedded server when no DSN is set). Commands only render what ``TelemetryQuery`` and the
database layer return; this module wires them into one group whose errors all follow one
convention (``outcome.py``): one line on stderr, ``otel-pgvector: <what went wrong>``, and a
documented exit status, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ..errors import DatabaseUnavailable, NotFound, PgvectorError
from ..extras import missing_extra_message
from ..version import __version__
from . import outcome
from .query_commands import logs, metrics, similar, sql
from .service_commands import errors, latency, services
from .setup_commands import db, demo, dlq, embed, health, migrate, model
from .storage_commands import retention, stats
from .trace_commands import compare, trace, traces
from .ui_command import ui

logger = logging.getLogger(__name__)
PROG = "otel-pgvector"


def _fail(message: str, status: int) -> NoReturn:
    click.echo(f"{PROG}: {' '.join(message.split())}", err=True)  # one line: libpq adds hint lines
    sys.exit(status)


class OtelPgvectorGroup(click.Group):
    """The root group; its ``main`` turns every error into one line and an exit status.

    Overriding ``main`` (rather than wrapping it in the console entry point) makes click's
    test runner and ``python -m`` see the same behaviour as the ``otel-pgvector`` script.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name or PROG, complete_var, standalone_mode=False, **extra)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else PROG
            _fail(f"{error.format_message()} (see: {command} --help)", outcome.USAGE)
        except click.ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("interrupted", outcome.INTERRUPTED)
        except (NotFound, DatabaseUnavailable) as error:
            _fail(str(error), outcome.NOT_DONE)
        except PgvectorError as error:
            _fail(str(error), outcome.USAGE)
        except ModuleNotFoundError as error:
            message = missing_extra_message(error)
            if message is None:
                raise
            _fail(message, outcome.USAGE)
        except Exception as error:
            logger.info("the unexpected error", exc_info=True)
            _fail(f"unexpected {type(error).__name__}: {error}", outcome.INTERNAL)
        code = result if isinstance(result, int) else outcome.OK
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=OtelPgvectorGroup)
@click.version_option(__version__, prog_name=PROG)
@click.option(
    "--dsn", default=None, help="PostgreSQL DSN (default: $OTEL_EXPORTER_PGVECTOR_DSN, else embedded)."
)
@click.option("--schema", default=None, help="Schema (default: $OTEL_EXPORTER_PGVECTOR_SCHEMA, else public).")
@click.option("-v", "--verbose", is_flag=True, help="Log what the exporter does.")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, schema: str | None, verbose: bool) -> None:
    """Store OpenTelemetry telemetry in PostgreSQL + pgvector and query it.

    Exit status: 0 done; 1 nothing found, or the database unreachable; 2 usage or
    configuration error; 3 internal error (a bug: run with -v and report it).
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = {"dsn": dsn, "schema": schema}


for command in (migrate, db, demo, model, embed, traces, trace, compare, errors, services, latency, logs,
                metrics, similar, sql, dlq, health, retention, stats, ui):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``otel-pgvector``)."""
    cli.main(args=argv, prog_name=PROG)
