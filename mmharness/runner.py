"""The runner: feeds one task's requests to one adapter through a DataLoader, caching as it goes.

The executor first prepares shared work (zero-shot classifiers) before any worker starts. Workers
then build each sample's request, decode its media with the adapter's preprocessing, hash the
inputs, and stack each batch's groups (a batch shares one label set or one set of generation
parameters). The main process runs the executor under ``torch.inference_mode()`` and the chosen
autocast, validates the outputs and writes them to the cache batch by batch, inside a CPU thread
budget (:mod:`mmharness.threads`). Samples already in the cache are never recomputed. Nothing here
knows a task's or an adapter's name beyond messages.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence


from .adapter import Adapter
from .devices import TEXT_BATCH_SIZE_CPU
from .executors import Executor, RunContext, in_context
from .input_hash import sample_input_hash
from .requests import Batch, MediaDecodeError, Request, Response
from .task import Sample, Task, TaskError
from .threads import ThreadBudget, start_worker_clock, worker_cpu_since_last

log = logging.getLogger("mmharness")

ON_ERROR = ("raise", "skip")


@dataclass
class RunOptions:
    """Runner options (all recorded in the results)."""

    batch_size: int = 32
    num_workers: int = 0
    device: str = "cpu"
    on_error: str = "raise"
    progress: bool = True
    text_batch_size: int = TEXT_BATCH_SIZE_CPU  # evaluate() passes default_text_batch_size(device)
    shard: tuple[int, int] = (0, 1)  # (rank, world size)
    channels_last: bool = False  # image batches (4-D tensors) in channels-last memory format
    threads: int | str = "auto"  # intra-op CPU threads for the model (see threads.py)


@dataclass
class TaskRun:
    """What running one task produced: responses aligned with the samples (None = skipped).

    For tasks with ``stream_responses`` the responses (and input hashes) are a lazy
    :class:`CachedResponses` view that reads the cache on access instead of a list.
    """

    responses: Sequence[Response | None]
    input_hashes: Sequence[str | None]
    n_cached: int
    n_computed: int
    skipped: list[dict] = field(default_factory=list)
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_threads: dict | None = None  # ThreadBudget.record() of this run
    requests: dict | None = None  # concurrent adapters: requests sent, retries, errors, latency

    def kept_indices(self) -> list[int]:
        """Indices of the samples that have a response (not skipped), without decoding lazy ones."""
        if isinstance(self.responses, CachedResponses):
            return [i for i in range(len(self.responses)) if self.responses.present(i)]
        return [i for i, r in enumerate(self.responses) if r is not None]

    def select(self, indices: Sequence[int]) -> Sequence[Response | None]:
        """The responses at ``indices``: a list, or a lazy view for :class:`CachedResponses`."""
        if isinstance(self.responses, CachedResponses):
            return self.responses.subset(indices)
        return [self.responses[i] for i in indices]


class CachedResponses(Sequence):
    """Responses of ``ids`` read back from the cache when accessed, ``chunk`` rows at a time.

    Only the current chunk is decoded and held, so iterating in order keeps memory flat in the
    number of samples (dense label maps). Ids absent from the cache (skipped samples) read as
    None. :attr:`hashes` is a parallel lazy view of the input hashes.
    """

    def __init__(self, cache: Any, adapter_key: str, task_key: str, ids: Sequence[str], chunk: int = 16):
        self.cache, self.adapter_key, self.task_key = cache, adapter_key, task_key
        self.ids = list(ids)
        self.chunk = max(1, int(chunk))
        cached = cache.cached_ids(adapter_key, task_key)
        self._present = [sid in cached for sid in self.ids]
        self._start = -1
        self._rows: list[tuple[Any, Any]] = []

    @property
    def persistent(self) -> bool:
        """True when the cache is on disk (other processes can read it)."""
        return getattr(self.cache, "path", None) is not None

    def with_ids(self, ids: Sequence[str]) -> "CachedResponses":
        """The same cache view over other sample ids."""
        return CachedResponses(self.cache, self.adapter_key, self.task_key, ids, self.chunk)

    def __len__(self) -> int:
        return len(self.ids)

    def present(self, i: int) -> bool:
        """Whether sample ``i`` has a cached response (cheap: no decoding)."""
        return self._present[i]

    def _row(self, i: int) -> tuple[Any, Any]:
        if i < 0:
            i += len(self.ids)
        if not 0 <= i < len(self.ids):
            raise IndexError(i)
        start = i - i % self.chunk
        if start != self._start:
            part = self.ids[start : start + self.chunk]
            got = self.cache.get_many(self.adapter_key, self.task_key, part)
            self._rows = [got.get(sid, (None, None)) for sid in part]
            self._start = start
        return self._rows[i - start]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._row(j)[0] for j in range(*i.indices(len(self)))]
        return self._row(i)[0]

    def __iter__(self) -> Iterator[Response | None]:
        for i in range(len(self)):
            yield self._row(i)[0]

    def hash(self, i: int) -> str | None:
        """Input hash of sample ``i``."""
        return self._row(i)[1]

    @property
    def hashes(self) -> "_LazyView":
        """Lazy sequence of input hashes, aligned with the responses."""
        return _LazyView(self, range(len(self)), self.hash)

    def subset(self, indices: Sequence[int]) -> "_LazyView":
        """Lazy sequence of the responses at ``indices`` (in that order)."""
        return _LazyView(self, list(indices), self.__getitem__)


class _LazyView(Sequence):
    """A read-only view ``get(indices[k])`` over a :class:`CachedResponses`."""

    def __init__(self, base: CachedResponses, indices: Sequence[int], get: Callable[[int], Any]):
        self._base, self._indices, self._get = base, indices, get

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self._get(self._indices[j]) for j in range(*k.indices(len(self)))]
        return self._get(self._indices[k])

    def __iter__(self):
        for i in self._indices:
            yield self._get(i)


@dataclass
class _Item:
    """One sample fetched alone (``dataset[i]``) or one that failed to decode: decoded inputs,
    their hash, the batching key. The request itself is rebuilt in the main process (cheap), so
    nothing else crosses over."""

    index: int
    group_key: Any
    inputs: dict[str, Any]
    input_hash: str | None
    error: str | None = None
    request: Request | None = None  # only with RequestDataset.keep_requests (no workers): never pickled


class _Pending:
    """The samples of one loader batch that share a group key, gathered column by column (one
    list per input name) as they are fetched; :class:`_Collator` stacks each column."""

    __slots__ = ("indices", "input_hashes", "inputs", "requests", "key")

    def __init__(self, names: Sequence[str], keep_requests: bool, key: Any = None):
        self.key = key  # the group key (the executor's, and the sorted input names)
        self.indices: list[int] = []
        self.input_hashes: list[str | None] = []
        self.inputs: dict[str, list[Any]] = {name: [] for name in names}  # the first sample's order
        self.requests: list[Request] | None = [] if keep_requests else None


@dataclass
class _Fetched:
    """What :meth:`RequestDataset.__getitems__` returns for one loader batch (in the worker):
    decode failures, and the other samples already split by group key, in order."""

    errors: list[_Item]
    groups: list[_Pending]
    size: int


class RequestDataset:
    """Map-style dataset: item i = the inputs of sample i's request, decoded and preprocessed.

    Runs in DataLoader workers. The loader fetches a whole batch at once (:meth:`__getitems__`):
    each sample's request is built, its media decoded, preprocessed and hashed, and the samples
    are gathered by group key as they come, with no per-sample item objects. Decode errors are
    returned, not raised, so that the main process can stop with a message naming the file and
    sample, or skip and count (``--on-error skip``).

    ``requests`` (in-process only, aligned with ``indices``): requests built already, e.g. for the
    executor's ``prepare``; each is handed over once and then dropped, and a sample without one
    has its request built here.
    """

    def __init__(self, task: Task, samples: Sequence[Sample], indices: Sequence[int],
                 preprocess: Callable[[str], Callable], group_key: Callable[[Request], Any],
                 keep_requests: bool = False, requests: list[Request | None] | None = None):
        self.task = task
        self.keep_requests = keep_requests  # True only when items stay in this process (no workers)
        self.group_key = group_key
        self.samples = samples
        self.indices = list(indices)
        if requests is not None and len(requests) != len(self.indices):
            raise ValueError(f"{len(requests)} requests for {len(self.indices)} samples")
        self._requests = requests
        self._preprocess_factory = preprocess
        self._preprocessors: dict[str, Callable] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def _pre(self, modality: str) -> Callable:
        if modality not in self._preprocessors:
            self._preprocessors[modality] = self._preprocess_factory(modality)
        return self._preprocessors[modality]

    def __getitem__(self, i: int) -> _Item:
        """Sample ``i`` alone: its decoded inputs, input hash and batching key (or its decode error)."""
        fetched = self.__getitems__([i])
        if fetched.errors:
            return fetched.errors[0]
        g = fetched.groups[0]
        return _Item(g.indices[0], g.key, {k: v[0] for k, v in g.inputs.items()}, g.input_hashes[0],
                     request=g.requests[0] if g.requests else None)

    def __getitems__(self, positions: Sequence[int]) -> _Fetched:
        """A whole loader batch (the DataLoader calls this instead of ``dataset[i]`` per sample):
        the same samples, inputs, hashes and grouping as :class:`_Item` objects would give."""
        # per-sample constants (sorted input names, preprocessors, hash prefixes) are looked up once
        # per distinct value: this loop is the harness's own per-sample work
        errors: list[_Item] = []
        groups: dict[Any, _Pending] = {}
        indices, group_key, keep = self.indices, self.group_key, self.keep_requests
        handed, build, samples = self._requests, self.task.build_request, self.samples
        pres, pre = self._preprocessors, self._pre
        sorted_names: dict[tuple[str, ...], tuple[str, ...]] = {}
        for i in positions:
            try:
                req = None
                if handed is not None:
                    req, handed[i] = handed[i], None  # handed over once
                if req is None:
                    req = build(samples[indices[i]])
                media = req.media()
                raws = [(name, ref.load()) for name, ref in media.items()]
                input_hash = sample_input_hash(raws, req)
                inputs = {name: (pres.get(ref.modality) or pre(ref.modality))(raw)
                          for (name, raw), ref in zip(raws, media.values())}
            except MediaDecodeError as e:
                errors.append(_Item(indices[i], None, {}, None, str(e)))
                continue
            names = tuple(inputs)
            names_sorted = sorted_names.get(names)
            if names_sorted is None:
                names_sorted = sorted_names[names] = tuple(sorted(names))
            key = (group_key(req), names_sorted)
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Pending(inputs, keep, key)
            g.indices.append(indices[i])
            g.input_hashes.append(input_hash)
            for name, column in g.inputs.items():
                column.append(inputs[name])
            if keep:
                g.requests.append(req)
        return _Fetched(errors, list(groups.values()), len(positions))


@dataclass
class _Group:
    """Items that share one adapter call, with their inputs already stacked (in the worker)."""

    indices: list[int]
    input_hashes: list[str | None]
    inputs: dict[str, Any]
    requests: list[Request] | None = None  # in-process only; a worker's are rebuilt by the main process


@dataclass
class _Collated:
    """One loader batch: decode failures, homogeneous groups ready for the adapter, and the CPU
    seconds the worker spent on it (None without worker processes)."""

    errors: list[_Item]
    groups: list[_Group]
    size: int
    worker_cpu: float | None = None


class _Collator:
    """DataLoader ``collate_fn`` (runs in the worker): stacks each group's tensors there, so a
    batch crosses the process boundary as a few large tensors rather than one small tensor per
    sample. Takes a batch fetched whole (:class:`_Fetched`) or a list of :class:`_Item` objects."""

    def __init__(self, channels_last: bool):
        self.channels_last = channels_last

    def __call__(self, batch: _Fetched | list[_Item]) -> _Collated:
        fetched = batch if isinstance(batch, _Fetched) else _fetched_items(batch)
        groups = [_Group(g.indices, g.input_hashes, {k: _stack(v, self.channels_last) for k, v in g.inputs.items()},
                         g.requests)
                  for g in fetched.groups]
        return _Collated(fetched.errors, groups, fetched.size, worker_cpu_since_last())


def _fetched_items(items: list[_Item]) -> _Fetched:
    """Items fetched one by one, gathered as :meth:`RequestDataset.__getitems__` gathers them."""
    groups = []
    for g in _groups([it for it in items if it.error is None]):
        pending = _Pending(g[0].inputs, g[0].request is not None)
        for it in g:
            pending.indices.append(it.index)
            pending.input_hashes.append(it.input_hash)
            for name, column in pending.inputs.items():
                column.append(it.inputs[name])
            if pending.requests is not None:
                pending.requests.append(it.request)
        groups.append(pending)
    return _Fetched([it for it in items if it.error is not None], groups, len(items))


def _stack(values: list[Any], channels_last: bool = False) -> Any:
    import torch

    if values and all(isinstance(v, torch.Tensor) for v in values):
        try:  # tensors of one shape (torch.stack checks the shapes, faster than a Python loop)
            out = torch.stack(values)
        except RuntimeError:
            shape = values[0].shape
            if all(v.shape == shape for v in values):
                raise  # not a shape mismatch: a real error
            return values
        if channels_last and out.dim() == 4:
            out = out.contiguous(memory_format=torch.channels_last)
        return out
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
    t0 = time.perf_counter()
    rank, world = opts.shard
    mine = list(range(rank, len(samples), world))
    done = cache.cached_ids(adapter_key, task_key)
    todo = [i for i in mine if samples[i].id not in done]
    n_cached = len(mine) - len(todo)
    skipped: list[dict] = []
    n_computed, model_seconds = 0, 0.0
    budget = ThreadBudget(opts.threads, opts.num_workers if todo else 0, opts.device)
    concurrent = adapter.max_in_flight() > 0
    counters_before = adapter.request_counters()
    stream_stats = None
    with budget:
        if todo and concurrent:  # served models: requests in flight across batches (streaming.py)
            n_computed, stream_stats = _stream(adapter, task, samples, todo, n_cached, executor, cache,
                                               adapter_key, task_key, opts, autocast, skipped)
            model_seconds = stream_stats.wall_seconds
        elif todo:
            n_computed, model_seconds = _compute(adapter, task, samples, todo, n_cached, executor, cache,
                                                 adapter_key, task_key, opts, autocast, skipped, budget)
    requests_doc = _requests_doc(adapter, counters_before, stream_stats) if concurrent else None
    if getattr(task, "stream_responses", False):  # large responses: read back lazily, chunk by chunk
        lazy = CachedResponses(cache, adapter_key, task_key, [samples[i].id for i in mine])
        return TaskRun(lazy, lazy.hashes, n_cached, n_computed, skipped, model_seconds,
                       time.perf_counter() - t0, budget.record(), requests_doc)
    got = cache.get_many(adapter_key, task_key, [samples[i].id for i in mine])
    pairs = [got.get(samples[i].id, (None, None)) for i in mine]
    responses = [p[0] for p in pairs]
    hashes = [p[1] for p in pairs]
    return TaskRun(responses, hashes, n_cached, n_computed, skipped, model_seconds,
                   time.perf_counter() - t0, budget.record(), requests_doc)


def _requests_doc(adapter: Adapter, before: dict[str, int], stats: Any) -> dict:
    """This task's requests to a concurrent adapter: counter differences and streaming stats."""
    after = adapter.request_counters()
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    doc: dict[str, Any] = {"max_in_flight": adapter.max_in_flight(), "sent": delta.get("requests", 0),
                           "retries": delta.get("retries", 0), "errors": delta.get("errors", 0),
                           "retry_reasons": {k.split(":", 1)[1]: v for k, v in sorted(delta.items())
                                             if k.startswith("retry:")}}
    if stats is not None:
        doc.update({k: v for k, v in stats.as_dict().items() if k != "max_in_flight"})
    return doc


