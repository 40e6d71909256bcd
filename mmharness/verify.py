"""Re-score a run from what it left behind and check that its results file says what scoring gives.

``mmh results verify RESULTS...`` and ``mmh leaderboard build --verify`` use :func:`verify_results`.
For each task of a run:

1. the file passes the schema and :func:`mmharness.results.results_problems`;
2. the task is rebuilt as the run built it: plugins from ``config.includes``, options from
   ``config.task_args``, the profile resolved for the adapter class's ``served`` trait (from the
   registry); its version, its config and its metrics' metadata must equal the recorded ones;
3. the data is loaded as the run loaded it (``config.data_root``, ``config.data_source``,
   ``config.data == "sample"``, the first ``config.limit`` samples); its fingerprint must equal
   the recorded ``data.fingerprint`` (otherwise the data changed and nothing is re-scored);
4. the responses come from the run's sample log when ``--log-samples`` wrote one, its sha256 equals
   the recorded ``samples_log_sha256`` (a log changed after the run fails the task) and it gives
   every response back exactly (:func:`mmharness.requests.response_from_json`; large arrays are
   logged as hashes only); otherwise from the response cache, keyed as the run keyed it (adapter
   fingerprint + precision, task fingerprint); the skipped samples are the recorded ones;
5. the task is scored with :func:`mmharness.evaluate.score_task` (seed, bootstrap resamples, CI
   level of the run; a task that scores by running model-written code runs its programs again,
   without the cache: :mod:`mmharness.execution`), and every recorded metric (value, CI, CI level, stderr) and the counts must
   equal the recomputed ones (to 1e-9, relative), and so must the numbers and the layout of each
   recorded table (their text is not compared: it may hold a tool's output with timings). A
   metric or table that scoring gives but the file does not record (added by a later build) is a
   note, not a failure; a recorded one that scoring no longer gives is a failure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: relative (and absolute, near zero) tolerance of the comparison of recorded and recomputed numbers
TOLERANCE = 1e-9


@dataclass
class TaskCheck:
    """The verification of one task: where its responses came from (``source``), what differs
    from the recorded results (``differences``), what stopped or failed the check (``errors``),
    and remarks (``notes``, e.g. why the sample log was not used)."""

    task: str
    source: str | None = None
    differences: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.errors


@dataclass
class Verification:
    """The verification of one results file: file-level ``errors`` and one :class:`TaskCheck` per task."""

    path: str
    tasks: list[TaskCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(t.ok for t in self.tasks)

    def reason(self) -> str:
        """Why it failed, in one line (empty when it passed)."""
        parts = list(self.errors)
        for t in self.tasks:
            parts += [f"task {t.task!r}: {m}" for m in t.errors + t.differences]
        return "; ".join(parts)

    def format(self) -> str:
        """Lines for the terminal: the verdict, then per task its source and what differs."""
        lines = [f"{'ok  ' if self.ok else 'FAIL'}  {self.path}"]
        lines += [f"      {e}" for e in self.errors]
        for t in self.tasks:
            head = f"      {t.task}: {'ok' if t.ok else 'FAIL'}"
            if t.source:
                head += f" (re-scored from {t.source})"
            lines.append(head)
            lines += [f"        {m}" for m in t.errors + t.differences]
            lines += [f"        note: {m}" for m in t.notes]
        return "\n".join(lines)


def verify_results(path: str | Path, *, cache_dir: str | Path | None = None,
                   data_root: str | Path | None = None) -> Verification:
    """Verify one results file (see the module docstring). ``cache_dir`` and ``data_root`` replace
    the recorded cache directory and data root (moved since the run); the data fingerprint and
    the cache keys still have to match."""
    from .results import ResultsError, load_results

    try:
        doc = load_results(path)
    except (ResultsError, OSError) as e:
        return Verification(str(path), errors=[str(e)])
    return verify_doc(doc, str(path), cache_dir=cache_dir, data_root=data_root)


def verify_doc(doc: dict, path: str, *, cache_dir: str | Path | None = None,
               data_root: str | Path | None = None) -> Verification:
    """Verify a schema-valid results document read from ``path`` (its sample logs are found beside it)."""
    from .registry import ADAPTERS, RegistryError, include
    from .results import results_problems

    ver = Verification(str(path))
    problems = results_problems(doc)
    if problems:
        ver.errors += problems
        return ver
    cfg = doc["config"]
    try:
        for inc in cfg.get("includes") or ():
            include(inc)
    except Exception as e:  # noqa: BLE001 - any failure of a plugin is reported, not raised
        ver.errors.append(f"cannot import the run's plugins (config.includes): {e}")
        return ver
    adapter = doc["model"]["adapter"]
    try:
        served = bool(ADAPTERS.get(adapter).resolve_class(dict(doc["model"]["args"])).served)
    except RegistryError as e:
        ver.errors.append(f"adapter {adapter!r} is not registered here, so its profile (served or not) is "
                          f"unknown: {e}")
        return ver
    except Exception as e:  # noqa: BLE001
        ver.errors.append(f"adapter {adapter!r}: cannot resolve its class from the recorded arguments: {e}")
        return ver
    for name, tdoc in doc["tasks"].items():
        check = TaskCheck(name)
        ver.tasks.append(check)
        try:
            _verify_task(check, doc, tdoc, Path(path).parent, served, cache_dir, data_root)
        except Exception as e:  # noqa: BLE001 - a broken task or plugin fails its check, not the others
            check.errors.append(f"re-scoring failed: {type(e).__name__}: {e}")
    return ver


# --------------------------------------------------------------------------- one task


def _verify_task(check: TaskCheck, doc: dict, tdoc: dict, base: Path, served: bool,
                 cache_dir: str | Path | None, data_root: str | Path | None) -> None:
    from .evaluate import build_task, score_task
    from .generation import parse_gen_kwargs
    from .requests import Capability
    from .results import clean_json
    from .task import DataConfig, TaskError, limit_samples

    cfg, name = doc["config"], check.task
    task_args = cfg.get("task_args")
    try:
        t = build_task(name, task_args or {})
        t.resolve_profile(served=served)
        if cfg.get("gen_kwargs") and Capability.GENERATE in t.uses:  # --gen-kwargs key the cache too
            t.generation_overrides = parse_gen_kwargs(cfg["gen_kwargs"])
    except Exception as e:  # noqa: BLE001
        check.errors.append(f"cannot rebuild the task: {e}")
        return
    if str(t.version) != tdoc["version"]:
        check.errors.append(f"task version {tdoc['version']!r} recorded, this mmharness has version "
                            f"{t.version!r}: its scoring may differ; verify with the version that made the run")
        return
    root = data_root if data_root is not None else cfg.get("data_root")
    dcfg = DataConfig(root=Path(root) if root else None, sample=cfg["data"] == "sample", source=cfg.get("data_source"))
    try:
        data = t.load(dcfg)
    except (TaskError, OSError) as e:
        check.errors.append(f"the data is not available: {e}")
        return
    if data.fingerprint != tdoc["data"]["fingerprint"]:
        check.errors.append(f"the data changed: fingerprint {tdoc['data']['fingerprint']} recorded, the data at "
                            f"{data.source} now gives {data.fingerprint}")
        return
    limit = cfg.get("limit")
    samples = limit_samples(data.samples, limit)
    if len(samples) != tdoc["n_samples"]:
        check.errors.append(f"n_samples {tdoc['n_samples']} recorded, the data gives {len(samples)}")
        return
    skipped = {s["id"] for s in tdoc.get("skipped") or ()}
    got = _from_log(check, tdoc, base, samples, skipped)
    cache = None
    try:
        if got is None:
            if check.errors:
                return
            cache, got = _from_cache(check, doc, t, data, samples, skipped, cache_dir)
            if got is None:
                return
        keep, responses = got
        if len(keep) != tdoc["n_scored"]:
            check.differences.append(f"n_scored: recorded {tdoc['n_scored']}, {len(keep)} samples have a response")
        scored = score_task(t, samples, keep, responses, seed=cfg["seed"], bootstrap=cfg["bootstrap_resamples"],
                            ci_level=cfg["ci_level"])
    finally:
        if cache is not None:
            cache.close()
    rebuilt = clean_json(t.config())  # as evaluate records it: after load() and score(), which may resolve parts
    if rebuilt != tdoc["config"]:
        keys = sorted(k for k in set(rebuilt) | set(tdoc["config"]) if rebuilt.get(k) != tdoc["config"].get(k))
        hint = ("" if task_args is not None else
                " (this results file does not record its task options, config.task_args: it was written "
                "before mmharness recorded them)")
        check.errors.append(f"the task rebuilt from the recorded options has another config (differs in "
                            f"{', '.join(keys)}){hint}; its numbers are not comparable")
        return
    _compare(check, tdoc, clean_json({k: v.as_dict() for k, v in scored.metrics.items()}),
             clean_json(scored.tables), t)


def _from_log(check: TaskCheck, tdoc: dict, base: Path, samples: list, skipped: set[str]):
    """(kept indices, responses) from the task's sample log, or None (with a note why, or an
    error when the log was changed after the run)."""
    import hashlib

    from .requests import response_from_json

    log_name = tdoc.get("samples_log")
    if not log_name:
        check.notes.append("no sample log (the run was made without --log-samples)")
        return None
    path = base / log_name
    if not path.is_file():
        check.notes.append(f"the sample log {path} is missing")
        return None
    digest = tdoc.get("samples_log_sha256")
    if not digest:
        check.notes.append(f"the sample log {path} is not used: the results record no sha256 of it "
                           f"(samples_log_sha256; written before mmharness recorded one)")
        return None
    raw = path.read_bytes()  # read once: the bytes hashed are the bytes parsed
    actual = hashlib.sha256(raw).hexdigest()
    if actual != digest:
        check.errors.append(f"the sample log {path} was changed after the run: its sha256 is {actual}, the "
                            f"results record {digest}")
        return None
    rows: dict[str, dict] = {}
    try:
        for line in raw.decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[str(row["id"])] = row
    except (ValueError, KeyError, TypeError) as e:
        check.errors.append(f"the sample log {path} cannot be read: {e}")
        return None
    ids = [s.id for s in samples]
    if set(rows) != set(ids):
        check.errors.append(f"the sample log {path} holds {len(rows)} sample ids, the data {len(ids)}; "
                            f"{len(set(ids) - set(rows))} of the data's are not in the log")
        return None
    logged_skips = {sid for sid, r in rows.items() if r.get("skipped") or r.get("response") is None}
    if logged_skips != skipped:
        check.differences.append(f"skipped samples: the results list {sorted(skipped)[:5]} ({len(skipped)}), "
                                 f"the sample log {sorted(logged_skips)[:5]} ({len(logged_skips)})")
    keep, responses = [], []
    for i, sid in enumerate(ids):
        if sid in skipped:
            continue
        row = rows[sid]
        if row.get("response") is None:
            check.errors.append(f"the sample log {path} has no response for sample {sid}, which the results "
                                f"do not list as skipped")
            return None
        try:
            responses.append(response_from_json(row["response"]))
        except ValueError as e:
            check.notes.append(f"the sample log {path} cannot give every response back (sample {sid}: {e}); "
                               f"re-scoring from the response cache instead")
            return None
        keep.append(i)
    check.source = f"the sample log {path}"
    return keep, responses


def _from_cache(check: TaskCheck, doc: dict, t, data, samples: list, skipped: set[str],
                cache_dir: str | Path | None):
    """(open cache, (kept indices, responses)) from the response cache, or (None, None) with an
    error that says what is missing (after the notes on why the sample log was not used)."""
    from .cache import ResponseCache
    from .runner import CachedResponses

    def nothing(why: str):
        check.errors.append("nothing to re-score from: " + "; ".join(check.notes + [why]))
        return None, None

    cfg = doc["config"]
    if cache_dir is not None:
        db = Path(cache_dir) / "responses.sqlite"
    elif cfg.get("cache"):
        db = Path(cfg["cache"])
    else:
        return nothing("and no response cache (the run was made with --no-cache; give one with --cache-dir)")
    if not db.is_file():
        return nothing(f"and no response cache at {db}")
    adapter_key = f"{doc['model']['fingerprint']}:{cfg['precision']}"
    task_key = t.fingerprint(data)
    cache = ResponseCache(db.parent)
    keep = [i for i, s in enumerate(samples) if s.id not in skipped]
    have = cache.cached_ids(adapter_key, task_key)
    absent = [samples[i].id for i in keep if samples[i].id not in have]
    if absent:
        cache.close()
        return nothing(f"and the response cache {db} holds {len(keep) - len(absent)} of the {len(keep)} responses "
                       f"of this run (adapter key {adapter_key}, task key {task_key}; first missing: {absent[:3]})")
    ids = [s.id for s in samples]
    if getattr(t, "stream_responses", False):  # as the runner reads them back: lazily, chunk by chunk
        responses: Any = CachedResponses(cache, adapter_key, task_key, ids).subset(keep)
    else:
        rows = cache.get_many(adapter_key, task_key, [ids[i] for i in keep])
        responses = [rows[ids[i]][0] for i in keep]
    check.source = f"the response cache {db}"
    return cache, (keep, responses)


# --------------------------------------------------------------------------- comparison


def _close(a: Any, b: Any, strings: bool = True) -> bool:
    """Equal JSON values, numbers to :data:`TOLERANCE` (relative, or absolute near zero); with
    ``strings=False`` two strings always pass (free text such as a tool's captured output, which
    may carry timings)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE * 1e-3)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], strings) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, strings) for x, y in zip(a, b))
    if not strings and isinstance(a, str) and isinstance(b, str):
        return True
    return a == b


