"""SNARE: linguistic probing of image-text matching (Wang et al., arXiv:2308.12898).

Protocol (``docs/protocols/snare.md`` section 3.1; official code https://github.com/WangFei-2019/SNARE,
commit ``3abda6c``): for one image the model scores a few caption options that differ only in
word order, negation, attribute binding or relation structure; option 0 is the positive (for the
multi-spatial task the gold is the index of the item's relation). Scores come from ``match``
(a model's own matching head) or are derived by the harness from ``embed_image`` + ``embed_text``
(cosine similarity). Tasks, by official loader name:

==================================== ============================== ===========================
task                                 official loader                options (0 = positive)
==================================== ============================== ===========================
snare_semantic_structure_coco        COCO_Semantic_Structure        original + 3 shufflings
snare_semantic_structure_flickr30k   Flickr30k_Semantic_Structure   original + 3 shufflings
snare_negation_logic                 Negation_Logic                 correct, negative
snare_attribute_ownership            Attribute_Ownership            correct, exchange, separate
snare_relationship_composition       Relationship_Composition       correct, exchange, and
snare_spatial_relationship           Spatial_Relationship           4 spatial relations
==================================== ============================== ===========================

Scoring: ranks with the official tie rule (a tie goes to the earlier option; task option
``ties=strict`` makes a tie with the positive a miss), per-option top-n win rates
``<option>_top<n>`` (top-2 where the official code reports it), ``accuracy`` = the positive's
top-1 rate (spatial: top-1 classification against the gold relation, plus ``top2_accuracy`` and
``top3_accuracy``). The official per-subgroup rows (relation name, or attribute pair; subgroups of
at least ``min_subgroup`` = 25 items) and the official record layout are in the result tables.
All values are fractions; bootstrap CIs over items.

Leaderboard ranking (``leaderboard_metric``): ``accuracy_tie_split`` (non-official), the positive's
(spatial: the gold relation's) top-1 rate with ties broken uniformly at random: an item where the
positive shares the top score with ``k - 1`` other options counts ``1/k``. The official tie rule
gives a tie to the earlier option, and option 0 is the positive, so a scorer that ties everything
(a constant model, an encoder that maps every option to one vector) scores 1.0 on five of the six
tasks; ``ties=strict`` (a tie is a miss) gives the same scorer 0, below the chance level of a model
that knows nothing. The 1/k credit is the expected accuracy of picking one of the tied options at
random: exactly the chance level ``1/L`` for a scorer that ties everything, equal to both rules on
items without ties, and independent of the order of the options, so that ties can neither win nor
lose a rank. ``accuracy`` (the official rule) stays the primary metric, shown beside it. Scoring
also records ``tables["degeneracy"]`` (:mod:`mmharness.metrics.degeneracy`): the items whose top
score is tied, flagged when they are more than half (the leaderboard then does not rank the run).

Data: the official ARO json / BLIP files (default), or ``--data-source hf``: the VG tasks read the
ARO files' Hugging Face mirrors (options ``hf_relation``, ``hf_attribution``: hub id or local
folder of the mirror's parquet files; ``hf_crop`` = ``bbox`` (default: crop the full VG image to
the item's box, as the official loader) or ``none``; ``hf_bbox_slack``), and the semantic-structure
tasks take their images from a mirror (``hf_coco_images``, ``hf_flickr30k_images``) with the cases
from the BLIP file. Which mirrors carry what: :mod:`mmharness.loaders.aro_hf` and
:mod:`mmharness.loaders.karpathy_hf`. The source, mirror, crop rule and row-order check are
recorded in the task config under ``data``.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Sequence

import numpy as np

from ..loaders.aro import VG_ATTRIBUTION_FILE, VG_RELATION_FILE
from ..loaders.aro_hf import mirror_options, options_config
from ..loaders.pos_taggers import DEFAULT_SPACY_MODEL, build_tagger
from ..loaders.snare import (
    CaseSource,
    SnareCase,
    attribute_group,
    case_image,
    fingerprint,
    load_semantic,
    load_vg,
    resolve_tagger,
    vg_case,
)
from ..loaders.snare_captions import (
    COMPOSITION_EXCLUDED,
    MAX_WORDS,
    SEMANTIC_PERTURBATIONS,
    SPATIAL_RELATIONS,
    attribute_ownership_options,
    negation_options,
    relationship_composition_options,
    spatial_options,
)
from ..metrics.declare import Declared, declare, mean, score_declared
from ..metrics.degeneracy import check_match
from ..metrics.ranking import (
    TIE_RULES,
    gold_hits,
    gold_top_n,
    option_ranks,
    option_top_n,
    subgroup_top_n,
    tie_split_hits,
    top_n_hits,
    winner_records,
)
from ..registry import did_you_mean, register_group, register_task
from ..requests import Capability, MatchRequest, Response, ScoresResponse
from ..task import (
    DataConfig,
    DataInfo,
    MetricSpec,
    Paper,
    Sample,
    ScoreContext,
    Task,
    TaskData,
    TaskError,
    TaskResult,
)

log = logging.getLogger(__name__)

SNARE_PROTOCOL = "SNARE (Wang et al. 2023, arXiv:2308.12898), official code WangFei-2019/SNARE@3abda6c"

#: The SNARE paper, card and citation of every SNARE task (matching, MLLM, yes/no).
SNARE_PAPER = Paper(
    key="wang2023snare",
    title="Can Linguistic Knowledge Improve Multimodal Alignment in Vision-Language Pretraining?",
    authors=("Fei Wang", "Liang Ding", "Jun Rao", "Ye Liu", "Li Shen", "Changxing Ding"), year=2023,
    venue="arXiv preprint", kind="misc", arxiv="2308.12898",
    repository="https://github.com/WangFei-2019/SNARE", commit="3abda6c",
    note="the official README cites the arXiv version and gives no other venue; version 2 of the paper adds the "
         "GPT-4V (MLLM) protocol, whose scripts MLLM-test.py and GPT-4-Vision-test.py are at commit d367352")

#: Where every SNARE task finds its data.
SNARE_DATA = DataInfo(
    layout="Under --data-root, the official code's layout: prerelease_bow/visual_genome_relation.json, "
           "prerelease_bow/visual_genome_attribution.json and prerelease_bow/images/ (the ARO Visual Genome "
           "files; each item's image is cropped to its box) for the negation, attribute, relationship and spatial "
           "tasks; coco/coco_karpathy_test.json + coco/val2014/ and flickr30k/flickr30k_test.json + "
           "flickr30k/flickr30k-images/ (the BLIP Karpathy test splits) for semantic structure, whose word "
           "shufflings need spaCy's en_core_web_sm (or precomputed tags: pos_tagger=file). With --data-source hf "
           "the VG tasks read a Hugging Face mirror of each ARO file and the semantic-structure tasks take their "
           "images from a mirror (the hf_* options).",
    source="ARO (https://github.com/mertyg/vision-language-models-are-bows): Google Drive ids "
           "1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3 (relation), 13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw (attribution), "
           "1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9 (vgr_vga_images.zip); Karpathy files from "
           "https://storage.googleapis.com/sfr-vision-language-research/datasets/ (coco_karpathy_test.json, "
           "flickr30k_test.json); images from http://images.cocodataset.org/zips/val2014.zip and the Flickr30k "
           "registration form",
    sample_note="a few dozen generated items in the official layouts, with hand-written part-of-speech tags "
                "(mmharness/data/samples/snare/)")

#: The mirror options of every task on a VG file (``--data-source hf``).
VG_MIRROR_OPTIONS: dict[str, str] = {
    "hf_relation": "with --data-source hf: the mirror of visual_genome_relation.json (hub id or local folder; "
                   "none = gowitheflow/ARO-Visual-Relation)",
    "hf_attribution": "with --data-source hf: the mirror of visual_genome_attribution.json (hub id or local folder; "
                      "none = gowitheflow/ARO-Visual-Attribution)",
    "hf_crop": "with --data-source hf: bbox (crop the mirror's full VG image to the item's box, as the official "
               "loader) or none (the mirror's images are already the crops)",
    "hf_bbox_slack": "with --data-source hf: how many pixels an item's box may overhang the image border",
}

#: The options of the semantic-structure tasks (matching and MLLM) that build the word shufflings.
SEMANTIC_OPTIONS: dict[str, str] = {
    "pos_tagger": "part-of-speech tagger of the word shufflings: spacy (official en_core_web_sm) or file "
                  "(precomputed tags, pos_tags); none = spacy on real data, the bundled tags on --sample",
    "pos_tags": "with pos_tagger=file: the JSON file of precomputed tags (tools/snare_pos_tags.py writes one)",
    "spacy_model": "the spaCy model of pos_tagger=spacy (official en_core_web_sm)",
    "max_words": "captions are cut to this many words by the official pre_caption (official 30)",
    "hf_coco_images": "with --data-source hf: the mirror of the COCO images (hub id or local folder; none = "
                      "bitmind/MS-COCO); the cases still come from the BLIP file",
    "hf_flickr30k_images": "with --data-source hf: the mirror of the Flickr30k images (hub id or local folder; "
                           "none = royokong/flickr30k_test); the cases still come from the BLIP file",
}
MIN_SUBGROUP = 25
TIE_NOTES = {"earlier": "a tie goes to the earlier option, as in the official code",
             "strict": "non-official: an option tied with another is never ranked ahead of it"}


def _tie_split_spec(chance: float, what: str = "the positive option 0") -> MetricSpec:
    return MetricSpec("accuracy_tie_split", True, chance=chance, official=False,
                      description=f"Non-official (the leaderboard's ranking metric): top-1 rate of {what} with "
                                  f"ties broken uniformly at random (1/k for a k-way tie for first that includes "
                                  f"it); chance for a scorer that ties everything, whatever the tie rule.")


def _option_metric_specs(keys: Sequence[str], ns: Sequence[int], descriptions: Sequence[str]) -> tuple[MetricSpec, ...]:
    n_opt = len(keys)
    out = []
    for j, (key, desc) in enumerate(zip(keys, descriptions)):
        for n in ns:
            out.append(MetricSpec(
                f"{key}_top{n}", higher_is_better=(j == 0), range=(0.0, 1.0), chance=min(1.0, n / n_opt),
                official=True, unit="fraction",
                description=f"T_{n}({j}): fraction of items whose option {j} ({desc}) ranks among the first "
                            f"{n} (ties to the earlier option unless ties=strict)."))
    return tuple(out)


class _SnareMatchTask(Task):
    """Shared implementation of the SNARE matching tasks (see the module docstring).

    Options ``ties`` and ``min_subgroup``: applied at scoring time and recorded in :meth:`config`.
    """

    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = SNARE_PROTOCOL
    uses: ClassVar[tuple[Capability, ...]] = (Capability.MATCH,)
    primary_metric: ClassVar[str] = "accuracy"
    leaderboard_metric: ClassVar[str] = "accuracy_tie_split"
    family: ClassVar[str] = "SNARE"
    paper: ClassVar[Paper | None] = SNARE_PAPER
    data_info: ClassVar[DataInfo | None] = SNARE_DATA
    option_meanings: ClassVar[dict[str, str]] = {
        "ties": "tie rule of the ranking: earlier (official: a tie goes to the earlier option, so to the positive "
                "option 0) or strict (non-official: a tied option never ranks ahead)",
        "min_subgroup": "smallest subgroup (relation, or attribute pair) that gets a row in the per-subgroup table "
                        "(official 25)",
    }
    official_name: ClassVar[str] = ""
    option_keys: ClassVar[tuple[str, ...]] = ()
    official_names: ClassVar[tuple[str, ...]] = ()
    top_ns: ClassVar[tuple[int, ...]] = (1,)
    accuracy_note: ClassVar[str] = "top-1 rate of the positive option 0"

    def __init__(self, ties: str = "earlier", min_subgroup: int = MIN_SUBGROUP):
        if ties not in TIE_RULES:
            raise TaskError(f"task {self.name!r}: option ties={ties!r} is not one of {list(TIE_RULES)}."
                            f"{did_you_mean(str(ties), list(TIE_RULES))}")
        if min_subgroup < 1:
            raise TaskError(f"task {self.name!r}: option min_subgroup must be >= 1, got {min_subgroup}")
        self.ties = ties
        self.min_subgroup = int(min_subgroup)
        self._counts: dict = {}
        self._images = None  # image source of Hugging Face mirror rows (set by load)
        self._data_info: dict | None = None

    @property
    def n_options(self) -> int:
        """Number of caption options per item."""
        return len(self.option_keys)

    def config(self) -> dict:
        """Scoring conventions, the official names of this task's options and where the data came
        from (``data``: source, mirror, crop rule, row order; set by :meth:`load`)."""
        return {"official_task": self.official_name, "ties": self.ties, "min_subgroup": self.min_subgroup,
                "options": list(self.option_keys), "official_option_names": list(self.official_names),
                "data": self._data_info}

    def cache_config(self) -> dict:
        """Nothing here changes responses (the options are part of the data fingerprint)."""
        return {}

    # ---------------------------------------------------------------- load
    def build_cases(self, data: DataConfig) -> tuple[CaseSource, list[SnareCase], dict]:
        """The task's cases in official order, their source and extra fingerprint inputs."""
        raise NotImplementedError

    def load(self, data: DataConfig) -> TaskData:
        """Read the official files (or the bundled sample) and build every item's caption options.

        Sample ids are the item's index in its annotation file (``"{image}_{caption}"`` for the
        semantic-structure tasks); ``gold`` is the positive option's index. The per-task counts
        after filtering (not published by the authors) are logged and kept in the result tables.
        """
        src, cases, extra = self.build_cases(data)
        if not cases:
            raise TaskError(f"task {self.name!r}: no item of {src.name} passes the {self.official_name} filter")
        samples = [Sample(id=c.id, gold=c.gold, meta=c.meta()) for c in cases]
        self._counts["n_items"] = len(cases)
        self._images, self._data_info = src.images, src.info
        log.info("%s: %d items from %s %s", self.name, len(cases), src.location,
                 {k: v for k, v in self._counts.items() if k != "n_items"} or "")
        return TaskData(samples=samples, fingerprint=fingerprint(src, cases, extra), source=src.location,
                        kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> MatchRequest:
        """One ``match`` request: the (cropped) image against the options in official order."""
        m = sample.meta
        return MatchRequest(image=case_image(m, self._images), texts=list(m["options"]), reference=sample.gold)

    # ---------------------------------------------------------------- score
    def _score_matrix(self, samples: Sequence[Sample], responses: Sequence[Response]) -> np.ndarray:
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        if not samples:
            raise TaskError(f"task {self.name!r}: no response to score")
        rows = []
        for s, r in zip(samples, responses):
            where = f"task {self.name!r}, sample {s.id} ({s.meta.get('file')} item {s.meta.get('item')})"
            if not isinstance(r, ScoresResponse):
                raise TaskError(f"{where}: expected a scores response, got {type(r).__name__}")
            v = np.asarray(r.scores, dtype=np.float64).reshape(-1)
            if v.shape[0] != self.n_options:
                raise TaskError(f"{where}: {v.shape[0]} scores for a caption list of {self.n_options} "
                                f"options ({', '.join(self.option_keys)})")
            rows.append(v)
        return np.stack(rows)

    def declared_metrics(self) -> tuple[Declared, ...]:
        """``accuracy`` (mean of the per-item ``correct``: the gold option ranked first),
        ``accuracy_tie_split`` (mean of the per-item ``tie_split`` credit) and, per option and
        top-n, the rate at which that option ranks among the first n (from the per-item
        ``ranks``)."""
        aggs = {"accuracy": mean("correct"), "accuracy_tie_split": mean("tie_split")}
        for j, key in enumerate(self.option_keys):
            for n in self.top_ns:
                aggs[f"{key}_top{n}"] = option_top_n(j, n)
        return declare(self.metric_specs, **aggs)

    def _columns(self, scores: np.ndarray, ranks: np.ndarray, samples: Sequence[Sample]) -> dict[str, np.ndarray]:
        """The per-item quantities the declared metrics read (also written to the sample log)."""
        gold = np.asarray([s.gold for s in samples], dtype=np.int64)
        return {"ranks": ranks, "gold": gold, "correct": gold_hits(ranks, gold, 1).astype(np.float64),
                "tie_split": self._tie_split(scores, samples)}

    def _option_rates(self, ranks: np.ndarray) -> dict:
        return {key: {f"top{n}": float(top_n_hits(ranks, n)[:, j].mean()) for n in self.top_ns}
                for j, key in enumerate(self.option_keys)}

    def _subgroup_tables(self, ranks: np.ndarray, samples: Sequence[Sample]) -> tuple[list[dict], list[dict]]:
        """(subgroup rows in harness form, the same rows in the official record layout)."""
        groups = [s.meta["group"] for s in samples]
        rows = subgroup_top_n(ranks, groups, self.top_ns, self.min_subgroup)
        ours, official = [], []
        for row in rows:
            rates = {f"{key}_top{n}": row["rates"][n][j] for j, key in enumerate(self.option_keys)
                     for n in self.top_ns}
            ours.append({"group": row["group"], "count": row["count"], **rates})
            rec = {"Attributes": row["group"], "Count": row["count"]}
            for j, name in enumerate(self.official_names):
                for n in self.top_ns:
                    rec[f"{name}_top-{n}"] = row["rates"][n][j]
            official.append(rec)
        return ours, official

    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Ranks under the tie rule -> accuracy, per-option top-n rates (with CIs), subgroup rows."""
        scores = self._score_matrix(samples, responses)
        ranks = option_ranks(scores, self.ties)
        columns = self._columns(scores, ranks, samples)
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        sub, official_sub = self._subgroup_tables(ranks, samples)
        official = list(official_sub)
        n_items = len(samples)
        for j, name in enumerate(self.official_names):
            hits = top_n_hits(ranks, 1)[:, j]
            rec = {"Attributes": name, f"{name}_top-1": float(hits.mean()), "Count": int(hits.sum())}
            if 2 in self.top_ns:
                rec[f"{name}_top-2"] = float(top_n_hits(ranks, 2)[:, j].mean())
            official.append(rec)
        return self._result(samples, scores, columns, metrics, sub, official, n_items)

    @staticmethod
    def _tie_split(scores: np.ndarray, samples: Sequence[Sample]) -> np.ndarray:
        """Per item: the gold option's top-1 credit with ties split (:func:`tie_split_hits`)."""
        return tie_split_hits(scores, [s.gold for s in samples], 1)

    def _result(self, samples, scores, columns, metrics, sub, official, n_items) -> TaskResult:
        texts = [s.meta.get("options") for s in samples]  # the caption options (ties between equal texts)
        ranks, tie, correct = columns["ranks"], columns["tie_split"].tolist(), columns["correct"].tolist()
        per_sample = [{"ranks": ranks[i].tolist(),
                       "winner": int(np.argmin(ranks[i])) if (ranks[i] == 0).any() else -1,
                       "correct": bool(correct[i]), "tie_split": tie[i]}
                      for i in range(len(samples))]
        notes = [f"Ties: {self.ties} ({TIE_NOTES[self.ties]}). accuracy = {self.accuracy_note}; values are "
                 "fractions (x100 for percent)."]
        if sub is not None:
            notes.append(f"Subgroup rows only for subgroups with at least {self.min_subgroup} items "
                         f"({len(sub) if sub else 0} here).")
        tables = {"option_rates": self._option_rates(ranks), "subgroups": sub or [],
                  "official_records": official, "counts": dict(self._counts, n_scored=n_items),
                  "option_names": {"harness": list(self.option_keys), "official": list(self.official_names)},
                  "degeneracy": check_match(scores, texts if all(texts) else None)}
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)


