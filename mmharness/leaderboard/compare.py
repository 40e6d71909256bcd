"""``mmh compare A.json B.json``: per-task metric deltas (B - A) of two results files.

When both runs were made with ``--log-samples`` (their per-sample JSONL files sit beside the
results files), each delta gets a **paired bootstrap** confidence interval: the same resample of
test items is applied to both runs (items matched by sample id; the inputs must be identical, as
their recorded input hashes show), the metric is recomputed for each run from its per-sample scores
(each metric's declaration, :meth:`mmharness.task.Task.declared_metrics` with
:mod:`mmharness.metrics.declare`, on the columns read back from the log, checked to reproduce the
recorded value), and the interval
is the percentile interval of the resampled differences. Pairing removes the item-difficulty
variance that two separate intervals would double count.

Without both logs there is no paired interval, and the comparison says so per task (the point
deltas are still given, and each run's own CI where recorded).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..results_export import model_name
from .build import LeaderboardError, model_label


def _read_log(results_path: Path, task_doc: dict) -> tuple[list[dict] | None, str | None]:
    """Rows of a run's per-sample log for one task, or ``(None, why not)``."""
    name = task_doc.get("samples_log")
    if not name:
        return None, f"{results_path} was written without --log-samples (no per-sample log)"
    p = results_path.parent / name
    if not p.is_file():
        return None, f"its per-sample log {p} is missing (moved or deleted?)"
    rows = []
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                return None, f"per-sample log {p} line {i} is not valid JSON ({e.msg}); truncated?"
            if not isinstance(r, dict) or "id" not in r:
                return None, f"per-sample log {p} line {i} has no 'id'; not an mmharness per-sample log"
            rows.append(r)
    if len(rows) != task_doc["n_samples"]:
        return None, (f"per-sample log {p} has {len(rows)} rows but the results record {task_doc['n_samples']} "
                      f"samples; truncated or from another run?")
    return rows, None


def _scored(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not r.get("skipped") and r.get("scores") is not None]


def _load(path: str | Path) -> dict:
    from ..results import ResultsError, load_results

    try:
        return load_results(path)
    except ResultsError as e:
        raise LeaderboardError(str(e)) from None
    except OSError as e:
        raise LeaderboardError(f"{path}: cannot be read: {e}") from None


