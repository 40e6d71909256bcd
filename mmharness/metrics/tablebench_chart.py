"""TableBench Visualization: read a matplotlib chart's data and compare it with ``y_references``.

Two official evaluators exist and both are reproduced here (behaviour, not code):

* **TableBench** (https://github.com/TableBench/TableBench, ``chat_metric_utils.py``): the chart
  type of the question picks the accessor of the current axes (``plt.gca()``):

  ========== ==================================================================================
  line       ``[list(l.get_ydata()) for l in ax.get_lines()]``
  radar      the same, each list without its last (closing) point
  bar        ``[p.get_height() for p in ax.patches]`` (``waterfall`` alike)
  hbar       ``[p.get_width() for p in ax.patches]``
  pie        ``[round((p.theta2 - p.theta1) / 360, 2) for p in ax.patches]``
  area       per collection, the non-zero y values of the vertices of its first path
  scatter    per collection, the y of its offsets
  ========== ==================================================================================

  then :func:`compute_general_chart_metric` (or :func:`compute_pie_chart_metric`, which first
  turns the references into shares of their sum): both sides are flattened one level (only
  ``list`` items are expanded), rounded to 2 decimals, **sorted**, and must be equal element by
  element (NaN equals NaN); different lengths fail.
* **PixelWorld** (https://github.com/TIGER-AI-Lab/PixelWorld, ``utils/TableBench_script.py``,
  which produced PixelWorld's TableBench numbers): whatever the chart type, the bar heights of the
  current axes (:func:`pw_bar_heights`) are compared **in order** with ``y_references[0]`` with an
  absolute tolerance of 0.01 (:func:`pw_compare_arrays`).

Everything here is pure (numpy only; the accessors take the ``pyplot`` module or anything with a
``gca()``). The harness runs this module's source **inside the code sandbox**, where it stands in
for TableBench's ``chat_metric_utils`` module (the evaluation code there does ``from
chat_metric_utils import *``; ``__all__`` lists what that import brings, as the original's public
names). Floating-point types are kept as the chart returns them (``round`` of a NumPy scalar stays
a NumPy scalar), as in the originals.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "np", "compare", "std_digit", "compute_general_chart_metric", "compute_pie_chart_metric",
    "get_line_y_predictions", "get_bar_y_predictions", "get_hbar_y_predictions", "get_pie_y_predictions",
    "get_area_y_predictions", "get_radar_y_predictions", "get_scatter_y_predictions",
    "get_waterfall_y_predictions",
]

#: chart types TableBench's evaluation code knows (others leave ``y_predictions`` undefined)
CHART_TYPES = ("line", "bar", "hbar", "pie", "area", "radar", "scatter", "waterfall")
#: PixelWorld's absolute tolerance per value
PW_TOLERANCE = 1e-2


# --------------------------------------------------------------------------- TableBench comparison


def _flatten_one_level(values) -> list:
    """Items of ``values``; items that are ``list`` objects are expanded (one level only)."""
    out: list = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def compare(a: list, b: list) -> bool:
    """TableBench ``compare``: sort both lists **in place**, then equal lengths and equal items
    (an item that is NaN must face a NaN)."""
    a.sort()
    b.sort()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if np.isnan(x):
            if not np.isnan(y):
                return False
        elif x != y:
            return False
    return True


def std_digit(values) -> list:
    """Every value rounded to 2 decimals with Python's ``round`` (types kept)."""
    return [round(v, 2) for v in values]


def compute_general_chart_metric(references, predictions) -> bool:
    """TableBench metric for every chart type but pie (see the module docstring)."""
    refs = std_digit(_flatten_one_level(references))
    preds = std_digit(_flatten_one_level(predictions))
    return compare(refs, preds)


def compute_pie_chart_metric(references, predictions) -> bool:
    """TableBench pie metric: references become their shares of the total (rounded to 2 decimals)."""
    flat = _flatten_one_level(references)
    total = 0
    for r in flat:
        total += r
    refs = std_digit([round(r / total, 2) for r in flat])
    preds = std_digit(_flatten_one_level(predictions))
    return compare(refs, preds)