# --------------------------------------------------------------------------- VG tasks


class _VGTask(_SnareMatchTask):
    """A matching task on a VG file: also reads the file's Hugging Face mirror (``--data-source hf``).

    Options (:data:`VG_MIRROR_OPTIONS`, recorded in :meth:`config`): ``hf_relation`` /
    ``hf_attribution`` (each task reads the one of its file, so both may be given to a run of
    several tasks), ``hf_crop`` and ``hf_bbox_slack``.
    """

    option_meanings: ClassVar[dict[str, str]] = VG_MIRROR_OPTIONS

    def __init__(self, ties: str = "earlier", min_subgroup: int = MIN_SUBGROUP, hf_relation: str | None = None,
                 hf_attribution: str | None = None, hf_crop: str = "bbox", hf_bbox_slack: float = 0.0):
        super().__init__(ties=ties, min_subgroup=min_subgroup)
        self.hf = mirror_options(self.name, hf_relation, hf_attribution, hf_crop, hf_bbox_slack)

    def config(self) -> dict:
        """Adds the mirror options."""
        return dict(super().config(), **options_config(self.hf))

    def vg_items(self, data: DataConfig, filename: str):
        """``(source, items)`` of one VG file, official or from its mirror."""
        return load_vg(data, self.name, filename, self.hf[filename])


