"""Tidy views of results files: one row per (model, task, metric) for dataframes, and the latest
result of each (model, task) for tables.

A *model* is an adapter with its fingerprint (code version, arguments, weights): runs of one model
on different tasks, written to different files, are one model. Its full label is the adapter name and
its arguments (``open_clip[model=ViT-B-32,pretrained=laion2b]``); its display *name* is short
(:func:`model_name`: ``mmh run --name``, recorded as ``model.name``, else :func:`default_model_name`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

#: columns of the tidy export, in order
TIDY_COLUMNS = ("model", "name", "adapter", "model_fingerprint", "task", "task_version", "metric", "primary", "value",
                "ci_low", "ci_high", "ci_level", "stderr", "higher_is_better", "official", "n_scored", "n_samples",
                "data", "data_fingerprint", "run_id", "created", "harness_version", "harness_git", "file")
FORMATS = ("csv", "jsonl", "parquet")


def model_label(doc: dict) -> str:
    """``adapter[k=v,...]``: the adapter and the arguments it was given."""
    args = doc["model"]["args"]
    return doc["model"]["adapter"] + (f"[{','.join(f'{k}={v}' for k, v in args.items())}]" if args else "")


#: file suffixes dropped from a model argument's base name (weights and model configs)
MODEL_FILE_SUFFIXES = (".json", ".bin", ".pt", ".pth", ".safetensors", ".ckpt", ".onnx", ".gguf")


def base_name(value: object) -> str:
    """The last component of a path or hub id (``/models/llava-1.5-7b-hf/`` -> ``llava-1.5-7b-hf``,
    ``org/model`` -> ``model``, ``hf-hub:org/model`` -> ``model``), without a weights or config file
    suffix (:data:`MODEL_FILE_SUFFIXES`: ``examples/tiny_clip.json`` -> ``tiny_clip``); other values
    as they are."""
    s = str(value)
    parts = [p for p in s.replace("\\", "/").split("/") if p]
    if not parts:
        return s
    last = parts[-1]
    for suffix in MODEL_FILE_SUFFIXES:
        if last.lower().endswith(suffix) and len(last) > len(suffix):
            return last[: -len(suffix)]
    return last


def _short_value(v: object) -> str:
    """An argument value as names show it: a path (with ``/`` or ``\\``) by its :func:`base_name`."""
    return base_name(v) if isinstance(v, str) and ("/" in v or "\\" in v) else str(v)


def default_model_name(adapter: str, args: dict | None) -> str:
    """A short display name from the adapter and its arguments:

    * ``adapter(BASE)`` when the adapter was given its model argument (``model``, else ``name``: the
      torchvision adapters' alias of ``model``), BASE being :func:`base_name` of it:
      ``open_clip(tiny_clip)``, ``hf(llava-1.5-7b-hf)``, ``openai(gpt-4o-2024-08-06)``;
    * ``adapter(k=v,...)`` with every argument when there is no model argument, path values shortened
      to their base name: ``random(seed=0)``;
    * ``adapter`` when there are no arguments: ``oracle``.
    """
    args = dict(args or {})
    for key in ("model", "name"):
        v = args.get(key)
        if v is not None and str(v).strip():
            return f"{adapter}({base_name(str(v).strip())})"
    if not args:
        return adapter
    return f"{adapter}({','.join(f'{k}={_short_value(v)}' for k, v in args.items())})"


def model_name(doc: dict) -> str:
    """The run's display name: ``model.name`` as recorded (``mmh run --name``, or the default computed
    when the run was made), else (results from earlier builds) :func:`default_model_name` of the
    recorded adapter and arguments."""
    m = doc["model"]
    return m.get("name") or default_model_name(m["adapter"], m.get("args"))


def distinct_labels(entries: Sequence[tuple[str, str, dict, str]]) -> list[str]:
    """Labels for table rows that would otherwise read the same. ``entries``: ``(label, group,
    args, fingerprint)``, where rows of the same ``group`` (e.g. label and flags) must differ. A
    shared label gets the arguments that tell its rows apart, shortened like names
    (``open_clip(ViT-B-32) pretrained=laion2b``); rows still alike get ``#`` and the fingerprint's
    first 8 characters."""
    out = [e[0] for e in entries]
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e[1], []).append(i)
    for idx in groups.values():
        if len(idx) < 2:
            continue
        keys = sorted({k for i in idx for k in entries[i][2]})
        differ = [k for k in keys if len({_short_value(entries[i][2].get(k, "")) for i in idx}) > 1]
        for i in idx:
            args = entries[i][2]
            extra = ",".join(f"{k}={_short_value(args[k])}" for k in differ if k in args)
            out[i] = f"{out[i]} {extra}" if extra else out[i]
        seen = [(out[i], entries[i][1]) for i in idx]
        for i, key in zip(idx, seen):
            if seen.count(key) > 1:
                out[i] = f"{out[i]} #{entries[i][3][:8]}"
    return out


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
                    "model": model_label(doc), "name": model_name(doc), "adapter": doc["model"]["adapter"],
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

    label: str  # display name (model_name of its newest run; ``#fingerprint`` added when two rows share it)
    tasks: dict[str, dict]  # task -> task document of its most recent run
    data: set[str]
    fingerprint: str = ""
    args: dict = field(default_factory=dict)


def by_model(docs: Iterable[dict]) -> list[ModelRow]:
    """Group results by model; for each task keep the most recent run (by ``created``). A row is
    labelled by the name of its newest run (:func:`model_name`), made distinct where two models
    would share it (:func:`distinct_labels`)."""
    rows: dict[tuple[str, str], ModelRow] = {}
    for doc in sorted(docs, key=lambda d: d["created"]):  # oldest first: a later run's task replaces it
        row = rows.setdefault(model_key(doc), ModelRow("", {}, set(), fingerprint=doc["model"]["fingerprint"]))
        row.label, row.args = model_name(doc), dict(doc["model"]["args"])
        for task, t in doc["tasks"].items():
            row.tasks[task] = t
            row.data.add(t["data"]["kind"])
    out = list(rows.values())
    for r, label in zip(out, distinct_labels([(r.label, r.label, r.args, r.fingerprint) for r in out])):
        r.label = label
    return out
