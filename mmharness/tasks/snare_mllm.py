"""SNARE for generative models (paper v2 MLLM / GPT-4V protocol) through ``generate``.

Protocol (``docs/protocols/snare.md`` 3.3; official ``MLLM-test.py`` and ``GPT-4-Vision-test.py`` in the
SNARE repository history, commit ``d367352``): one question per item, ``prompt + sentence`` with
the item's image (the bbox crop for Visual Genome items), the correct answer placed at a position
drawn from Python's ``random`` seeded with the run seed (1); prompts and gold labels are rebuilt
exactly (:mod:`mmharness.loaders.snare_prompts`). Each official (task, ``--num``) setting is one
task here:

======================================================= ====================== =================
task                                                    official               answer
======================================================= ====================== =================
snare_negation_logic_mllm_yesno                         Negation_Logic 0       yes/no
snare_negation_logic_mllm_yesno_negated                 Negation_Logic 1       yes/no
snare_negation_logic_mllm_mc                            Negation_Logic 2       option number
snare_attribute_ownership_mllm_mc                       Attribute_Ownership 0  option number
snare_attribute_ownership_mllm_mc_respectively          Attribute_Ownership 1  option number
snare_attribute_ownership_mllm_yesno_respectively       Attribute_Ownership 2  "0 -> no 1 -> yes"
snare_relationship_composition_mllm                     Relationship_Comp. 0   option number
snare_spatial_relationship_mllm                         Spatial_Relationship 0 option number
snare_semantic_structure_coco_mllm / _flickr30k_mllm    *_Semantic_Structure 0 option number
======================================================= ====================== =================

(``Negation_Logic`` num 2 exists in the official code but is not described in the paper.)

Metrics: ``accuracy`` (primary) with the harness's task-aware strict parse and
``accuracy_legacy`` with the official cascade (see :mod:`mmharness.metrics.snare_answers`), and
the ``unparsed_rate`` of each. ``tables["degeneracy"]`` flags a run whose every answer is the same
text (:mod:`mmharness.metrics.degeneracy`; the leaderboard then does not rank it). Failed
generations (skipped samples) leave the denominator, as the official scripts drop failed API calls.

Options: ``subset`` (``None`` = every item, the BLIP-2 script; 1500 = the GPT-4V runs: the items
are ``random.sample`` with ``snare_seed`` and their ids are recorded), ``snare_seed`` (1),
``max_new_tokens`` (128, GPT-4V's ``max_tokens``; BLIP-2 used ``max_length=100``),
``temperature`` (0 = greedy; GPT-4V used 0.5), ``system_prompt`` (empty; GPT-4V used
"You are a helpful assistant.") and ``image_position`` (``after`` the text, as GPT-4V's message,
or ``before``). Semantic structure also takes the perturbation options of the matching task. The
data options of the matching tasks apply too (``--data-source hf`` with ``hf_relation``,
``hf_attribution``, ``hf_crop``, ``hf_bbox_slack``, or ``hf_coco_images`` / ``hf_flickr30k_images``;
see :mod:`mmharness.tasks.snare`); the data provenance is in the config under ``data``.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Sequence

import numpy as np

from ..loaders.aro import VG_ATTRIBUTION_FILE, VG_RELATION_FILE, VGItem
from ..loaders.aro_hf import mirror_options, options_config
from ..loaders.pos_taggers import DEFAULT_SPACY_MODEL, build_tagger
from ..loaders.snare import (
    SnareCase,
    attribute_group,
    case_image,
    fingerprint,
    load_semantic,
    load_vg,
    resolve_tagger,
    vg_case,
)
from ..loaders.snare_captions import COMPOSITION_EXCLUDED, MAX_WORDS, SPATIAL_RELATIONS
from ..loaders import snare_prompts as P
from ..metrics.declare import Declared, declare, mean, score_declared
from ..metrics.degeneracy import check_generate
from ..metrics.snare_answers import UNPARSED_LEGACY, gold_answer, legacy_parse, strict_parse
from ..registry import register_group, register_task
from ..requests import Capability, GenerateRequest, GenerationParams, Message, Response, TextResponse
from ..task import (DataConfig, DataInfo, MetricSpec, Paper, Sample, ScoreContext, Task, TaskData,
                    TaskError, TaskResult)
from .snare import SEMANTIC_OPTIONS, SNARE_DATA, SNARE_PAPER, SNARE_PROTOCOL, VG_MIRROR_OPTIONS

IMAGE_POSITIONS = ("after", "before")


def _specs(chance: float) -> tuple[MetricSpec, ...]:
    return (
        MetricSpec("accuracy", True, chance=chance, official=False,
                   description="Accuracy with the harness's task-aware strict parse (yes/no prompts: first "
                               "word-boundary yes/no; multiple choice: first standalone option number); "
                               "unparsed = wrong."),
        MetricSpec("accuracy_legacy", True, chance=chance, official=True,
                   description="Accuracy with the official parse cascade ('yes' substring -> 1, else 'no' "
                               "substring -> 0, else the largest digit 0-4, else wrong)."),
        MetricSpec("unparsed_rate", False, chance=None, official=False,
                   description="Fraction of answers the strict parse cannot read."),
        MetricSpec("unparsed_rate_legacy", False, chance=None, official=True,
                   description="Fraction of answers the official cascade cannot read (prediction 100)."),
    )


class _SnareMllmTask(Task):
    """Shared implementation of the SNARE MLLM tasks (see the module docstring)."""

    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = SNARE_PROTOCOL + "; MLLM protocol of MLLM-test.py / GPT-4-Vision-test.py @d367352"
    uses: ClassVar[tuple[Capability, ...]] = (Capability.GENERATE,)
    primary_metric: ClassVar[str] = "accuracy"
    family: ClassVar[str] = "SNARE"
    paper: ClassVar[Paper | None] = SNARE_PAPER
    data_info: ClassVar[DataInfo | None] = SNARE_DATA
    option_meanings: ClassVar[dict[str, str]] = {
        "subset": "how many items to draw with random.sample (seed snare_seed; 1500 = the GPT-4V runs, ids "
                  "recorded); none = every item (the BLIP-2 script)",
        "snare_seed": "seed of the official draws: the subset, the position of the correct answer and, for semantic "
                      "structure, the word shufflings (official run: 1)",
        "max_new_tokens": "generation limit (GPT-4V's max_tokens; BLIP-2 used max_length=100)",
        "temperature": "sampling temperature; 0 = greedy (GPT-4V used 0.5)",
        "system_prompt": "system message before the question; empty = none (GPT-4V used 'You are a helpful "
                         "assistant.')",
        "image_position": "where the image goes in the user message: after the question text (as GPT-4V's message) "
                          "or before it",
    }
    official_name: ClassVar[str] = ""
    official_num: ClassVar[int] = 0
    metric_specs = _specs(0.5)

    def __init__(self, subset: int | None = None, snare_seed: int = 1, max_new_tokens: int = 128,
                 temperature: float = 0.0, system_prompt: str = "", image_position: str = "after"):
        if subset is not None and subset < 1:
            raise TaskError(f"task {self.name!r}: option subset must be >= 1 (or none for every item)")
        if max_new_tokens < 1:
            raise TaskError(f"task {self.name!r}: option max_new_tokens must be >= 1")
        if image_position not in IMAGE_POSITIONS:
            raise TaskError(f"task {self.name!r}: option image_position={image_position!r} is not one of "
                            f"{list(IMAGE_POSITIONS)}")
        self.subset = subset
        self.snare_seed = int(snare_seed)
        self.params = GenerationParams(max_new_tokens=int(max_new_tokens), temperature=float(temperature))
        self.system_prompt = system_prompt
        self.image_position = image_position
        self._n_items: int | None = None
        self._images = None  # image source of Hugging Face mirror rows (set by load)
        self._data_info: dict | None = None

    def config(self) -> dict:
        """Official setting, sampling, prompts and decoding options."""
        return {"official_task": self.official_name, "official_num": self.official_num, "subset": self.subset,
                "snare_seed": self.snare_seed, "generation": self.params.as_dict(),
                "system_prompt": self.system_prompt, "image_position": self.image_position,
                "parse": "strict (primary) and legacy (official cascade)", "n_items_before_subset": self._n_items,
                "data": self._data_info}

    def cache_config(self) -> dict:
        """Everything that changes the prompts or the decoding."""
        return {"subset": self.subset, "snare_seed": self.snare_seed, "generation": self.params.as_dict(),
                "system_prompt": self.system_prompt, "image_position": self.image_position}

    # ---------------------------------------------------------------- load
    def cases(self, data: DataConfig):
        """``(case source, cases in official order, extra fingerprint inputs)``."""
        raise NotImplementedError

    def question(self, case: SnareCase, g: int) -> P.Question:
        """The question of one case for the drawn position ``g``."""
        raise NotImplementedError

    semantic: ClassVar[bool] = False

    def load(self, data: DataConfig) -> TaskData:
        """Build every case, replay the official sampling and draws, and keep the questions.

        Samples are in the official processing order; ``gold`` is the correct answer label and the
        request's reference is an answer text both parsers read as it (``yes``/``no``/``"k"``).
        """
        src, cases, extra = self.cases(data)
        if not cases:
            raise TaskError(f"task {self.name!r}: no item of {src.name} passes the {self.official_name} filter")
        self._n_items = len(cases)
        self._images, self._data_info = src.images, src.info
        try:
            drawn = P.draw_questions(len(cases), self.subset, self.snare_seed,
                                     lambda i, g: self.question(cases[i], g), semantic=self.semantic)
        except ValueError as e:
            raise TaskError(f"task {self.name!r}: {e}") from None
        samples = []
        for idx, q in drawn:
            c = cases[idx]
            samples.append(Sample(id=c.id, gold=q.gold, meta={
                **c.meta(), "question": q.text, "kind": q.kind, "n_choices": q.n_options,
                "answer": gold_answer(q.kind, q.gold)}))
        extra = dict(extra, seed=self.snare_seed, subset=self.subset)
        return TaskData(samples=samples, fingerprint=fingerprint(src, [cases[i] for i, _ in drawn], extra),
                        source=src.location, kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> GenerateRequest:
        """``[system], user: [question text, image]`` (or image first), greedy by default."""
        m = sample.meta
        image = case_image(m, self._images)
        parts = [m["question"], image] if self.image_position == "after" else [image, m["question"]]
        messages = ([Message("system", [self.system_prompt])] if self.system_prompt else []) + [Message("user", parts)]
        return GenerateRequest(messages=messages, params=self.params, reference=m["answer"])

    # ---------------------------------------------------------------- score
    def declared_metrics(self) -> tuple[Declared, ...]:
        """Means of the per-item ``correct``/``correct_legacy`` (strict and official parses) and
        ``unparsed``/``unparsed_legacy``."""
        return declare(self.metric_specs, accuracy=mean("correct"), accuracy_legacy=mean("correct_legacy"),
                       unparsed_rate=mean("unparsed"), unparsed_rate_legacy=mean("unparsed_legacy"))

    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Strict and legacy parses -> accuracies and unparsed rates (bootstrap CIs over items)."""
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        if not samples:
            raise TaskError(f"task {self.name!r}: no response to score")
        rows, per_sample = [], []
        for s, r in zip(samples, responses):
            if not isinstance(r, TextResponse):
                raise TaskError(f"task {self.name!r}, sample {s.id}: expected a text response, got {type(r).__name__}")
            strict = strict_parse(r.text, s.meta["kind"], s.meta["n_choices"])
            legacy = legacy_parse(r.text)
            rows.append([strict == s.gold, legacy == s.gold, strict is None, legacy == UNPARSED_LEGACY])
            per_sample.append({"gold": s.gold, "pred": strict, "pred_legacy": legacy,
                               "correct": strict == s.gold, "correct_legacy": legacy == s.gold,
                               "unparsed": strict is None, "unparsed_legacy": legacy == UNPARSED_LEGACY})
        ind = np.asarray(rows, dtype=np.float64)
        columns = dict(zip(("correct", "correct_legacy", "unparsed", "unparsed_legacy"), ind.T))
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        gold = np.asarray([s.gold for s in samples])
        by_gold = {str(int(g)): {"n": int((gold == g).sum()), "accuracy": float(ind[gold == g, 0].mean()),
                                 "accuracy_legacy": float(ind[gold == g, 1].mean())} for g in np.unique(gold)}
        tables = {"by_gold": by_gold,
                  "official_record": {"Acc": metrics["accuracy_legacy"].value, "n": len(samples),
                                      "correct": int(ind[:, 1].sum())},
                  "counts": {"n_items": self._n_items, "n_scored": len(samples)},
                  "degeneracy": check_generate([r.text for r in responses], [s.gold for s in samples])}
        if self.subset is not None:
            tables["subset_ids"] = [s.id for s in samples]
        notes = ["accuracy uses the harness's strict parse; accuracy_legacy reproduces the official cascade "
                 "(which reads 'not', 'another', 'snow' as 'no'). Values are fractions."]
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)


