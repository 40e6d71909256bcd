"""Test plugin loaded with --include: ``concurrent-echo``, an in-process adapter that declares that
it answers requests concurrently (like a served model) and answers ``generate`` requests with the
reference answer (``Answer: <gold>``), so the streaming runner can be tested without a server.

Its arguments shape the timing, never the answers (all are ``runtime_args``, so every setting
shares one cache key): ``max_concurrency``; ``delay`` seconds per request; ``slow_sample`` (an id)
that takes ``slow_delay`` seconds instead; ``block_from`` (an index): requests of samples with a
numeric id >= it never return (a test then kills the process); ``fail_sample``: an id whose request
raises a :class:`SampleRequestError`. It records the largest number of requests it saw in flight
and the order in which requests completed.
"""

from __future__ import annotations

import threading
import time

from mmharness.adapter import Adapter, SampleRequestError
from mmharness.registry import register_adapter
from mmharness.requests import Batch, TextResponse


def _drop(x):
    return None


@register_adapter("concurrent-echo")
class ConcurrentEcho(Adapter):
    """Answers ``generate`` with ``Answer: <reference>`` from up to ``max_concurrency`` threads."""

    version = "1"
    runtime_args = frozenset({"max_concurrency", "delay", "slow_sample", "slow_delay", "block_from", "fail_sample"})

    def __init__(self, max_concurrency: int = 4, delay: float = 0.0, slow_sample: str | None = None,
                 slow_delay: float = 1.0, block_from: int | None = None, fail_sample: str | None = None):
        super().__init__()
        self.n, self.delay, self.slow_sample, self.slow_delay = max_concurrency, delay, slow_sample, slow_delay
        self.block_from, self.fail_sample = block_from, fail_sample
        self._lock = threading.Lock()
        self.in_flight = self.max_seen = 0
        self.completed: list[str] = []
        self.threads: set[str] = set()

    def max_in_flight(self) -> int:
        return self.n

    def preprocess(self, modality):
        return _drop

    def generate(self, batch: Batch) -> list[TextResponse]:
        assert len(batch) == 1, "the streaming runner sends one request per call"
        sid = batch.sample_ids[0]
        with self._lock:
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.slow_delay if sid == self.slow_sample else self.delay)
            if self.block_from is not None and sid.isdigit() and int(sid) >= self.block_from:
                threading.Event().wait()  # never returns: the test kills the process
            if sid == self.fail_sample:
                raise SampleRequestError("refused by the test adapter", sid)
        finally:
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            self.completed.append(sid)
        return [TextResponse(f"Answer: {batch.references[0]}")]
