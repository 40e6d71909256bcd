"""MMRA: multi-granularity, multi-image relational association (two images, one question).

Protocol (``docs/protocols/mmra.md``; Wu et al., *MMRA*, arXiv:2407.17379 / Findings of EACL 2026; official
demo ``evaluate/evaluate_demo.py`` at commit ``82dc33b``):

* data: ``m-a-p/MMRA`` (1,024 rows, 11 subtasks at the entity and image levels; see
  :mod:`mmharness.loaders.mmra`);
* prompt: the official templates **verbatim** (:func:`build_prompt`: the runs of spaces come from
  backslash continuations in the official literals; the 3-option template still says "four");
  both images come **before** the text (``[image1, image2, prompt]``), as the demo sends them to
  chat models;
* decoding: greedy, ``max_new_tokens=16`` (the demo's Idefics2/Mantis setting; task option);
* API models (``profile``: ``auto`` picks ``api`` for served adapters such as ``openai``): the
  official GPT-4V wrapper sends the **text first, then the two images** in one message
  (``layout=text_first``), greedy (temperature 0). It sent that message with role ``assistant``
  (sic) and JPEG data URLs; the harness sends role ``user`` by default, because current chat APIs
  refuse images in assistant turns (``role=assistant`` reproduces the wrapper), and images in the
  upload format the adapter declares, labelled with their true MIME type;
* parsing: the official frequency rules with the latest-first-occurrence tie rule
  (:mod:`mmharness.metrics.mmra`); unparseable = wrong; ``Chooice QA`` is treated as ``Choice QA``;
* metrics: per-subtask accuracy; **Overall = sample-weighted (micro) accuracy** (reproduces the
  paper's Overall column); level (entity / image) micro accuracies; the macro mean over subtasks
  (``macro_subtask``, not the paper's Overall); the non-official ``first_letter`` parse beside it.

Failures: a sample with no response (undecodable image with ``--on-error skip``) counts as wrong
by default and is reported as ``n_failed``; ``drop_failed=true`` drops such items from the
denominators like the official demo drops failed API calls.

``mmra_qo`` is the question-only setting (text LLMs, leakage check): the same template without
images. The official QO prompt is not published; this reuse is **unverified**.

Scoring also records ``tables["degeneracy"]`` (:mod:`mmharness.metrics.degeneracy`): the same answer
text for every item flags the run (``identical_answers``; the leaderboard then does not rank it).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..loaders.mmra import EXPECTED_ROWS, MMRAImages, find_mmra, open_mmra
from ..metrics.declare import Declared, declare, score_declared
from ..metrics.degeneracy import check_generate
from ..metrics.mmra import (
    CHOICE_QA,
    YES_NO_QA,
    declared_aggregates,
    is_correct,
    normalize_qa_type,
    parse_first,
    parse_official,
)
from ..registry import register_group, register_task
from ..requests import Capability, GenerateRequest, GenerationParams, ImageArray, Message, TextResponse
from ..task import (
    DataConfig,
    DataInfo,
    resolve_profile_option,
    MetricSpec,
    Paper,
    Sample,
    ScoreContext,
    Task,
    TaskData,
    TaskError,
    TaskResult,
)

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples" / "mmra"
#: where the two images go: before the text (the demo's chat models) or after it (the GPT-4V wrapper)
LAYOUTS = ("images_first", "text_first")

# --------------------------------------------------------------------------- prompts (verbatim)

_SP20, _SP21 = " " * 20, " " * 21
PROMPT_4 = ("You will be giving one question, two images,  and four answers, one of them is correct. "
            "Please choose one of the four answers." + _SP20 + "please only answer the question with "
            "A, B, C or D." + _SP20 + "questions: {question}" + _SP21 + "answer:  A: {A}  B: {B}  C: {C}  "
            "D: {D}" + _SP20 + "Your answer is ")
PROMPT_3 = ("You will be giving one question, two images,  and four answers, one of them is correct. "
            "Please choose one of the four answers." + _SP20 + "please only answer the question with "
            "A, B, C." + _SP20 + "questions: {question}" + _SP21 + "answer:  A: {A}  B: {B}  C: {C}"
            + _SP20 + "Your answer is ")
PROMPT_YES_NO = ("You will be giving one question and two images. Please answer the question using "
                 "\"Yes\" or \"No\"." + " " * 19 + "Please only answer the question with Yes or No."
                 + " " * 18 + "questions: {question}" + " " * 19 + "Your answer is ")


def parse_options(options: Any, where: str) -> dict[str, str] | None:
    """The ``options`` cell (a Python dict literal, ``ast.literal_eval`` as the demo does) -> dict."""
    if options is None:
        return None
    if isinstance(options, dict):
        return {str(k): str(v) for k, v in options.items()}
    try:
        val = ast.literal_eval(str(options))
    except (ValueError, SyntaxError) as e:
        raise TaskError(f"MMRA {where}: options {str(options)[:80]!r} is not a Python dict literal: {e}") from None
    if not isinstance(val, dict):
        raise TaskError(f"MMRA {where}: options is a {type(val).__name__}, expected a dict of A..D")
    return {str(k): str(v) for k, v in val.items()}


def build_prompt(qa_type: str, question: str, options: dict[str, str] | None, where: str = "row") -> str:
    """The official prompt of one item (``gen_prompt`` of the demo), byte for byte."""
    kind = normalize_qa_type(qa_type)
    if kind == YES_NO_QA:
        return PROMPT_YES_NO.format(question=question)
    if options is None:
        raise TaskError(f"MMRA {where}: a Choice QA item has no options")
    keys = list(options.keys())
    if keys == ["A", "B", "C", "D"]:
        return PROMPT_4.format(question=question, **options)
    if keys == ["A", "B", "C"]:
        return PROMPT_3.format(question=question, **options)
    raise TaskError(f"MMRA {where}: options have keys {keys}; the official prompts exist for A-D and A-C only")


# --------------------------------------------------------------------------- subtasks

#: canonical subtask name -> (abbreviation, level), in the column order of the official table
SUBTASKS: dict[str, tuple[str, str]] = {
    "RelativePosition": ("RP", "entity"),
    "UsageSimilarity": ("US", "entity"),
    "MentalitySimilarity": ("MS", "entity"),
    "SimilarMaterial": ("SM", "entity"),
    "AppearanceSimilarity": ("AS", "entity"),
    "NearSameEntity": ("NSE", "entity"),
    "Environment": ("Env", "image"),
    "Layout": ("LO", "image"),
    "SimilarEvent": ("SimE", "image"),
    "SubEvent": ("SubE", "image"),
    "ObservationAngle": ("OA", "image"),
}
TABLE_COLUMNS = ("Overall",) + tuple(a for a, _ in SUBTASKS.values())
LEVELS = ("entity", "image")


def _canon(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return key[:-1] if key.endswith("s") else key


_CANON = {_canon(k): k for k in SUBTASKS}


def subtask_info(task_string: str) -> tuple[str, str]:
    """(abbreviation, level) of a ``Task`` string as found in the data (``Environment`` and
    ``Environments`` both map to Env); unknown strings keep their name and level ``unknown``."""
    canon = _CANON.get(_canon(task_string))
    if canon is None:
        return task_string, "unknown"
    return SUBTASKS[canon]


def _acc_spec(name: str, desc: str, official: bool = True, chance: float | None = None) -> MetricSpec:
    return MetricSpec(name, higher_is_better=True, range=(0.0, 1.0), chance=chance, official=official,
                      unit="fraction", description=desc)


BASE_SPECS: tuple[MetricSpec, ...] = (
    _acc_spec("overall", "Official Overall: sample-weighted (micro) accuracy over all items, with the "
                         "official parse (x100 = the paper's Overall column)."),
    _acc_spec("macro_subtask", "Unweighted mean of the 11 subtask accuracies (NOT the paper's Overall).",
              official=False),
    _acc_spec("entity_level", "Micro accuracy over the entity-level subtasks (RP, US, MS, SM, AS, NSE)."),
    _acc_spec("image_level", "Micro accuracy over the image-level subtasks (Env, LO, SimE, SubE, OA)."),
    _acc_spec("overall_first_letter", "Non-official alternative parse: the first standalone option "
                                      "letter (or yes/no) in the response; micro accuracy.", official=False),
    MetricSpec("unparsed_rate", higher_is_better=False, range=(0.0, 1.0), chance=None, official=False,
               unit="fraction", description="Fraction of scored responses the official parser "
                                            "could not map to an answer (scored as wrong)."),
) + tuple(_acc_spec(f"acc_{abbr}", f"Accuracy on {name} ({level} level), official parse.")
          for name, (abbr, level) in SUBTASKS.items())


class _MMRABase(Task):
    """Shared implementation of the IQ (images + question) and QO (question only) settings."""

    version: ClassVar[str] = "1"
    uses: ClassVar[tuple[Capability, ...]] = (Capability.GENERATE,)
    primary_metric: ClassVar[str] = "overall"
    family: ClassVar[str] = "MMRA"
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = BASE_SPECS
    with_images: ClassVar[bool] = True
    setting: ClassVar[str] = "IQ"
    #: 1/options (or 1/2 for Yes/No) averaged over each metric's items: :meth:`metric_spec` after load
    chance_from_data: ClassVar[frozenset[str]] = frozenset(m.name for m in BASE_SPECS if m.higher_is_better)
    option_meanings: ClassVar[dict[str, str]] = {
        "max_new_tokens": "generation limit (the demo's Idefics2/Mantis setting: 16)",
        "drop_failed": "true: leave samples without a response out of the denominators, as the demo drops failed "
                       "API calls; false: count them as wrong (reported as n_failed)",
        "profile": "generation profile: auto (api for served models such as openai, else local), local (images "
                   "before the text, the demo's chat models) or api (text first, the official GPT-4V wrapper)",
        "layout": "overrides the profile's message layout: images_first or text_first; none = the profile's",
        "role": "role of the one message: user, or assistant as the GPT-4V wrapper sent it (sic; current chat APIs "
                "refuse images there)",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="wu2026mmra",
        title="MMRA: A Benchmark for Evaluating Multi-Granularity and Multi-Image Relational Association "
              "Capabilities in Large Visual Language Models",
        authors=("Siwei Wu", "Kang Zhu", "Yu Bai", "Yiming Liang", "Yizhi Li", "Haoning Wu", "Jiaheng Liu",
                 "Ruibo Liu", "Xingwei Qu", "Xuxin Cheng", "Ge Zhang", "Wenhao Huang", "Chenghua Lin"),
        year=2026, venue="Findings of EACL",
        venue_full="Findings of the Association for Computational Linguistics: EACL 2026",
        pages="5405--5419", arxiv="2407.17379", url="https://aclanthology.org/2026.findings-eacl.287/",
        repository="https://github.com/Wusiwei0410/MMRA", commit="82dc33b",
        note="arXiv title (2024): 'MMRA: A Benchmark for Multi-granularity Multi-image Relational Association'; "
             "the protocol follows the demo evaluate/evaluate_demo.py")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="The Hugging Face release m-a-p/MMRA (one split, train, 1,024 rows with both images in the parquet "
               "files): its train-*.parquet files under --data-root or its MMRA/, mmra/, m-a-p___MMRA/ or "
               "m-a-p/MMRA/ folder (or their data/), a datasets.save_to_disk folder there, a Hugging Face hub "
               "cache snapshot there, or the hub id itself (offline: from the local HF cache).",
        source="https://huggingface.co/datasets/m-a-p/MMRA (e.g. `huggingface-cli download m-a-p/MMRA "
               "--repo-type dataset --local-dir <root>/MMRA`)",
        sample_note="22 generated rows (2 per subtask) in the release's parquet layout "
                    "(mmharness/data/samples/mmra/)")

    def __init__(self, max_new_tokens: int = 16, drop_failed: bool = False, profile: str = "auto",
                 layout: str | None = None, role: str = "user"):
        if max_new_tokens < 1:
            raise TaskError(f"task {self.name!r}: max_new_tokens must be >= 1, got {max_new_tokens}")
        if layout is not None and layout not in LAYOUTS:
            raise TaskError(f"task {self.name!r}: layout={layout!r}; expected one of {', '.join(LAYOUTS)}")
        if role not in ("user", "assistant"):
            raise TaskError(f"task {self.name!r}: role={role!r}; expected user or assistant")
        self.max_new_tokens = int(max_new_tokens)
        self.drop_failed = bool(drop_failed)
        self.profile_option, self.layout_option, self.role = profile, layout, role
        self.resolve_profile(served=False)  # evaluate() resolves it again for the adapter in use
        self._table = None
        self._images = None
        self._chance: dict[str, float] = {}  # for metric_spec (results metadata); score reads the samples

    def resolve_profile(self, served: bool) -> None:
        """``local``: images before the text (the demo's chat models); ``api``: the text, then the
        images (the official GPT-4V wrapper). An explicit ``layout`` wins."""
        self.profile = resolve_profile_option(self.name, self.profile_option, served)
        self.layout = self.layout_option or ("text_first" if self.profile == "api" else "images_first")

    def config(self) -> dict:
        """Setting, decoding and scoring options (all recorded in results)."""
        return {"setting": self.setting, "images": self.with_images, "image_order": ["image1", "image2"],
                "profile": self.profile, "layout": self.layout, "role": self.role,
                "images_before_text": self.layout == "images_first", "decoding": "greedy",
                "temperature": 0.0, "max_new_tokens": self.max_new_tokens,
                "parse": "official (frequency, latest-first-occurrence tie)", "drop_failed": self.drop_failed,
                "prompt": "official templates, verbatim" + ("" if self.with_images else
                                                            " (QO reuse without images: unverified)")}

    def cache_config(self) -> dict:
        """Only the prompt-side options change responses (the layout and role only when they differ
        from the demo's, so caches of earlier runs stay valid)."""
        c: dict[str, Any] = {"setting": self.setting, "max_new_tokens": self.max_new_tokens}
        if self.with_images and self.layout != "images_first":
            c["layout"] = self.layout
        if self.role != "user":
            c["role"] = self.role
        return c

    def metric_spec(self, name: str) -> MetricSpec:
        """Class specs, with chance levels computed from the loaded items (1/options or 1/2)."""
        base = super().metric_spec(name) if any(m.name == name for m in self.metric_specs) else None
        if base is None:
            raise KeyError(name)
        chance = self._chance.get(name)
        if chance is None or base.higher_is_better is False:
            return base
        return MetricSpec(base.name, base.higher_is_better, base.range, chance, base.official, base.unit,
                          base.description)

    # ---------------------------------------------------------------- load
    def load(self, data: DataConfig) -> TaskData:
        """Read the rows (bundled sample, local parquet / save_to_disk under ``--data-root``, or the
        hub); build each sample's prompt now so that malformed rows fail before any model work."""
        if data.sample:
            table = open_mmra("parquet:" + "|".join(str(p) for p in sorted(SAMPLE_DIR.glob("data/train-*.parquet"))))
        else:
            table = find_mmra(data.root, data.source)
        n = len(table)
        if not data.sample and n != EXPECTED_ROWS:
            logging.getLogger("mmharness").warning("%s: %d rows at %s, not the %d of the release",
                                                   self.name, n, table.location, EXPECTED_ROWS)
        tasks, qa_types = table.column("Task"), table.column("QA_type")
        questions, options, answers = table.column("question"), table.column("options"), table.column("answer")
        samples = []
        chance_items: list[tuple[str, str, float]] = []
        for i in range(n):
            where = table.describe(i)
            for col, val in (("Task", tasks[i]), ("QA_type", qa_types[i]), ("question", questions[i]),
                             ("answer", answers[i])):
                if val is None or (isinstance(val, str) and not val.strip()):
                    raise TaskError(f"MMRA {where}: column {col!r} is empty")
            try:
                kind = normalize_qa_type(qa_types[i])
            except ValueError as e:
                raise TaskError(f"MMRA {where}: {e}") from None
            opts = parse_options(options[i], where)
            prompt = build_prompt(qa_types[i], questions[i], opts, where)
            gold = str(answers[i]).strip()
            if kind == CHOICE_QA and gold.upper() not in (opts or {}):
                raise TaskError(f"MMRA {where}: answer {gold!r} is not one of the option keys {list(opts or {})}")
            if kind == YES_NO_QA and gold.lower() not in ("yes", "no"):
                raise TaskError(f"MMRA {where}: answer {gold!r} of a True or false QA item is not Yes/No")
            abbr, level = subtask_info(str(tasks[i]))
            samples.append(Sample(id=f"{i:04d}", gold=gold, meta={
                "row": i, "task": str(tasks[i]), "abbr": abbr, "level": level, "qa_type": kind,
                "prompt": prompt, "n_options": len(opts) if kind == CHOICE_QA else 2}))
            chance_items.append((abbr, level, 1.0 / (len(opts) if kind == CHOICE_QA else 2)))
        self._table = table
        self._images = MMRAImages(table)
        self._chance = _chance_levels(chance_items)
        for s in samples:  # scoring reads the data's chance levels from the samples (one shared dict)
            s.meta["data_chance"] = self._chance
        text_hash = hashlib.sha256("\x1e".join(s.meta["prompt"] + "\x1f" + s.gold for s in samples).encode())
        fp = hashlib.sha256(f"{table.fingerprint}:{text_hash.hexdigest()}".encode()).hexdigest()[:20]
        return TaskData(samples=samples, fingerprint=fp, source="sample" if data.sample else table.location,
                        kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> GenerateRequest:
        """``[image1, image2, prompt]`` (IQ, ``layout=images_first``), ``[prompt, image1, image2]``
        (``text_first``) or ``[prompt]`` (QO) in one turn of ``role``; greedy decoding."""
        if self._images is None:
            raise TaskError(f"task {self.name!r}: call load() before request()")
        parts: list[Any] = [sample.meta["prompt"]]
        if self.with_images:
            row = sample.meta["row"]
            images = [ImageArray(self._images, 2 * row), ImageArray(self._images, 2 * row + 1)]
            parts = images + parts if self.layout == "images_first" else parts + images
        return GenerateRequest(messages=[Message(self.role, parts)],
                               params=GenerationParams(max_new_tokens=self.max_new_tokens),
                               reference=sample.gold)

    # ---------------------------------------------------------------- score
    def declared_metrics(self) -> tuple[Declared, ...]:
        """Overall (micro), macro over subtasks, per level and per subtask, from the per-item
        ``correct`` and ``task`` (mapped to its subtask; :func:`mmharness.metrics.mmra.declared_aggregates`);
        the first-letter alternative from ``correct_first_letter``; ``unparsed_rate`` from ``unparsed``."""
        return declare(self.metric_specs, **declared_aggregates(
            _subtask_abbr, [a for a, _ in SUBTASKS.values()], {a: lv for a, lv in SUBTASKS.values()}))

    def score(self, samples: Sequence[Sample], responses: Sequence[Any], ctx: ScoreContext) -> TaskResult:
        """Official parse and accuracy per item; subtask, level, overall (micro) and macro accuracy
        with percentile-bootstrap CIs; per-item parses for the sample log."""
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        rows: list[dict] = []
        failed_ids: list[str] = []
        per_sample: list[dict] = []
        answered: list[tuple[str, Any]] = []  # (answer text, gold) of each response, for the degeneracy check
        for s, r in zip(samples, responses):
            if r is None:
                failed_ids.append(s.id)
                continue
            if not isinstance(r, TextResponse):
                raise TaskError(f"MMRA sample {s.id}: expected a text response, got {type(r).__name__}")
            answered.append((r.text, s.gold))
            parsed = parse_official(s.meta["qa_type"], r.text)
            first = parse_first(s.meta["qa_type"], r.text)
            ok, ok_first = is_correct(s.gold, parsed), is_correct(s.gold, first)
            rows.append({"sample": s, "correct": ok, "correct_first": ok_first, "unparsed": parsed is None})
            per_sample.append({"id": s.id, "task": s.meta["task"], "qa_type": s.meta["qa_type"], "gold": s.gold,
                               "response": r.text, "parsed": parsed, "correct": ok,
                               "parsed_first_letter": first, "correct_first_letter": ok_first,
                               "unparsed": parsed is None})
        by_id = {s.id: s for s in samples}
        missing = _missing_samples(self.name, ctx)
        by_id.update((s.id, s) for s in missing)
        failed_ids += [s.id for s in missing if s.id not in failed_ids]
        if not self.drop_failed:
            for sid in failed_ids:
                rows.append({"sample": by_id[sid], "correct": False, "correct_first": False, "unparsed": False,
                             "failed": True})
        if not rows:
            raise TaskError(f"task {self.name!r}: nothing to score (all {len(samples)} samples failed)")

        correct = np.asarray([row["correct"] for row in rows], dtype=np.float64)
        columns = {
            "correct": correct,
            "correct_first_letter": np.asarray([row["correct_first"] for row in rows], dtype=np.float64),
            "task": np.asarray([row["sample"].meta["task"] for row in rows]),
            "unparsed": np.asarray([np.nan if row.get("failed") else float(row["unparsed"]) for row in rows]),
        }
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        abbrs = [row["sample"].meta["abbr"] for row in rows]
        order = [a for a, _ in SUBTASKS.values() if a in set(abbrs)] + sorted(set(abbrs) - {a for a, _ in SUBTASKS.values()})
        sub_idx = np.asarray([order.index(a) for a in abbrs], dtype=np.int64)
        n_scored_resp = sum(1 for row in rows if not row.get("failed"))
        n_unparsed = sum(1 for row in rows if row["unparsed"])

        per_subtask = []
        for j, a in enumerate(order):
            mask = sub_idx == j
            first = next(row["sample"] for row, m_ in zip(rows, mask) if m_)
            per_subtask.append({
                "task": first.meta["task"], "abbr": a, "level": first.meta["level"], "n": int(mask.sum()),
                "n_correct": int(correct[mask].sum()), "accuracy": float(correct[mask].mean()),
                "n_unparsed": int(sum(1 for row, m_ in zip(rows, mask) if m_ and row["unparsed"])),
                "n_failed": int(sum(1 for row, m_ in zip(rows, mask) if m_ and row.get("failed")))})
        leaderboard = {"setting": self.setting, "Overall": round(100 * metrics["overall"].value, 2)}
        for a in TABLE_COLUMNS[1:]:
            leaderboard[a] = next((round(100 * p["accuracy"], 2) for p in per_subtask if p["abbr"] == a), None)
        unknown = [p["task"] for p in per_subtask if p["level"] == "unknown"]
        notes = ["Overall = sample-weighted (micro) accuracy, the paper's Overall column; macro_subtask is "
                 "the unweighted mean of subtask accuracies and is not comparable to it. Values are "
                 "fractions (x100 for the published table; see tables.leaderboard_row)."]
        if failed_ids:
            notes.append(f"{len(failed_ids)} item(s) got no response (first: {failed_ids[:5]}); "
                         + ("dropped from every denominator (drop_failed=true, as the official demo)."
                            if self.drop_failed else "scored as wrong (default; drop_failed=true drops them)."))
        if unknown:
            notes.append(f"Task value(s) {unknown} are not among the 11 published subtasks; they count in "
                         "Overall but in neither level.")
        if not self.with_images:
            notes.append("QO setting: the official QO prompt is not published; the IQ template is sent "
                         "without images (unverified).")
        if self.profile == "api":
            notes.append(f"API profile (the official GPT-4V wrapper's call): {self.layout.replace('_', ' ')}, "
                         f"greedy (temperature 0), max_new_tokens {self.max_new_tokens}, role {self.role!r}. The "
                         "wrapper sent the message with role 'assistant' (sic; chat APIs now refuse images in "
                         "assistant turns: role=assistant reproduces it) and JPEG data URLs; each image is sent "
                         "here with the true MIME type of the bytes uploaded.")
        tables = {
            "leaderboard_row": leaderboard,
            "per_subtask": per_subtask,
            "scoring": {"n_items": len(rows) + (len(failed_ids) if self.drop_failed else 0),
                        "n_scored": n_scored_resp, "n_failed": len(failed_ids), "n_unparsed": n_unparsed,
                        "failed_ids": failed_ids[:100], "drop_failed": self.drop_failed,
                        "chance_overall": _data_chance(list(samples) + missing).get("overall")},
            "degeneracy": check_generate([a for a, _ in answered], [g for _, g in answered]),
        }
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)


def _subtask_abbr(task_string: str) -> str:
    """The subtask abbreviation of a ``Task`` string (:func:`subtask_info`)."""
    return subtask_info(task_string)[0]


def _missing_samples(task: str, ctx: ScoreContext) -> list[Sample]:
    """The samples of ``ctx.missing_ids`` (no response), from ``ctx.missing_samples``."""
    given = {s.id: s for s in ctx.missing_samples}
    lost = [i for i in ctx.missing_ids if i not in given]
    if lost:
        raise TaskError(f"task {task!r}: ScoreContext.missing_ids names {lost[:5]} without their samples in "
                        f"missing_samples (mmharness.evaluate.score_task passes both)")
    return [given[i] for i in ctx.missing_ids]


def _data_chance(samples: Sequence[Sample]) -> dict[str, float]:
    """The chance levels of the data the samples were loaded from (``meta["data_chance"]``, set by
    ``load``; the same for every sample of one load)."""
    for s in samples:
        return s.meta.get("data_chance") or {}
    return {}


def _chance_levels(items: list[tuple[str, str, float]]) -> dict[str, float]:
    """Expected accuracy of uniform guessing: per metric, the mean of 1/(number of choices)."""
    out: dict[str, float] = {}
    if not items:
        return out
    out["overall"] = out["macro_subtask"] = out["overall_first_letter"] = float(np.mean([c for *_, c in items]))
    for level in LEVELS:
        vals = [c for _, lv, c in items if lv == level]
        if vals:
            out[f"{level}_level"] = float(np.mean(vals))
    for abbr in {a for a, _, _ in items}:
        out[f"acc_{abbr}"] = float(np.mean([c for a, _, c in items if a == abbr]))
    return out


@register_task("mmra")
class MMRA(_MMRABase):
    """MMRA, IQ setting: two images + the official prompt; official parse; Overall (micro) accuracy."""

    setting = "IQ"
    with_images = True
    protocol: ClassVar[str] = ("MMRA (Wu et al., arXiv:2407.17379; demo evaluate_demo.py @82dc33b): "
                               "official prompts, [image1, image2, text], greedy, frequency parse, "
                               "Overall = micro accuracy")
    description: ClassVar[str] = "Two-image relational association (11 subtasks), images + question."


@register_task("mmra_qo")
class MMRAQuestionOnly(_MMRABase):
    """MMRA, QO setting: the same prompt without images (leakage check for text LLMs; unverified prompt)."""

    setting = "QO"
    with_images = False
    protocol: ClassVar[str] = ("MMRA question-only (QO) setting: official IQ template without images "
                               "(QO prompt unpublished: unverified); official parse; micro accuracy")
    description: ClassVar[str] = "MMRA question-only setting (no images): a text-leakage check."


register_group("mmra_all", ("mmra", "mmra_qo"))