# --------------------------------------------------------------------------- VG tasks


class _VGMllm(_SnareMllmTask):
    """An MLLM task on a VG file; adds the mirror options of the matching VG tasks
    (``hf_relation``, ``hf_attribution``, ``hf_crop``, ``hf_bbox_slack``)."""

    option_meanings: ClassVar[dict[str, str]] = VG_MIRROR_OPTIONS

    def __init__(self, subset: int | None = None, snare_seed: int = 1, max_new_tokens: int = 128,
                 temperature: float = 0.0, system_prompt: str = "", image_position: str = "after",
                 hf_relation: str | None = None, hf_attribution: str | None = None, hf_crop: str = "bbox",
                 hf_bbox_slack: float = 0.0):
        super().__init__(subset, snare_seed, max_new_tokens, temperature, system_prompt, image_position)
        self.hf = mirror_options(self.name, hf_relation, hf_attribution, hf_crop, hf_bbox_slack)

    def config(self) -> dict:
        """Adds the mirror options."""
        return dict(super().config(), **options_config(self.hf))


def _vg_cases(task: _VGMllm, data: DataConfig, filename: str, keep: Callable[[VGItem], bool]):
    src, items = load_vg(data, task.name, filename, task.hf[filename])
    group = (lambda it: it.relation_name) if filename == VG_RELATION_FILE else attribute_group
    cases = [vg_case(src, it, [it.true_caption, it.false_caption], 0, group(it)) for it in items if keep(it)]
    return src, cases, {}


