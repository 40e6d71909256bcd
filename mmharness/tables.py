"""Every terminal table of ``mmh`` (run summaries, ``results table``, ``leaderboard show``, the task
and adapter listings, ``adapter check``) is drawn here, with rich.

* Width: ``width`` when given (``--width N``), else the terminal's width when writing to a
  terminal, else :data:`DEFAULT_WIDTH` (100) columns. Cells wrap at spaces to fit
  (:func:`column_widths` chooses where); a word longer than its column is folded at a readable place
  (before a bracket, after ``_``, ``-``, ``/``...), never cut: no information is dropped. A table
  whose columns cannot shrink enough (more columns than 4 characters each fit) exceeds the width
  rather than lose text.
* Output is plain text (no ANSI codes) unless ``color`` is asked for; by default it is asked for
  only when standard output is a terminal (and ``NO_COLOR`` is not set).
* Layout: the header (one or more lines), a rule of ``-`` under each column, then the rows; columns
  two spaces apart, no borders, no trailing spaces.

:func:`render_table` is the one entry point for tables (callers choose between layouts with
:func:`fits` and :func:`fits_unbroken`); :func:`wrap` wraps prose (legends, notes) to the same width.
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
    """A column: its header, alignment (``left``, ``right`` or ``center``), and how readily it gives
    up width when the table is too wide: ``wrap=False`` keeps its lines whole until every other column
    is down to its longest word (e.g. names); ``fold=False`` keeps its words whole until every other
    column has been folded (e.g. the row labels)."""

    header: str
    justify: str = "left"
    wrap: bool = True
    fold: bool = True


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


def _table_width(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], measure) -> int:
    """Width of the table with each column as wide as ``measure`` of its widest cell (header included)."""
    cols = _columns(columns)
    widths = [measure(c.header) for c in cols]
    for row in rows:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], measure(_cell(v)))
    return sum(widths) + _GAP * (len(cols) - 1)


def natural_width(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]]) -> int:
    """Width of the table with no cell wrapped."""
    return _table_width(columns, rows, _cell_width)


def fits(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], width: int | None = None) -> bool:
    """Whether the table fits ``width`` (resolved as in :func:`resolve_width`) without wrapping."""
    return natural_width(columns, rows) <= resolve_width(width)


def fits_unbroken(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], width: int | None = None) -> bool:
    """Whether the table fits ``width`` with its cells wrapped at spaces only (no word folded)."""
    return _table_width(columns, rows, _widest_word) <= resolve_width(width)


def _box():
    from rich.box import Box

    # top, head, head_row, mid, row, foot_row, foot, bottom: only the rule under the header is drawn
    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


def _widest_word(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(w) for w in text.split()), default=0)


def column_widths(columns: Sequence[str | Column], rows: Sequence[Sequence[Any]], width: int) -> list[int]:
    """Content width of each column for a table at most ``width`` wide: every column as wide as its
    longest line when that fits; else columns are narrowed one step at a time, each step where it
    makes the fewest cells wrap (then the widest column), first down to each column's longest word
    (cells wrap at spaces; ``wrap=False`` columns only once the others are there), then, if that is
    still too wide, the widest columns further, folding their words (down to 4 columns; ``fold=False``
    columns only once the others are there)."""
    cols = _columns(columns)
    cells = [[c.header] + [_cell(r[i]) for r in rows] for i, c in enumerate(cols)]
    lines = [sorted(_cell_width(x) for x in col) for col in cells]
    longest_words = [sorted(_widest_word(x) for x in col) for col in cells]
    natural = [col[-1] for col in lines]
    words = [col[-1] for col in longest_words]
    room = width - _GAP * (len(cols) - 1)
    widths = list(natural)
    folded = [min(4, n) for n in natural]
    for floors, sizes, widest_first in (([w if c.wrap else n for c, w, n in zip(cols, words, natural)], lines, False),
                                        (words, lines, False),
                                        ([f if c.fold else w for c, f, w in zip(cols, folded, words)], longest_words, True),
                                        (folded, longest_words, True)):
        widths = _shrink(widths, floors, room, sizes, widest_first)
        if sum(widths) <= room:
            break
    return widths


def _shrink(widths: list[int], floors: list[int], room: int, sizes: list[list[int]],
            widest_first: bool = False) -> list[int]:
    """Narrow columns by one (never below their floor) until the widths sum to ``room`` or less: each
    time the column where that newly affects the fewest cells, then affects the fewest again, then
    the widest (``sizes``: each column's cell widths, sorted: their lines, which wrap, or their
    longest words, which fold); ``widest_first``: the widest column first (long names fold, short
    numbers stay whole)."""
    from bisect import bisect_left, bisect_right

    widths = list(widths)
    while sum(widths) > room:
        best = None
        for i, (w, f) in enumerate(zip(widths, floors)):
            if w <= f:
                continue
            col = sizes[i]
            newly = bisect_right(col, w) - bisect_left(col, w)  # cells exactly w wide: affected from now on
            already = len(col) - bisect_right(col, w)  # cells wider than w: affected already
            key = (-w, newly, already) if widest_first else (newly, already, -w)
            if best is None or key < best[0]:
                best = (key, i)
        if best is None:
            break
        widths[best[1]] -= 1
    return widths


_BREAK_AFTER = "_-/,.:;=)]"
_BREAK_BEFORE = "(["


def _fold(text: str, width: int) -> str:
    """``text`` with each word wider than ``width`` split over lines at readable places (before
    ``( [`` by preference, else after ``_ - / , . : ; = ) ]``), else every ``width`` characters."""
    from rich.cells import cell_len

    if width < 1 or _widest_word(text) <= width:
        return text
    out_lines = []
    for line in text.split("\n"):
        parts = []
        for word in line.split(" "):
            while cell_len(word) > width:
                brackets, others = [], []  # places to break: before a bracket (preferred), after a separator
                for i in range(1, len(word)):
                    if cell_len(word[:i]) > width:
                        break
                    if word[i] in _BREAK_BEFORE:
                        brackets.append(i)
                    elif word[i - 1] in _BREAK_AFTER:
                        others.append(i)
                good = [i for i in brackets if 3 * cell_len(word[:i]) >= width]
                cut = max(good) if good else max(brackets + others, default=0)
                if not cut:
                    cut = max(1, next(i for i in range(len(word), 0, -1) if cell_len(word[:i]) <= width))
                parts.append(word[:cut] + "\n")
                word = word[cut:]
            parts.append(word + " ")
        out_lines.append("".join(parts).replace(" \n", "\n").rstrip(" "))
    return "\n".join(out_lines)


def render_table(columns: Sequence[str | Column], rows: Iterable[Sequence[Any]], width: int | None = None, *,
                 color: bool | None = None) -> str:
    """The table as text at most ``width`` columns wide (see :func:`resolve_width`; widths per
    :func:`column_widths`): ``columns`` are headers (strings or :class:`Column`), ``rows`` sequences
    of cells (``None`` = empty; a cell may hold several lines). Plain text unless ``color``
    (default: :func:`use_color`)."""
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
    widths = column_widths(cols, rows, w)
    table = Table(box=_box(), show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), collapse_padding=False,
                  header_style="bold" if color else "", show_header=True, expand=False)
    for c, cw in zip(cols, widths):
        table.add_column(Text(_fold(c.header, cw)), justify=c.justify, overflow="fold", no_wrap=False, width=cw)
    for r in rows:
        table.add_row(*[Text(_fold(v, cw)) for v, cw in zip(r, widths)])
    total = sum(widths) + _GAP * (len(cols) - 1)
    console = Console(width=max(w, total), color_system="standard" if color else None, force_terminal=color,
                      no_color=not color, highlight=False, markup=False, emoji=False, soft_wrap=False,
                      legacy_windows=False, file=_Null())
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
