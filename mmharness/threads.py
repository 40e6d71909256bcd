"""CPU thread budget of a task run: the model's intra-op threads and the DataLoader workers share
the machine's cores.

torch starts one intra-op thread per core. When DataLoader workers keep cores busy decoding, those
threads are oversubscribed: each parallel region of the model waits for a thread the scheduler has
parked, and a small model can run at a fraction of its speed (on a 2-core CPU, a tiny CLIP runs
2.2x slower with one busy worker beside it). Whether that happens depends on the ratio of decoding
to model work, which is only known once the run is going, so ``threads="auto"`` measures it:

* the workers report the CPU seconds they spent on each batch (:func:`worker_cpu_since_last`);
* after ``window`` batches (the first one, which carries start-up work, is not counted) the policy
  estimates how many cores the workers keep busy: per batch, the worker's CPU seconds over the
  main loop's wall seconds for that batch; the median over the window (one stalled batch does not
  sway it) is ``workers_busy``;
* if ``intra-op threads + workers_busy`` exceeds the cores by more than half a core, the thread
  count is lowered once, to the cores the workers leave free (at least 1); otherwise it is kept.

A fixed ``threads=N`` sets N for the run. Either way the previous count is restored afterwards,
and :meth:`ThreadBudget.record` says what was used (it goes into the results). Only CPU runs with
worker processes are tuned; on an accelerator the main process hardly computes. Thread counts do
not change open_clip's outputs (bit-identical at 1 and 2 threads), but the choice is recorded
anyway, like every setting that could.
"""

from __future__ import annotations

import os
import time
from typing import Any

AUTO = "auto"

_cpu_mark = 0.0  # per worker process: process CPU time at the end of its previous batch


def parse_threads(value: Any) -> int | str:
    """``"auto"`` or a positive int (from the CLI, an API argument or a string); anything else is
    an error that says what is accepted."""
    if value is None or value == AUTO:
        return AUTO
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or (isinstance(value, float) and value != n):
        raise ValueError(f"threads={value!r}: expected 'auto' or a positive integer "
                         f"(intra-op CPU threads for the model)")
    return n


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def start_worker_clock(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: start this worker's CPU clock after its start-up work."""
    global _cpu_mark
    _cpu_mark = time.process_time()


def worker_cpu_since_last() -> float | None:
    """In a DataLoader worker: CPU seconds this process used since its previous call (or since
    :func:`start_worker_clock`). None in the main process (``num_workers=0``)."""
    global _cpu_mark
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:
        return None
    now = time.process_time()
    spent, _cpu_mark = now - _cpu_mark, now
    return spent


class ThreadBudget:
    """Context manager that owns torch's intra-op thread count for one task run.

    ``setting`` is ``"auto"`` or a positive int; ``observe()`` is fed one loader batch at a time.
    """

    def __init__(self, setting: int | str, num_workers: int, device: str, *, cores: int | None = None,
                 window: int = 3, slack: float = 0.5):
        self.setting = parse_threads(setting)
        self.num_workers = num_workers
        self.cores = cores or available_cores()
        self.window, self.slack = window, slack
        self.tune = self.setting == AUTO and num_workers > 0 and str(device).startswith("cpu")
        self._seen = 0
        self._ratios: list[float] = []
        self.previous = self.start = self.current = 0
        self.workers_busy: float | None = None
        self.decided_after: int | None = None

    def __enter__(self) -> "ThreadBudget":
        import torch

        self.previous = torch.get_num_threads()
        if isinstance(self.setting, int):
            torch.set_num_threads(self.setting)
        self.start = self.current = torch.get_num_threads()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if torch.get_num_threads() != self.previous:
            torch.set_num_threads(self.previous)

    def observe(self, worker_cpu_seconds: float | None, wall_seconds: float) -> None:
        """One loader batch consumed: the CPU its worker spent making it, and the main loop's wall
        time for it (waiting + model + caching). Decides once, after the window."""
        if not self.tune or self.decided_after is not None or worker_cpu_seconds is None:
            return
        self._seen += 1
        if self._seen == 1:
            return  # start-up batch: worker start, first-batch work (e.g. a zero-shot classifier)
        self._ratios.append(worker_cpu_seconds / max(wall_seconds, 1e-6))
        if self._seen < 1 + self.window:
            return
        self.decided_after = self._seen
        self.workers_busy = float(sorted(self._ratios)[len(self._ratios) // 2])
        if self.current + self.workers_busy > self.cores + self.slack:
            target = max(1, min(self.current, self.cores - round(self.workers_busy)))
            if target != self.current:
                import torch

                torch.set_num_threads(target)
                self.current = target

    def record(self) -> dict:
        """What was used, for the results: setting, threads at start and end, the measured worker
        load (cores kept busy) and after how many batches the decision fell (auto only)."""
        return {"setting": self.setting, "start": self.start, "end": self.current, "cores": self.cores,
                "workers_busy": self.workers_busy, "decided_after_batches": self.decided_after}
