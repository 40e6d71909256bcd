"""Metrics recomputed from per-sample logs, for paired bootstrap comparisons (``mmh compare``).

A *paired statistic provider* reads one run's per-sample rows (the ``--log-samples`` JSONL:
``id``, ``gold``, ``response``, ``scores``, ``skipped``) for one task and returns, per metric it can
recompute, a vectorised function ``f(idx) -> values``: ``idx`` is an int array ``(r, n)`` of
resample indices into the rows, the result has shape ``(r,)``. Providers are tried in registry
order; the first that knows a metric wins.

Every function is checked before use: on the identity resample it must reproduce the value
recorded in the results file (:func:`verified_statistics`). A metric that is not reproduced (e.g.
a macro average that is not a per-sample mean) gets no paired interval, and says why.

Built-in providers:

* ``cifar_b``: accuracy, MacroStd (population, NIST, unweighted, and the configured ``macrostd``)
  and worst-subgroup accuracy from ``gold`` and the per-sample ``correct`` and ``subgroup``.
* ``mmra``: overall (micro) accuracy, macro over subtasks, per level and per subtask.
* ``per_sample_mean`` (generic): a metric whose name is a numeric per-sample score field, and
  ``accuracy`` from a boolean ``correct`` field, as the mean over samples.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]
Provider = Callable[[str, dict, list[dict]], dict[str, Statistic]]
PROVIDERS: dict[str, Provider] = {}


def register_paired(name: str) -> Callable[[Provider], Provider]:
    """Decorator registering a paired-statistic provider under ``name``."""

    def deco(fn: Provider) -> Provider:
        PROVIDERS[name] = fn
        return fn

    return deco


def _scores(rows: list[dict], key: str) -> np.ndarray | None:
    vals = []
    for r in rows:
        s = r.get("scores")
        if not isinstance(s, dict) or key not in s:
            return None
        v = s[key]
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, (int, float)) or v is None:
            return None
        vals.append(float(v))
    return np.asarray(vals, dtype=np.float64)


@register_paired("cifar_b")
def cifar_b_statistics(task: str, task_doc: dict, rows: list[dict]) -> dict[str, Statistic]:
    """CIFAR-B metrics from per-sample ``correct``/``subgroup`` and ``gold`` (see module docstring)."""
    from ..metrics.subgroup import macro_std_from_counts, resampled_cell_counts, worst_subgroup_from_counts

    table = (task_doc.get("tables") or {}).get("cell_accuracy")
    correct, sub = _scores(rows, "correct"), _scores(rows, "subgroup")
    if not isinstance(table, dict) or correct is None or sub is None:
        return {}
    try:
        gold = np.asarray([int(r["gold"]) for r in rows], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        return {}
    c, g = len(table.get("classes") or []), len(table.get("subgroups") or [])
    if c < 1 or g < 1:
        return {}
    correct_b, sub_i = correct.astype(bool), sub.astype(np.int64)
    try:
        from ..tasks.cifar_b import WORST_MIN_N
    except ImportError:  # pragma: no cover - the task ships with the package
        WORST_MIN_N = 5

    def counts(idx):
        return resampled_cell_counts(idx, correct_b, gold, sub_i, c, g)

    def macro(conv):
        return lambda idx: macro_std_from_counts(*counts(idx), conv)

    out = {
        "accuracy": lambda idx: correct[idx].mean(axis=1),
        "macrostd_population": macro("population"),
        "macrostd_nist": macro("nist"),
        "macrostd_unweighted": macro("unweighted"),
        "worst_subgroup_acc": lambda idx: worst_subgroup_from_counts(*counts(idx), WORST_MIN_N),
    }
    conv = (task_doc.get("config") or {}).get("macrostd")
    if conv in ("population", "nist"):
        out["macrostd"] = out[f"macrostd_{conv}"]
    return out


@register_paired("mmra")
def mmra_statistics(task: str, task_doc: dict, rows: list[dict]) -> dict[str, Statistic]:
    """MMRA (:mod:`mmharness.tasks.mmra`): ``overall`` and ``overall_first_letter`` (micro accuracy),
    ``macro_subtask``, ``entity_level``/``image_level``, ``acc_<abbr>`` and ``unparsed_rate`` from the per-sample
    ``correct``/``correct_first_letter`` and ``task`` (mapped to abbreviation and level with the
    task's ``per_subtask`` table)."""
    if not (task == "mmra" or task.startswith("mmra_")):
        return {}
    table = (task_doc.get("tables") or {}).get("per_subtask")
    correct, first = _scores(rows, "correct"), _scores(rows, "correct_first_letter")
    if not isinstance(table, list) or correct is None:
        return {}
    info = {r.get("task"): (r.get("abbr"), r.get("level")) for r in table if isinstance(r, dict)}
    try:
        keys = [info[r["scores"]["task"]] for r in rows]
    except (KeyError, TypeError):
        return {}
    abbrs = sorted({a for a, _ in keys if a})
    sub = np.asarray([abbrs.index(a) if a in abbrs else -1 for a, _ in keys], dtype=np.int64)
    level = np.asarray([lv or "" for _, lv in keys])

    def mean_where(mask: np.ndarray, vals: np.ndarray = correct) -> Statistic:
        def f(idx):
            m = mask[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                return (vals[idx] * m).sum(axis=1) / m.sum(axis=1)
        return f

    out: dict[str, Statistic] = {"overall": lambda idx: correct[idx].mean(axis=1)}
    if all("parsed" in r["scores"] for r in rows):
        unparsed = np.asarray([r["scores"]["parsed"] is None for r in rows], dtype=np.float64)
        out["unparsed_rate"] = lambda idx: unparsed[idx].mean(axis=1)
    if first is not None:
        out["overall_first_letter"] = lambda idx: first[idx].mean(axis=1)
    for lv in ("entity", "image"):
        out[f"{lv}_level"] = mean_where(level == lv)
    per = {a: mean_where(sub == j) for j, a in enumerate(abbrs)}
    for a, f in per.items():
        out[f"acc_{a}"] = f

    def macro(idx):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no item of any subtask
            return np.nanmean(np.stack([f(idx) for f in per.values()], axis=1), axis=1)

    if per:
        out["macro_subtask"] = macro
    return out


@register_paired("per_sample_mean")
def mean_statistics(task: str, task_doc: dict, rows: list[dict]) -> dict[str, Statistic]:
    """Metrics that are the mean of a per-sample score field of the same name (``correct`` ->
    ``accuracy``)."""
    out: dict[str, Statistic] = {}
    for metric in task_doc["metrics"]:
        field = "correct" if metric == "accuracy" and rows and "accuracy" not in (rows[0].get("scores") or {}) \
            else metric
        vals = _scores(rows, field)
        if vals is not None:
            out[metric] = (lambda v: (lambda idx: v[idx].mean(axis=1)))(vals)
    return out


def statistics(task: str, task_doc: dict, rows: list[dict]) -> dict[str, Statistic]:
    """Every metric some provider can recompute from ``rows`` (first provider wins)."""
    out: dict[str, Statistic] = {}
    for fn in PROVIDERS.values():
        for k, f in (fn(task, task_doc, rows) or {}).items():
            out.setdefault(k, f)
    return out


def verified_statistics(task: str, task_doc: dict, rows: list[dict],
                        tol: float = 1e-9) -> tuple[dict[str, Statistic], dict[str, str]]:
    """The statistics that reproduce the recorded metric values on ``rows`` (all scored rows of the
    run), and for the others the reason they cannot be used."""
    ok: dict[str, Statistic] = {}
    why: dict[str, str] = {}
    stats = statistics(task, task_doc, rows) if rows else {}
    ident = np.arange(len(rows), dtype=np.int64)[None, :]
    for metric, mv in task_doc["metrics"].items():
        f = stats.get(metric)
        if f is None:
            why[metric] = "not recomputable from the per-sample scores"
            continue
        rec = mv.get("value")
        got = float(np.asarray(f(ident), dtype=np.float64).reshape(-1)[0])
        if rec is None or not math.isfinite(got) or abs(got - rec) > tol + 1e-7 * abs(rec):
            why[metric] = f"the per-sample scores give {got:.6g}, not the recorded {rec}"
            continue
        ok[metric] = f
    return ok, why
