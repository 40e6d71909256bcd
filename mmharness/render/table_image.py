"""Render a TableBench table to an image in the style of PixelWorld's ``render_table_image``.

The official code (``pixel_world/image_generate.py``) builds a pandas ``Styler`` and screenshots it
with ``dataframe_image`` through headless Chrome. That toolchain is not reproduced here (it needs a
browser); this module draws the same table with Pillow, following the same styling rules, so the
layout matches in structure but **not pixel for pixel** (browser font rasterisation, default font):

* the DataFrame is ``[columns] + data`` under numeric column names, which are hidden; the row
  index (0 for the original header row, then 1, 2, ...) stays as a first column of ``th`` cells;
* every cell has a 1 px solid black border (collapsed: one line between two cells); font 12 px;
* data cells (``td``): padding 2 px (vertical) x 6 px (horizontal); the first row (the original
  column names) is bold;
* index cells (``th``): bold, background ``#ddd``, centred, padding 9 px (vertical) x 8 px;
* the Jupyter-like stylesheet ``dataframe_image`` adds right-aligns the data cells, centres every
  cell vertically and shades the odd body rows (1st, 3rd, ...) ``#f5f5f5``;
* values are shown as the ``Styler`` shows them: floats with 6 decimals (``1.500000``), missing
  values as ``nan``, other values with ``str``; HTML collapses runs of white space (newlines
  included) to one space;
* no margin around the table (``dataframe_image`` crops to it).

Calibrated against the real TableBench rendering of the project page
(``fixtures/pixelworld/example_input_2_downscaled.png``, 0.8x): a Helvetica-like sans-serif face,
rows about 32 px apart and an index column about 31 px wide at full scale for a two-digit index,
which 12 px text in 9 x 8 px ``th`` padding reproduces; the index is centred there.

Font: FreeSans / FreeSans Bold (GNU FreeFont, Debian package ``fonts-freefont-ttf``, the face of
the text renderer), or Pillow's built-in font with ``font="builtin"`` (bold drawn by a 1 px double
strike). Deterministic: no randomness here (the canvas around the table, in
:class:`RenderedTable`, is seeded).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .text_image import FREESANS_PATHS, RenderError, load_font, render_text_image, resolve_font

FONT_SIZE = 12
TD_PAD = (2, 6)  # (vertical, horizontal) px
TH_PAD = (9, 8)  # (vertical, horizontal) px, calibrated (see the module docstring)
BORDER = 1
TH_BACKGROUND = (0xDD, 0xDD, 0xDD)
ODD_ROW_BACKGROUND = (0xF5, 0xF5, 0xF5)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
FONT_NAMES = ("FreeSans.ttf", "FreeSansBold.ttf")


def resolve_table_fonts(font: str | None = None) -> tuple[str, str]:
    """(regular, bold) font files: FreeSans and FreeSans Bold from a folder of
    :data:`FREESANS_PATHS`, or ``("builtin", "builtin")``; ``font`` may also name a font file
    (used for bold too)."""
    if font not in (None, "", "freesans"):
        one = resolve_font(font)  # "builtin" or a font file that exists
        return one, one
    for p in FREESANS_PATHS:
        d = Path(p).parent
        reg, bold = d / FONT_NAMES[0], d / FONT_NAMES[1]
        if reg.is_file() and bold.is_file():
            return str(reg), str(bold)
    raise RenderError(
        "FreeSans and FreeSans Bold (GNU FreeFont) were not found together in "
        f"{', '.join(str(Path(p).parent) for p in FREESANS_PATHS[:2])}. Install them (Debian/Ubuntu: "
        "`apt-get install fonts-freefont-ttf`) or use font=builtin.")


def cell_text(value: Any) -> str:
    """How the pandas ``Styler`` (default formatter, precision 6) and HTML show one value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return " ".join(str(value).split())


def table_cells(table: dict) -> list[list[str]]:
    """The displayed grid: one row per DataFrame row, index first (row 0 = the column names)."""
    columns = list(table["columns"])
    rows = [columns] + [list(r) for r in table["data"]]
    n = len(columns)
    out = []
    for i, row in enumerate(rows):
        if len(row) > n:
            raise RenderError(f"table row {i - 1} has {len(row)} values for {n} columns")
        row = row + [None] * (n - len(row))  # pandas pads short rows with missing values
        out.append([str(i)] + [cell_text(v) for v in row])
    return out


