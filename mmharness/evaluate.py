"""The Python API: ``evaluate(model, tasks, **options) -> Results``. The CLI is a thin layer on it.

Order of work, so that mistakes fail fast and cheaply: resolve names -> check the output directory
is writable -> check capabilities -> load task data -> build the model -> run, score and write.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import SCHEMA_VERSION, __version__
from .adapter import Adapter, AdapterError, build_adapter, parse_model_args
from .cache import MemoryCache, ResponseCache, check_writable, default_cache_dir
from .devices import autocast_factory, default_text_batch_size, resolve_device
from .execution import Executions, run_executions
from .executors import resolve
from .registry import ADAPTERS, TASKS, did_you_mean, expand_task_names, include
from .results_export import default_model_name
from . import distributed
from .requests import Capability, decode, encode, response_to_json
from .results import atomic_write_text, environment_info, git_info, write_jsonl, write_results
from .results import clean_json as _json_safe
from .threads import parse_threads
from .generation import parse_gen_kwargs
from .dry_run import dry_run_plan
from .runner import ON_ERROR, CachedResponses, RunOptions, TaskRun, run_task
from .task import (DataConfig, Sample, ScoreContext, Task, TaskError, TaskResult, limit_samples, sha256_file,
                   task_options)

log = logging.getLogger("mmharness")


@dataclass
class Results:
    """A finished run: the results document and where it was written (if anywhere)."""

    doc: dict
    path: Path | None = None
    sample_logs: dict[str, Path] = field(default_factory=dict)
    rank: int = 0  # under torchrun: this process's rank (every rank gets the same doc)

    def metric(self, task: str, name: str | None = None) -> float | None:
        t = self.doc["tasks"][task]
        return t["metrics"][name or t["primary_metric"]]["value"]


def build_task(name: str, task_args: dict[str, Any] | None = None) -> Task:
    """Instantiate task ``name`` with the options it accepts from ``task_args`` (strings converted
    by annotation)."""
    cls = TASKS.get(name)
    accepted = {o.name for o in task_options(cls)}
    mine = {k: v for k, v in (task_args or {}).items() if k in accepted}
    try:
        return build_adapter(cls, mine)  # same typed conversion as adapters
    except AdapterError as e:
        raise TaskError(str(e).replace("adapter", "task", 1)) from None


def evaluate(
    model: str | Adapter,
    tasks: str | Sequence[str],
    *,
    model_args: str | dict[str, Any] | None = None,
    task_args: str | dict[str, Any] | None = None,
    data_root: str | Path | None = None,
    data_source: str | None = None,
    sample: bool = False,
    batch_size: int = 32,
    text_batch_size: int | None = None,
    num_workers: int = 0,
    device: str = "auto",
    precision: str = "fp32",
    limit: int | float | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    output: str | Path | None = None,
    log_samples: bool = False,
    on_error: str = "raise",
    bootstrap: int = 1000,
    ci_level: float = 0.95,
    progress: bool = True,
    includes: Sequence[str] = (),
    channels_last: bool = False,
    compile: bool = False,
    threads: int | str = "auto",
    dry_run: bool = False,
    gen_kwargs: str | dict | None = None,
    name: str | None = None,
) -> Results:
    """Evaluate one model on one or more tasks and return (and optionally write) the results.

    ``model`` is a registered adapter name (with ``model_args``) or an adapter instance.
    ``tasks`` is a comma-separated string or a list of task and group names.
    ``text_batch_size`` None: 256 on an accelerator, 32 on a CPU (the value used is recorded).
    ``threads`` is the model's intra-op CPU thread count, or ``"auto"`` (see :mod:`mmharness.threads`).
    ``gen_kwargs`` (``--gen-kwargs``): overrides of the generation settings of every task that
    generates text (:func:`mmharness.generation.parse_gen_kwargs`); recorded, and part of those
    tasks' cache keys.
    ``dry_run``: resolve and load everything, build every request, and return a plan (per task:
    requests, images, generation settings, the first prompt; ``doc["kind"] == "mmharness.dry_run"``)
    without building the model or sending anything.
    ``name`` (``--name``): the model's display name in tables and leaderboards, recorded as
    ``model.name``; default :func:`mmharness.results_export.default_model_name` (``open_clip(tiny_clip)``).

    A served adapter (``served = True``, e.g. ``openai``) is built, and its server checked, before
    any data work; tasks resolve their ``profile`` against that trait (``Task.resolve_profile``).
    """
    t_start = time.perf_counter()
    for inc in includes:
        include(inc)
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}: expected one of {', '.join(ON_ERROR)}")
    if name is not None and (not str(name).strip() or "\n" in str(name)):
        raise ValueError(f"name={name!r}: expected a non-empty name on one line")
    threads = parse_threads(threads)
    if limit is not None:
        limit_samples([], limit)  # a bad --limit fails before any work
    if batch_size < 1 or num_workers < 0 or \
            (text_batch_size is not None and text_batch_size < 1):
        raise ValueError("batch_size and text_batch_size must be >= 1 and num_workers >= 0")
    task_names = expand_task_names(tasks)
    if isinstance(model, Adapter):
        adapter_cls: type[Adapter] = type(model)
        margs: dict[str, Any] = dict(model.model_args)
    else:
        adapter_cls = ADAPTERS.get(model)
        margs = parse_model_args(model_args) if isinstance(model_args, (str, type(None))) else dict(model_args)
        adapter_cls = adapter_cls.resolve_class(margs)  # a name serving several model families
    targs = parse_model_args(task_args) if isinstance(task_args, (str, type(None))) else dict(task_args)

    out_dir = Path(output) if output is not None else None
    if out_dir is not None:
        check_writable(out_dir)
    if sample and data_source:
        raise TaskError(f"--data-source {data_source} picks a loader for real data under --data-root; the bundled "
                        "sample (--sample) has one format of its own: drop one of the two options")
    # an unusable cache directory fails before any data or model work; the connection opened for that
    # check is the one the run uses, closed however evaluate ends
    cache: Any = (ResponseCache(Path(cache_dir) if cache_dir else default_cache_dir())
                  if use_cache and not dry_run else MemoryCache())
    try:
        task_objs = [build_task(n, targs) for n in task_names]
        overrides = parse_gen_kwargs(gen_kwargs) if gen_kwargs else {}
        for t in task_objs:
            t.resolve_profile(served=adapter_cls.served)
            if overrides and Capability.GENERATE in t.uses:
                t.generation_overrides = dict(overrides)
        if overrides and not any(Capability.GENERATE in t.uses for t in task_objs):
            log.warning("--gen-kwargs has no effect: none of %s generates text", ", ".join(task_names))
        if targs:  # the options each task declares (mmharness.task.task_options), as build_task reads them
            known = sorted({o.name for t in task_objs for o in task_options(type(t))})
            unused = sorted(set(targs) - set(known))
            if unused:
                raise TaskError(f"no selected task accepts option(s) {', '.join(unused)}."
                                f"{did_you_mean(unused[0], known)} Options of these tasks: {', '.join(known) or '(none)'}"
                                " (`mmh tasks NAME` says what each one means)")
        offered = adapter_cls.capabilities()
        executors = {t.name: resolve(t.uses, offered, task=t.name, adapter=adapter_cls.name) for t in task_objs}
        adapter: Adapter | None = model if isinstance(model, Adapter) else None
        if adapter is None and adapter_cls.served and not dry_run:  # cheap; checks its server before data work
            adapter = build_adapter(adapter_cls, margs)

        data_cfg = DataConfig(root=Path(data_root) if data_root else None, sample=sample, source=data_source)
        datas = {}
        for t in task_objs:
            d = t.load(data_cfg)
            if not d.samples:
                raise TaskError(f"task {t.name!r}: the data at {d.source} holds no samples")
            if len({s.id for s in d.samples}) != len(d.samples):
                raise TaskError(f"task {t.name!r}: sample ids are not unique in {d.source}")
            datas[t.name] = d
        if dry_run:
            return Results(dry_run_plan(adapter_cls.name, margs, task_objs, datas, executors, limit))

        dev = resolve_device(device)
        dctx, dev = distributed.setup(dev)
        autocast = autocast_factory(dev, precision)
        if text_batch_size is None:
            text_batch_size = default_text_batch_size(dev)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        import torch

        torch.manual_seed(seed)
        if adapter is None:
            adapter = build_adapter(adapter_cls, margs)
        adapter.to(dev)
        if channels_last or compile:
            adapter.optimize(channels_last=channels_last, compile=compile)
        adapter_fp = adapter.fingerprint()
        adapter_key = f"{adapter_fp}:{precision}"

        opts = RunOptions(batch_size=batch_size, num_workers=num_workers, device=dev, on_error=on_error,
                          progress=progress and dctx.is_main,
                          text_batch_size=text_batch_size, shard=(dctx.rank, dctx.world_size),
                          channels_last=channels_last, threads=threads)
        stamp = datetime.now(timezone.utc)
        run_id = uuid.uuid4().hex
        task_docs: dict[str, dict] = {}
        sample_logs: dict[str, Path] = {}
        total_computed, total_model = 0, 0.0
        for t in task_objs:
            d = datas[t.name]
            samples = limit_samples(d.samples, limit)
            task_key = t.fingerprint(d)
            run = run_task(adapter, t, samples, executors[t.name], cache, adapter_key, task_key, opts, autocast)
            run = _gather_run(dctx, run, len(samples))
            if not dctx.is_main:
                continue  # rank 0 scores and writes
            keep = run.kept_indices()
            executed = None
            if t.executes:  # run the task's programs (cached per sample) before it scores
                executed = run_executions(t, [samples[i] for i in keep], run.select(keep), cache, task_key,
                                          progress=opts.progress)
            scored = score_task(t, samples, keep, run.select(keep), seed=seed, bootstrap=bootstrap,
                                ci_level=ci_level, executions=executed)
            total_computed += run.n_computed
            total_model += run.model_seconds
            doc = _task_doc(t, d, executors[t.name].path, samples, run, keep, scored)
            if run.requests is not None:
                doc["requests"] = {**run.requests, "truncated": _count_truncated(run.select(keep))}
            if executed is not None:
                doc["executions"] = executed.counts()
            if scored.artifacts and out_dir is not None:
                doc["artifacts"] = {}
                for name, content in scored.artifacts.items():
                    stem, suffix = Path(name).stem, Path(name).suffix or ".json"
                    p = out_dir / f"{stem}_{adapter.name}_{t.name}_{stamp:%Y%m%dT%H%M%S}_{run_id[:6]}{suffix}"
                    atomic_write_text(p, json.dumps(_json_safe(content), separators=(",", ":")) + "\n")
                    doc["artifacts"][name] = p.name
            if log_samples and out_dir is not None:
                p = out_dir / f"samples_{adapter.name}_{t.name}_{stamp:%Y%m%dT%H%M%S}_{run_id[:6]}.jsonl"
                write_jsonl(p, _sample_rows(samples, run, keep, scored))
                doc["samples_log"] = p.name
                doc["samples_log_sha256"] = sha256_file(p)
                sample_logs[t.name] = p
            task_docs[t.name] = doc
            _log_summary(t, doc)
    finally:
        cache.close()

    if not dctx.is_main:
        doc, path = distributed.broadcast_from_main(dctx, None)
        distributed.teardown(dctx)
        return Results(doc, Path(path) if path else None, {}, rank=dctx.rank)
    wall = time.perf_counter() - t_start
    doc = {
        "schema_version": SCHEMA_VERSION,
        "kind": "mmharness.results",
        "run_id": run_id,
        "created": stamp.isoformat().replace("+00:00", "Z"),
        "harness": {"version": __version__, "git": git_info()},
        "model": {"adapter": adapter.name, "args": {k: _jsonable(v) for k, v in margs.items()},
                  "name": str(name).strip() if name is not None else
                  default_model_name(adapter.name, {k: _jsonable(v) for k, v in margs.items()}),
                  "fingerprint": adapter_fp, "adapter_version": adapter.version,
                  "capabilities": sorted(c.value for c in offered),
                  "origin": ADAPTERS.origin(adapter.name)},
        "config": {"seed": seed, "precision": precision, "batch_size": batch_size,
                   "text_batch_size": text_batch_size, "num_workers": num_workers, "device": dev,
                   "world_size": dctx.world_size, "limit": limit, "data": "sample" if sample else "full",
                   "data_root": str(data_root) if data_root else None, "data_source": data_source,
                   "task_args": {k: _jsonable(v) for k, v in targs.items()},
                   "on_error": on_error, "bootstrap_resamples": bootstrap, "ci_level": ci_level,
                   "cache": str(cache.path) if getattr(cache, "path", None) else None,
                   "log_samples": log_samples, "includes": list(includes),
                   "channels_last": channels_last, "compile": compile, "threads": threads,
                   "gen_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}},
        "environment": environment_info(dev),
        "timing": {"wall_seconds": wall, "model_seconds": total_model,
                   "samples_per_second": (total_computed / wall) if total_computed else None},
        "tasks": task_docs,
    }
    path = None
    if out_dir is not None:
        path = write_results(doc, out_dir / f"results_{adapter.name}_{stamp:%Y%m%dT%H%M%S}_{run_id[:6]}.json")
    else:
        from .results import clean_json, validate_results

        doc = clean_json(doc)
        validate_results(doc)
    if dctx.active:
        distributed.broadcast_from_main(dctx, (doc, str(path) if path else None))
        distributed.teardown(dctx)
    return Results(doc, path, sample_logs)


def _gather_run(dctx: "distributed.DistContext", run: TaskRun, n: int) -> TaskRun:
    """Merge every rank's shard of a task run on rank 0 (responses travel encoded, never pickled
    as objects); returns ``run`` unchanged in a single-process run, None-filled on other ranks."""
    if not dctx.active:
        return run
    mine = list(range(dctx.rank, n, dctx.world_size))
    lazy = isinstance(run.responses, CachedResponses) and run.responses.persistent
    if lazy:  # streamed tasks: rank 0 re-reads the shared on-disk cache lazily instead of gathering payloads
        part = {"idx": mine, "ids": run.responses.ids, "skipped": run.skipped, "cached": run.n_cached,
                "computed": run.n_computed, "model": run.model_seconds, "wall": run.wall_seconds}
        parts = distributed.gather_to_main(dctx, part)
        if parts is None:
            return run
        ids: list = [None] * n
        for p in parts:
            for i, sid in zip(p["idx"], p["ids"]):
                ids[i] = sid
        merged = run.responses.with_ids(ids)
        return TaskRun(merged, merged.hashes, sum(p["cached"] for p in parts), sum(p["computed"] for p in parts),
                       [s for p in parts for s in p["skipped"]], sum(p["model"] for p in parts),
                       max(p["wall"] for p in parts), run.cpu_threads)  # rank 0's thread budget
    part = {"idx": mine, "resp": [encode(r) if r is not None else None for r in run.responses],
            "hash": run.input_hashes, "skipped": run.skipped, "cached": run.n_cached,
            "computed": run.n_computed, "model": run.model_seconds, "wall": run.wall_seconds}
    parts = distributed.gather_to_main(dctx, part)
    if parts is None:
        return run
    responses: list = [None] * n
    hashes: list = [None] * n
    for p in parts:
        for i, r, h in zip(p["idx"], p["resp"], p["hash"]):
            responses[i] = decode(r) if r is not None else None
            hashes[i] = h
    return TaskRun(responses, hashes, sum(p["cached"] for p in parts), sum(p["computed"] for p in parts),
                   [s for p in parts for s in p["skipped"]], sum(p["model"] for p in parts),
                   max(p["wall"] for p in parts), run.cpu_threads)  # rank 0's thread budget


def score_task(t: Task, samples: Sequence[Sample], keep: Sequence[int], responses: Sequence[Any], *,
               seed: int, bootstrap: int, ci_level: float, executions: Executions | None = None) -> TaskResult:
    """Score one task of a run: ``responses`` are those of ``samples[i] for i in keep`` (in that
    order); the other samples (skipped) are passed to the task as ``missing_ids`` and
    ``missing_samples``. The one scoring step of :func:`evaluate`, shared with ``mmh results
    verify`` (:mod:`mmharness.verify`).

    ``executions``: the outcomes of the execution step of a task that ``executes``
    (:func:`mmharness.execution.run_executions`, which :func:`evaluate` runs with the cache); None
    runs that step here without a cache (``mmh results verify`` runs the programs again)."""
    kept = set(keep)
    missing = tuple(s for i, s in enumerate(samples) if i not in kept)
    kept_samples = [samples[i] for i in keep]
    if t.executes and executions is None:
        executions = run_executions(t, kept_samples, responses)
    return t.score(kept_samples, responses,
                   ScoreContext(seed=seed, bootstrap_resamples=bootstrap, ci_level=ci_level,
                                missing_ids=tuple(s.id for s in missing), missing_samples=missing,
                                executions=executions.records if executions is not None else {}))


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _task_doc(t: Task, d, path: str, samples, run, keep, scored) -> dict:
    metrics = {k: v.as_dict() for k, v in scored.metrics.items()}
    meta = {}
    for k in metrics:
        try:
            meta[k] = t.metric_spec(k).as_dict()
        except KeyError:
            raise TaskError(f"task {t.name!r} reported metric {k!r} without a MetricSpec") from None
    if t.primary_metric not in metrics:
        raise TaskError(f"task {t.name!r}: primary metric {t.primary_metric!r} missing from its scores")
    n = len(samples)
    return {
        "version": t.version, "protocol": t.protocol, "description": t.description,
        "capability_path": path, "config": t.config(),
        "data": {"kind": d.kind, "source": d.source, "fingerprint": d.fingerprint,
                 "n_available": len(d.samples)},
        "n_samples": n, "n_scored": len(keep), "n_skipped": n - len(keep), "skipped": run.skipped,
        "cache": {"hits": run.n_cached, "computed": run.n_computed},
        "primary_metric": t.primary_metric, "leaderboard_metric": t.leaderboard_metric or t.primary_metric,
        "metrics": metrics, "metric_metadata": meta,
        "tables": scored.tables, "notes": scored.notes,
        "timing": {"wall_seconds": run.wall_seconds, "model_seconds": run.model_seconds,
                   "samples_per_second": (run.n_computed / run.wall_seconds) if run.n_computed else None,
                   "cpu_threads": run.cpu_threads},
        "samples_log": None,
    }


def _count_truncated(responses) -> int:
    """Answers cut at the token limit (``finish_reason == "length"``)."""
    return sum(1 for r in responses if getattr(r, "finish_reason", None) == "length")


def _sample_rows(samples, run, keep, scored):
    per = dict(zip(keep, scored.per_sample)) if scored.per_sample else {}
    for i, s in enumerate(samples):
        r = run.responses[i]
        row = {"id": s.id, "input_hash": run.input_hashes[i], "gold": s.gold,
               "response": response_to_json(r) if r is not None else None,
               "scores": per.get(i), "skipped": r is None}
        if getattr(r, "finish_reason", None) == "length":
            row["truncated"] = True
        yield row


def _log_summary(t: Task, doc: dict) -> None:
    pm = doc["primary_metric"]
    log.info("%s: %s=%.4f (n=%d, cached %d, computed %d)", t.name, pm,
             doc["metrics"][pm]["value"] if doc["metrics"][pm]["value"] is not None else float("nan"),
             doc["n_scored"], doc["cache"]["hits"], doc["cache"]["computed"])
