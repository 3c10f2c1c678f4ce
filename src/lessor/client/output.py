"""How listings and records read: aligned columns at any width and in a pipe, plurals, times.

A listing is plain aligned text, one row per line: names and addresses are
never cut, and the last column holds the free text (a message, why a
ticket waits). In a terminal too narrow for a row, that text continues on
the next lines, wrapped at words; in a pipe nothing is wrapped, so `grep`
and `awk` see whole rows. Empty cells are `-`.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime

import click

GAP = "  "
MIN_FREE = 24
"""Narrower than this, the last column goes below its row instead of beside it."""
BELOW = 4
"""Indent of a last column put below its row."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 pool`, `2 pools`."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def one_line(text: str | None) -> str:
    """Text for a cell: without cmd_new's trailing newline, inner line breaks shown as `\\n`."""
    return (text or "").rstrip().replace("\r", "").replace("\n", "\\n")


def when(t: datetime | None, now: datetime | None = None) -> str:
    """A time in local time with its zone, and how long ago or ahead it is."""
    if t is None:
        return "-"
    local = t.astimezone()
    seconds = ((now or datetime.now(UTC)) - t).total_seconds()
    relative = f"{age(seconds)} ago" if seconds >= 0 else f"in {age(-seconds)}"
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({relative})"


def age(seconds: float) -> str:
    """A duration in one unit, rounded down, never fewer than two of it: 90s, 12m, 30h, 5d."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 120 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def since(t: datetime | None, now: datetime | None = None) -> str:
    """How long ago, for a column."""
    if t is None:
        return "-"
    return age(((now or datetime.now(UTC)) - t).total_seconds())


def terminal_width() -> int | None:
    """The width to wrap to: the terminal's, or none in a pipe or file."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """The lines of an aligned table; see the module's docstring for the rules."""
    cells = [list(header)] + [[c or "-" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = []
    for row in cells:
        fixed = GAP.join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        start = len(fixed) + len(GAP)
        last = row[-1]
        if width is None or start + len(last) <= width:
            lines.append(f"{fixed}{GAP}{last}".rstrip())
        elif width - start >= MIN_FREE:
            wrapped = _wrap(last, width - start)
            lines.append(f"{fixed}{GAP}{wrapped[0]}")
            lines += [" " * start + piece for piece in wrapped[1:]]
        else:
            lines.append(fixed.rstrip())
            lines += [" " * BELOW + piece for piece in _wrap(last, max(width - BELOW, MIN_FREE))]
    return lines


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    """The table on stdout, or (no rows) `empty` on stderr: a pipe gets no lines at all."""
    if not rows:
        click.echo(empty, err=True)
        return
    for line in table(header, rows, terminal_width()):
        click.echo(line)


def record(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """A thing's fields, one per line: name, then its value (several lines indented)."""
    width = max(len(name) for name, _ in pairs)
    lines = []
    for name, value in pairs:
        first, *more = (value or "-").splitlines() or ["-"]
        lines.append(f"{name.ljust(width)}{GAP}{first}")
        lines += [" " * (width + len(GAP)) + line for line in more]
    return lines
