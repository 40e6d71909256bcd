"""The Task base class: how a benchmark asks questions and scores answers.

A task loads light sample records from the official release format (``load``), turns each sample
into a capability request (``request``, run inside DataLoader workers), and scores the responses
(``score``, a pure function of samples and responses that calls ``metrics/``). Tasks never know
which model they score.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from .requests import Capability, Request, Response


class TaskError(RuntimeError):
    """A task could not run: missing or malformed data, bad options."""


class DataNotFoundError(TaskError):
    """The data a task needs is not where it was looked for. The message names the expected path
    and the official source."""


@dataclass(frozen=True)
class Sample:
    """One light record: a unique id within the task, the gold answer, and loader metadata."""

    id: str
    gold: Any
    meta: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class DataConfig:
    """Where a task finds its data.

    ``root``: the local data root (``--data-root``); ``sample``: use the bundled sample instead;
    ``source``: force one of the task's loaders by name (e.g. ``torchvision``, ``hf``, ``png``).
    """

    root: Path | None = None
    sample: bool = False
    source: str | None = None


@dataclass
class TaskData:
    """What ``Task.load`` returns: samples plus where they came from."""

    samples: list[Sample]
    fingerprint: str
    source: str  # e.g. "png:/data/cifar10/test" or "sample"
    kind: str = "full"  # "full" or "sample"


@dataclass(frozen=True)
class MetricSpec:
    """Metadata of one metric, recorded in results and used by the leaderboard."""

    name: str
    higher_is_better: bool
    range: tuple[float, float] = (0.0, 1.0)
    chance: float | None = None
    official: bool = True
    unit: str = "fraction"
    description: str = ""

    def as_dict(self) -> dict:
        return {"higher_is_better": self.higher_is_better, "range": list(self.range),
                "chance": self.chance, "official": self.official, "unit": self.unit,
                "description": self.description}


@dataclass
class MetricValue:
    """A metric's value with an optional confidence interval (percentile bootstrap)."""

    value: float
    ci: tuple[float, float] | None = None
    ci_level: float | None = None
    stderr: float | None = None

    def as_dict(self) -> dict:
        d: dict[str, Any] = {"value": self.value}
        if self.ci is not None:
            d["ci"] = [self.ci[0], self.ci[1]]
            d["ci_level"] = self.ci_level
        if self.stderr is not None:
            d["stderr"] = self.stderr
        return d


@dataclass(frozen=True)
class ScoreContext:
    """Options that scoring needs: seed and bootstrap settings."""

    seed: int = 0
    bootstrap_resamples: int = 1000
    ci_level: float = 0.95
    #: ids of the samples that were asked but got no response (skipped with --on-error skip);
    #: they are not among the scored samples, but a task may count them (e.g. as failures)
    missing_ids: tuple[str, ...] = ()


@dataclass
class TaskResult:
    """What ``Task.score`` returns.

    ``metrics``: name -> value; ``per_sample``: one dict of scores per scored sample, in sample
    order (for ``--log-samples``); ``tables``: extra JSON-able breakdowns (e.g. per-subgroup
    accuracy); ``notes``: human-readable remarks recorded in the results; ``artifacts``: files to
    write beside the results (file-name suffix such as ``"coco_bbox_results.json"`` -> JSON-able
    content, e.g. predictions in an official format); the results name the files written.
    """

    metrics: dict[str, MetricValue]
    per_sample: list[dict] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)


#: Generation profiles (the ``profile`` option of tasks whose papers called API models differently)
PROFILES = ("auto", "local", "api")


def resolve_profile_option(task: str, option: str, served: bool) -> str:
    """``auto`` -> ``api`` for a served model (an adapter whose class sets ``served``), else
    ``local``; ``local`` and ``api`` are taken as given."""
    if option not in PROFILES:
        raise TaskError(f"task {task!r}: profile={option!r}; expected one of {', '.join(PROFILES)}")
    if option == "auto":
        return "api" if served else "local"
    return option