# --------------------------------------------------------------------------- TableBench accessors


def get_line_y_predictions(plt) -> list:
    """y data of every line of the current axes (one list per line)."""
    return [list(line.get_ydata()) for line in plt.gca().get_lines()]


def get_bar_y_predictions(plt) -> list:
    """Height of every patch of the current axes."""
    return [patch.get_height() for patch in plt.gca().patches]


def get_hbar_y_predictions(plt) -> list:
    """Width of every patch of the current axes (horizontal bars)."""
    return [patch.get_width() for patch in plt.gca().patches]


def get_pie_y_predictions(plt) -> list:
    """Angular share of every wedge, ``round((theta2 - theta1) / 360, 2)``."""
    return [round((p.theta2 - p.theta1) / 360.0, 2) for p in plt.gca().patches]


def get_area_y_predictions(plt) -> list:
    """Per collection, the non-zero y of the vertices of its first path."""
    out = []
    for coll in plt.gca().collections:
        out.append([y for y in coll.get_paths()[0].vertices[:, 1] if y != 0])
    return out


def get_radar_y_predictions(plt) -> list:
    """Line y data without the closing point (radar charts repeat the first point at the end)."""
    return [list(line.get_ydata())[:-1] for line in plt.gca().get_lines()]


def get_scatter_y_predictions(plt) -> list:
    """Per collection, the y coordinate of each offset."""
    return [[off[1] for off in coll.get_offsets()] for coll in plt.gca().collections]


def get_waterfall_y_predictions(plt) -> list:
    """Height of every patch (waterfall charts are drawn as bars)."""
    return [patch.get_height() for patch in plt.gca().patches]


#: chart type -> accessor (the dispatch of TableBench's evaluation code)
ACCESSORS = {"line": get_line_y_predictions, "bar": get_bar_y_predictions, "hbar": get_hbar_y_predictions,
             "pie": get_pie_y_predictions, "area": get_area_y_predictions, "radar": get_radar_y_predictions,
             "scatter": get_scatter_y_predictions, "waterfall": get_waterfall_y_predictions}


def tablebench_chart_passes(plt, chart_type: str, y_references) -> bool:
    """The TableBench verdict for the current axes (raises where the original raises: an unknown
    chart type, or data the comparison cannot round or sort)."""
    if chart_type not in ACCESSORS:
        raise NameError(f"chart type {chart_type!r} is not one of {CHART_TYPES} (y_predictions undefined)")
    preds = ACCESSORS[chart_type](plt)
    if chart_type == "pie":
        return compute_pie_chart_metric(y_references, preds)
    return compute_general_chart_metric(y_references, preds)


# --------------------------------------------------------------------------- PixelWorld


def pw_bar_heights(plt) -> list:
    """PixelWorld's ``get_bar_y_predictions``: heights of the patches of the current axes."""
    return [patch.get_height() for patch in plt.gca().patches]


def pw_compare_arrays(ref, pred, tol: float = PW_TOLERANCE) -> bool:
    """PixelWorld's ``compare_arrays``: same length and ``abs(r - p) <= tol`` for every pair, in
    order (``abs(nan) > tol`` is False, so a NaN never fails a pair)."""
    if len(ref) != len(pred):
        return False
    for r, p in zip(ref, pred):
        if abs(r - p) > tol:
            return False
    return True


def pixelworld_chart_passes(plt, y_references) -> bool:
    """The PixelWorld verdict: the bar heights equal ``y_references[0]`` (False for empty
    references; raises where the original's ``try`` block would catch)."""
    pred = pw_bar_heights(plt)
    if y_references and len(y_references) > 0:
        return pw_compare_arrays(y_references[0], pred)
    return False


def write_table_csv(table: dict, path: str = "table.csv") -> None:
    """Both evaluators' ``table.csv``: one dict per row (``dict(zip(columns, row))``, so repeated
    column names keep their last value) through ``pandas.DataFrame(...).to_csv(index=False)``."""
    import pandas as pd

    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    pd.DataFrame(rows).to_csv(path, index=False)