def _stream(adapter: Adapter, task: Task, samples: Sequence[Sample], todo: list[int], n_cached: int,
            executor: Executor, cache: Any, adapter_key: str, task_key: str, opts: RunOptions,
            autocast: Callable[[], Any], skipped: list[dict]):
    """The loader feeding :func:`mmharness.streaming.compute_streaming` one request at a time."""
    from torch.utils.data import DataLoader

    from .streaming import compute_streaming, one_request_batches

    ctx = RunContext(adapter_name=adapter.name, task_name=task.name, adapter_key=adapter_key,
                     cache=cache, text_batch_size=opts.text_batch_size)
    _prepare(adapter, task, executor, (task.build_request(samples[i]) for i in todo), ctx, autocast, "request")
    dataset = RequestDataset(task, samples, todo, adapter.preprocess, executor.group_key,
                             keep_requests=opts.num_workers == 0)
    loader = DataLoader(dataset, batch_size=opts.batch_size, shuffle=False, num_workers=opts.num_workers,
                        collate_fn=_Collator(False), persistent_workers=False,
                        prefetch_factor=4 if opts.num_workers > 0 else None)

    def decode_failed(it: _Item) -> None:
        _decode_failure(task, samples, it, opts.on_error, skipped)

    bar = _progress(task.name, len(todo), n_cached, opts.progress, unit="request")
    try:
        return compute_streaming(adapter, task, samples, one_request_batches(loader, samples, task, decode_failed),
                                 executor, ctx, cache, adapter_key, task_key, opts.on_error, skipped, bar, autocast)
    finally:
        bar.close()


