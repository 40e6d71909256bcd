"""PixelWorld plot: the same items as text tokens vs rendered as pixels, per dataset and model.

Applies to tasks named ``pixelworld`` or ``pixelworld_*``; all of them go into one plot (one row
per dataset and model: a segment from the text score to the pixel score). A task contributes
scores per input mode from, in this order:

1. a table among ``per_dataset``, ``by_dataset``, ``modes``, ``per_mode``, ``text_vs_img``,
   ``scores`` shaped ``{dataset: {"text": x, "img": y}}``, ``[{"dataset": d, "text": x, "img": y}]``
   or ``{"text": {dataset: x}, "img": {dataset: y}}`` (or ``{"text": x, "img": y}`` for a task that
   is one dataset);
2. otherwise metrics named ``<m>_text`` and ``<m>_img`` (category = the task name).

The pixel mode may be called ``img``, ``image``, ``pixel``, ``pixels`` or ``peap``; values may be
numbers or records with ``score``/``accuracy``/``value``. Draws nothing when no task has both modes.
"""

from __future__ import annotations

from typing import Any

from . import PlotCell, register_plot
from ._extract import NAME_KEYS, first_table, number, record_value

TABLE_KEYS = ("per_dataset", "by_dataset", "modes", "per_mode", "text_vs_img", "scores")
TEXT_KEYS = ("text", "token", "tokens")
PIXEL_KEYS = ("img", "image", "pixel", "pixels", "peap")


def is_pixelworld(task: str) -> bool:
    """Whether ``task`` belongs to the PixelWorld family."""
    return task == "pixelworld" or task.startswith("pixelworld_")


def _pair(rec: Any) -> tuple[float, float] | None:
    if not isinstance(rec, dict):
        return None
    t = next((record_value(rec[k]) for k in TEXT_KEYS if k in rec), None)
    p = next((record_value(rec[k]) for k in PIXEL_KEYS if k in rec), None)
    return (t, p) if t is not None and p is not None else None


def mode_pairs(task: str, tables: dict, metrics: dict) -> dict[str, tuple[float, float]]:
    """``{dataset: (text score, pixel score)}`` of one cell (empty when it has no such data)."""
    obj = first_table(tables or {}, TABLE_KEYS)
    out: dict[str, tuple[float, float]] = {}
    if isinstance(obj, dict):
        whole = _pair(obj)
        tk = next((k for k in TEXT_KEYS if isinstance(obj.get(k), dict)), None)
        pk = next((k for k in PIXEL_KEYS if isinstance(obj.get(k), dict)), None)
        if tk and pk:  # {"text": {dataset: x}, "img": {dataset: y}}
            for d, v in obj[tk].items():
                t, p = record_value(v), record_value(obj[pk].get(d))
                if t is not None and p is not None:
                    out[str(d)] = (t, p)
        elif whole is not None:
            out[task] = whole
        else:
            for d, rec in obj.items():
                pr = _pair(rec)
                if pr is not None:
                    out[str(d)] = pr
    elif isinstance(obj, list):
        for rec in obj:
            pr = _pair(rec)
            name = next((rec[k] for k in NAME_KEYS if isinstance(rec, dict) and k in rec), None)
            if pr is not None and name is not None:
                out[str(name)] = pr
    if not out:
        for m, v in (metrics or {}).items():
            if m.endswith("_text"):
                base = m[: -len("_text")]
                p = next((metrics.get(f"{base}_{k}") for k in PIXEL_KEYS if f"{base}_{k}" in metrics), None)
                t, p = number(v), number(p)
                if t is not None and p is not None:
                    out[task if base in ("", "score") else f"{task} {base}"] = (t, p)
    return out


@register_plot("pixelworld")
def pixelworld_plots(cells: list[PlotCell]) -> list[dict]:
    """One dumbbell plot (text -> pixels) over every PixelWorld task that reports both modes."""
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    labels: dict[str, str] = {}
    tasks: list[str] = []
    for c in cells:
        if not is_pixelworld(c.task):
            continue
        pairs = mode_pairs(c.task, c.tables, c.metrics)
        if not pairs:
            continue
        if c.task not in tasks:
            tasks.append(c.task)
        labels[c.model] = c.label
        several = sum(1 for x in cells if x.task != c.task and is_pixelworld(x.task)) > 0
        for d, pr in pairs.items():
            cat = d if (d == c.task or not several or d.startswith(c.task)) else f"{c.task}: {d}"
            rows.setdefault(c.model, {})[cat] = pr
    if not rows:
        return []
    cats: list[str] = []
    for per in rows.values():
        cats += [k for k in per if k not in cats]
    series = [{"model": m, "label": labels[m],
               "from": [per.get(k, (None, None))[0] for k in cats],
               "to": [per.get(k, (None, None))[1] for k in cats]} for m, per in rows.items()]
    return [{
        "id": "pixelworld-text-vs-pixels", "type": "dumbbell", "tasks": tasks,
        "title": "PixelWorld: text input vs the same input rendered as pixels",
        "categories": cats, "series": series, "from_label": "text", "to_label": "pixels",
        "value_label": "score", "value_range": None,
        "note": "Each segment runs from the model's score with text-token input (circle) to its score "
                "on the rendered image of the same items (square); same parsing and metric in both modes.",
    }]
