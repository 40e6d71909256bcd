"""Inputs for the leaderboard tests: real harness runs, and synthetic results documents derived
from a real one (hand-chosen values, published MMRA / PixelWorld numbers)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from mmharness.results import validate_results, write_results

FIXTURES = Path(__file__).parent / "fixtures" / "leaderboard"

#: (adapter, model_args) of the real runs made by :func:`real_runs` on the cifar_b sample.
REAL_MODELS = (("oracle", None), ("random", "seed=0"), ("constant", None))


def real_runs(out: Path) -> dict[str, Path]:
    """Run oracle, random(seed=0) and constant on both CIFAR-B sample tasks with per-sample logs;
    returns adapter -> results file."""
    from mmharness.evaluate import evaluate

    paths = {}
    for model, args in REAL_MODELS:
        r = evaluate(model, "cifar_b", model_args=args, sample=True, use_cache=False, output=out,
                     bootstrap=0, progress=False, log_samples=True)
        paths[model] = r.path
    return paths


def meta(higher_is_better=True, range_=(0.0, 1.0), chance=None, official=True):
    """A metric-metadata record as in results files."""
    return {"higher_is_better": higher_is_better, "range": list(range_), "chance": chance,
            "official": official, "unit": "fraction", "description": "test metric"}


def synthetic_doc(template: dict, *, adapter: str, tasks: dict[str, dict], args: dict | None = None,
                  created: str = "2026-01-01T00:00:00Z", data: str = "full", limit: int | None = None,
                  run_id: str | None = None) -> dict:
    """A valid results document for ``adapter`` built from a real one (``template``).

    ``tasks``: name -> {"metrics": {m: value}, "meta": {m: metadata}, "primary": m,
    optional "tables", "version", "fingerprint"}.
    """
    doc = copy.deepcopy(template)
    args = dict(args or {})
    ident = json.dumps([adapter, args], sort_keys=True)
    doc["model"].update(adapter=adapter, args=args, fingerprint=hashlib.sha256(ident.encode()).hexdigest()[:20],
                        origin="test")
    doc["model"].pop("name", None)  # no recorded name (as in files from earlier builds): the default from args
    doc["run_id"] = run_id or hashlib.sha256(f"{ident}{created}{sorted(tasks)}".encode()).hexdigest()
    doc["created"] = created
    doc["config"].update(data=data, limit=limit, log_samples=False)
    base = next(iter(template["tasks"].values()))
    out = {}
    for name, spec in tasks.items():
        t = copy.deepcopy(base)
        t.update(version=spec.get("version", "1"), protocol=f"test protocol of {name}", description=f"test task {name}",
                 config={}, primary_metric=spec["primary"],
                 metrics={m: {"value": v} for m, v in spec["metrics"].items()},
                 metric_metadata={m: spec["meta"][m] for m in spec["metrics"]},
                 tables=spec.get("tables", {}), notes=[], samples_log=None, skipped=[])
        t["data"] = {"kind": data, "source": "test", "fingerprint": spec.get("fingerprint", f"fp-{name}"),
                     "n_available": 100}
        n = min(100, limit) if limit else 100  # consistent counts (mmharness.results.results_problems)
        t.update(n_samples=n, n_scored=n, n_skipped=0, cache={"hits": 0, "computed": n})
        out[name] = t
    doc["tasks"] = out
    validate_results(doc, f"synthetic {adapter}")
    return doc


def write_doc(doc: dict, directory: Path, stem: str) -> Path:
    """Write ``doc`` as ``directory/results_<stem>.json`` (validated)."""
    return write_results(doc, Path(directory) / f"results_{stem}.json")


#: MMRA subtask abbreviations -> the official ``Task`` names (docs/protocols/mmra.md, fixture note).
MMRA_NAMES = {"RP": "RelativePosition", "US": "UsageSimilarity", "MS": "MentalitySimilarity",
              "SM": "SimilarMaterial", "AS": "AppearanceSimilarity", "NSE": "NearSameEntity",
              "Env": "Environment", "LO": "Layout", "SimE": "SimilarEvent", "SubE": "SubEvent",
              "OA": "ObservationAngle"}


def mmra_docs(template: dict, models=("GPT4o", "Gemini-Pro", "Idefics2")) -> list[dict]:
    """Results documents for task ``mmra`` carrying the published MMRA numbers (IQ setting) in the
    shape :mod:`mmharness.tasks.mmra` writes: ``per_subtask`` records (fractions), primary metric
    ``overall`` = published Overall."""
    fx = json.loads((FIXTURES / "mmra_main_results.json").read_text())
    counts = {k: v for k, v in fx["subtask_counts_derived"].items() if not k.startswith("_")}
    docs = []
    for row in fx["rows"]:
        if row["model"] not in models or row["setting"] != "IQ":
            continue
        table = [{"task": MMRA_NAMES[k], "abbr": k, "n": counts[k], "accuracy": row[k] / 100} for k in counts]
        docs.append(synthetic_doc(template, adapter="published", args={"model": row["model"]}, tasks={
            "mmra": {"metrics": {"overall": row["Overall"] / 100}, "primary": "overall",
                     "meta": {"overall": meta(chance=None)}, "tables": {"per_subtask": table}}}))
    return docs


def pixelworld_docs(template: dict, models=("Qwen2_VL_7B", "GPT4o", "Phi_3_5_vision")) -> list[dict]:
    """Results documents for task ``pixelworld`` with the published text vs pixel scores per dataset
    (fractions) in a ``per_dataset`` table; primary metric = mean pixel score."""
    fx = json.loads((FIXTURES / "pixelworld_project_page_results.json").read_text())["text_only"]
    cols = fx["_cols"]
    docs = []
    for name in models:
        text, img = fx[name]["text"], fx[name]["img"]
        table = {c: {"text": t / 100, "img": i / 100} for c, t, i in zip(cols, text, img)}
        docs.append(synthetic_doc(template, adapter="published", args={"model": name}, tasks={
            "pixelworld": {"metrics": {"score_img": sum(img) / len(img) / 100,
                                       "score_text": sum(text) / len(text) / 100},
                           "primary": "score_img",
                           "meta": {"score_img": meta(), "score_text": meta()},
                           "tables": {"per_dataset": table}}}))
    return docs
