"""Tidy views of results files: one row per (model, task, metric) for dataframes, and the latest
result of each (model, task) for tables.

A *model* is an adapter with its fingerprint (code version, arguments, weights): runs of one model
on different tasks, written to different files, are one model. Its label is the adapter name and
its arguments (``open_clip[model=ViT-B-32,pretrained=laion2b]``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

#: columns of the tidy export, in order
TIDY_COLUMNS = ("model", "adapter", "model_fingerprint", "task", "task_version", "metric", "primary", "value",
                "ci_low", "ci_high", "ci_level", "stderr", "higher_is_better", "official", "n_scored", "n_samples",
                "data", "data_fingerprint", "run_id", "created", "harness_version", "harness_git", "file")
FORMATS = ("csv", "jsonl", "parquet")


def model_label(doc: dict) -> str:
    """``adapter[k=v,...]``: the adapter and the arguments it was given."""
    args = doc["model"]["args"]
    return doc["model"]["adapter"] + (f"[{','.join(f'{k}={v}' for k, v in args.items())}]" if args else "")


def model_key(doc: dict) -> tuple[str, str]:
    """What makes two runs the same model: the adapter and its fingerprint."""
    return doc["model"]["adapter"], doc["model"]["fingerprint"]


def tidy_rows(docs: Iterable[tuple[dict, Path | str]]) -> list[dict]:
    """One row per (results file, task, metric) with the value, its CI, n and provenance."""
    rows = []
    for doc, path in docs:
        git = doc["harness"].get("git") or {}
        for task, t in doc["tasks"].items():
            for metric, v in t["metrics"].items():
                meta = t["metric_metadata"].get(metric, {})
                ci = v.get("ci") or (None, None)
                rows.append({
                    "model": model_label(doc), "adapter": doc["model"]["adapter"],
                    "model_fingerprint": doc["model"]["fingerprint"], "task": task, "task_version": t["version"],
                    "metric": metric, "primary": metric == t["primary_metric"], "value": v.get("value"),
                    "ci_low": ci[0], "ci_high": ci[1], "ci_level": v.get("ci_level"), "stderr": v.get("stderr"),
                    "higher_is_better": meta.get("higher_is_better"), "official": meta.get("official"),
                    "n_scored": t["n_scored"], "n_samples": t["n_samples"], "data": t["data"]["kind"],
                    "data_fingerprint": t["data"]["fingerprint"], "run_id": doc["run_id"], "created": doc["created"],
                    "harness_version": doc["harness"]["version"], "harness_git": git.get("commit"),
                    "file": str(path)})
    return rows


def write_tidy(rows: Sequence[dict], path: Path, fmt: str) -> Path:
    """Write the rows as CSV, JSON lines or Parquet (atomically for the text formats)."""
    from .results import atomic_write_text, clean_json

    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=TIDY_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in TIDY_COLUMNS})
        atomic_write_text(path, buf.getvalue())
    elif fmt == "jsonl":
        atomic_write_text(path, "".join(json.dumps(clean_json(r)) + "\n" for r in rows))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{k: r[k] for k in TIDY_COLUMNS} for r in rows]) if rows else \
            pa.table({k: pa.array([], type=pa.string()) for k in TIDY_COLUMNS})
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    else:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return path


@dataclass
class ModelRow:
    """The latest result of each task for one model (several files may hold its runs)."""

    label: str
    tasks: dict[str, dict]  # task -> task document of its most recent run
    data: set[str]


def by_model(docs: Iterable[dict]) -> list[ModelRow]:
    """Group results by model; for each task keep the most recent run (by ``created``)."""
    rows: dict[tuple[str, str], ModelRow] = {}
    created: dict[tuple[tuple[str, str], str], str] = {}
    for doc in sorted(docs, key=lambda d: d["created"]):
        key = model_key(doc)
        row = rows.setdefault(key, ModelRow(model_label(doc), {}, set()))
        for task, t in doc["tasks"].items():
            if doc["created"] >= created.get((key, task), ""):
                row.tasks[task] = t
                created[(key, task)] = doc["created"]
            row.data.add(t["data"]["kind"])
    return list(rows.values())
