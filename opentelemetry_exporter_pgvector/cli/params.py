"""How the commands read their arguments: settings from the root options, times and durations.

Every command takes times the same way (``--since``/``--until``: an age before now such as
``90s``, ``15m``, ``2h``, ``7d``, ``2w``, or an ISO 8601 time), and reports a bad value as a
click usage error, which ``otel-pgvector`` prints in one line with exit status 2.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import click

from ..config import PgvectorSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.ASCII)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def settings_of(ctx: click.Context) -> PgvectorSettings:
    """The settings of this invocation: the root's ``--dsn``/``--schema``, then the environment."""
    root = ctx.find_root()
    overrides = {key: value for key, value in root.obj.items() if value is not None}
    return PgvectorSettings(**overrides)


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``, ``2w`` as a timedelta; a usage error otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 15m, 1h, 7d or 2w")
    try:
        duration = dt.timedelta(**{_UNITS[match[2]]: float(match[1])})
    except OverflowError:
        raise click.BadParameter(f"{text!r} is longer than a date can express") from None
    if not duration:
        raise click.BadParameter(f"{text!r} is zero; give a positive duration")
    return duration


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time (UTC when it names no zone) or an age before now, as an aware datetime."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        if not _DURATION.match(text):
            raise click.BadParameter(
                f"{text!r} is neither an age like 15m, 2h, 7d nor an ISO 8601 time like 2026-12-01T09:30"
            ) from None
        age = parse_duration(text)
        try:
            return dt.datetime.now(dt.timezone.utc) - age
        except OverflowError:
            raise click.BadParameter(f"{text!r} reaches back before the year 1") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A positive duration: ``30s``, ``15m``, ``1h``, ``7d``, ``2w``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        try:
            return parse_duration(str(value))
        except click.BadParameter as error:
            self.fail(error.message, param, ctx)


class Time(click.ParamType):  # type: ignore[type-arg]
    """A moment: an age before now (``15m``, ``2h``, ``7d``) or an ISO 8601 time."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return parse_time(str(value))
        except click.BadParameter as error:
            self.fail(error.message, param, ctx)


DURATION = Duration()
TIME = Time()
# Rows a listing shows; a bound keeps a typo (``--limit 10000000``) from flooding the terminal.
LIMIT = click.IntRange(1, 100_000)