class _VGAttributionTask(_VGTask):
    def build_cases(self, data):
        """Every VG-Attribution item; subgroup = the attribute pair."""
        src, items = self.vg_items(data, VG_ATTRIBUTION_FILE)
        self._counts = {"n_in_file": len(items)}
        return src, [vg_case(src, it, self.options(it), 0, attribute_group(it)) for it in items], {}

    def options(self, item) -> list[str]:
        """The item's caption options in official order."""
        raise NotImplementedError


@register_task("snare_negation_logic")
class SnareNegationLogic(_VGAttributionTask):
    """SNARE negation logic (``Negation_Logic``): affirmative vs negated attribute sentence."""

    official_name = "Negation_Logic"
    description = "SNARE negation logic: 'the X is a and the Y is b' vs its negation (VG-Attribution crops)."
    option_keys = ("correct", "negative")
    official_names = ("correct", "negative")
    metric_specs = (MetricSpec("accuracy", True, chance=0.5, description="Top-1 rate of the affirmative sentence (option 0)."),
                    _tie_split_spec(0.5),
                    *_option_metric_specs(option_keys, (1,), ("affirmative", "negated")))

    def options(self, item):
        """``[the X is a0 and the Y is a1, the X is not a0 and the Y is not a1]``."""
        return negation_options(item.obj1_name, item.obj2_name, item.attributes)