@dataclass(frozen=True)
class TableLayout:
    """Geometry of a rendered table (pixels): column widths and row heights include padding,
    not borders."""

    col_widths: tuple[int, ...]
    row_heights: tuple[int, ...]
    line_height: int

    @property
    def size(self) -> tuple[int, int]:
        return (sum(self.col_widths) + BORDER * (len(self.col_widths) + 1),
                sum(self.row_heights) + BORDER * (len(self.row_heights) + 1))


def render_table_image(table: dict, *, font: str | None = None):
    """The table as an RGB ``PIL.Image`` (see the module docstring); returns ``(image, layout)``."""
    from PIL import Image, ImageDraw

    cells = table_cells(table)
    regular_path, bold_path = resolve_table_fonts(font)
    regular, bold = load_font(regular_path, FONT_SIZE), load_font(bold_path, FONT_SIZE)
    fake_bold = bold_path == "builtin"
    ascent, descent = regular.getmetrics()
    line_h = ascent + descent

    def is_bold(r: int, c: int) -> bool:
        return c == 0 or r == 0

    def text_w(r: int, c: int) -> int:
        f = bold if is_bold(r, c) else regular
        return int(math.ceil(f.getlength(cells[r][c]))) + (1 if fake_bold and is_bold(r, c) else 0)

    n_rows, n_cols = len(cells), len(cells[0])
    pad = [TH_PAD if c == 0 else TD_PAD for c in range(n_cols)]
    col_w = tuple(max(text_w(r, c) for r in range(n_rows)) + 2 * pad[c][1] for c in range(n_cols))
    row_h = tuple(max(line_h + 2 * pad[c][0] for c in range(n_cols)) for _ in range(n_rows))
    layout = TableLayout(col_w, row_h, line_h)
    image = Image.new("RGB", layout.size, WHITE)
    draw = ImageDraw.Draw(image)
    y = BORDER
    for r in range(n_rows):
        x = BORDER
        for c in range(n_cols):
            w, h = col_w[c], row_h[r]
            bg = TH_BACKGROUND if c == 0 else (ODD_ROW_BACKGROUND if r % 2 == 0 else WHITE)
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=bg)
            f = bold if is_bold(r, c) else regular
            tx = x + (w - text_w(r, c)) // 2 if c == 0 else x + w - pad[c][1] - text_w(r, c)
            ty = y + (h - line_h) // 2  # vertically centred
            draw.text((tx, ty), cells[r][c], fill=BLACK, font=f)
            if fake_bold and is_bold(r, c):
                draw.text((tx + 1, ty), cells[r][c], fill=BLACK, font=f)
            x += w + BORDER
        y += row_h[r] + BORDER
    # borders: one 1 px line between (and around) all cells
    xs = [0]
    for w in col_w:
        xs.append(xs[-1] + w + BORDER)
    ys = [0]
    for h in row_h:
        ys.append(ys[-1] + h + BORDER)
    for x in xs:
        draw.line([(x, 0), (x, layout.size[1] - 1)], fill=BLACK, width=1)
    for y in ys:
        draw.line([(0, y), (layout.size[0] - 1, y)], fill=BLACK, width=1)
    return image, layout


@dataclass(frozen=True)
class RenderedTable:
    """A :class:`~mmharness.requests.MediaRef`: ``text`` rendered by
    :func:`~mmharness.render.text_image.render_text_image` (seeded canvas, font, noise) with the
    table image of ``table_json`` pasted at its ``<img>`` placeholder.

    ``text="<img>"`` is PixelWorld's ``semi`` image (the table alone on a noisy canvas);
    the full ``img`` prompt with ``<img>`` in it is its TableBench ``img`` image.
    """

    text: str
    table_json: str
    seed: int
    preset: str = "random"
    font: str | None = None
    table_font: str | None = None
    name: str = "rendered table"
    modality: str = "image"

    def load(self):
        from ..requests import MediaDecodeError

        try:
            table_img, _ = render_table_image(json.loads(self.table_json), font=self.table_font)
            return render_text_image(self.text, seed=self.seed, preset=self.preset, font=self.font,
                                     embed=table_img)[0]
        except (RenderError, ValueError, KeyError, TypeError) as e:
            raise MediaDecodeError(f"{self.describe()}: {e}") from e

    def describe(self) -> str:
        return f"{self.name} (table rendered, seed {self.seed}, preset {self.preset})"
