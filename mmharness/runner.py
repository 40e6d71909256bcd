"""The runner: feeds one task's requests to one adapter through a DataLoader, caching as it goes.

Workers build each sample's request and decode its media with the adapter's preprocessing; the
main process collates batches (grouped so that a batch shares one label set or one set of
generation parameters), runs the executor under ``torch.inference_mode()`` and the chosen
autocast, validates the outputs and writes them to the cache batch by batch. Samples already in
the cache are never recomputed. Nothing here knows a task's or an adapter's name beyond messages.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .adapter import Adapter
from .executors import Executor, RunContext
from .requests import Batch, MediaDecodeError, MediaRef, Message, Request, Response, hash_bytes
from .task import Sample, Task, TaskError

log = logging.getLogger("mmharness")

ON_ERROR = ("raise", "skip")


@dataclass
class RunOptions:
    """Runner options (all recorded in the results)."""

    batch_size: int = 32
    num_workers: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    on_error: str = "raise"
    progress: bool = True
    text_batch_size: int = 256
    shard: tuple[int, int] = (0, 1)  # (rank, world size)


@dataclass
class TaskRun:
    """What running one task produced: responses aligned with the samples (None = skipped)."""

    responses: list[Response | None]
    input_hashes: list[str | None]
    n_cached: int
    n_computed: int
    skipped: list[dict] = field(default_factory=list)
    model_seconds: float = 0.0
    wall_seconds: float = 0.0


@dataclass
class _Item:
    index: int
    request: Request | None
    inputs: dict[str, Any]
    input_hash: str | None
    error: str | None = None


class _MediaStub:
    """Stands in for a decoded media reference when a request travels back from a worker."""

    def __init__(self, ref: MediaRef):
        self.modality = getattr(ref, "modality", "?")
        self.description = ref.describe()

    def describe(self) -> str:
        return self.description

    def load(self):
        raise RuntimeError("media already decoded")


def _strip_media(req: Request) -> Request:
    """Shallow copy of ``req`` with media references replaced by light stubs (cheap to pickle)."""
    changes = {}
    for f in dataclasses.fields(req):
        if not f.init:
            continue
        v = getattr(req, f.name)
        if isinstance(v, MediaRef) and not isinstance(v, str):
            changes[f.name] = _MediaStub(v)
        elif isinstance(v, dict) and v and all(isinstance(x, MediaRef) for x in v.values()):
            changes[f.name] = {k: _MediaStub(x) for k, x in v.items()}
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, Message) for x in v):
            changes[f.name] = [Message(m.role, [p if isinstance(p, str) else _MediaStub(p) for p in m.parts])
                               for m in v]
    return dataclasses.replace(req, **changes) if changes else req


class RequestDataset:
    """Map-style dataset: item i = request of sample i with its media decoded and preprocessed.

    Runs in DataLoader workers. Decode errors are returned, not raised, so that the main process
    can stop with a message naming the file and sample, or skip and count (``--on-error skip``).
    """

    def __init__(self, task: Task, samples: Sequence[Sample], indices: Sequence[int],
                 preprocess: Callable[[str], Callable]):
        self.task = task
        self.samples = samples
        self.indices = list(indices)
        self._preprocess_factory = preprocess
        self._preprocessors: dict[str, Callable] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def _pre(self, modality: str) -> Callable:
        if modality not in self._preprocessors:
            self._preprocessors[modality] = self._preprocess_factory(modality)
        return self._preprocessors[modality]

    def __getitem__(self, i: int) -> _Item:
        idx = self.indices[i]
        sample = self.samples[idx]
        try:
            req = self.task.request(sample)
            inputs, hashes = {}, []
            for name, ref in req.media().items():
                raw = ref.load()
                hashes.append(_content_hash(raw))
                inputs[name] = self._pre(ref.modality)(raw)
            text_parts = [getattr(req, "text", None) or ""]
            if hasattr(req, "texts"):
                text_parts += list(req.texts)
            hashes.append(hash_bytes("\x1f".join(text_parts).encode()))
            return _Item(idx, _strip_media(req), inputs, hash_bytes(*(h.encode() for h in hashes)))
        except MediaDecodeError as e:
            return _Item(idx, None, {}, None, str(e))


def _content_hash(raw: Any) -> str:
    from .requests import image_content_hash

    if hasattr(raw, "tobytes") and hasattr(raw, "mode"):  # PIL image
        return image_content_hash(raw)
    if hasattr(raw, "tobytes"):
        return hash_bytes(raw.tobytes())
    if isinstance(raw, (bytes, bytearray)):
        return hash_bytes(bytes(raw))
    return hash_bytes(repr(raw).encode())


def _collate(items: list[_Item]) -> list[_Item]:
    return items  # stacking happens per group in the main process (see _to_batches)


def _stack(values: list[Any]) -> Any:
    import torch

    if values and all(isinstance(v, torch.Tensor) for v in values):
        if all(v.shape == values[0].shape for v in values):
            return torch.stack(values)
    return values


def _move(x: Any, device: str) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, list):
        return [_move(v, device) for v in x]
    return x


def run_task(adapter: Adapter, task: Task, samples: Sequence[Sample], executor: Executor,
             cache: Any, adapter_key: str, task_key: str, opts: RunOptions,
             autocast: Callable[[], Any]) -> TaskRun:
    """Answer every sample of ``task`` (those of this shard), reusing and filling ``cache``."""
    import torch
    from torch.utils.data import DataLoader

    t0 = time.perf_counter()
    rank, world = opts.shard
    mine = list(range(rank, len(samples), world))
    done = cache.cached_ids(adapter_key, task_key)
    todo = [i for i in mine if samples[i].id not in done]
    n_cached = len(mine) - len(todo)
    ctx = RunContext(adapter_name=adapter.name, task_name=task.name, adapter_key=adapter_key,
                     cache=cache, text_batch_size=opts.text_batch_size, autocast=autocast)
    skipped: list[dict] = []
    model_seconds = 0.0
    n_computed = 0
    if todo:
        dataset = RequestDataset(task, samples, todo, adapter.preprocess)
        loader = DataLoader(
            dataset, batch_size=opts.batch_size, shuffle=False, num_workers=opts.num_workers,
            collate_fn=_collate, pin_memory=opts.device.startswith("cuda"),
            persistent_workers=False, prefetch_factor=4 if opts.num_workers > 0 else None,
        )
        bar = _progress(task.name, len(todo), n_cached, opts.progress)
        try:
            for items in loader:
                good = []
                for it in items:
                    if it.error is None:
                        good.append(it)
                        continue
                    sid = samples[it.index].id
                    if opts.on_error == "skip":
                        skipped.append({"id": sid, "error": it.error})
                        log.warning("task %s: skipping sample %s: %s", task.name, sid, it.error)
                    else:
                        raise TaskError(
                            f"task {task.name!r}, sample {sid} (index {it.index}): {it.error}. "
                            f"Fix or remove the file, or pass --on-error skip to skip such samples "
                            f"(they are counted in the results).")
                for group in _groups(good, executor):
                    batch = Batch(
                        sample_ids=[samples[it.index].id for it in group],
                        inputs={k: _move(_stack([it.inputs[k] for it in group]), opts.device)
                                for k in group[0].inputs},
                        requests=[it.request for it in group],
                        references=[it.request.reference for it in group],
                    )
                    t1 = time.perf_counter()
                    with torch.inference_mode(), autocast():
                        responses = executor.run(adapter, batch, ctx)
                    model_seconds += time.perf_counter() - t1
                    if len(responses) != len(group):
                        raise TaskError(f"executor {executor.path} returned {len(responses)} responses "
                                        f"for {len(group)} samples")
                    cache.put_many(adapter_key, task_key,
                                   [(samples[it.index].id, r, it.input_hash) for it, r in zip(group, responses)])
                    n_computed += len(group)
                bar.update(len(items))
        finally:
            bar.close()
    got = cache.get_many(adapter_key, task_key, [samples[i].id for i in mine])
    responses = [got.get(samples[i].id, (None, None))[0] for i in mine]
    hashes = [got.get(samples[i].id, (None, None))[1] for i in mine]
    return TaskRun(responses, hashes, n_cached, n_computed, skipped, model_seconds,
                   time.perf_counter() - t0)


def _groups(items: list[_Item], executor: Executor) -> list[list[_Item]]:
    """Split a loader batch into groups that may share one adapter call (same group key and
    same input names); order within each group is kept."""
    groups: dict[Any, list[_Item]] = {}
    for it in items:
        key = (executor.group_key(it.request), tuple(sorted(it.inputs)))
        groups.setdefault(key, []).append(it)
    return list(groups.values())


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(name: str, total: int, cached: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{name} ({cached} cached)" if cached else name, unit="sample",
                dynamic_ncols=True, leave=False)