@register_task("snare_attribute_ownership")
class SnareAttributeOwnership(_VGAttributionTask):
    """SNARE attribute ownership (``Attribute_Ownership``): true, exchanged and 'respectively' captions."""

    official_name = "Attribute_Ownership"
    description = "SNARE attribute ownership: true vs attribute-exchanged vs long-distance 'respectively' caption."
    option_keys = ("correct", "exchange", "separate")
    official_names = ("correct", "exchange", "separate")
    top_ns = (1, 2)
    metric_specs = (MetricSpec("accuracy", True, chance=1 / 3, description="Top-1 rate of the true caption (option 0)."),
                    _tie_split_spec(1 / 3),
                    *_option_metric_specs(option_keys, (1, 2), ("true caption", "attributes exchanged",
                                                                "'respectively' sentence")))

    def options(self, item):
        """``[true_caption, false_caption, the X and the Y are a0 and a1 respectively]``."""
        return attribute_ownership_options(item.true_caption, item.false_caption, item.obj1_name,
                                           item.obj2_name, item.attributes)


@register_task("snare_relationship_composition")
class SnareRelationshipComposition(_VGTask):
    """SNARE relationship composition (``Relationship_Composition``); drops symmetric relations."""

    official_name = "Relationship_Composition"
    description = "SNARE relationship composition: true vs subject/object exchanged vs 'X and Y' caption."
    option_keys = ("correct", "exchange", "and")
    official_names = ("ARO", "(,,)", ",,")
    top_ns = (1, 2)
    metric_specs = (MetricSpec("accuracy", True, chance=1 / 3, description="Top-1 rate of the true caption (option 0; official 'ARO_top-1')."),
                    _tie_split_spec(1 / 3),
                    *_option_metric_specs(option_keys, (1, 2), ("true caption", "subject and object exchanged",
                                                                "'and' caption")))

    def build_cases(self, data):
        """VG-Relation items whose relation is not in the official exclusion list."""
        src, items = self.vg_items(data, VG_RELATION_FILE)
        kept = [it for it in items if it.relation_name not in COMPOSITION_EXCLUDED]
        self._counts = {"n_in_file": len(items), "n_dropped_excluded_relations": len(items) - len(kept)}
        cases = [vg_case(src, it, relationship_composition_options(it.true_caption, it.false_caption,
                                                                   it.relation_name), 0, it.relation_name)
                 for it in kept]
        return src, cases, {}


