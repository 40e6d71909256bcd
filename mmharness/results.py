"""Results files: the versioned JSON of one run, its JSON Schema, atomic writes, per-sample logs.

Every results file is validated against ``schemas/results.schema.json`` before it is written, and
is written atomically (temporary file in the same directory, fsync, rename), so a reader never sees
a half-written file and a crash never destroys an earlier one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterable

from . import READABLE_SCHEMA_VERSIONS, __version__
from .schema_check import fast_check

RESULTS_KIND = "mmharness.results"
_TRACKED_PACKAGES = ("torch", "torchvision", "open-clip-torch", "numpy", "pillow", "datasets",
                     "scikit-learn", "pycocotools", "transformers", "mmharness")


class ResultsError(ValueError):
    """A results file is invalid (names the file and the failing field)."""


@lru_cache(maxsize=None)
def results_schema() -> dict:
    """The shipped JSON Schema of results files."""
    return json.loads(resources.files("mmharness").joinpath("schemas/results.schema.json").read_text())


def validate_against(schema: dict, doc: dict, where: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``where`` and the first violation of ``schema`` by ``doc``
    (field path and message, plus how many more there are).

    A document that :func:`mmharness.schema_check.fast_check` accepts is valid and returns at
    once; any other goes through ``jsonschema`` (Draft 2020-12), which names the violations."""
    check = fast_check(schema)
    if check is not None:
        try:
            if check(doc):
                return
        except Exception:  # e.g. an uncomparable value: jsonschema decides, as it always did
            pass
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise error(f"{where}: field {path}: {e.message}{more}")


def validate_results(doc: dict, where: str = "results") -> None:
    """Raise :class:`ResultsError` naming the first schema violation of ``doc``."""
    validate_against(results_schema(), doc, where, ResultsError)


def _in_range(x: float, rng: list, tol: float = 0.0) -> bool:
    lo, hi = rng
    return (lo is None or x >= lo - tol) and (hi is None or x <= hi + tol)


def _fmt_range(rng: list) -> str:
    return f"[{'-inf' if rng[0] is None else rng[0]}, {'inf' if rng[1] is None else rng[1]}]"


#: float slack of the range and containment checks (values are computed in float64)
_EPS = 1e-9


def results_problems(doc: dict) -> list[str]:
    """What makes a schema-valid results document impossible or inconsistent (empty: none found).

    The checks are the ones a run of this harness always passes: per task, the counts agree
    (``n_scored + n_skipped == n_samples``, ``len(skipped) == n_skipped``, cache hits + computed
    <= ``n_samples`` <= ``data.n_available`` and ``config.limit``); the primary metric is one of
    the task's metrics, and every metric has its metadata, whose range is ordered and holds the
    chance level; every value and CI bound lies within the metric's declared range (None =
    unbounded; a None value is allowed); a CI is ordered (low <= high) and its level in (0, 1); a
    stderr is >= 0; and a value lies in its CI widened by the CI's width on each side (a percentile
    bootstrap CI need not contain the point estimate of a biased statistic such as MacroStd: the
    CIFAR-100-B sample gave 0.015 with CI [0, 0.0135]; a value beyond that margin was not
    computed with that CI). They cannot show that a plausible value was edited: ``mmh results
    verify`` re-scores the run for that.
    """
    out: list[str] = []
    limit = (doc.get("config") or {}).get("limit")
    for name, t in (doc.get("tasks") or {}).items():
        where = f"task {name!r}"
        n, n_scored, n_skipped = t["n_samples"], t["n_scored"], t["n_skipped"]
        if n_scored > n:
            out.append(f"{where}: n_scored {n_scored} exceeds n_samples {n}")
        elif n_scored + n_skipped != n:
            out.append(f"{where}: n_scored {n_scored} + n_skipped {n_skipped} != n_samples {n}")
        if "skipped" in t and len(t["skipped"]) != n_skipped:
            out.append(f"{where}: {len(t['skipped'])} skipped sample(s) listed, but n_skipped is {n_skipped}")
        hits, computed = t["cache"]["hits"], t["cache"]["computed"]
        if hits + computed > n:
            out.append(f"{where}: cache hits {hits} + computed {computed} exceed n_samples {n}")
        avail = t["data"].get("n_available")
        if avail is not None and n > avail:
            out.append(f"{where}: n_samples {n} exceeds the {avail} samples the data holds (data.n_available)")
        if limit is not None and limit >= 1 and n > limit:  # a fraction (0 < limit < 1) caps per task size
            out.append(f"{where}: n_samples {n} exceeds config.limit {limit}")
        metrics, meta = t["metrics"], t["metric_metadata"]
        pm = t["primary_metric"]
        if pm not in metrics:
            known = sorted(set(metrics) | set(meta))
            out.append(f"{where}: primary metric {pm!r} is not among its metrics ({', '.join(known)})")
        for m in sorted(meta):
            rng, chance = meta[m]["range"], meta[m]["chance"]
            if None not in rng and rng[0] > rng[1]:
                out.append(f"{where}, metric {m!r}: declared range {_fmt_range(rng)} is inverted")
            elif chance is not None and not _in_range(chance, rng):
                out.append(f"{where}, metric {m!r}: chance level {chance} is outside its declared range "
                           f"{_fmt_range(rng)}")
        for m in sorted(metrics):
            v = metrics[m]
            if m not in meta:
                out.append(f"{where}, metric {m!r}: no metric_metadata (direction, range) for it")
                continue
            rng = meta[m]["range"]
            tol = _EPS * max(1.0, *(abs(b) for b in rng if b is not None))
            value, ci, se, level = v.get("value"), v.get("ci"), v.get("stderr"), v.get("ci_level")
            if value is not None and not _in_range(value, rng, tol):
                out.append(f"{where}, metric {m!r}: value {value} is outside its declared range {_fmt_range(rng)}")
            if se is not None and se < 0:
                out.append(f"{where}, metric {m!r}: stderr {se} is negative")
            if level is not None and not 0 < level < 1:
                out.append(f"{where}, metric {m!r}: ci_level {level} is not in (0, 1)")
            if ci is None:
                continue
            lo, hi = ci
            bad_bounds = [b for b in (lo, hi) if b is not None and not _in_range(b, rng, tol)]
            if bad_bounds:
                out.append(f"{where}, metric {m!r}: CI [{lo}, {hi}] reaches outside its declared range "
                           f"{_fmt_range(rng)}")
            if lo is None or hi is None:
                continue
            if lo > hi:
                out.append(f"{where}, metric {m!r}: CI [{lo}, {hi}] is inverted (low > high)")
            elif value is not None:
                margin = (hi - lo) + _EPS * max(1.0, abs(value))
                if not lo - margin <= value <= hi + margin:
                    out.append(f"{where}, metric {m!r}: value {value} lies outside its CI [{lo}, {hi}] "
                               f"(by more than the CI's width)")
    return out


