"""Rendering shared by the commands: rich tables and text, JSON, times, progress.

Read commands write through an :class:`Output`. On a terminal it is rich's: colours, the
terminal's width. Anywhere else (a pipe, a file, a test capturing it) it is plain text: no
colour and no escape sequence, lines of at most :data:`PLAIN_WIDTH` columns without trailing
blanks, so the output diffs, greps and pastes cleanly. Values are never read as rich markup
or emoji codes: a span named ``[bold]`` or ``:x:`` prints as it is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import click
from rich import box
from rich.console import Console, RenderableType
from rich.table import Column, Table
from rich.text import Text

from .outcome import NothingFound

# Output that is not a terminal fits this many columns (docs/cli.md).
PLAIN_WIDTH = 100
# The setup commands' reports are as wide as their values: an error message is never cut.
_UNBOUNDED = 10_000


def _rule_box(line: str) -> box.Box:
    """A table box that draws only a rule of ``line`` under the header, broken between columns."""
    blank = "    \n"
    rule = f" {line}  \n"
    return box.Box(blank * 2 + rule + blank * 2 + rule + blank * 2, ascii=line.isascii())


PLAIN_RULE, TERMINAL_RULE = "-", "─"
PLAIN_BOX, TERMINAL_BOX = _rule_box(PLAIN_RULE), _rule_box(TERMINAL_RULE)


@dataclass(frozen=True)
class Col:
    """A table column: its header (with the unit: ``duration ms``, ``rate /s``), numbers aligned
    right, and whether it gives up width when the table is too wide: ``cut`` (one line, ending
    in …) or ``wrap`` (onto more lines). Other columns keep their width."""

    header: str
    right: bool = False
    flex: Literal["cut", "wrap"] | None = None


def cell(value: Any, flex: Literal["cut", "wrap"] | None = None) -> Text:
    """A value as table text: floats to two decimals, None empty, never markup."""
    if isinstance(value, Text):
        text = value
    elif value is None:
        text = Text("")
    elif isinstance(value, float):
        text = Text(f"{value:.2f}")
    else:
        text = Text(str(value))
    if flex == "cut":
        text.no_wrap, text.overflow = True, "ellipsis"
    return text


def build_table(columns: Sequence[Col], rows: Iterable[Sequence[Any]], terminal: bool,
                header: bool = True) -> Table:
    """Columns two spaces apart under a header and its rule (unless ``header`` is false); no frame."""
    table = Table(
        *(Column(col.header, justify="right" if col.right else "left", no_wrap=col.flex is None,
                 overflow="fold" if col.flex == "wrap" else "ellipsis") for col in columns),
        box=TERMINAL_BOX if terminal else PLAIN_BOX, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
        header_style="bold" if terminal else "", show_header=header,
    )
    for row in rows:
        table.add_row(*(cell(value, col.flex) for value, col in zip(row, columns, strict=True)))
    return table


def _plain_console(width: int) -> Console:
    return Console(file=sys.stdout, width=width, color_system=None, force_terminal=False,
                   force_interactive=False, highlight=False, markup=False, emoji=False)


def _plain(console: Console, renderable: RenderableType) -> str:
    with console.capture() as capture:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in capture.get().splitlines())


class Output:
    """Where a command's answer goes: stdout, rich on a terminal and plain text elsewhere.

    ``terminal`` defaults to whether stdout is one; tests pass it to see both kinds.
    """

    def __init__(self, terminal: bool | None = None) -> None:
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        if self.terminal:
            self.console = Console(file=sys.stdout, force_terminal=True, highlight=False, markup=False,
                                   emoji=False)
        else:
            self.console = _plain_console(PLAIN_WIDTH)
        self._printed = False

    @property
    def width(self) -> int:
        return self.console.width

    @property
    def rule(self) -> str:
        """The character of the rule under a header."""
        return TERMINAL_RULE if self.terminal else PLAIN_RULE

    def print(self, renderable: RenderableType = "") -> None:
        self._printed = True
        if self.terminal:
            self.console.print(renderable)
        else:
            click.echo(_plain(self.console, renderable))

    def table(self, columns: Sequence[Col], rows: Iterable[Sequence[Any]], header: bool = True) -> None:
        self.print(build_table(columns, rows, self.terminal, header))

    def section(self, title: str) -> None:
        """A title above the next part of the answer, after a blank line if one came before."""
        if self._printed:
            self.print()
        self.print(Text(title, style="bold"))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain table as text, as wide as its widest values (the setup commands' reports)."""
    table = build_table([Col(header) for header in headers], rows, terminal=False)
    return _plain(_plain_console(_UNBOUNDED), table)


def jsonable(value: Any) -> Any:
    """``value`` as JSON types: dataclasses as objects, times as ISO 8601, UUIDs as 32 hex digits,
    decimals as numbers, NaN and infinities (stored metric values can be) as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    for to_list in ("tolist", "to_list"):  # a vector: a numpy array, or pgvector's own classes
        if callable(getattr(value, to_list, None)):
            return jsonable(getattr(value, to_list)())
    return str(value)


def print_json(value: Any) -> None:
    """``value`` (a query's answer) as indented JSON on stdout, for scripts."""
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False))


def answer_json(answer: Any, as_json: bool, empty: bool, nothing: str) -> bool:
    """Print ``answer`` as JSON when asked (an empty one too: a script always reads valid JSON),
    then raise :class:`NothingFound` (``nothing``, exit status 1) when it is empty.

    True when the answer is printed, so the command renders no table.
    """
    if as_json:
        print_json(answer)
    if empty:
        raise NothingFound(nothing)
    return as_json


def clock(time: dt.datetime, milliseconds: bool = True) -> str:
    """A stored time in the terminal's time zone, short: ``14:03:07.123`` today, the date too
    (``2026-11-30 14:03:07``) on other days."""
    local = time.astimezone()
    if local.date() != dt.datetime.now(local.tzinfo).date():
        return local.strftime("%Y-%m-%d %H:%M:%S")
    return local.strftime("%H:%M:%S.%f")[:-3] if milliseconds else local.strftime("%H:%M:%S")


def human_bytes(count: int) -> str:
    """``count`` bytes in the largest binary unit that keeps a number of at least 1: ``43.1 MiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def one_line(text: str, width: int | None = None) -> str:
    """``text`` on one line, at most ``width`` characters (log bodies span lines)."""
    joined = " ".join(text.split())
    return joined if width is None else shorten(joined, width)


class ProgressBar:
    """A click progress bar on stderr whose length is known only with the first update."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr).__enter__()
        self._bar.update(1)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