class Task:
    """Base class of every task.

    Class attributes to set: ``name`` (by ``@register_task``), ``version`` (bump when scoring or
    data handling changes), ``protocol`` (which official protocol this reproduces),
    ``uses`` (capabilities in order of preference), ``metric_specs`` and ``primary_metric``.

    Optional: ``leaderboard_metric`` (the metric the leaderboard ranks models on, when the paper's
    headline ``primary_metric`` does not rank them by how well they do the task, e.g. a fairness
    spread that a one-class predictor minimises; empty = the primary metric) and ``family`` (the
    benchmark family whose average the leaderboard shows, e.g. ``"SNARE"``; empty = the largest
    registered task group holding the task, else the task's own name: :func:`task_family`).
    """

    name: ClassVar[str] = "unnamed"
    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses: ClassVar[tuple[Capability, ...]] = ()
    primary_metric: ClassVar[str] = ""
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = ()
    #: the leaderboard's ranking column (a name among ``metric_specs``); "" = ``primary_metric``
    leaderboard_metric: ClassVar[str] = ""
    #: benchmark family shown as one average on the leaderboard; "" = derived (see :func:`task_family`)
    family: ClassVar[str] = ""
    #: True for tasks with large responses (dense label maps): ``score`` then receives a lazy
    #: sequence that reads each response from the cache when accessed (iterate it once, in order),
    #: so memory stays flat in the number of samples.
    stream_responses: ClassVar[bool] = False

    def __init__(self, **options: Any):
        if options:
            raise TaskError(f"task {self.name!r} takes no options, got {sorted(options)}")

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """Options that change this task's numbers (prompts, conventions); recorded in results."""
        return {}

    def cache_config(self) -> dict:
        """The part of :meth:`config` that changes responses (prompts, not scoring conventions).
        Keys the response cache; defaults to the whole config."""
        return self.config()

    def fingerprint(self, data: TaskData) -> str:
        """Identity of task code version + response-changing config + data. Keys the response cache."""
        identity = {"name": self.name, "version": self.version, "config": self.cache_config(), "data": data.fingerprint}
        if self.generation_overrides and Capability.GENERATE in self.uses:
            identity["generation_overrides"] = self.generation_overrides
        payload = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    #: this run's ``--gen-kwargs`` (typed :class:`GenerationParams` fields); they key the cache
    generation_overrides: dict = {}

    def build_request(self, sample: Sample) -> Request:
        """The request for ``sample`` as the run sends it: :meth:`request` with the run's
        ``--gen-kwargs`` applied to a ``generate`` request's parameters. The runner, the dry run and
        the scripts all build requests here."""
        req = self.request(sample)
        if self.generation_overrides and getattr(req, "params", None) is not None:
            import dataclasses

            req.params = dataclasses.replace(req.params, **self.generation_overrides)
        return req

    def resolve_profile(self, served: bool) -> None:
        """Choose the generation settings for the kind of model that will answer.

        ``evaluate`` calls this once, before :meth:`load`, with the adapter's ``served`` trait (never
        its name). A task whose paper called API models differently from local ones (temperature,
        max tokens, message layout) takes a ``profile`` option -- ``auto`` (``api`` for served
        models, ``local`` otherwise), ``local`` or ``api`` -- and records the resolved profile and
        settings in :meth:`config`, which keys the cache. Default: nothing to choose.
        """

    @classmethod
    def ranking_metric(cls) -> str:
        """The metric the leaderboard ranks on: ``leaderboard_metric``, else ``primary_metric``."""
        return cls.leaderboard_metric or cls.primary_metric

    def metric_spec(self, name: str) -> MetricSpec:
        for m in self.metric_specs:
            if m.name == name:
                return m
        raise KeyError(name)

    # ---------------------------------------------------------------- the three steps
    def load(self, data: DataConfig) -> TaskData:
        """Read sample records from the official release format (or the bundled sample)."""
        raise NotImplementedError

    def request(self, sample: Sample) -> Request:
        """Build the capability request for one sample (runs in DataLoader workers)."""
        raise NotImplementedError

    def score(self, samples: Sequence[Sample], responses: Sequence[Response],
              ctx: ScoreContext) -> TaskResult:
        """Score responses (aligned with samples). Pure: no model code, no I/O."""
        raise NotImplementedError


def task_family(name: str, task_cls: type | None = None) -> str:
    """The benchmark family of task ``name``: the class's declared ``family``; otherwise the largest
    registered task group (``register_group``) that holds the task (equal sizes: the first name in
    sort order), so that a family needs no list beyond the groups its module registers; otherwise the
    task's own name (a task of its own, or a task this mmharness does not know)."""
    declared = getattr(task_cls, "family", "") if task_cls is not None else ""
    if declared:
        return str(declared)
    from .registry import TASK_GROUPS

    holding = sorted((-len(tasks), group) for group, tasks in TASK_GROUPS.items() if name in tasks)
    return holding[0][1] if holding else name


def limit_samples(samples: Sequence[Sample], limit: int | float | None) -> Sequence[Sample]:
    """The samples a run evaluates: all (``limit`` None), the first ``limit`` (an int >= 1), or the
    first ``ceil(limit * n)`` for a fraction ``0 < limit < 1`` (lm-evaluation-harness's rule)."""
    if limit is None:
        return samples
    if isinstance(limit, float) and not limit.is_integer():
        if not 0 < limit < 1:
            raise TaskError(f"--limit {limit}: a fraction must be between 0 and 1, an integer at least 1")
        import math

        return samples[: math.ceil(limit * len(samples))]
    if limit < 1:
        raise TaskError(f"--limit {limit}: a count must be at least 1 (or give a fraction between 0 and 1)")
    return samples[: int(limit)]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of one file's bytes (a sample log, an official pickle)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_files(paths: Sequence[Path], extra: str = "") -> str:
    """Content hash of files (in the given order) plus an extra string; used for data fingerprints.

    Memoised in this process by each file's path, size, inode and modification and change times,
    so evaluating several models on the same data in one process reads the files once."""
    import os

    key = (extra, tuple((os.path.abspath(p), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
                        for p, st in ((p, os.stat(p)) for p in paths)))
    if key not in _FILES_DIGESTS:
        h = hashlib.sha256(extra.encode())
        for p in paths:
            h.update(str(Path(p).name).encode())
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    h.update(chunk)
        _FILES_DIGESTS[key] = h.hexdigest()[:20]
    return _FILES_DIGESTS[key]


_FILES_DIGESTS: dict[tuple, str] = {}
