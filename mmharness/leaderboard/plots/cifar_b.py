"""CIFAR-10-B / CIFAR-100-B plot: accuracy per background-colour subgroup, one bar per model.

Reads ``tables["cell_accuracy"]`` (``subgroups``, and per class x subgroup ``acc`` and ``n``, as
written by :mod:`mmharness.tasks.cifar_b`). Subgroup accuracy = correct / images over all classes:
``sum_c acc[c][g] * n[c][g] / sum_c n[c][g]`` (``null`` when the subgroup has no image).
"""

from __future__ import annotations

from . import PlotCell, by_task, register_plot
from ._extract import number


def subgroup_accuracy(table: dict) -> tuple[list[str], list[float | None]] | None:
    """``(subgroup names, accuracy per subgroup)`` from a ``cell_accuracy`` table, or None when the
    table does not have that shape."""
    if not isinstance(table, dict):
        return None
    acc, n, groups = table.get("acc"), table.get("n"), table.get("subgroups")
    if not (isinstance(acc, list) and isinstance(n, list) and isinstance(groups, list)) or len(acc) != len(n):
        return None
    k = len(groups)
    correct, total = [0.0] * k, [0.0] * k
    for row_a, row_n in zip(acc, n):
        if not (isinstance(row_a, list) and isinstance(row_n, list)) or len(row_a) != k or len(row_n) != k:
            return None
        for g in range(k):
            cnt, a = number(row_n[g]), number(row_a[g])
            if cnt and a is not None:
                correct[g] += a * cnt
                total[g] += cnt
    return [str(g) for g in groups], [correct[g] / total[g] if total[g] else None for g in range(k)]


@register_plot("cifar_b")
def cifar_b_plots(cells: list[PlotCell]) -> list[dict]:
    """One grouped-bar plot per task whose cells have a ``cell_accuracy`` table."""
    plots = []
    for task, group in by_task(cells).items():
        series, cats = [], None
        for c in group:
            got = subgroup_accuracy(c.tables.get("cell_accuracy")) if c.tables else None
            if got is None:
                continue
            names, values = got
            if cats is None:
                cats = names
            elif names != cats:
                continue  # another subgroup layout: not comparable in one plot
            series.append({"model": c.model, "label": c.label, "values": values})
        if series:
            plots.append({
                "id": f"cifar_b-{task}", "type": "grouped_bars", "tasks": [task],
                "title": f"{task}: accuracy per background-colour subgroup",
                "categories": [f"subgroup {g}" for g in cats], "series": series,
                "value_label": "accuracy", "value_range": [0.0, 1.0],
                "note": "Accuracy over all test images of each background-colour subgroup (pooled over classes), "
                        "from tables.cell_accuracy. Subgroup ids are the official ones; their colour names are "
                        "not part of the release.",
            })
    return plots
