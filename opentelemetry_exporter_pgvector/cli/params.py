"""How the commands read their arguments: settings from the root options, times and durations.

Every command takes times the same way (``--since``/``--until``: an age before now such as
``90s``, ``15m``, ``2h``, ``7d``, ``2w``, or an ISO 8601 time), span durations the same way
(``250`` milliseconds, ``250ms``, ``1.5s``, ``2m``) and attribute filters the same way
(``KEY=VALUE``, the value typed as JSON reads it), and reports a bad value as a click usage
error, which ``otel-pgvector`` prints in one line with exit status 2.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import click

from ..config import PgvectorSettings
from ..query.traces import typed_value

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.ASCII)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SPAN_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.ASCII)
_SPAN_UNITS = {None: "milliseconds", "ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours"}


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


class _Parsed(click.ParamType):  # type: ignore[type-arg]
    """A parameter read by one of the parsers above, whose usage errors click then reports with
    the option's name; a value already of the parsed type (a default) passes through."""

    def __init__(self, name: str, parse: Callable[[str], Any], parsed: type) -> None:
        self.name = name
        self._parse = parse
        self._parsed = parsed

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self._parsed):
            return value
        try:
            return self._parse(str(value))
        except click.BadParameter as error:
            self.fail(error.message, param, ctx)


# A positive duration: ``30s``, ``15m``, ``1h``, ``7d``, ``2w``.
DURATION = _Parsed("duration", parse_duration, dt.timedelta)
# A moment: an age before now (``15m``, ``2h``, ``7d``) or an ISO 8601 time.
TIME = _Parsed("time", parse_time, dt.datetime)


class SpanDuration(click.ParamType):  # type: ignore[type-arg]
    """How long a span or trace took: milliseconds as a plain number (``250``) or with a unit
    (``250ms``, ``1.5s``, ``2m``, ``1h``); zero is allowed (``--min-duration 0`` keeps all)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        match = _SPAN_DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 250 (ms), 250ms, 1.5s or 2m", param, ctx)
        try:
            return dt.timedelta(**{_SPAN_UNITS[match[2]]: float(match[1])})
        except OverflowError:
            self.fail(f"{value!r} is longer than a duration can express", param, ctx)


class Attribute(click.ParamType):  # type: ignore[type-arg]
    """``KEY=VALUE``: a span attribute to match, the value typed by
    :func:`~..query.traces.typed_value`."""

    name = "key=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, equals, text = str(value).partition("=")
        if not equals or not key.strip():
            self.fail(f"{value!r} is not KEY=VALUE, e.g. http.response.status_code=500", param, ctx)
        return key.strip(), typed_value(text)


SPAN_DURATION = SpanDuration()
ATTRIBUTE = Attribute()
# Rows a listing shows; a bound keeps a typo (``--limit 10000000``) from flooding the terminal.
LIMIT = click.IntRange(1, 100_000)