class _AttributionMllm(_VGMllm):
    builder: ClassVar[Callable[[VGItem, int], P.Question]]

    def cases(self, data):
        """The official cases of this setting (see :meth:`_SnareMllmTask.cases`)."""
        return _vg_cases(self, data, VG_ATTRIBUTION_FILE, lambda it: True)

    def question(self, case, g):
        """The official question for the drawn position ``g``."""
        return type(self).builder(case.vg, g)


def _register_vg(name: str, official: str, num: int, builder, base: type, doc: str, chance: float = 0.5):
    cls = type(name, (base,), {"__doc__": doc, "official_name": official, "official_num": num,
                               "builder": staticmethod(builder), "description": doc,
                               "metric_specs": _specs(chance), "__module__": __name__})
    return register_task(name)(cls)


_register_vg("snare_negation_logic_mllm_yesno", "Negation_Logic", 0, P.negation_affirmative, _AttributionMllm,
             "SNARE negation logic, MLLM yes/no on the affirmative sentence or its attribute swap (official num 0).")
_register_vg("snare_negation_logic_mllm_yesno_negated", "Negation_Logic", 1, P.negation_negated, _AttributionMllm,
             "SNARE negation logic, MLLM yes/no on a negated sentence, swapped (true) or not (official num 1).")
