"""The exit statuses of ``otel-pgvector`` (docs/cli.md): one convention for every command.

- 0: done;
- 1: the command ran but found nothing, or could not reach or use the database;
- 2: usage or configuration: a bad option or value, a setting, an unsuitable server;
- 3: an internal error (a bug): one line, and the traceback under ``-v``;
- 130: interrupted.
"""

from __future__ import annotations

import click

OK = 0
NOT_DONE = 1
USAGE = 2
INTERNAL = 3
INTERRUPTED = 130


class CommandFailed(click.ClickException):
    """The command ran and could not do what was asked; exit status 1."""

    exit_code = NOT_DONE


class NothingFound(CommandFailed):
    """A search or lookup found nothing; exit status 1, as grep does."""


class NotInstalled(click.ClickException):
    """A program the command runs is not installed; exit status 2, as for configuration."""

    exit_code = USAGE