def compare_runs(a_path: str | Path, b_path: str | Path, *, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95, primary_only: bool = False) -> dict:
    """Compare results file B against A. Returns a JSON-able report::

        {"a": {...}, "b": {...}, "settings": {...}, "only_in_a": [...], "only_in_b": [...],
         "tasks": [{"task", "paired", "why_not_paired", "n_paired", "notes",
                    "metrics": [{"metric", "primary", "higher_is_better", "a", "b", "delta",
                                 "ci", "paired_ci", "why_no_ci", "verdict"}]}]}

    ``delta = b - a`` from the recorded values; ``ci`` is the paired bootstrap interval of the
    delta (None when unavailable, with ``why_no_ci``); ``verdict`` is ``"B better"``, ``"A
    better"`` (interval excludes 0, in the metric's direction), ``"no clear difference"`` or
    ``"no CI"``.
    """
    from ..metrics.declare import paired_intervals

    if resamples < 1:
        raise LeaderboardError("--bootstrap must be at least 1")
    if not 0.0 < level < 1.0:
        raise LeaderboardError(f"--ci-level must lie in (0, 1), got {level}")
    pa, pb = Path(a_path), Path(b_path)
    da, db = _load(pa), _load(pb)
    common = [t for t in da["tasks"] if t in db["tasks"]]
    report = {
        "a": _side(pa, da), "b": _side(pb, db),
        "settings": {"resamples": resamples, "seed": seed, "ci_level": level, "primary_only": primary_only},
        "only_in_a": sorted(set(da["tasks"]) - set(db["tasks"])),
        "only_in_b": sorted(set(db["tasks"]) - set(da["tasks"])),
        "tasks": [],
    }
    if not common:
        raise LeaderboardError(f"{pa} and {pb} have no task in common (A: {', '.join(da['tasks'])}; "
                               f"B: {', '.join(db['tasks'])})")
    for t in common:
        ta, tb = da["tasks"][t], db["tasks"][t]
        notes = []
        for what, ka, kb in (("task version", ta["version"], tb["version"]),
                             ("data fingerprint", ta["data"]["fingerprint"], tb["data"]["fingerprint"]),
                             ("task config", ta["config"], tb["config"])):
            if ka != kb:
                notes.append(f"{what} differs (A: {ka}, B: {kb}): the numbers may not be comparable")
        metrics = [m for m in ta["metrics"] if m in tb["metrics"]]
        if primary_only:
            metrics = [m for m in metrics if m == tb["primary_metric"]]
        meta = {**ta["metric_metadata"], **tb["metric_metadata"]}
        why_task, n_paired, why_metric, cis = None, 0, {}, {}
        if ta["data"]["fingerprint"] != tb["data"]["fingerprint"]:
            why_task = "the two runs used different data (data fingerprints differ): items cannot be paired"
        rows_a = rows_b = None
        if why_task is None:
            rows_a, why_a = _read_log(pa, ta)
            rows_b, why_b = _read_log(pb, tb)
            if rows_a is None or rows_b is None:
                why_task = "no paired CI: " + "; ".join(
                    f"{side}: {w}" for side, w in (("A", why_a), ("B", why_b)) if w)
        if why_task is None:
            sa, sb = _scored(rows_a), _scored(rows_b)
            (dec_a, cols_a, keys_a, why_a), (dec_b, cols_b, keys_b, why_b) = (
                _recomputable(t, da, ta, sa), _recomputable(t, db, tb, sb))
            for m in metrics:
                if m not in dec_a or m not in dec_b:
                    why_metric[m] = "; ".join(dict.fromkeys(
                        f"{side}: {w[m]}" for side, w in (("A", why_a), ("B", why_b)) if m in w))
            ia = {r["id"]: i for i, r in enumerate(sa)}
            ib = {r["id"]: i for i, r in enumerate(sb)}
            ids = [i for i in ia if i in ib]
            hash_diff, other_scheme = _input_hash_differences([(i, sa[ia[i]], sb[ib[i]]) for i in ids])
            if other_scheme:
                notes.append(f"{other_scheme} sample(s) have input hashes of different schemes in the two runs "
                             f"(written by different mmharness versions): their inputs were not checked")
            if hash_diff:
                why_task = (f"{len(hash_diff)} sample(s) had different inputs in the two runs (input hashes "
                            f"differ, e.g. {hash_diff[0]}): not the same test items")
            elif not ids:
                why_task = "no sample was scored in both runs"
            else:
                if len(ids) < max(len(sa), len(sb)):
                    notes.append(f"paired on the {len(ids)} samples scored in both runs (A scored {len(sa)}, "
                                 f"B {len(sb)}); the CI is of the delta on those samples")
                # the resampling units: samples, or the task's units (items of several samples each)
                ka = {k: i for i, k in enumerate(keys_a)}
                kb = {k: i for i, k in enumerate(keys_b)}
                common = [k for k in ka if k in kb]
                n_paired = len(common)
                pair_a = np.asarray([ka[k] for k in common], dtype=np.int64)
                pair_b = np.asarray([kb[k] for k in common], dtype=np.int64)
                if not common:
                    why_task = "no resampling unit was scored in both runs"
                usable = [m for m in metrics if m not in why_metric]
                cis = paired_intervals([dec_a[m] for m in usable], cols_a, pair_a, [dec_b[m] for m in usable],
                                       cols_b, pair_b, resamples=resamples, seed=seed, level=level)
        rows_out = []
        for m in metrics:
            va, vb = ta["metrics"][m].get("value"), tb["metrics"][m].get("value")
            hib = meta.get(m, {}).get("higher_is_better", True)
            ci = None
            why = why_task or why_metric.get(m)
            if why is None:
                ci = cis.get(m)
                if ci is None or ci[0] is None:
                    why, ci = "the bootstrap distribution has no finite value", None
            rows_out.append({
                "metric": m, "primary": m == tb["primary_metric"], "higher_is_better": hib,
                "a": va, "b": vb, "delta": (vb - va) if va is not None and vb is not None else None,
                "a_ci": ta["metrics"][m].get("ci"), "b_ci": tb["metrics"][m].get("ci"),
                "ci": list(ci) if ci else None, "paired_ci": ci is not None, "why_no_ci": why if ci is None else None,
                "verdict": _verdict(ci, hib),
            })
        report["tasks"].append({"task": t, "paired": why_task is None, "why_not_paired": why_task,
                                "n_paired": n_paired, "notes": notes, "metrics": rows_out})
    return report


