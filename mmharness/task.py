"""The Task base class: how a benchmark asks questions and scores answers.

A task loads light sample records from the official release format (``load``), turns each sample
into a capability request (``request``, run inside DataLoader workers), and scores the responses
(``score``, a pure function of samples, responses and the score context that calls ``metrics/``).
A task that scores by running model output declares the programs to run (``executes``,
``programs``); the run executes them in a cached step before ``score`` (:mod:`mmharness.execution`).
Tasks never know which model they score.
"""

from __future__ import annotations

import hashlib
import inspect
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
    """What scoring needs besides the samples and responses: seed and bootstrap settings, the
    samples that got no response, and the outcomes of the execution step."""

    seed: int = 0
    bootstrap_resamples: int = 1000
    ci_level: float = 0.95
    #: ids of the samples that were asked but got no response (skipped with --on-error skip);
    #: they are not among the scored samples, but a task may count them (e.g. as failures)
    missing_ids: tuple[str, ...] = ()
    #: those samples themselves (aligned with ``missing_ids``), so that a task can score them from
    #: their own fields, without state kept from ``load``
    missing_samples: tuple["Sample", ...] = ()
    #: outcomes of the execution step (:mod:`mmharness.execution`) of a task that ``executes``:
    #: sample id -> program name -> :class:`mmharness.sandbox.ExecResult`
    executions: Any = field(default_factory=dict, compare=False)


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


@dataclass(frozen=True)
class TaskOption:
    """One task option (a ``--task-args`` key): its name, type and default come from the task's
    ``__init__`` signature (which also drives the typed conversion from strings), its one-line
    ``meaning`` from the ``option_meanings`` the task's classes declare ("" where none does, e.g. a
    plugin that declares nothing). ``required``: the signature gives no default."""

    name: str
    type: str
    default: Any
    meaning: str = ""
    required: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "default": self.default, "required": self.required,
                "meaning": self.meaning}


@dataclass(frozen=True)
class Paper:
    """The paper a task reproduces, for its card and its citation (:meth:`bibtex`).

    ``kind``: the BibTeX entry type (``inproceedings``: ``venue_full`` is the booktitle; ``article``:
    the journal; ``misc``: a preprint, cited by its arXiv id). ``venue``: the short venue shown on the
    card (``"ICCV"``, ``"arXiv preprint"``). An author in braces (``"{MMSegmentation Contributors}"``)
    is a corporate name. ``repository`` and ``commit``: the official code and the reference commit
    the protocol follows; ``note``: anything a reader of the card should know (another title, an
    unverified venue)."""

    key: str
    title: str
    authors: tuple[str, ...]
    year: int
    venue: str
    kind: str = "inproceedings"
    venue_full: str = ""
    pages: str = ""
    arxiv: str = ""
    url: str = ""
    repository: str = ""
    commit: str = ""
    note: str = ""

    def __post_init__(self):
        if self.kind not in ("inproceedings", "article", "misc"):
            raise ValueError(f"Paper {self.key!r}: kind {self.kind!r} is not inproceedings, article or misc")

    @property
    def author_names(self) -> tuple[str, ...]:
        """The authors as plain text (corporate names without their braces)."""
        return tuple(a[1:-1] if a.startswith("{") and a.endswith("}") else a for a in self.authors)

    def bibtex(self) -> str:
        """The BibTeX entry (accented letters written as LaTeX accents, the title's case kept)."""
        fields = [("title", "{" + _latex(self.title) + "}"),
                  ("author", " and ".join(_latex(a) for a in self.authors))]
        if self.kind == "inproceedings":
            fields.append(("booktitle", _latex(self.venue_full or self.venue)))
        elif self.kind == "article":
            fields.append(("journal", _latex(self.venue_full or self.venue)))
        if self.pages:
            fields.append(("pages", self.pages))
        fields.append(("year", str(self.year)))
        if self.arxiv:
            fields += [("eprint", self.arxiv), ("archivePrefix", "arXiv")]
        if self.url or self.arxiv:
            fields.append(("url", self.url or f"https://arxiv.org/abs/{self.arxiv}"))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
        return f"@{self.kind}{{{self.key},\n{body}\n}}"

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "authors": list(self.author_names), "year": self.year,
                "venue": self.venue, "kind": self.kind, "venue_full": self.venue_full or self.venue,
                "pages": self.pages or None, "arxiv": self.arxiv or None, "url": self.url or None,
                "repository": self.repository or None, "commit": self.commit or None, "note": self.note or None}


