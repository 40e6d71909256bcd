"""The TableBench table renderer: Styler-like cell text, the dataframe_image styling rules, the
geometry of a real official rendering, and the semi canvas around the table."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.render.table_image import (
    BORDER,
    ODD_ROW_BACKGROUND,
    TD_PAD,
    TH_BACKGROUND,
    RenderedTable,
    cell_text,
    render_table_image,
    resolve_table_fonts,
    table_cells,
)
from mmharness.render.text_image import FREESANS_PATHS, RenderError, render_text_image

TABLE = {"columns": ["city", "population", "area"], "data": [["Avon", 1200, 3.5], ["Brill", 5400, 7.1],
                                                              ["Cove", 800, None]]}


def _lines(layout):
    xs, ys = [0], [0]
    for w in layout.col_widths:
        xs.append(xs[-1] + w + BORDER)
    for h in layout.row_heights:
        ys.append(ys[-1] + h + BORDER)
    return xs, ys


def _dark_lines(profile, depth=25):
    """Indices where a mean-brightness profile dips ``depth`` below both neighbours 2 px away (grid lines)."""
    return [i for i in range(2, len(profile) - 2)
            if profile[i] < profile[i - 2] - depth and profile[i] < profile[i + 2] - depth]


def test_cell_text_is_what_the_styler_shows():
    assert [cell_text(v) for v in (3.5, 7, None, float("nan"), True, "76\n(24)", "a  b")] == \
        ["3.500000", "7", "nan", "nan", "True", "76 (24)", "a b"]
    cells = table_cells({"columns": ["a", "b"], "data": [[1, 2.25], [3]]})
    assert cells == [["0", "a", "b"], ["1", "1", "2.250000"], ["2", "3", "nan"]]  # index column; short rows padded
    with pytest.raises(RenderError, match="row 0 has 3 values for 2 columns"):
        table_cells({"columns": ["a", "b"], "data": [[1, 2, 3]]})


def test_grid_backgrounds_bold_header_and_alignment():
    img, lay = render_table_image(TABLE, font="builtin")
    a = np.asarray(img)
    xs, ys = _lines(lay)
    assert img.size == lay.size == (xs[-1] + 1, ys[-1] + 1)
    for x in xs:  # 1 px black borders around every cell
        assert (a[:, x] == 0).all()
    for y in ys:
        assert (a[y, :] == 0).all()
    assert len(lay.row_heights) == 4 and len(lay.col_widths) == 4  # header row + 3 rows; index + 3 columns
    # index cells: grey #ddd; body rows 1st, 3rd (the column-name row and row 2) shaded #f5f5f5, others white
    assert tuple(a[ys[1] + 2, xs[0] + 2]) == TH_BACKGROUND
    assert tuple(a[ys[0] + 2, xs[1] + 2]) == ODD_ROW_BACKGROUND and tuple(a[ys[2] + 2, xs[1] + 2]) == ODD_ROW_BACKGROUND
    assert tuple(a[ys[1] + 2, xs[1] + 2]) == (255, 255, 255)
    # data cells right-aligned inside 6 px of padding
    ink = np.where((a[ys[1] + 1:ys[2], xs[2] + 1:xs[3]] < 128).all(axis=2).any(axis=0))[0]
    assert ink.max() == lay.col_widths[2] - TD_PAD[1] - 1
    # the column-name row is bold: "city" has more ink there than the same word in a regular cell
    bold_img, bold_lay = render_table_image({"columns": ["city"], "data": [["city"]]}, font="builtin")
    b = np.asarray(bold_img.convert("L")) < 128
    bx, by = _lines(bold_lay)
    assert b[by[0] + 1:by[1], bx[1] + 1:bx[2]].sum() > b[by[1] + 1:by[2], bx[1] + 1:bx[2]].sum()


def test_geometry_matches_a_real_official_rendering(fixtures_dir):
    """The project page's TableBench example (dataframe_image + Chrome, 0.8x): same row pitch and, up to
    font metrics, the same column boundaries."""
    assert any(Path(p).is_file() for p in FREESANS_PATHS), "FreeSans missing: run tools/ensure_system_packages.sh"
    cols = ["Unnamed: 0", "airdate", "episode", "rating", "share", "rating / share (1849)", "viewers (millions)",
            "rank (timeslot)", "rank (night)"]
    episodes = ["nanna is kickin' your butt", "when the cow kicked me in the head", "run like scalded dogs!",
                "we are no longer in the bible belt", "i think we 're fighting the germans , right", "cathy drone",
                "anonymous", "you 're like jason bourne , right", "dumb did us in",
                "i feel like i'm in , like , sicily",
                "they don't even understand their own language"]
    dates = ["february 14 , 2010", "february 21 , 2010", "february 28 , 2010", "march 7 , 2010", "march 14 , 2010",
             "march 21 , 2010", "march 28 , 2010", "april 4 , 2010", "april 11 , 2010", "april 25 , 2010",
             "may 2 , 2010"]
    rating = [5.1, 5.2, 5.8, 4.5, 5.8, 6.9, 7.2, 5.2, 6.9, 6.3, 6.0]
    share = [8, 8, 9, 7, 10, 11, 11, 9, 11, 10, 10]
    rs = ["2.8 / 7", "2.9 / 7", "3.2 / 8", "2.6 / 7", "3.0 / 9", "3.8 / 9", "3.9 / 10", "2.7 / 8", "3.4 / 10",
          "3.2 / 9", "3.0 / 9"]
    viewers = [9.07, 9.11, 10.24, 8.05, 10.1, 11.99, 12.73, 9.14, 11.88, 10.69, 10.29]
    slot = [1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    night = [1, 1, 4, 4, 3, 4, 3, 3, 3, 3, 3]
    data = [[i + 1, dates[i], episodes[i], rating[i], share[i], rs[i], viewers[i], slot[i], night[i]]
            for i in range(11)]
    _, lay = render_table_image({"columns": cols, "data": data})
    xs, ys = _lines(lay)
    real = np.asarray(Image.open(fixtures_dir / "pixelworld" / "example_input_2_table_crop.png"), dtype=float)
    rows = _dark_lines(real[:, 15:800].mean(axis=1))
    cols_real = _dark_lines(real.mean(axis=0))
    top, left = rows[0], cols_real[0]
    for y in ys[:-1]:  # every horizontal line of ours lies on one of the real table (0.8x), within 1.5 px
        assert min(abs(top + 0.8 * y - r) for r in rows) <= 1.5, y
    for x in xs:  # column boundaries within 6 px (Chrome's sans-serif vs FreeSans widths)
        assert min(abs(left + 0.8 * x - c) for c in cols_real) <= 6, x


def test_semi_canvas_places_the_table_as_the_official_generate_image_does():
    table_img, lay = render_table_image(TABLE, font="builtin")
    ew, eh = table_img.size
    img, p = render_text_image("<img>", seed=5, preset="random", font="builtin", embed=table_img)
    assert p.n_lines == 0 and img.size == (p.width, max(256, eh + 2 * p.padding))
    x = p.padding if ew >= p.width - 2 * p.padding else (p.width - ew) // 2
    assert np.array_equal(np.asarray(img)[p.padding:p.padding + eh, x:x + ew], np.asarray(table_img))
    assert len(np.unique(np.asarray(img)[:p.padding])) > 10  # noisy canvas around it (random preset)
    # a table wider than the canvas widens it: width = ew * U(1, 1.2) + 2 * padding
    wide = {"columns": [f"column number {i}" for i in range(14)], "data": [list(range(14))]}
    wide_img, _ = render_table_image(wide, font="builtin")
    big, q = render_text_image("<img>", seed=5, preset="random", font="builtin", embed=wide_img)
    assert wide_img.size[0] + 2 * q.padding <= q.width <= int(wide_img.size[0] * 1.2) + 2 * q.padding
    ref = RenderedTable("<img>", json.dumps(TABLE), seed=5, font="builtin", table_font="builtin", name="item 1")
    assert np.array_equal(np.asarray(ref.load()), np.asarray(img)) and "item 1" in ref.describe()


def test_fonts_and_bad_tables_fail_clearly(tmp_path):
    assert resolve_table_fonts("builtin") == ("builtin", "builtin")
    with pytest.raises(RenderError, match="not found"):
        resolve_table_fonts("/nonexistent/font.ttf")
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    assert resolve_table_fonts(str(not_a_font)) == (str(not_a_font), str(not_a_font))  # one file for both
    with pytest.raises(RenderError, match=r"cannot load font .*notes\.ttf"):
        render_table_image(TABLE, font=str(not_a_font))
    from mmharness.requests import MediaDecodeError

    with pytest.raises(MediaDecodeError, match="item 9 .*'columns'"):
        RenderedTable("<img>", json.dumps({"rows": []}), seed=0, font="builtin", table_font="builtin",
                      name="item 9").load()
