"""Streaming execution for adapters that answer requests concurrently (served models).

An adapter whose :meth:`~mmharness.adapter.Adapter.max_in_flight` is N >= 1 gets this path instead
of the batch loop: the DataLoader still decodes (and, for served models, re-encodes) the inputs in
its workers, but each request then goes on its own to one of N threads, and a new one starts as
soon as any finishes. There is no per-batch barrier: one slow answer holds up only itself. Each
answer is written to the cache when it completes (answers that complete together share one durable
transaction), so a kill at any moment loses at most the requests in flight. Responses are read back
in sample order afterwards, so metrics and sample logs are the same as those of a sequential run
(``max_concurrency=1``).

Errors: a :class:`~mmharness.adapter.SampleRequestError` is that sample's error (skipped and counted
under ``--on-error skip``, else the run stops); anything else stops the run. Either way the answers
that already completed are written first, the adapter is told to :meth:`cancel` its waits, and the
error names the adapter, the task and the sample.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from .adapter import Adapter, SampleRequestError
from .executors import Executor, RunContext, in_context
from .requests import Batch, Request
from .task import Sample, Task, TaskError

log = logging.getLogger("mmharness")

_STOP = object()


@dataclass
class StreamStats:
    """What the streaming path observed: requests in flight at most, and per-request latencies."""

    max_in_flight: int
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    def as_dict(self) -> dict:
        lat = sorted(self.latencies)
        n = len(lat)
        out: dict[str, Any] = {"max_in_flight": self.max_in_flight, "completed": n,
                               "requests_per_second": (n / self.wall_seconds) if n and self.wall_seconds else None}
        if n:
            out["latency_seconds"] = {"mean": sum(lat) / n, "p50": lat[n // 2], "p95": lat[min(n - 1, int(0.95 * n))],
                                      "max": lat[-1]}
        return out


def one_request_batches(loader: Any, samples: Sequence[Sample], task: Task,
                        on_decode_error: Callable[[Any], None]) -> Iterator[tuple[Batch, str | None, int]]:
    """(one-request batch, input hash, sample index) for every decoded item of ``loader``, in order."""
    import torch

    for collated in loader:
        for it in collated.errors:
            on_decode_error(it)
        for group in collated.groups:
            requests: list[Request] = group.requests or [task.build_request(samples[i]) for i in group.indices]
            for j, idx in enumerate(group.indices):
                inputs = {k: (v[j : j + 1] if isinstance(v, torch.Tensor) else [v[j]]) for k, v in group.inputs.items()}
                req = requests[j]
                yield Batch([samples[idx].id], inputs, [req], [req.reference]), group.input_hashes[j], idx


class _Workers:
    """N daemon threads answering one-request batches; results come back on one queue as
    ``(token, responses | exception, seconds)``. Daemon threads never hold the process at exit."""

    def __init__(self, n: int, call: Callable[[Batch], Any]):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self._call = call
        self._threads = [threading.Thread(target=self._loop, name=f"mmh-request-{k}", daemon=True) for k in range(n)]
        for t in self._threads:
            t.start()

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is _STOP:
                return
            token, batch = job
            t0 = time.perf_counter()
            try:
                out: Any = self._call(batch)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                out = e
            self.results.put((token, out, time.perf_counter() - t0))

    def submit(self, token: Any, batch: Batch) -> None:
        self.jobs.put((token, batch))

    def stop(self) -> None:
        for _ in self._threads:
            self.jobs.put(_STOP)


def compute_streaming(adapter: Adapter, task: Task, samples: Sequence[Sample], batches: Iterator,
                      executor: Executor, ctx: RunContext, cache: Any, adapter_key: str, task_key: str,
                      on_error: str, skipped: list[dict], bar: Any, autocast: Callable[[], Any]) -> tuple[int, StreamStats]:
    """Answer every one-request batch from ``batches`` with up to ``adapter.max_in_flight()`` in
    flight, caching each answer as it completes. Returns (answers computed, stats)."""
    import torch

    n_max = int(adapter.max_in_flight())

    def call(batch: Batch):
        with torch.inference_mode(), autocast():
            return executor.run(adapter, batch, ctx)

    stats = StreamStats(n_max)
    workers = _Workers(n_max, call)
    pending: dict[int, tuple[str, str | None]] = {}
    exhausted, token, n_computed = False, 0, 0
    t0 = time.perf_counter()

    def refill() -> None:
        nonlocal exhausted, token
        while not exhausted and len(pending) < n_max:
            item = next(batches, None)
            if item is None:
                exhausted = True
                return
            batch, input_hash, _ = item
            token += 1
            pending[token] = (batch.sample_ids[0], input_hash)
            workers.submit(token, batch)

    try:
        refill()
        while pending:
            finished = [workers.results.get()]
            while True:  # everything else that has completed meanwhile shares the transaction
                try:
                    finished.append(workers.results.get_nowait())
                except queue.Empty:
                    break
            rows, failure = [], None
            for tok, out, seconds in finished:
                sid, input_hash = pending.pop(tok)
                if isinstance(out, BaseException):
                    if isinstance(out, SampleRequestError) and on_error == "skip":
                        skipped.append({"id": sid, "error": str(out)})
                        log.warning("task %s: skipping sample %s: %s", task.name, sid, out)
                    elif failure is None:
                        failure = (sid, out)
                    continue
                if len(out) != 1:
                    failure = failure or (sid, TaskError(f"executor {executor.path} returned {len(out)} responses "
                                                         "for 1 sample"))
                    continue
                stats.latencies.append(seconds)
                rows.append((sid, out[0], input_hash))
            try:
                if failure is None:
                    refill()  # new requests go out before this transaction is written
            finally:  # even when refilling fails (an undecodable input), these answers are kept
                cache.put_many(adapter_key, task_key, rows)
                n_computed += len(rows)
                bar.update(len(finished))
                bar.set_postfix(in_flight=len(pending), refresh=False)
            if failure is not None:
                raise in_context(adapter.name, task.name, [failure[0]], failure[1])  # chained to it by in_context
    except BaseException:
        adapter.cancel()
        raise
    finally:
        workers.stop()
        stats.wall_seconds = time.perf_counter() - t0
    return n_computed, stats