def check_results(doc: dict, where: str = "results") -> None:
    """Raise :class:`ResultsError` naming ``where`` and every problem :func:`results_problems` finds."""
    problems = results_problems(doc)
    if problems:
        raise ResultsError(f"{where}: " + "; ".join(problems))


def load_results(path: str | Path) -> dict:
    """Read and validate one results file; errors name the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from e
    if not isinstance(doc, dict) or doc.get("kind") != RESULTS_KIND:
        raise ResultsError(f"{path}: not an mmharness results file (missing kind={RESULTS_KIND!r})")
    if doc.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise ResultsError(f"{path}: schema version {doc.get('schema_version')!r}; this mmharness "
                           f"{__version__} reads {', '.join(READABLE_SCHEMA_VERSIONS)}")
    validate_results(doc, str(path))
    return doc


_PLAIN_LEAVES = (str, int, bool, type(None))


def clean_json(x: Any) -> Any:
    """Make ``x`` JSON-safe: NaN/inf -> None, numpy scalars/arrays -> Python, tuples -> lists."""
    t = type(x)
    if t in _PLAIN_LEAVES:  # the common leaves, returned as they are (exact types: not numpy, not float)
        return x
    if t is float:
        return x if math.isfinite(x) else None
    if t is dict:
        return {str(k): clean_json(v) for k, v in x.items()}
    if t is list:
        return [clean_json(v) for v in x]
    import numpy as np

    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean_json(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename), with the permissions a
    plain ``open(path, "w")`` would give (0666 less the umask; a temp file is created 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    """The process's umask: from /proc where there is one (no side effect), else by setting and
    restoring it (Python has no getter)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_results(doc: dict, path: str | Path) -> Path:
    """Validate ``doc`` against the schema, then write it atomically to ``path``."""
    doc = clean_json(doc)
    validate_results(doc, str(path))
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return Path(path)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write per-sample rows as JSON lines, atomically."""
    text = "".join(json.dumps(clean_json(r), separators=(",", ":")) + "\n" for r in rows)
    atomic_write_text(path, text)
    return Path(path)


@lru_cache(maxsize=None)
def git_info() -> dict | None:
    """Commit and dirty flag of the mmharness source checkout, or None when not in git."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if len(commit) != 40:
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


@lru_cache(maxsize=None)
def _package_versions() -> tuple[tuple[str, str | None], ...]:
    out = []
    for p in _TRACKED_PACKAGES:
        try:
            out.append((p, metadata.version(p)))
        except metadata.PackageNotFoundError:
            out.append((p, None))
    return tuple(out)


def environment_info(device: str) -> dict:
    """Python, platform, package versions and accelerator: what could change the numbers."""
    pkgs = dict(_package_versions())
    env = {"python": sys.version.split()[0], "platform": platform.platform(), "packages": pkgs,
           "cuda": None, "accelerator": None, "cpu_count": os.cpu_count()}
    try:
        import torch

        env["cuda"] = torch.version.cuda
        if device.startswith("cuda"):
            env["accelerator"] = torch.cuda.get_device_name(torch.device(device))
        elif device == "mps":
            env["accelerator"] = "Apple MPS"
    except Exception:  # pragma: no cover - informational only
        pass
    return env