def _compare(check: TaskCheck, tdoc: dict, metrics: dict, tables: dict, t) -> None:
    from .results import clean_json

    recorded = tdoc["metrics"]
    for m in sorted(set(recorded) | set(metrics)):
        if m not in metrics:
            check.differences.append(f"metric {m!r}: recorded, but scoring gives no such metric")
            continue
        if m not in recorded:  # every recorded number is checked; one the run did not record is not a change
            check.notes.append(f"metric {m!r} is not recorded (scoring gives {metrics[m].get('value')}): added "
                               "by a later build, or left out of the file")
            continue
        for f in ("value", "ci", "ci_level", "stderr"):
            a, b = recorded[m].get(f), metrics[m].get(f)
            if not _close(a, b):
                check.differences.append(f"metric {m!r} {f}: recorded {a}, recomputed {b}")
        try:
            spec = clean_json(t.metric_spec(m).as_dict())
        except KeyError:
            continue
        meta = tdoc["metric_metadata"].get(m)
        if meta is not None and not _close(meta, spec):
            keys = sorted(k for k in spec if not _close(meta.get(k), spec[k]))
            check.differences.append(f"metric {m!r} metadata ({', '.join(keys)}): recorded "
                                     f"{ {k: meta.get(k) for k in keys} }, the task declares { {k: spec[k] for k in keys} }")
    if tdoc["primary_metric"] != t.primary_metric:
        check.differences.append(f"primary metric: recorded {tdoc['primary_metric']!r}, the task's is "
                                 f"{t.primary_metric!r}")
    rec_tables = tdoc.get("tables") or {}
    for k in sorted(set(tables) - set(rec_tables)):
        check.notes.append(f"table {k!r} is not recorded: added by a later build, or left out of the file")
    for k in sorted(rec_tables):
        if not _close(rec_tables.get(k), tables.get(k), strings=False):
            check.differences.append(f"table {k!r}: the recorded numbers differ from the recomputed ones")
