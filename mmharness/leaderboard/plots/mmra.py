"""MMRA plot: accuracy per subtask (11 relation subtasks), one bar per model.

Applies to tasks named ``mmra`` or ``mmra_*`` (:mod:`mmharness.tasks.mmra`: ``mmra``, ``mmra_qo``).
Reads the first table present among ``per_subtask``, ``subtask_accuracy``, ``subtasks``,
``by_subtask`` and ``per_task``, in any shape
:func:`~mmharness.leaderboard.plots._extract.category_values` accepts; the task writes
``per_subtask`` as a list of records ``{"task", "abbr", "accuracy", "n", ...}``, and the bars are
named by ``abbr`` (the published column names). Draws nothing when the table is absent.
"""

from __future__ import annotations

from . import PlotCell, by_task, register_plot
from ._extract import NAME_KEYS, category_values, first_table, union_order

TABLE_KEYS = ("per_subtask", "subtask_accuracy", "subtasks", "by_subtask", "per_task")
#: Official column order of the MMRA results table (entity level, then image level).
SUBTASK_ORDER = ("RP", "US", "MS", "SM", "AS", "NSE", "Env", "LO", "SimE", "SubE", "OA",
                 "RelativePosition", "UsageSimilarity", "MentalitySimilarity", "SimilarMaterial",
                 "AppearanceSimilarity", "NearSameEntity", "Environment", "Layout", "SimilarEvent",
                 "SubEvent", "ObservationAngle")


def is_mmra(task: str) -> bool:
    """Whether ``task`` belongs to the MMRA family."""
    return task == "mmra" or task.startswith("mmra_")


@register_plot("mmra")
def mmra_plots(cells: list[PlotCell]) -> list[dict]:
    """One grouped-bar plot per MMRA task that has a per-subtask table."""
    plots = []
    for task, group in by_task(cells).items():
        if not is_mmra(task):
            continue
        per_model = []
        for c in group:
            vals = category_values(first_table(c.tables or {}, TABLE_KEYS), name_keys=("abbr",) + NAME_KEYS)
            if vals:
                per_model.append((c, vals))
        if not per_model:
            continue
        cats = union_order([list(v) for _, v in per_model], SUBTASK_ORDER)
        plots.append({
            "id": f"mmra-{task}", "type": "grouped_bars", "tasks": [task],
            "title": f"{task}: accuracy per subtask",
            "categories": cats,
            "series": [{"model": c.model, "label": c.label, "values": [v.get(k) for k in cats]}
                       for c, v in per_model],
            "value_label": "accuracy", "value_range": None,
            "note": "Per-subtask accuracy as recorded by the task (tables: "
                    + "/".join(TABLE_KEYS) + "); a missing subtask is a gap, not a zero.",
        })
    return plots