@register_task("snare_spatial_relationship")
class SnareSpatialRelationship(_VGTask):
    """SNARE multi-spatial relation (``Spatial_Relationship``): which of 4 relations fills the caption."""

    official_name = "Spatial_Relationship"
    description = "SNARE multi-spatial relation: the caption with each of 4 spatial relations; gold = the true one."
    option_keys = tuple(r.replace(" ", "_") for r in SPATIAL_RELATIONS)
    official_names = SPATIAL_RELATIONS
    top_ns = (1, 2)
    accuracy_note = "top-1 classification against the gold relation"
    metric_specs = (
        MetricSpec("accuracy", True, chance=0.25, description="Top-1 classification accuracy: the true relation's "
                                                              "caption ranks first (official 'clasfication' top-1)."),
        MetricSpec("top2_accuracy", True, chance=0.5, description="The true relation's caption ranks among the first 2."),
        MetricSpec("top3_accuracy", True, chance=0.75, description="The true relation's caption ranks among the first 3."),
        _tie_split_spec(0.25, "the true relation's caption"),
    )

    def build_cases(self, data):
        """VG-Relation items whose relation is one of the 4 spatial relations; gold = its index."""
        src, items = self.vg_items(data, VG_RELATION_FILE)
        kept = [it for it in items if it.relation_name in SPATIAL_RELATIONS]
        self._counts = {"n_in_file": len(items), "n_kept_spatial": len(kept),
                        "per_relation": {r: sum(it.relation_name == r for it in kept) for r in SPATIAL_RELATIONS}}
        cases = [vg_case(src, it, spatial_options(it.true_caption, it.relation_name),
                         SPATIAL_RELATIONS.index(it.relation_name), it.relation_name) for it in kept]
        return src, cases, {}

    def score(self, samples, responses, ctx):
        """Top-1/2/3 classification against the gold relation; per-option rates in the tables."""
        scores = self._score_matrix(samples, responses)
        ranks = option_ranks(scores, self.ties)
        columns = self._columns(scores, ranks, samples)
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        sub, official = self._subgroup_tables(ranks, samples)
        official.append({"Attributes": "clasfication", "top-1": metrics["accuracy"].value,
                         "top-2": metrics["top2_accuracy"].value, "top-3": metrics["top3_accuracy"].value,
                         "Count": int(columns["correct"].sum())})
        return self._result(samples, scores, columns, metrics, sub, official, len(samples))

    def declared_metrics(self) -> tuple[Declared, ...]:
        """``accuracy``, ``top2_accuracy``, ``top3_accuracy``: the gold relation among the first
        1, 2, 3 options (from the per-item ``ranks`` and ``gold``); ``accuracy_tie_split``."""
        return declare(self.metric_specs, accuracy=mean("correct"), top2_accuracy=gold_top_n(2),
                       top3_accuracy=gold_top_n(3), accuracy_tie_split=mean("tie_split"))


