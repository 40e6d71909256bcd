"""The execution step: run the programs a task scores by, between the responses and ``score``.

Some tasks score by running model output (PixelWorld MBPP's pass@1, TableBench's chart code). Such
a task sets ``executes`` and says, for each answered sample, which programs to run
(:meth:`mmharness.task.Task.programs`: name -> :class:`mmharness.sandbox.Program`, built purely
from the sample and the response). :func:`run_executions` runs them; :meth:`Task.score` then gets
the outcomes in ``ScoreContext.executions`` (sample id -> name -> :class:`~mmharness.sandbox.ExecResult`)
and runs nothing itself.

Caching: each outcome goes to the cache (``ResponseCache.put_execution``: one transaction, table
``executions``) as soon as its program finishes, keyed by the task fingerprint, the sample id and
the program's identity (:meth:`Program.identity`: the code, setup, result variable, limits, sandbox
mode and the sandbox runner's source). A run killed during a long execution phase loses only the
programs in flight; the rerun runs only the programs without a stored outcome. A changed answer,
limit or mode is another identity, so no stale outcome is reused. With ``--no-cache`` the outcomes
live in memory for the run only.

Programs run ``Task.execution_workers`` at a time (a thread pool over sandbox subprocesses). Each
outcome is stored under its key, never in completion order, so the records do not depend on the
number of workers or on timing (beyond what a program's own timeout does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .sandbox import ExecResult, Program

if TYPE_CHECKING:
    from .task import Sample, Task


class ExecutionError(RuntimeError):
    """A task's programs could not be planned (a bad ``programs`` hook)."""


@dataclass
class Executions:
    """The outcomes of one task's execution step: ``records`` (sample id -> program name ->
    outcome), how many outcomes came from the cache (``cached``) and how many programs ran now
    (``executed``)."""

    records: dict[str, dict[str, ExecResult]] = field(default_factory=dict)
    cached: int = 0
    executed: int = 0

    def counts(self) -> dict[str, int]:
        """``{"cached": ..., "executed": ...}``, as recorded in results (``tasks.<name>.executions``)."""
        return {"cached": self.cached, "executed": self.executed}


def plan(task: Task, samples: Sequence[Sample], responses: Sequence[Any]) -> list[tuple[str, str, Program]]:
    """(sample id, program name, program) of every program the task wants run for these answered
    samples (responses aligned with samples; None = not answered, nothing to run), in sample order."""
    if len(samples) != len(responses):
        raise ExecutionError(f"task {task.name!r}: {len(responses)} responses for {len(samples)} samples")
    out = []
    for s, r in zip(samples, responses):
        if r is None:
            continue
        progs = task.programs(s, r)
        for name, prog in progs.items():
            if not isinstance(prog, Program):
                raise ExecutionError(f"task {task.name!r}: programs() gave {type(prog).__name__} for sample "
                                     f"{s.id} ({name!r}); expected a mmharness.sandbox.Program")
            out.append((s.id, name, prog))
    return out


def run_executions(task: Task, samples: Sequence[Sample], responses: Sequence[Any], store: Any = None,
                   task_key: str = "", *, progress: bool = False) -> Executions:
    """Run (or take from ``store``) every program of :func:`plan`; see the module docstring.

    ``store``: a :class:`~mmharness.cache.ResponseCache` or :class:`~mmharness.cache.MemoryCache`
    (``get_executions`` / ``put_execution``), or None to keep nothing beyond the returned records;
    ``task_key``: the task fingerprint the outcomes are stored under. An exception (or a kill) stops
    the step; the outcomes stored until then stay, the programs not started are not run."""
    jobs = plan(task, samples, responses)
    result = Executions()
    if not jobs:
        return result
    named = [(sid, name, (sid, prog.identity()), prog) for sid, name, prog in jobs]
    keyed = {key: prog for _, _, key, prog in named}  # one run per (sample, identity)
    stored = store.get_executions(task_key, list(keyed)) if store is not None else {}
    outcomes: dict[tuple[str, str], ExecResult] = {}
    for key, payload in stored.items():
        outcomes[key] = ExecResult.from_dict(json.loads(payload))
    result.cached = len(outcomes)
    todo = [(key, prog) for key, prog in keyed.items() if key not in outcomes]
    if todo:
        from .runner import _progress  # the runner's bar (or its no-op stand-in)

        workers = max(1, min(int(getattr(task, "execution_workers", 1)), len(todo)))
        bar = _progress(f"{task.name}: running code", len(todo), result.cached, progress, unit="program")
        pool = ThreadPoolExecutor(max_workers=workers)
        failed = True
        try:
            pending = {pool.submit(prog.run): key for key, prog in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    key = pending.pop(fut)
                    outcome = fut.result()
                    if store is not None:
                        store.put_execution(task_key, key[0], key[1],
                                            json.dumps(outcome.as_dict(), sort_keys=True).encode())
                    outcomes[key] = outcome
                    result.executed += 1
                    bar.update(1)
            failed = False
        finally:
            # on an error, programs not started yet are dropped; those running finish unrecorded
            pool.shutdown(wait=True, cancel_futures=failed)
            bar.close()
    for sid, name, key, _ in named:  # names of one sample that share a program share its outcome
        result.records.setdefault(sid, {})[name] = outcomes[key]
    return result