_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0308": '"', "\u0302": "^", "\u0303": "~", "\u0327": "c ",
            "\u030c": "v ", "\u0304": "="}


def _latex(text: str) -> str:
    """``text`` with accented Latin letters as LaTeX accents (``á`` -> ``{\\'a}``), for BibTeX."""
    import unicodedata

    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        if len(parts) == 2 and parts[1] in _ACCENTS:
            out.append("{\\" + _ACCENTS[parts[1]] + parts[0] + "}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class DataInfo:
    """Where a task's data goes and how to get it, for its card.

    ``layout``: one short paragraph: where under ``--data-root`` the task looks and which files it
    reads. ``source``: the official source (a hub id or URL). ``convert``: the command that turns the
    official release into what the task reads, where one is needed. ``sample``: whether ``--sample``
    runs the task on a bundled sample (``sample_note`` says what it holds or what else it needs)."""

    layout: str
    source: str
    convert: str = ""
    sample: bool = True
    sample_note: str = ""

    def as_dict(self) -> dict:
        return {"layout": self.layout, "source": self.source, "convert": self.convert or None,
                "sample": self.sample, "sample_note": self.sample_note or None}


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

    Documentation, read by ``mmh tasks NAME`` (the task card): ``option_meanings`` (one line per
    ``__init__`` option), ``paper`` (:class:`Paper`: the card's paper and the BibTeX citation),
    ``data_info`` (:class:`DataInfo`: data layout, official source, conversion, ``--sample``) and
    ``chance_from_data``; a family declares the last three once, on its base class.
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
    #: True for tasks that score by running model output (generated code): the run calls
    #: :meth:`programs` for each answered sample and runs them (:mod:`mmharness.execution`, cached per
    #: sample) before :meth:`score`, which gets the outcomes in ``ScoreContext.executions``. A task
    #: may set it per instance (e.g. only when code execution was allowed).
    executes: ClassVar[bool] = False
    #: programs the execution step runs at once (each in its own sandbox process)
    execution_workers: ClassVar[int] = 1
    #: True for tasks with large responses (dense label maps): ``score`` then receives a lazy
    #: sequence that reads each response from the cache when accessed (iterate it once, in order),
    #: so memory stays flat in the number of samples.
    stream_responses: ClassVar[bool] = False
    #: one line of meaning per option (``--task-args`` key) that this class's ``__init__`` takes; the
    #: names are the ``__init__`` keyword arguments, whose annotations and defaults give the types and
    #: defaults. Merged over the class hierarchy (a subclass declares only the options it adds or
    #: means differently); read by :func:`task_options` for ``--task-args`` checks and task cards.
    option_meanings: ClassVar[dict[str, str]] = {}
    #: the paper (and official code) the task reproduces; its citation is ``paper.bibtex()``
    paper: ClassVar[Paper | None] = None
    #: where the data goes under ``--data-root`` and how to get it (one per family, on its base class)
    data_info: ClassVar[DataInfo | None] = None
    #: metrics whose chance level :meth:`metric_spec` computes from the loaded data (cards say so)
    chance_from_data: ClassVar[frozenset[str]] = frozenset()

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
    def default_metric_specs(cls) -> tuple[MetricSpec, ...]:
        """The metrics under the default options, known without building the task (task cards):
        ``metric_specs``. A task whose metric list depends on its options or is computed per instance
        overrides this."""
        return tuple(cls.metric_specs)

    @classmethod
    def ranking_metric(cls) -> str:
        """The metric the leaderboard ranks on: ``leaderboard_metric``, else ``primary_metric``."""
        return cls.leaderboard_metric or cls.primary_metric

    def metric_spec(self, name: str) -> MetricSpec:
        for m in self.metric_specs:
            if m.name == name:
                return m
        raise KeyError(name)

    #: the resampling unit when a task's samples are several views of one item (a
    #: :class:`mmharness.metrics.declare.Unit`): declared metrics then read one row per unit (columns
    #: ``field@view``) and ``mmh compare`` pairs the runs unit by unit; None = one sample, one unit
    resample_unit: ClassVar[Any] = None

    def declared_metrics(self) -> tuple:
        """The metrics this task (as configured) declares from per-sample quantities: a tuple of
        :class:`mmharness.metrics.declare.Declared` (spec + aggregate; build it with
        :func:`~mmharness.metrics.declare.declare`). ``score`` computes them with
        :func:`~mmharness.metrics.declare.score_declared`; ``mmh compare`` recomputes them from the
        per-sample logs for paired intervals, with no task-specific code. Default: none."""
        return ()

    # ---------------------------------------------------------------- the three steps
    def load(self, data: DataConfig) -> TaskData:
        """Read sample records from the official release format (or the bundled sample)."""
        raise NotImplementedError

    def request(self, sample: Sample) -> Request:
        """Build the capability request for one sample (runs in DataLoader workers)."""
        raise NotImplementedError

    def programs(self, sample: Sample, response: Response) -> dict:
        """The programs to run for one answered sample before scoring (tasks that set ``executes``):
        name -> :class:`mmharness.sandbox.Program`, built from the sample and the response alone
        (no I/O); empty when there is nothing to run. Default: none."""
        return {}

    def score(self, samples: Sequence[Sample], responses: Sequence[Response],
              ctx: ScoreContext) -> TaskResult:
        """Score responses (aligned with samples; None = no response).

        A function of its arguments only: it reads the samples (their ids, gold answers and
        ``meta``), the responses and ``ctx`` (bootstrap settings, ``missing_samples``, and for a
        task that ``executes`` the outcomes of its programs in ``ctx.executions``), never state
        that :meth:`load` kept, so a fresh instance built with the same options scores the same.
        It runs no model and no subprocess and does no I/O: running model-written code is the
        execution step before it (:mod:`mmharness.execution`)."""
        raise NotImplementedError


def declared_option_meanings(task_cls: type) -> dict[str, str]:
    """The ``option_meanings`` of ``task_cls`` and its bases, merged (the most derived class wins)."""
    merged: dict[str, str] = {}
    for klass in reversed(task_cls.__mro__):
        merged.update(klass.__dict__.get("option_meanings", {}))
    return merged


def _init_options(task_cls: type) -> list[inspect.Parameter]:
    return [p for n, p in inspect.signature(task_cls.__init__).parameters.items()
            if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def task_options(task_cls: type) -> tuple[TaskOption, ...]:
    """The options of a task class (its ``--task-args`` keys), in signature order: the keyword
    arguments of its ``__init__`` (types and defaults from the signature, which also drives the
    typed conversion of ``--task-args`` strings) with their declared meanings
    (:func:`declared_option_meanings`). ``build_task``, the ``--task-args`` check and the task cards
    all read the options here."""
    meanings = declared_option_meanings(task_cls)
    out = []
    for p in _init_options(task_cls):
        if p.annotation is inspect.Parameter.empty:
            ann = ""
        else:
            ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__",
                                                                             str(p.annotation))
        required = p.default is inspect.Parameter.empty
        out.append(TaskOption(p.name, str(ann), None if required else p.default, meanings.get(p.name, ""), required))
    return tuple(out)


def option_declaration_problems(task_cls: type) -> list[str]:
    """What is wrong with the option declarations of ``task_cls`` (empty: nothing): options without
    a meaning, and meanings that name no option of the class that declares them."""
    problems = [f"option {o.name!r} has no meaning (declare it in option_meanings)"
                for o in task_options(task_cls) if not o.meaning.strip()]
    for klass in task_cls.__mro__:
        own = klass.__dict__.get("option_meanings")
        if not own:
            continue
        names = {p.name for p in _init_options(klass)}
        problems += [f"{klass.__qualname__}.option_meanings names {k!r}, which is not an option of its __init__"
                     for k in own if k not in names]
    return problems


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