def _prepare(adapter: Adapter, task: Task, executor: Executor, requests: Iterator[Request], ctx: RunContext,
             autocast: Callable[[], Any], first: str) -> None:
    """``executor.prepare`` (shared work such as a zero-shot classifier, before the first ``first``
    is sent), an adapter's exception in it named like a batch's (:func:`in_context`)."""
    import torch

    try:
        with torch.inference_mode(), autocast():
            executor.prepare(adapter, requests, ctx)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise in_context(adapter.name, task.name, [f"(shared work before the first {first}: {executor.path})"], e)


def _decode_failure(task: Task, samples: Sequence[Sample], it: _Item, on_error: str, skipped: list[dict]) -> None:
    """A sample whose media could not be decoded: skipped and counted, or the run stops naming it."""
    sid = samples[it.index].id
    if on_error != "skip":
        raise TaskError(f"task {task.name!r}, sample {sid} (index {it.index}): {it.error}. "
                        f"Fix or remove the file, or pass --on-error skip to skip such samples "
                        f"(they are counted in the results).")
    skipped.append({"id": sid, "error": it.error})
    log.warning("task %s: skipping sample %s: %s", task.name, sid, it.error)


def _compute(adapter: Adapter, task: Task, samples: Sequence[Sample], todo: list[int], n_cached: int,
             executor: Executor, cache: Any, adapter_key: str, task_key: str, opts: RunOptions,
             autocast: Callable[[], Any], skipped: list[dict], budget: ThreadBudget) -> tuple[int, float]:
    """The hot loop over the samples in ``todo``; returns (samples computed, model seconds)."""
    import torch
    from torch.utils.data import DataLoader

    ctx = RunContext(adapter_name=adapter.name, task_name=task.name, adapter_key=adapter_key,
                     cache=cache, text_batch_size=opts.text_batch_size)
    model_seconds, n_computed = 0.0, 0
    in_process = opts.num_workers == 0
    # without workers, the requests prepare() reads (if it reads any) are the ones the batches get:
    # built once, kept in ``built`` and dropped by the dataset as it hands each over; a worker, or
    # a sample prepare() did not reach, builds its own
    built: list[Request | None] | None = [None] * len(todo) if in_process and len(todo) <= _PREBUILT_MAX else None

    def light_requests() -> Iterator[Request]:
        for k, i in enumerate(todo):
            req = task.build_request(samples[i])
            if built is not None:
                built[k] = req
            yield req

    t1 = time.perf_counter()
    _prepare(adapter, task, executor, light_requests(), ctx, autocast, "batch")  # before the workers start
    model_seconds += time.perf_counter() - t1
    dataset = RequestDataset(task, samples, todo, adapter.preprocess, executor.group_key,
                             keep_requests=in_process, requests=built)
    # tasks read back whole (not streamed) get this run's batches handed over in memory at the end
    keep = not getattr(task, "stream_responses", False)
    put_batch = getattr(cache, "put_batch", None)
    loader = DataLoader(
        dataset, batch_size=opts.batch_size, shuffle=False, num_workers=opts.num_workers,
        collate_fn=_Collator(opts.channels_last), pin_memory=opts.device.startswith("cuda"),
        persistent_workers=False, prefetch_factor=4 if opts.num_workers > 0 else None,
        worker_init_fn=start_worker_clock if opts.num_workers > 0 else None,
    )
    bar = _progress(task.name, len(todo), n_cached, opts.progress)
    try:
        t_batch = time.perf_counter()
        for collated in loader:
            for it in collated.errors:
                _decode_failure(task, samples, it, opts.on_error, skipped)
            for group in collated.groups:
                ids = [samples[i].id for i in group.indices]
                requests = group.requests or [task.build_request(samples[i]) for i in group.indices]  # light
                batch = Batch(
                    sample_ids=ids,
                    inputs={k: _move(v, opts.device) for k, v in group.inputs.items()},
                    requests=requests,
                    references=[r.reference for r in requests],
                )
                t1 = time.perf_counter()
                try:
                    with torch.inference_mode(), autocast():
                        responses = executor.run(adapter, batch, ctx)
                except KeyboardInterrupt:
                    raise
                except BaseException as e:  # adapter, task, sample ids, type and message
                    raise in_context(adapter.name, task.name, ids, e)  # chained to e by in_context
                model_seconds += time.perf_counter() - t1
                if len(responses) != len(ids):
                    raise TaskError(f"executor {executor.path} returned {len(responses)} responses "
                                    f"for {len(ids)} samples")
                if put_batch is not None:  # one durable transaction per batch, encoded per batch
                    put_batch(adapter_key, task_key, ids, responses, group.input_hashes, keep=keep)
                else:
                    cache.put_many(adapter_key, task_key, list(zip(ids, responses, group.input_hashes)))
                n_computed += len(ids)
            bar.update(collated.size)
            now = time.perf_counter()
            budget.observe(collated.worker_cpu, now - t_batch)
            t_batch = now
    finally:
        bar.close()
    return n_computed, model_seconds


_PREBUILT_MAX = 200_000
"""An in-process run keeps the requests its executor's ``prepare`` built for the batches when it
computes at most this many samples (beyond, each is built again for its batch rather than all
held at once)."""


def _groups(items: list[_Item]) -> list[list[_Item]]:
    """Split a loader batch into groups that may share one adapter call (same group key, which
    includes the input names); order within each group is kept."""
    groups: dict[Any, list[_Item]] = {}
    for it in items:
        groups.setdefault(it.group_key, []).append(it)
    return list(groups.values())


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def _progress(name: str, total: int, cached: int, enabled: bool, unit: str = "sample"):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{name} ({cached} cached)" if cached else name, unit=unit,
                dynamic_ncols=True, leave=False)