_register_vg("snare_negation_logic_mllm_mc", "Negation_Logic", 2, P.negation_mc, _AttributionMllm,
             "SNARE negation logic, MLLM choice between a sentence and its negation (official num 2, code only).")
_register_vg("snare_attribute_ownership_mllm_mc", "Attribute_Ownership", 0, P.attribute_mc, _AttributionMllm,
             "SNARE attribute ownership, MLLM choice between the true and the attribute-exchanged caption (num 0).")
_register_vg("snare_attribute_ownership_mllm_mc_respectively", "Attribute_Ownership", 1,
             P.attribute_mc_respectively, _AttributionMllm,
             "SNARE attribute ownership, MLLM choice between a caption and a 'respectively' sentence (num 1).")
_register_vg("snare_attribute_ownership_mllm_yesno_respectively", "Attribute_Ownership", 2,
             P.attribute_yesno_respectively, _AttributionMllm,
             "SNARE attribute ownership, MLLM '0 -> no 1 -> yes' on a 'respectively' sentence (num 2).")


@register_task("snare_relationship_composition_mllm")
class SnareRelationshipCompositionMllm(_VGMllm):
    """SNARE relationship composition, MLLM choice between a true/false caption and the 'and' caption."""

    official_name = "Relationship_Composition"
    description = "SNARE relationship composition, MLLM: true or exchanged caption vs the 'and' caption."

    def cases(self, data):
        """The official cases of this setting (see :meth:`_SnareMllmTask.cases`)."""
        return _vg_cases(self, data, VG_RELATION_FILE, lambda it: it.relation_name not in COMPOSITION_EXCLUDED)

    def question(self, case, g):
        """The official question for the drawn position ``g``."""
        return P.relationship_mc(case.vg, g)