# --------------------------------------------------------------------------- semantic structure


class _SemanticStructureTask(_SnareMatchTask):
    """Semantic structure: the original caption vs three shufflings of its words.

    Extra options: ``snare_seed`` (perturbations are drawn from ``numpy.random.RandomState(snare_seed)``
    in file order) and :data:`SEMANTIC_OPTIONS` (tagger, ``max_words``, image mirrors: each task reads
    the one of its dataset).
    """

    dataset: ClassVar[str] = ""
    option_meanings: ClassVar[dict[str, str]] = {
        "snare_seed": "seed of numpy.random.RandomState drawing the word shufflings in file order (official run: 1)",
        **SEMANTIC_OPTIONS,
    }
    option_keys = ("original", *SEMANTIC_PERTURBATIONS)
    official_names = ("Correct", *SEMANTIC_PERTURBATIONS)
    metric_specs = (MetricSpec("accuracy", True, chance=0.25,
                               description="Fraction of test cases whose original caption wins (official 'Correct' Accuracy)."),
                    _tie_split_spec(0.25, "the original caption (option 0)"),
                    *_option_metric_specs(option_keys, (1,), ("original caption", "content words shuffled",
                                                              "non-content words shuffled", "all words shuffled")))

    def __init__(self, ties: str = "earlier", snare_seed: int = 1, pos_tagger: str | None = None,
                 pos_tags: str | None = None, spacy_model: str = DEFAULT_SPACY_MODEL, max_words: int = MAX_WORDS,
                 hf_coco_images: str | None = None, hf_flickr30k_images: str | None = None):
        super().__init__(ties=ties)
        self.hf_images = {"coco": hf_coco_images, "flickr30k": hf_flickr30k_images}
        if pos_tagger not in (None, "spacy", "file"):
            raise TaskError(f"task {self.name!r}: option pos_tagger={pos_tagger!r} is not 'spacy' or 'file'")
        if max_words < 1:
            raise TaskError(f"task {self.name!r}: option max_words must be >= 1")
        self.snare_seed = int(snare_seed)
        self.pos_tagger = pos_tagger
        self.pos_tags = pos_tags
        self.spacy_model = spacy_model
        self.max_words = int(max_words)
        self._tagger_identity: dict | None = None

    def config(self) -> dict:
        """Adds the perturbation seed, the tagger actually used (with versions) and max_words."""
        cfg = super().config()
        cfg.pop("min_subgroup")
        cfg.update({"snare_seed": self.snare_seed, "max_words": self.max_words,
                    "pos_tagger": self._tagger_identity or {"pos_tagger": self.pos_tagger, "pos_tags": self.pos_tags},
                    f"hf_{self.dataset}_images": self.hf_images[self.dataset]})
        return cfg

    def cache_config(self) -> dict:
        """The perturbed options depend on seed and tagger (also part of the data fingerprint)."""
        return {"snare_seed": self.snare_seed, "max_words": self.max_words, "pos_tagger": self._tagger_identity}

    def build_cases(self, data):
        """Every (image, caption) of the Karpathy file with its seeded perturbations."""
        kind, tags = resolve_tagger(self.pos_tagger, self.pos_tags, self.dataset, data)
        src, cases, tagger = load_semantic(data, self.name, self.dataset,
                                           lambda: build_tagger(kind, tags, self.spacy_model),
                                           self.snare_seed, self.max_words, self.hf_images[self.dataset])
        self._tagger_identity = tagger.identity()
        self._counts = {"n_images": len({c.item for c in cases})}
        return src, cases, {"seed": self.snare_seed, "tagger": self._tagger_identity, "max_words": self.max_words}

    def score(self, samples, responses, ctx):
        """Winner per case (first maximum) -> per-option win rates; official records per winning option."""
        scores = self._score_matrix(samples, responses)
        ranks = option_ranks(scores, self.ties)
        columns = self._columns(scores, ranks, samples)
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        winners = np.where((ranks == 0).any(axis=1), np.argmin(ranks, axis=1), -1)
        official = [dict(r, Dataset="Visual Genome Relation") for r in winner_records(winners, self.official_names)]
        return self._result(samples, scores, columns, metrics, None, official, len(samples))


@register_task("snare_semantic_structure_coco")
class SnareSemanticStructureCoco(_SemanticStructureTask):
    """SNARE semantic structure on the COCO Karpathy test split (``COCO_Semantic_Structure``)."""

    dataset = "coco"
    official_name = "COCO_Semantic_Structure"
    description = "SNARE semantic structure (COCO Karpathy test): original caption vs 3 word shufflings."


@register_task("snare_semantic_structure_flickr30k")
class SnareSemanticStructureFlickr30k(_SemanticStructureTask):
    """SNARE semantic structure on the Flickr30k test split (``Flickr30k_Semantic_Structure``)."""

    dataset = "flickr30k"
    official_name = "Flickr30k_Semantic_Structure"
    description = "SNARE semantic structure (Flickr30k test): original caption vs 3 word shufflings."


SNARE_TASKS = ("snare_semantic_structure_coco", "snare_semantic_structure_flickr30k", "snare_negation_logic",
               "snare_attribute_ownership", "snare_relationship_composition", "snare_spatial_relationship")
register_group("snare", SNARE_TASKS)