def _recomputable(task: str, doc: dict, task_doc: dict, rows: list[dict]
                  ) -> tuple[dict, dict, list[str], dict[str, str]]:
    """The metrics of one run that its task's declarations recompute from the per-sample log:
    ``(name -> Declared, columns, the key of each column row, name -> why not)``. The task is
    rebuilt from the run's recorded options (``config.task_args``), so its declarations are those
    the run scored with; each is checked to reproduce the recorded value on the identity resample.
    A task with a ``resample_unit`` gets one column row per unit (:func:`~mmharness.metrics.declare.pivot_rows`),
    keyed by the unit; otherwise one per sample, keyed by sample id."""
    from ..evaluate import build_task
    from ..metrics.declare import columns_from_log, pivot_rows, verified
    from ..registry import RegistryError
    from ..task import TaskError

    try:
        t = build_task(task, doc["config"].get("task_args") or {})
    except RegistryError as e:  # not registered here: a plugin task
        why = f"task {task!r} is not registered ({e}); pass --include MODULE_OR_FILE for a plugin task"
        return {}, {}, [r["id"] for r in rows], {m: why for m in task_doc["metrics"]}
    except TaskError as e:  # options this version refuses
        why = f"cannot rebuild task {task!r} from the recorded options: {e}"
        return {}, {}, [r["id"] for r in rows], {m: why for m in task_doc["metrics"]}
    decls = t.declared_metrics()
    declared = {d.name for d in decls}
    unit = t.resample_unit
    if unit is not None:
        keys, cols, pivot_why = pivot_rows([dict(r.get("scores") or {}, id=r.get("id")) for r in rows], unit)
        needed = {c for d in decls for c in d.aggregate.needs}
        missing = {c: pivot_why.get("*", f"the per-sample log gives no column {c!r}") for c in needed if c not in cols}
        if not keys:
            keys = [r["id"] for r in rows]
    else:
        keys = [r["id"] for r in rows]
        cols, missing = columns_from_log(decls, rows)
    ok, why = verified(decls, cols, task_doc["metrics"], missing)
    for m in task_doc["metrics"]:
        if m not in declared:
            why[m] = f"task {task!r} does not declare {m!r} from per-sample quantities (Task.declared_metrics)"
    return {d.name: d for d in ok}, cols, keys, why


def _verdict(ci, higher_is_better: bool) -> str:
    if ci is None:
        return "no CI"
    lo, hi = ci
    if lo > 0 or hi < 0:
        b_up = lo > 0
        return "B better" if b_up == higher_is_better else "A better"
    return "no clear difference"


def _side(path: Path, doc: dict) -> dict:
    return {"path": str(path), "model": model_name(doc), "model_args": model_label(doc),
            "fingerprint": doc["model"]["fingerprint"],
            "run_id": doc["run_id"], "created": doc["created"], "data": doc["config"]["data"]}


def format_comparison(rep: dict) -> str:
    """The comparison as terminal text: one block per task, one line per metric."""
    def f(x):
        return "—" if x is None else f"{x:.4f}"

    def fd(x):
        return "—" if x is None else f"{x:+.4f}"

    level = rep["settings"]["ci_level"]
    out = [f"A: {rep['a']['model']}  ({rep['a']['path']}, {rep['a']['created']}, data {rep['a']['data']})",
           f"B: {rep['b']['model']}  ({rep['b']['path']}, {rep['b']['created']}, data {rep['b']['data']})",
           f"delta = B - A; {int(level * 100)}% paired bootstrap CI over test items "
           f"({rep['settings']['resamples']} resamples, seed {rep['settings']['seed']})"]
    for t in rep["tasks"]:
        out.append("")
        head = f"{t['task']}: " + (f"paired over {t['n_paired']} items" if t["paired"] else t["why_not_paired"])
        out.append(head)
        rows = [("metric", "A", "B", "delta", f"{int(level * 100)}% CI (paired)", "verdict")]
        for m in t["metrics"]:
            ci = f"[{fd(m['ci'][0])}, {fd(m['ci'][1])}]" if m["ci"] else "—"
            rows.append((m["metric"] + (" *" if m["primary"] else "") + (" ↑" if m["higher_is_better"] else " ↓"),
                         f(m["a"]), f(m["b"]), fd(m["delta"]), ci, m["verdict"]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        for m in t["metrics"]:
            if t["paired"] and m["why_no_ci"]:
                out.append(f"  no CI for {m['metric']}: {m['why_no_ci']}")
        out += [f"  note: {n}" for n in t["notes"]]
    if rep["only_in_a"] or rep["only_in_b"]:
        out.append("")
        out.append(f"not compared: only in A: {', '.join(rep['only_in_a']) or '-'}; "
                   f"only in B: {', '.join(rep['only_in_b']) or '-'}")
    out.append("(* = primary metric; ↑/↓ = higher/lower is better)")
    return "\n".join(out)


def _input_hash_differences(pairs: list[tuple[str, dict, dict]]) -> tuple[list, int]:
    """Of (id, row in A, row in B) pairs: the ids whose input hashes differ (both present, same
    scheme), and how many could not be checked because their hashes use different schemes."""
    from ..input_hash import input_hash_scheme

    differ, other_scheme = [], 0
    for i, row_a, row_b in pairs:
        ha, hb = row_a.get("input_hash"), row_b.get("input_hash")
        if not ha or not hb:
            continue
        if input_hash_scheme(ha) != input_hash_scheme(hb):
            other_scheme += 1
        elif ha != hb:
            differ.append(i)
    return differ, other_scheme