@register_task("snare_spatial_relationship_mllm")
class SnareSpatialRelationshipMllm(_VGMllm):
    """SNARE multi-spatial relation, MLLM: fill the blanked relation with one of 4 options."""

    official_name = "Spatial_Relationship"
    description = "SNARE multi-spatial relation, MLLM: which of 4 relations fills '__' in the caption."
    metric_specs = _specs(0.25)

    def cases(self, data):
        """The official cases of this setting (see :meth:`_SnareMllmTask.cases`)."""
        return _vg_cases(self, data, VG_RELATION_FILE, lambda it: it.relation_name in SPATIAL_RELATIONS)

    def question(self, case, g):
        """The official question for the drawn position ``g``."""
        return P.spatial_mc(case.vg, g)


class _SemanticMllm(_SnareMllmTask):
    """Semantic structure, MLLM: pick the original caption among 4 options (its position drawn)."""

    dataset: ClassVar[str] = ""
    semantic = True
    metric_specs = _specs(0.25)
    option_meanings: ClassVar[dict[str, str]] = SEMANTIC_OPTIONS

    def __init__(self, subset: int | None = None, snare_seed: int = 1, max_new_tokens: int = 128,
                 temperature: float = 0.0, system_prompt: str = "", image_position: str = "after",
                 pos_tagger: str | None = None, pos_tags: str | None = None,
                 spacy_model: str = DEFAULT_SPACY_MODEL, max_words: int = MAX_WORDS,
                 hf_coco_images: str | None = None, hf_flickr30k_images: str | None = None):
        super().__init__(subset, snare_seed, max_new_tokens, temperature, system_prompt, image_position)
        self.pos_tagger, self.pos_tags, self.spacy_model, self.max_words = pos_tagger, pos_tags, spacy_model, max_words
        self.hf_images = {"coco": hf_coco_images, "flickr30k": hf_flickr30k_images}
        self._tagger_identity: dict | None = None

    def config(self) -> dict:
        """Adds the tagger actually used, max_words and the image mirror option."""
        return dict(super().config(), max_words=self.max_words, pos_tagger=self._tagger_identity,
                    **{f"hf_{self.dataset}_images": self.hf_images[self.dataset]})

    def cache_config(self) -> dict:
        """Adds the tagger identity (it changes the options)."""
        return dict(super().cache_config(), max_words=self.max_words, pos_tagger=self._tagger_identity)

    def cases(self, data):
        """The official cases of this setting (see :meth:`_SnareMllmTask.cases`)."""
        kind, tags = resolve_tagger(self.pos_tagger, self.pos_tags, self.dataset, data)
        src, cases, tagger = load_semantic(data, self.name, self.dataset,
                                           lambda: build_tagger(kind, tags, self.spacy_model),
                                           self.snare_seed, self.max_words, self.hf_images[self.dataset])
        self._tagger_identity = tagger.identity()
        return src, cases, {"tagger": self._tagger_identity, "max_words": self.max_words}

    def question(self, case, g):
        """The official question for the drawn position ``g``."""
        return P.semantic_mc(case.options, g)


@register_task("snare_semantic_structure_coco_mllm")
class SnareSemanticStructureCocoMllm(_SemanticMllm):
    """SNARE semantic structure (COCO), MLLM multiple choice among the original and 3 shufflings."""

    dataset = "coco"
    official_name = "COCO_Semantic_Structure"
    description = "SNARE semantic structure (COCO), MLLM: which of 4 options is the original caption."


@register_task("snare_semantic_structure_flickr30k_mllm")
class SnareSemanticStructureFlickr30kMllm(_SemanticMllm):
    """SNARE semantic structure (Flickr30k), MLLM multiple choice among the original and 3 shufflings."""

    dataset = "flickr30k"
    official_name = "Flickr30k_Semantic_Structure"
    description = "SNARE semantic structure (Flickr30k), MLLM: which of 4 options is the original caption."


SNARE_MLLM_TASKS = (
    "snare_semantic_structure_coco_mllm", "snare_semantic_structure_flickr30k_mllm",
    "snare_negation_logic_mllm_yesno", "snare_negation_logic_mllm_yesno_negated", "snare_negation_logic_mllm_mc",
    "snare_attribute_ownership_mllm_mc", "snare_attribute_ownership_mllm_mc_respectively",
    "snare_attribute_ownership_mllm_yesno_respectively", "snare_relationship_composition_mllm",
    "snare_spatial_relationship_mllm",
)
register_group("snare_mllm", SNARE_MLLM_TASKS)
