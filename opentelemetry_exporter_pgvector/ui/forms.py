"""The UI's filters, read from the query string.

Every page keeps its filters in the URL (a GET form), so a page can be bookmarked, shared and
reached again with the back button. This module turns those strings into the typed arguments
``TelemetryQuery`` takes, and a malformed value into one :class:`~..errors.QueryError` whose
message the page shows above its form. An empty field means "no filter", as an absent one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import QueryError
from ..query.traces import STATUSES, TraceFilterArgs, typed_value

# The windows a page offers (a select, not free text: nothing to mistype), newest data last.
WINDOWS: Mapping[str, dt.timedelta] = {
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
MAX_LIMIT = 1000


class Params(Protocol):
    """What a page reads its filters from: Starlette's ``QueryParams`` has both methods."""

    def get(self, key: str, /) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...


def text(params: Params, key: str) -> str | None:
    """A text field, stripped; None when absent or blank."""
    value = (params.get(key) or "").strip()
    return value or None


def choice(params: Params, key: str, choices: Mapping[str, Any] | tuple[str, ...], default: str) -> str:
    """One of ``choices`` (case-insensitive), ``default`` when blank."""
    value = (text(params, key) or default).lower()
    allowed = {option.lower(): option for option in choices}
    if value not in allowed:
        raise QueryError(f"{key} must be one of {', '.join(choices)}, got {params.get(key)!r}")
    return str(allowed[value])


def window_start(params: Params, key: str = "since", default: str = "1h") -> tuple[str, dt.datetime]:
    """The chosen window's name and its start (that long before now)."""
    name = choice(params, key, tuple(WINDOWS), default)
    return name, dt.datetime.now(dt.timezone.utc) - WINDOWS[name]


def milliseconds(params: Params, key: str) -> float | None:
    """A non-negative duration in milliseconds, or None."""
    value = text(params, key)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise QueryError(f"{key} must be a number of milliseconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise QueryError(f"{key} must be a non-negative number of milliseconds, got {value!r}")
    return number


def integer(params: Params, key: str, default: int, low: int = 1, high: int = MAX_LIMIT) -> int:
    """A whole number in ``[low, high]``, ``default`` when blank."""
    value = text(params, key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{key} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise QueryError(f"{key} must be between {low} and {high}, got {number}")
    return number


def attributes(params: Params, key: str = "attr") -> dict[str, Any]:
    """``KEY=VALUE`` fields (the key repeated, or one per line) as a filter dictionary."""
    found: dict[str, Any] = {}
    for field in params.getlist(key):
        for line in field.splitlines():
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip():
                raise QueryError(f"{key} {line.strip()!r} is not KEY=VALUE, e.g. http.route=/api/checkout")
            found[name.strip()] = typed_value(value.strip())
    return found


@dataclass(frozen=True)
class TraceSearch:
    """The traces page's filters: what the form shows back, and ``find_traces`` keywords."""

    window: str
    arguments: TraceFilterArgs

    @classmethod
    def read(cls, params: Params) -> TraceSearch:
        window, since = window_start(params)
        status = text(params, "status")
        if status is not None and status.upper() not in STATUSES:
            raise QueryError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        arguments: TraceFilterArgs = {
            "service": text(params, "service"),
            "name": text(params, "name"),
            "status": status.upper() if status else None,
            "min_duration": milliseconds(params, "min_duration"),
            "max_duration": milliseconds(params, "max_duration"),
            "attributes": attributes(params),
            "root_name": text(params, "root_name"),
            "min_trace_duration": milliseconds(params, "min_trace_duration"),
            "exception_type": text(params, "exception_type"),
            "since": since,
            "limit": integer(params, "limit", 50),
        }
        return cls(window, arguments)
