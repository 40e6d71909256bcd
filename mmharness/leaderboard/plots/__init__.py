"""Per-task plots of the leaderboard: a registry to which each task family contributes its plot.

A *plot provider* is a function ``provider(cells) -> list[plot]`` registered with
:func:`register_plot`. It receives every (model, task) cell of the leaderboard as a
:class:`PlotCell` (task name, model id and label, the task's ``tables`` and metric values from the
results file) and returns zero or more plot specifications built from the tables of the tasks it
knows. When the tables it needs are absent it returns nothing: a missing plot is never an error.

Providers live in the public modules of this package (one per task family: ``cifar_b``, ``mmra``,
``pixelworld``, ...) and are found by package scan, like tasks and adapters. A provider draws
nothing itself: it returns data in one of the generic chart types below, which every renderer
(the HTML page) knows how to draw.

Chart types (all values are numbers or ``null`` for "no value"; ``null`` is drawn as a gap):

* ``grouped_bars``: ``categories`` (x axis) and ``series`` = ``[{"model", "label", "values"}]``
  with one value per category; one bar per model in each category.
* ``dumbbell``: ``categories``, ``from_label``/``to_label`` (e.g. "text" / "pixels") and
  ``series`` = ``[{"model", "label", "from", "to"}]``; per category and model a segment from the
  first value to the second.

Every plot also has ``id`` (unique), ``provider``, ``title``, ``tasks`` (the task columns it is
about), ``value_label`` (axis title), ``value_range`` (``[lo, hi]`` or null = from the data) and
``note`` (how the numbers were derived).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

CHART_TYPES = ("grouped_bars", "dumbbell")


@dataclass(frozen=True)
class PlotCell:
    """One (model, task) cell as a plot provider sees it."""

    task: str
    model: str
    label: str
    tables: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # metric name -> value (float or None)


PlotProvider = Callable[[list[PlotCell]], list[dict]]
_PROVIDERS: dict[str, PlotProvider] = {}
_scanned = False


def register_plot(name: str) -> Callable[[PlotProvider], PlotProvider]:
    """Decorator: register ``provider`` under ``name`` (one name per task family)."""

    def deco(fn: PlotProvider) -> PlotProvider:
        if name in _PROVIDERS and _PROVIDERS[name] is not fn:
            raise ValueError(f"plot provider {name!r} is already registered")
        _PROVIDERS[name] = fn
        return fn

    return deco


def providers() -> dict[str, PlotProvider]:
    """All registered providers, after importing every public module of this package once."""
    global _scanned
    if not _scanned:
        _scanned = True
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
    return dict(_PROVIDERS)


def build_plots(cells: list[PlotCell]) -> tuple[list[dict], list[str]]:
    """Run every provider over ``cells``; returns the plots and one message per provider that failed
    (a broken provider is reported, not allowed to break the leaderboard)."""
    plots: list[dict] = []
    failures: list[str] = []
    for name, fn in sorted(providers().items()):
        try:
            out = fn(cells) or []
        except Exception as e:  # noqa: BLE001 - reported to the user as a leaderboard problem
            failures.append(f"plot provider {name!r} failed: {type(e).__name__}: {e}")
            continue
        for p in out:
            if p.get("type") not in CHART_TYPES:
                failures.append(f"plot provider {name!r} returned an unknown chart type {p.get('type')!r}")
                continue
            p.setdefault("provider", name)
            plots.append(p)
    ids = [p["id"] for p in plots]
    if len(set(ids)) != len(ids):
        failures.append(f"plot ids are not unique: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    return plots, failures


def by_task(cells: list[PlotCell]) -> dict[str, list[PlotCell]]:
    """Cells grouped by task name, in first-seen order."""
    out: dict[str, list[PlotCell]] = {}
    for c in cells:
        out.setdefault(c.task, []).append(c)
    return out
