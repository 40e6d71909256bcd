"""Build the canonical leaderboard (models x tasks) from results files.

One row per *model entry* = adapter + model fingerprint (weights and arguments) + precision + data
kind (sample or full) + sample limit; one column per task. Each cell holds the task's ranking
metric (the task's declared ``leaderboard_metric``, else its primary metric, or the one chosen with
``metrics``) beside the paper's official headline (the primary metric), its normalised score and
rank, every metric of the run, the provenance of the number, and the degeneracy flag its scoring
recorded (``tables["degeneracy"]``: a flagged cell keeps its value but is not ranked). Averages run
over the task set and, beside them, over each benchmark family. The rules (ranking metric,
normalisation, ranks, degenerate responses, averages, families, duplicates, sample-data and limited
runs, unknown tasks) are stated in :data:`RULES` and written into every leaderboard.

Nothing is dropped silently: a file that cannot be used, a duplicate, an unknown task, a column
that mixes data versions... each becomes a *problem* recorded in the leaderboard (and printed by
the CLI); with ``strict=True`` any problem makes :func:`build_leaderboard` raise instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from .normalize import (
    AVERAGE_RULE,
    NORMALIZATION_RULE,
    RANK_RULE,
    competition_ranks,
    fractional_ranks,
    mean_or_none,
    normalization_reference,
    normalize,
)
from ..results_export import distinct_labels, model_name
from .plots import PlotCell, build_plots
from .sources import ERROR, WARNING, Problem, Run, read_sources

log = logging.getLogger(__name__)

LEADERBOARD_KIND = "mmharness.leaderboard"
LEADERBOARD_SCHEMA_VERSION = "1.1"

RULES = {
    "ranking_metric": "Each column ranks on the task's declared leaderboard metric (Task.leaderboard_metric: a "
                      "metric that measures how well the task is done, e.g. accuracy for CIFAR-B, where the "
                      "paper's MacroStd gives any one-class predictor the best value, and the tie-split accuracy "
                      "for SNARE, where the official rule gives every tie to the positive option), else on its "
                      "primary metric; --metric TASK=METRIC overrides it. The paper's official headline (the "
                      "primary metric recorded in the results) is shown beside it. When no results file of the "
                      "column has the declared metric (files written before it existed), the column ranks on "
                      "the primary metric and a warning says so; a cell whose file lacks the column's metric "
                      "is shown as missing (re-running from the response cache adds it without model calls).",
    "normalization": NORMALIZATION_RULE,
    "rank": RANK_RULE,
    "degenerate": "A task's scoring records evidence that the responses do not depend on the input "
                  "(tables.degeneracy of the results): classify, every sample's logits identical or every "
                  "prediction the same class; generate, every answer the same text; match, the top score tied "
                  "on more than half of the items (none of these fire on fewer than 2 responses, nor the "
                  "classify/generate rules when every gold answer is the same). Such a cell is flagged with the "
                  "reason and gets no rank on the task; it keeps its value and normalised score, and enters the "
                  "averages (overall and family) with its normalised score capped at 0 (the zero point: "
                  "chance, or the worst end of the range): responses that ignore the input show nothing above "
                  "chance, whatever a metric without a chance level (e.g. mAP: the positive rate) gives them.",
    "average": AVERAGE_RULE,
    "families": "Benchmark families come from the task registry: the task's declared family (Task.family), "
                "else the largest registered task group holding it, else the task's own name. A family "
                "average is the mean normalised score over the family's tasks in the score task set, marked "
                "incomplete (n/N) like the overall average; renderings show the families with more than one "
                "such task beside the overall average (every family is in the JSON).",
    "rows": "One row per adapter + model fingerprint + precision + data kind (sample/full) + sample limit.",
    "task_set": "The averages run over the task set: the tasks named with --tasks (groups expanded), by default "
                "every task with at least one ranked result (every task when nothing is ranked). Other "
                "columns are shown but not averaged.",
    "duplicates": "Several results for the same row and task: the newest (results 'created' time; equal "
                  "times: the later path in sort order) is used, the others are listed under 'superseded' "
                  "and reported as a warning; with --strict this is an error.",
    "sample_data": "Runs on the bundled sample data (config.data == 'sample') are shown, flagged 'sample', "
                   "and left out of all rankings unless --include-samples is given. Runs limited to the first "
                   "N samples (--limit) are likewise flagged 'limit=N' and unranked unless --include-limited.",
    "unknown_tasks": "A task not registered in this mmharness version is kept as a column, scored with the "
                     "metric metadata recorded in its results files, marked registered=false and reported "
                     "as a warning; with --strict it is an error.",
    "invalid_files": "A path or file that cannot be used (unreadable, not JSON or truncated, not a results "
                     "file, another results-schema version, schema violation, or numbers no run can produce: a "
                     "value or CI outside the metric's declared range, an inverted CI or one far from its "
                     "value, a negative stderr, inconsistent sample counts, a primary metric that is not "
                     "among the task's metrics) is listed under 'problems' as an error and contributes "
                     "nothing; with --strict the build fails.",
    "verify": "With --verify every file is re-scored from its sample log or the response cache (mmh results "
              "verify); a file whose recorded numbers differ, or that cannot be re-scored, is listed under "
              "'problems' as an error and contributes nothing.",
    "comparability": "A column whose ranked cells differ in task version or data fingerprint, or lack the "
                     "ranking metric, is reported as a warning (with --strict: an error).",
}


class LeaderboardError(ValueError):
    """The leaderboard cannot be built or read as asked (message says what and how to fix)."""


@dataclass
class BuildOptions:
    """Options of :func:`build_leaderboard`.

    ``tasks``: task or group names forming the task set of the averages (default: every task with
    a ranked cell); ``metrics``: task -> metric to rank on instead of the declared primary metric;
    ``include_samples`` / ``include_limited``: rank sample-data / ``--limit`` runs too;
    ``strict``: any problem is an error; ``includes``: modules or files registering plugin tasks;
    ``verify``: re-score every file (:mod:`mmharness.verify`) and leave out those that fail (needs
    each run's data, and its sample logs or response cache).
    """

    tasks: Sequence[str] | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    include_samples: bool = False
    include_limited: bool = False
    strict: bool = False
    includes: Sequence[str] = ()
    verify: bool = False

    def as_dict(self) -> dict:
        """The options as recorded in the leaderboard's ``settings`` (``verify`` shows in ``problems``
        and ``rules``, not here: the leaderboard schema has no such setting)."""
        return {"tasks": list(self.tasks) if self.tasks else None, "metrics": dict(self.metrics),
                "include_samples": self.include_samples, "include_limited": self.include_limited,
                "strict": self.strict, "includes": list(self.includes)}


# --------------------------------------------------------------------------- rows


class RowKey(NamedTuple):
    """Identity of a leaderboard row (a plain tuple too): see ``RULES["rows"]``."""

    adapter: str
    fingerprint: str
    precision: str
    data: str
    limit: int | None


def row_key(doc: dict) -> RowKey:
    """Identity of a leaderboard row: adapter, fingerprint, precision, data kind, limit."""
    m, c = doc["model"], doc["config"]
    return RowKey(m["adapter"], m["fingerprint"], c["precision"], c["data"], c["limit"])


def row_id(key: tuple) -> str:
    """Stable string id of a row key."""
    adapter, fp, precision, data, limit = key
    return f"{adapter}:{fp}:{precision}:{data}" + (f":limit={limit}" if limit else "")


def model_label(doc: dict) -> str:
    """``adapter`` or ``adapter(k=v,...)`` from a results document: the adapter and every argument
    (rows are labelled by :func:`mmharness.results_export.model_name`; the arguments are in the
    row's ``args``)."""
    m = doc["model"]
    args = ",".join(f"{k}={v}" for k, v in m["args"].items())
    return f"{m['adapter']}({args})" if args else m["adapter"]


def row_flags(key: tuple) -> list[str]:
    """Flags shown beside a model: ``sample``, ``limit=N``, a non-default precision."""
    _, _, precision, data, limit = key
    flags = []
    if data == "sample":
        flags.append("sample")
    if limit:
        flags.append(f"limit={limit}")
    if precision != "fp32":
        flags.append(precision)
    return flags


@dataclass
class Row:
    """One model entry while the leaderboard is built: its runs per task (newest first), its
    label, whether it is ranked, and (filled step by step) its cells, averages and overall rank.
    :meth:`as_model` is its entry in the leaderboard's ``models``."""

    key: RowKey
    runs: dict[str, list[Run]]
    label: str
    args: dict
    ranked: bool
    excluded_reason: str | None
    flags: list[str] = field(init=False)
    cells: dict[str, dict] = field(default_factory=dict)
    family_averages: dict[str, dict] = field(default_factory=dict)
    degenerate_tasks: list[str] = field(default_factory=list)
    average_score: float | None = None
    average_score_n: int = 0
    average_rank: float | None = None
    average_rank_n: int = 0
    n_tasks: int = 0
    complete: bool = False
    missing: list[str] = field(default_factory=list)
    overall_rank: int | None = None

    def __post_init__(self) -> None:
        self.flags = row_flags(self.key)

    @property
    def id(self) -> str:
        return row_id(self.key)

    def newest(self, task: str) -> Run | None:
        """The run whose numbers the row shows for ``task`` (None: the row has no result for it)."""
        lst = self.runs.get(task)
        return lst[0] if lst else None

    def as_model(self) -> dict:
        """The row as the leaderboard schema's model entry."""
        k = self.key
        return {
            "id": self.id, "label": self.label, "adapter": k.adapter, "args": self.args,
            "fingerprint": k.fingerprint, "precision": k.precision, "data": k.data, "limit": k.limit,
            "flags": self.flags, "ranked": self.ranked, "excluded_reason": self.excluded_reason,
            "overall_rank": self.overall_rank, "average_score": self.average_score,
            "average_score_n": self.average_score_n, "average_rank": self.average_rank,
            "average_rank_n": self.average_rank_n, "family_averages": self.family_averages,
            "n_tasks": self.n_tasks, "complete": self.complete, "missing": self.missing,
            "degenerate_tasks": self.degenerate_tasks, "cells": self.cells,
        }


# --------------------------------------------------------------------------- helpers


def _registered_tasks(includes: Sequence[str]) -> dict[str, dict]:
    """Registered task name -> ``{"version", "ranking_metric", "family"}`` (plugins from ``includes``
    first); a task class that cannot be imported gets version ``"?"`` and no declared ranking metric."""
    from ..registry import TASKS, include
    from ..task import task_family

    for inc in includes:
        include(inc)
    out = {}
    for n in TASKS.names():
        try:
            cls = TASKS.get(n)
            out[n] = {"version": str(cls.version), "ranking_metric": getattr(cls, "leaderboard_metric", "") or None,
                      "family": task_family(n, cls)}
        except Exception:  # noqa: BLE001 - a broken plugin must not hide the leaderboard
            out[n] = {"version": "?", "ranking_metric": None, "family": task_family(n)}
    return out


def _average_term(cell: dict) -> float | None:
    """What a cell adds to the averages: its normalised score, at most 0 (the zero point: chance,
    or the worst end of the range) when the cell is flagged degenerate."""
    v = cell["normalized"]
    return min(v, 0.0) if v is not None and cell.get("degenerate") else v


def _degenerate_flag(t: dict) -> dict | None:
    """The degeneracy flag a task's scoring recorded (``tables.degeneracy.degenerate``), or None
    (not degenerate, not checked, or written before the check existed)."""
    rec = (t.get("tables") or {}).get("degeneracy")
    flag = rec.get("degenerate") if isinstance(rec, dict) else None
    if not isinstance(flag, dict) or not isinstance(flag.get("rule"), str) or not isinstance(flag.get("reason"), str):
        return None
    return {"rule": flag["rule"], "reason": flag["reason"]}


def _expand_task_set(names: Sequence[str], columns: list[str]) -> list[str]:
    from ..registry import TASK_GROUPS, did_you_mean

    out: list[str] = []
    for item in (n.strip() for n in names):
        if not item:
            continue
        for n in TASK_GROUPS.get(item, (item,)) if item not in columns else (item,):
            if n not in columns:
                raise LeaderboardError(
                    f"--tasks: task {n!r} is in no results file given.{did_you_mean(n, columns)} "
                    f"Tasks in the results: {', '.join(columns) or '(none)'}")
            if n not in out:
                out.append(n)
    if not out:
        raise LeaderboardError("--tasks: no task given")
    return out


def _verified(runs: list[Run], problems: list[Problem]) -> list[Run]:
    """The runs that pass :func:`mmharness.verify.verify_doc`; each other one becomes an error."""
    from ..verify import verify_doc

    kept = []
    for r in runs:
        v = verify_doc(r.doc, r.path)
        if v.ok:
            kept.append(r)
        else:
            problems.append(Problem(ERROR, "verify_failed", f"{r.path}: fails verification (re-scored from its "
                                    f"sample log or the response cache), left out: {v.reason()}", r.path))
    return kept


def _provenance(run: Run, task: str) -> dict:
    doc, t = run.doc, run.doc["tasks"][task]
    git = doc["harness"]["git"]
    log_name = t.get("samples_log")
    return {
        "results_file": run.path, "sha256": run.sha256, "run_id": doc["run_id"], "created": doc["created"],
        "harness_version": doc["harness"]["version"], "harness_commit": git["commit"] if git else None,
        "harness_dirty": git["dirty"] if git else None,
        "adapter_version": doc["model"]["adapter_version"],
        "task_version": t["version"], "protocol": t["protocol"], "task_config": t["config"],
        "data_kind": t["data"]["kind"], "data_source": t["data"]["source"],
        "data_fingerprint": t["data"]["fingerprint"],
        "n_samples": t["n_samples"], "n_scored": t["n_scored"], "n_skipped": t["n_skipped"],
        "seed": doc["config"]["seed"], "precision": doc["config"]["precision"], "limit": doc["config"]["limit"],
        "samples_log": str(Path(run.path).parent / log_name) if log_name else None,
    }


def _metrics_of(t: dict) -> dict:
    out = {}
    for name, v in t["metrics"].items():
        d = {"value": v.get("value")}
        if v.get("ci") is not None:
            d["ci"] = list(v["ci"])
        if v.get("stderr") is not None:
            d["stderr"] = v["stderr"]
        out[name] = d
    return out


def _same_meta(a: dict, b: dict) -> bool:
    keys = ("higher_is_better", "range", "chance")
    return all(a.get(k) == b.get(k) for k in keys)


def _newest_first(runs: Iterable[Run]) -> list[Run]:
    return sorted(runs, key=lambda r: (r.created, r.path), reverse=True)


# --------------------------------------------------------------------------- build steps


def _group_runs(runs: list[Run], problems: list[Problem]) -> dict[RowKey, dict[str, list[Run]]]:
    """Row key -> task -> runs, newest first; a cell with several runs adds a ``duplicate`` warning."""
    groups: dict[RowKey, dict[str, list[Run]]] = {}
    for r in runs:
        k = row_key(r.doc)
        for task in r.doc["tasks"]:
            groups.setdefault(k, {}).setdefault(task, []).append(r)
    for k, per in groups.items():
        for task, lst in per.items():
            lst[:] = _newest_first(lst)
            if len(lst) > 1:
                same_run = len({r.doc["run_id"] for r in lst}) < len(lst)
                others = ", ".join(f"{r.path} ({r.doc['created']})" for r in lst[1:])
                problems.append(Problem(
                    WARNING, "duplicate",
                    f"{len(lst)} results for model {row_id(k)} on task {task!r}"
                    f"{' (the same run copied into several files)' if same_run else ''}: using the newest, "
                    f"{lst[0].path} ({lst[0].doc['created']}); superseded: {others}. Remove the ones you do "
                    f"not want, or keep them apart in separate builds.", lst[0].path, task, row_id(k)))
    return groups


def _unranked_reasons(key: RowKey, opts: BuildOptions) -> list[str]:
    """Why a row is left out of the rankings (sample data, a sample limit), unless opts rank it."""
    reasons = []
    if key.data == "sample" and not opts.include_samples:
        reasons.append("bundled sample data (not comparable to published numbers; --include-samples ranks it)")
    if key.limit and not opts.include_limited:
        reasons.append(f"limited to the first {key.limit} samples per task (--include-limited ranks it)")
    return reasons


def _make_rows(groups: dict[RowKey, dict[str, list[Run]]], opts: BuildOptions) -> list[Row]:
    """One :class:`Row` per key, labelled by its newest run's model name (made distinct)."""
    rows = []
    for k, per in groups.items():
        newest = _newest_first(lst[0] for lst in per.values())[0]
        reasons = _unranked_reasons(k, opts)
        rows.append(Row(key=k, runs=per, label=model_name(newest.doc), args=dict(newest.doc["model"]["args"]),
                        ranked=not reasons, excluded_reason="; ".join(reasons) or None))
    labels = distinct_labels([(r.label, r.label + str(r.flags), r.args, r.key.fingerprint) for r in rows])
    for r, label in zip(rows, labels):
        r.label = label
    return rows


def _task_columns(rows: list[Row], opts: BuildOptions, columns_seen: list[str]) -> tuple[list[str], list[str]]:
    """(task set of the averages, every column: the task set first)."""
    ranked_tasks = sorted({t for r in rows if r.ranked for t in r.runs})
    task_set = _expand_task_set(opts.tasks, columns_seen) if opts.tasks else (ranked_tasks or columns_seen)
    return task_set, task_set + [t for t in columns_seen if t not in task_set]


def _ranking_metric(t: str, runs: list[Run], reg: dict, opts: BuildOptions,
                    problems: list[Problem]) -> tuple[str, str]:
    """(metric, source) a column ranks on: the override, else the declared leaderboard metric when a
    file has it, else the newest file's primary metric (with a warning when the declared one is absent)."""
    newest = _newest_first(runs)[0]
    official = newest.doc["tasks"][t]["primary_metric"]

    def has(metric: str) -> bool:
        return any(metric in run.doc["tasks"][t]["metric_metadata"] for run in runs)

    ranking = reg.get("ranking_metric")
    recorded = newest.doc["tasks"][t].get("leaderboard_metric")  # a plugin task need not be installed
    if not ranking and recorded and has(recorded):
        ranking = recorded
    if t in opts.metrics:
        return opts.metrics[t], "override"
    if ranking and ranking != official and has(ranking):
        return ranking, "leaderboard_metric"
    if ranking and ranking != official:
        problems.append(Problem(WARNING, "ranking_metric_absent",
                                f"task {t!r}: no results file has its leaderboard metric {ranking!r} "
                                f"(written before it existed): ranking on the primary metric {official!r} "
                                f"instead. Re-run the models (cached responses are re-scored without "
                                f"model calls) to rank on {ranking!r}.", newest.path, t))
    return official, "primary_metric"


def _column_warnings(t: str, cells: list[tuple[Row, Run]], metric: str, source: str, meta: dict, meta_run: Run,
                     reg: dict | None, opts: BuildOptions, problems: list[Problem]) -> None:
    """The warnings of one column: unknown task, mixed primary metrics, ranked cells of different
    versions or data, an outdated task version, cells whose metric metadata differ."""
    newest = _newest_first(run for _, run in cells)[0]
    nt = newest.doc["tasks"][t]
    if reg is None:
        problems.append(Problem(WARNING, "unknown_task",
                                f"task {t!r} is not registered in this mmharness version (a plugin task, or "
                                f"from another version): kept as a column, ranked on {metric!r} with the "
                                f"metric metadata recorded in its results files. Pass --include to load the "
                                f"plugin that defines it.", newest.path, t))
    declared = sorted({run.doc["tasks"][t]["primary_metric"] for _, run in cells})
    if len(declared) > 1 and t not in opts.metrics:
        what = "ranking on and showing as official" if source == "primary_metric" else "showing as official"
        problems.append(Problem(WARNING, "mixed_primary",
                                f"task {t!r}: results declare different primary metrics {declared}; {what} "
                                f"{nt['primary_metric']!r} (declared by the newest, {newest.path}). Choose the "
                                f"ranking metric with --metric {t}=NAME.", newest.path, t))
    ranked_runs = [run for r, run in cells if r.ranked]
    for what, key in (("task versions", lambda x: x.doc["tasks"][t]["version"]),
                      ("data fingerprints", lambda x: x.doc["tasks"][t]["data"]["fingerprint"])):
        vals = sorted({key(run) for run in ranked_runs})
        if len(vals) > 1:
            problems.append(Problem(WARNING, "mixed_data" if "data" in what else "mixed_version",
                                    f"task {t!r}: ranked cells differ in {what} {vals}; their numbers may "
                                    f"not be comparable (see each cell's provenance).", None, t))
    registered_version = reg.get("version") if reg is not None else None
    if reg is not None and registered_version != "?" and nt["version"] != registered_version:
        problems.append(Problem(WARNING, "task_version",
                                f"task {t!r}: newest results use task version {nt['version']!r}, this "
                                f"mmharness has version {registered_version!r}; re-run to get current numbers.",
                                newest.path, t))
    for r, run in cells:
        other = run.doc["tasks"][t]["metric_metadata"].get(metric)
        if other is not None and not _same_meta(other, meta):
            problems.append(Problem(WARNING, "inconsistent_metadata",
                                    f"task {t!r}, metric {metric!r}: {run.path} declares different metadata "
                                    f"(direction/range/chance) from {meta_run.path}, whose metadata is used "
                                    f"for every cell.", run.path, t, r.id))


def _task_column(t: str, rows: list[Row], registered: dict[str, dict], opts: BuildOptions, task_set: list[str],
                 problems: list[Problem]) -> dict:
    """The leaderboard's entry for task ``t``: its ranking metric and that metric's metadata (from the
    newest file that has it), normalisation, family, versions; its warnings go to ``problems``."""
    from ..task import task_family

    cells = [(r, r.newest(t)) for r in rows if t in r.runs]
    runs = [run for _, run in cells]
    newest = _newest_first(runs)[0]
    nt = newest.doc["tasks"][t]
    reg = registered.get(t)
    metric, source = _ranking_metric(t, runs, reg or {}, opts, problems)
    meta_run = next((run for run in _newest_first(runs) if metric in run.doc["tasks"][t]["metric_metadata"]), None)
    if meta_run is None:
        raise LeaderboardError(f"task {t!r}: no results file has metric {metric!r}; metrics there: "
                               f"{', '.join(sorted(nt['metrics']))}")
    meta = dict(meta_run.doc["tasks"][t]["metric_metadata"][metric])
    _column_warnings(t, cells, metric, source, meta, meta_run, reg, opts, problems)
    official = nt["primary_metric"]
    return {
        "registered": reg is not None, "registered_version": (reg or {}).get("version"),
        "in_task_set": t in task_set, "metric": metric, "metric_source": source,
        "official_metric": official, "official_metric_metadata": dict(nt["metric_metadata"][official]),
        "declared_primary_metrics": sorted({run.doc["tasks"][t]["primary_metric"] for run in runs}),
        "metric_metadata": meta, "normalization": normalization_reference(meta),
        "family": (reg or {}).get("family") or task_family(t),
        "description": nt.get("description", ""), "protocol": nt["protocol"],
        "versions": sorted({run.doc["tasks"][t]["version"] for run in runs}),
        "data_fingerprints": sorted({run.doc["tasks"][t]["data"]["fingerprint"] for run in runs}),
        "n_models": len(cells), "n_ranked": 0, "n_degenerate": 0, "plots": [],
    }


def _cell(row: Row, t: str, column: dict, problems: list[Problem]) -> dict:
    """Row ``row``'s cell of column ``t``: value, normalised score, every metric, provenance,
    superseded files, degeneracy flag (``status`` missing / missing_metric / no_value / ok)."""
    run = row.newest(t)
    if run is None:
        return {"status": "missing", "value": None, "normalized": None, "rank": None}
    metric = column["metric"]
    td = run.doc["tasks"][t]
    mv = td["metrics"].get(metric)
    status = "ok"
    if mv is None:
        status = "missing_metric"
        problems.append(Problem(WARNING, "missing_metric",
                                f"model {row.id}, task {t!r}: {run.path} has no metric "
                                f"{metric!r} (metrics: {', '.join(sorted(td['metrics']))}); the "
                                f"cell is shown as missing. If the file predates the metric, re-running "
                                f"the model adds it (cached responses are re-scored without model calls).",
                                run.path, t, row.id))
    elif mv.get("value") is None:
        status = "no_value"
    value = mv.get("value") if mv else None
    cell = {"status": status, "value": value, "normalized": normalize(value, column["normalization"]),
            "rank": None, "metrics": _metrics_of(td), "provenance": _provenance(run, t),
            "superseded": [{"results_file": o.path, "run_id": o.doc["run_id"], "created": o.doc["created"],
                            "value": o.doc["tasks"][t]["metrics"].get(metric, {}).get("value")}
                           for o in row.runs[t][1:]]}
    if mv and mv.get("ci") is not None:
        cell["ci"] = list(mv["ci"])
    cell["degenerate"] = _degenerate_flag(td)
    return cell


def _rank_column(rows: list[Row], t: str, higher_is_better: bool) -> int:
    """Fractional ranks of column ``t`` among ranked rows with a value and no degeneracy flag;
    returns how many cells got a rank."""
    pts = [(r, r.cells[t]["value"]) for r in rows if r.ranked and r.cells[t]["value"] is not None
           and not r.cells[t].get("degenerate")]
    for (r, _), rk in zip(pts, fractional_ranks([v for _, v in pts], higher_is_better)):
        r.cells[t]["rank"] = rk
    return len(pts)


def _families(columns: list[str], tasks_doc: dict[str, dict], score_tasks: list[str]) -> dict[str, dict]:
    """Family -> its columns (``tasks``) and those in the score task set (``averaged``)."""
    families: dict[str, dict] = {}
    for t in columns:
        fam = families.setdefault(tasks_doc[t]["family"], {"tasks": [], "averaged": []})
        fam["tasks"].append(t)
        if t in score_tasks:
            fam["averaged"].append(t)
    return families


def _summarise(r: Row, columns: list[str], task_set: list[str], score_tasks: list[str],
               families: dict[str, dict]) -> None:
    """Fill the row's family averages, average score and rank, counts and completeness."""
    for f, fam in families.items():
        vals = [_average_term(r.cells[t]) for t in fam["averaged"]]
        r.family_averages[f] = {"score": mean_or_none(vals), "n": sum(v is not None for v in vals),
                                "total": len(vals)}
    r.degenerate_tasks = [t for t in columns if r.cells[t].get("degenerate")]
    norm = [_average_term(r.cells[t]) for t in score_tasks]
    ranks = [r.cells[t]["rank"] for t in task_set]
    vals = [r.cells[t]["value"] for t in task_set]
    r.average_score = mean_or_none(norm)
    r.average_score_n = sum(v is not None for v in norm)
    r.average_rank = mean_or_none(ranks) if r.ranked else None
    r.average_rank_n = sum(v is not None for v in ranks) if r.ranked else 0
    r.n_tasks = sum(v is not None for v in vals)
    r.complete = r.n_tasks == len(task_set) and r.average_score_n == len(score_tasks)
    r.missing = [t for t in task_set if r.cells[t]["value"] is None]


def _rank_overall(rows: list[Row], by_score: bool) -> None:
    """Competition ranks of the complete ranked rows, on the average score (else the average rank)."""
    eligible = [r for r in rows if r.ranked and r.complete]
    keys = [(-r.average_score) if by_score else r.average_rank for r in eligible]
    for r, rk in zip(eligible, competition_ranks(keys)):
        r.overall_rank = rk


def _display_order(r: Row) -> tuple:
    """Overall rank first, then unranked-but-complete, unranked rows; ties by score, rank, label."""
    s = r.average_score
    return (r.overall_rank is None, not r.ranked, r.overall_rank or 0,
            -(s if s is not None else float("-inf")),
            r.average_rank if r.average_rank is not None else float("inf"), r.label)


def _plots(rows: list[Row], columns: list[str], tasks_doc: dict[str, dict], problems: list[Problem]) -> list[dict]:
    """The plots of every shown cell; each task lists its plots; a failed plot is a warning."""
    pcells = [PlotCell(t, r.id, r.label + (f" [{', '.join(r.flags)}]" if r.flags else ""),
                       run.doc["tasks"][t].get("tables") or {},
                       {m: v.get("value") for m, v in run.doc["tasks"][t]["metrics"].items()})
              for r in rows for t in columns for run in r.runs.get(t, [])[:1]]
    plots, failures = build_plots(pcells)
    for msg in failures:
        problems.append(Problem(WARNING, "plot_failed", msg))
    for p in plots:
        for t in p["tasks"]:
            if t in tasks_doc:
                tasks_doc[t]["plots"].append(p["id"])
    return plots


# --------------------------------------------------------------------------- build


def build_leaderboard(paths: Iterable[str | Path], options: BuildOptions | None = None) -> dict:
    """Read the results files under ``paths`` and return the leaderboard document (validated
    against the shipped leaderboard schema). Raises :class:`LeaderboardError` when nothing usable
    was found, when ``--tasks``/``metrics`` name something absent, or (``strict``) on any problem."""
    from .. import __version__
    from ..results import clean_json, git_info
    from .io import validate_leaderboard

    opts = options or BuildOptions()
    runs, problems = read_sources(paths)
    if opts.verify:
        runs = _verified(runs, problems)
    registered = _registered_tasks(opts.includes)
    groups = _group_runs(runs, problems)
    columns_seen = sorted({t for per in groups.values() for t in per})
    if not runs:
        detail = "; ".join(p.message for p in problems) or "no path given"
        raise LeaderboardError(f"no usable results file: {detail}")
    unknown_metric = sorted(set(opts.metrics) - set(columns_seen))
    if unknown_metric:
        raise LeaderboardError(f"--metric names task(s) {unknown_metric} that no results file has; "
                               f"tasks in the results: {', '.join(columns_seen)}")

    rows = _make_rows(groups, opts)
    task_set, columns = _task_columns(rows, opts, columns_seen)
    tasks_doc = {t: _task_column(t, rows, registered, opts, task_set, problems) for t in columns}
    for r in rows:
        r.cells = {t: _cell(r, t, tasks_doc[t], problems) for t in columns}
    for t, column in tasks_doc.items():
        column["n_degenerate"] = sum(1 for r in rows if r.cells[t].get("degenerate"))
        column["n_ranked"] = _rank_column(rows, t, column["metric_metadata"]["higher_is_better"])

    score_tasks = [t for t in task_set if tasks_doc[t]["normalization"]["method"] != "none"]
    families = _families(columns, tasks_doc, score_tasks)
    for r in rows:
        _summarise(r, columns, task_set, score_tasks, families)
    _rank_overall(rows, by_score=bool(score_tasks))
    rows.sort(key=_display_order)
    plots = _plots(rows, columns, tasks_doc, problems)

    if opts.strict and problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise LeaderboardError(f"--strict: {len(problems)} problem(s) with the inputs:\n{lines}")

    doc = {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "kind": LEADERBOARD_KIND,
        "created": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "harness": {"version": __version__, "git": git_info()},
        "settings": opts.as_dict(),
        "rules": dict(RULES),
        "task_set": task_set,
        "score_task_set": score_tasks,
        "columns": columns,
        "families": families,
        "tasks": tasks_doc,
        "models": [r.as_model() for r in rows],
        "plots": plots,
        "sources": _sources(runs, rows),
        "problems": [p.as_dict() for p in problems],
    }
    doc = clean_json(doc)
    validate_leaderboard(doc)
    return doc


def _sources(runs: list[Run], rows: list[Row]) -> list[dict]:
    """Every results file read: its identity, its row, its tasks and those its cells use."""
    used = {(r.id, t): lst[0].path for r in rows for t, lst in r.runs.items()}
    out = []
    for run in sorted(runs, key=lambda x: x.path):
        rid = row_id(row_key(run.doc))
        uses = [t for t in run.doc["tasks"] if used.get((rid, t)) == run.path]
        out.append({"path": run.path, "sha256": run.sha256, "run_id": run.doc["run_id"],
                    "created": run.doc["created"], "model": rid, "tasks": sorted(run.doc["tasks"]),
                    "used_for": sorted(uses)})
    return out
