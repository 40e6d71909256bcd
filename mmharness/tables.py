"""Every terminal table of ``mmh`` (run summaries, ``results table``, ``leaderboard show``, the task
and adapter listings, ``adapter check``) is drawn here, with rich.

* Width: ``width`` when given (``--width N``), else the terminal's width when writing to a
  terminal, else :data:`DEFAULT_WIDTH` (100) columns. Cells wrap at spaces to fit; a word longer than
  its column is folded, never cut: no information is dropped. Tables whose columns cannot shrink
  enough (many columns in a narrow width) may still exceed it rather than lose text.
* Output is plain text (no ANSI codes) unless ``color`` is asked for; by default it is asked for
  only when standard output is a terminal (and ``NO_COLOR`` is not set).
* Layout: a header line, a rule of ``-`` under each column, then the rows; columns two spaces apart,
  no borders, no trailing spaces.

:func:`render_table` is the one entry point for tables; :func:`wrap` wraps prose (legends, notes) to
the same width.
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

#: width used when no width is given and the output is not a terminal
DEFAULT_WIDTH = 100
_GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Column:
    """A column: its header, alignment (``left``, ``right`` or ``center``) and whether its cells may
    wrap at spaces (``wrap=False``: kept on one line as long as the width allows, e.g. names)."""

    header: str
    justify: str = "left"
    wrap: bool = True


def terminal_width(stream: Any = None) -> int | None:
    """Columns of the terminal ``stream`` (default: standard output) writes to; None when it is not
    a terminal or its size is unknown."""
    stream = sys.stdout if stream is None else stream
    try:
        if not stream.isatty():
            return None
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return None
    return cols if cols > 0 else None


def resolve_width(width: int | None = None, stream: Any = None) -> int:
    """The width to render for: ``width`` when given, else the terminal's width when ``stream``
    (default: standard output) is a terminal, else :data:`DEFAULT_WIDTH`."""
    if width is not None:
        if width < 20:
            raise ValueError(f"width {width}: expected at least 20 columns")
        return int(width)
    return terminal_width(stream) or DEFAULT_WIDTH


def use_color(stream: Any = None) -> bool:
    """Styles only when writing to a terminal that accepts them (``NO_COLOR`` unset, ``TERM`` not dumb)."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _columns(columns: Sequence[str | Column]) -> list[Column]:
    return [c if isinstance(c, Column) else Column(str(c)) for c in columns]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def natural_width(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]]) -> int:
    """Width of the table with no cell wrapped."""
    cols = _columns(columns)
    widths = [_cell_width(c.header) for c in cols]
    for row in rows:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], _cell_width(_cell(v)))
    return sum(widths) + _GAP * (len(cols) - 1)


def fits(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], width: int | None = None) -> bool:
    """Whether the table fits ``width`` (resolved as in :func:`resolve_width`) without wrapping."""
    return natural_width(columns, rows) <= resolve_width(width)


def _box():
    from rich.box import Box

    # top, head, head_row, mid, row, foot_row, foot, bottom: only the rule under the header is drawn
    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


def render_table(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], width: int | None = None, *,
                 color: bool | None = None) -> str:
    """The table as text at most ``width`` columns wide (see :func:`resolve_width`): ``columns`` are
    headers (strings or :class:`Column`), ``rows`` sequences of cells (``None`` = empty; a cell may
    hold several lines). Plain text unless ``color`` (default: :func:`use_color`)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cols = _columns(columns)
    rows = [[_cell(v) for v in r] for r in rows]
    for r in rows:
        if len(r) != len(cols):
            raise ValueError(f"row {r!r} has {len(r)} cells for {len(cols)} columns")
    w = resolve_width(width)
    color = use_color() if color is None else color
    table = Table(box=_box(), show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), collapse_padding=False,
                  header_style="bold" if color else "", show_header=True, expand=False)
    for c in cols:
        table.add_column(Text(c.header), justify=c.justify, overflow="fold", no_wrap=False)
    for r in rows:
        table.add_row(*[Text(v) for v in r])
    # no-wrap columns: as wide as their longest line, as long as the width allows
    natural = [max([_cell_width(c.header)] + [_cell_width(r[i]) for r in rows]) for i, c in enumerate(cols)]
    rigid = sum(n for n, c in zip(natural, cols) if not c.wrap) + _GAP * (len(cols) - 1)
    keep = rigid + 4 * sum(c.wrap for c in cols) <= w  # room left for the wrapping columns
    for n, c, rc in zip(natural, cols, table.columns):
        if not c.wrap and keep:
            rc.no_wrap, rc.min_width = True, n
    console = Console(width=w, color_system="standard" if color else None, force_terminal=color,
                      no_color=not color, highlight=False, markup=False, emoji=False, soft_wrap=False,
                      legacy_windows=False, record=False, file=_Null())
    with console.capture() as cap:
        console.print(table)
    lines = [line.rstrip() for line in cap.get().split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def wrap(text: str, width: int | None = None, indent: str = "", subsequent_indent: str | None = None) -> str:
    """Prose wrapped at spaces to ``width`` (see :func:`resolve_width`); words (paths, names) are never
    broken, so a word longer than the width stays whole on its own line. Each paragraph (line of
    ``text``) is wrapped on its own."""
    w = resolve_width(width)
    sub = indent if subsequent_indent is None else subsequent_indent
    out = []
    for para in text.split("\n"):
        if not para.strip():
            out.append("")
            continue
        out += textwrap.wrap(para, w, initial_indent=indent, subsequent_indent=sub, break_long_words=False,
                             break_on_hyphens=False) or [indent.rstrip()]
    return "\n".join(out)


class _Null:
    """A file that discards what is written (the console only captures)."""

    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
