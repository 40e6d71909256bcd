"""SNARE's repository yes/no protocol for generative models (BLIP-2 wrapper; ``docs/protocols/snare.md`` 3.2).

The official wrapper (``snare/models/blip2_load.py``, LAVIS ``blip2_t5``) first asks the model
``Question: Describe the image. Answer:`` about the item's crop, then, for every caption option,
``Question: Describe the image. Answer: {description}. Question: {q} Answer:`` with the yes/no
question q built from the option (:func:`~mmharness.loaders.snare_prompts.blip2_question`, sic).
s(i, j) = 1 when ``"yes"`` is a substring of the lower-cased answer; the rate of option j is the
mean of s over items (for the positive: the accuracy; for a distractor: the false-"yes" rate). No
ranking is done. The subgroup rows (>= 25 items) follow ``evaluate_vllm_scores``.

The second prompt contains the model's own first answer, so the protocol runs in two stages:

1. ``mmh run --model M --tasks snare_describe_vg --log-samples -o out`` generates the descriptions
   of every VG-Relation and VG-Attribution item (ids ``relation:NNNNN`` / ``attribution:NNNNN``);
2. ``mmh run --model M --tasks snare_yesno --task-args descriptions=out/samples_M_snare_describe_vg_<...>.jsonl``
   asks the questions (one request per item and option, ids ``NNNNN:j``).

``descriptions`` also accepts a JSON object ``{"relation:00012": "a zebra on a road", ...}``.
Its content hash keys the response cache and is recorded. Decoding: greedy with
``max_new_tokens`` (30, LAVIS' ``max_length`` default); LAVIS used beam search (5 beams), which
the ``generate`` capability does not express: a documented difference. Metrics: ``accuracy`` and
``<option>_yes_rate`` with the official substring rule, ``accuracy_word`` with a word-boundary
yes/no parse (alternative), and the rates of answers containing neither yes nor no.
The official accuracy is the "yes" rate on the correct option only, so a model that says yes to
everything scores 1.0; the leaderboard ranks on ``balanced_accuracy`` (non-official): the mean of
that rate and the "no" rate (no "yes" substring) on the other options, 0.5 for any model that gives
every option the same answer. ``tables["degeneracy"]`` flags a run whose every answer is the same
text (:mod:`mmharness.metrics.degeneracy`).
The repository's LLaVA wrapper builds every question from the last option (a nested-loop bug);
that is not reproduced.

Both stages accept the VG data options of the matching tasks (``--data-source hf`` with
``hf_relation``, ``hf_attribution``, ``hf_crop``, ``hf_bbox_slack``; see :mod:`mmharness.tasks.snare`);
run them on the same data so that the description ids match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..loaders.aro import VG_ATTRIBUTION_FILE, VG_RELATION_FILE
from ..loaders.aro_hf import mirror_options, options_config
from ..loaders.snare import case_image, load_vg
from ..loaders.snare_prompts import DESCRIBE_PROMPT, blip2_followup, blip2_question
from ..metrics.degeneracy import check_generate
from ..metrics.declare import Declared, Unit, custom, declare, pivot_rows, score_declared
from ..registry import register_group, register_task
from ..requests import Capability, GenerateRequest, GenerationParams, Message, Response, TextResponse
from ..task import (DataConfig, DataInfo, MetricSpec, MetricValue, Paper, Sample, ScoreContext, Task, TaskData,
                    TaskError, TaskResult)
from .snare import (
    SNARE_DATA,
    SNARE_PAPER,
    SNARE_PROTOCOL,
    VG_MIRROR_OPTIONS,
    SnareAttributeOwnership,
    SnareNegationLogic,
    SnareRelationshipComposition,
    SnareSpatialRelationship,
    _SnareMatchTask,
)

DESCRIBE_SOURCES = {"relation": VG_RELATION_FILE, "attribution": VG_ATTRIBUTION_FILE}
_WORD = re.compile(r"\b(yes|no)\b")
YESNO_PROTOCOL = SNARE_PROTOCOL + "; BLIP-2 yes/no wrapper snare/models/blip2_load.py"
#: Stage 1 and 2 read the VG files of the matching tasks; on --sample stage 2 needs stage 1's log.
YESNO_DATA = dataclasses.replace(
    SNARE_DATA, sample_note="the SNARE sample's VG items; stage 2 (snare_*_yesno) also needs descriptions= from a "
                            "snare_describe_vg --sample --log-samples run")


def _params(max_new_tokens: int) -> GenerationParams:
    if max_new_tokens < 1:
        raise TaskError("option max_new_tokens must be >= 1")
    return GenerationParams(max_new_tokens=int(max_new_tokens))


@register_task("snare_describe_vg")
class SnareDescribeVG(Task):
    """Stage 1 of the yes/no protocol: the model's description of every VG item's crop."""

    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = YESNO_PROTOCOL
    description: ClassVar[str] = "SNARE yes/no protocol, stage 1: 'Question: Describe the image. Answer:' per VG crop."
    uses: ClassVar[tuple[Capability, ...]] = (Capability.GENERATE,)
    primary_metric: ClassVar[str] = "empty_rate"
    family: ClassVar[str] = "SNARE"
    metric_specs = (MetricSpec("empty_rate", False, chance=None, official=False,
                               description="Fraction of empty descriptions (a wiring check; stage 1 has no score)."),)
    paper: ClassVar[Paper | None] = SNARE_PAPER
    data_info: ClassVar[DataInfo | None] = YESNO_DATA
    option_meanings: ClassVar[dict[str, str]] = {
        "max_new_tokens": "generation limit of each description (LAVIS' max_length default 30)",
        **VG_MIRROR_OPTIONS,
    }

    def __init__(self, max_new_tokens: int = 30, hf_relation: str | None = None, hf_attribution: str | None = None,
                 hf_crop: str = "bbox", hf_bbox_slack: float = 0.0):
        self.params = _params(max_new_tokens)
        self.hf = mirror_options(self.name, hf_relation, hf_attribution, hf_crop, hf_bbox_slack)
        self._images: dict = {}
        self._data_info: dict | None = None

    def config(self) -> dict:
        """The prompt, decoding options and where each VG file came from."""
        return {"prompt": DESCRIBE_PROMPT, "generation": self.params.as_dict(), **options_config(self.hf),
                "data": self._data_info}

    def load(self, data: DataConfig) -> TaskData:
        """One sample per item of both VG files (ids ``relation:NNNNN`` and ``attribution:NNNNN``)."""
        samples, h, locations, self._data_info = [], hashlib.sha256(), [], {}
        for prefix, filename in DESCRIBE_SOURCES.items():
            src, items = load_vg(data, self.name, filename, self.hf[filename])
            h.update(src.content.encode())
            self._images[prefix], self._data_info[prefix] = src.images, src.info
            locations.append(src.location)
            samples += [Sample(id=f"{prefix}:{it.index:05d}", gold=it.true_caption,
                               meta={"image": it.image_file, "bbox": list(it.bbox), "source": prefix,
                                     **({"row": it.image_row} if it.image_row is not None else {})})
                        for it in items]
        return TaskData(samples, h.hexdigest()[:20], "sample" if data.sample else " + ".join(locations),
                        "sample" if data.sample else "full")

    def request(self, sample: Sample) -> GenerateRequest:
        """``user: [image crop, DESCRIBE_PROMPT]``; the oracle answers with the true caption."""
        img = case_image(sample.meta, self._images.get(sample.meta.get("source")))
        return GenerateRequest(messages=[Message("user", [img, DESCRIBE_PROMPT])], params=self.params,
                               reference=sample.gold)

    def score(self, samples, responses, ctx) -> TaskResult:
        """Counts empty descriptions; the descriptions themselves are in the per-sample log."""
        empty = [not isinstance(r, TextResponse) or not r.text.strip() for r in responses]
        return TaskResult({"empty_rate": MetricValue(float(np.mean(empty)))},
                          per_sample=[{"description": r.text} for r in responses],
                          notes=["Stage 1 of the SNARE yes/no protocol: pass this run's --log-samples file to the "
                                 "snare_*_yesno tasks as descriptions=<file>."])


def read_descriptions(path: str) -> dict[str, str]:
    """``{sample id: description}`` from a describe run's samples JSONL or a JSON object."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskError(f"descriptions file {p}: {e}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and not ("id" in obj and "response" in obj):  # a mapping, not a 1-line log
        if not all(isinstance(v, str) for v in obj.values()):
            raise TaskError(f"descriptions file {p}: a JSON object must map sample ids to description strings")
        return obj
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            resp = row.get("response") or {}
            if resp.get("text") is None:
                continue  # skipped sample: no description
            out[str(row["id"])] = str(resp["text"])
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise TaskError(f"descriptions file {p}, line {n}: not a samples-log row with 'id' and "
                            f"'response': {{'text': ...}}") from None
    return out


class _SnareYesNo(Task):
    """Stage 2: one yes/no question per (item, option), after the model's own description."""

    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = YESNO_PROTOCOL
    uses: ClassVar[tuple[Capability, ...]] = (Capability.GENERATE,)
    primary_metric: ClassVar[str] = "accuracy"
    leaderboard_metric: ClassVar[str] = "balanced_accuracy"
    family: ClassVar[str] = "SNARE"
    matching: ClassVar[type[_SnareMatchTask]]
    prefix: ClassVar[str] = ""
    paper: ClassVar[Paper | None] = SNARE_PAPER
    data_info: ClassVar[DataInfo | None] = YESNO_DATA
    option_meanings: ClassVar[dict[str, str]] = {
        "descriptions": "needed to run: the model's own descriptions from stage 1, the --log-samples JSONL of a "
                        "snare_describe_vg run on the same data, or a JSON object {sample id: description}",
        "max_new_tokens": "generation limit of each yes/no answer (LAVIS' max_length default 30)",
        "min_subgroup": "smallest subgroup (relation, or attribute pair) that gets a row in the official records "
                        "(official 25)",
        **VG_MIRROR_OPTIONS,
    }

    def __init__(self, descriptions: str | None = None, max_new_tokens: int = 30, min_subgroup: int = 25,
                 hf_relation: str | None = None, hf_attribution: str | None = None, hf_crop: str = "bbox",
                 hf_bbox_slack: float = 0.0):
        self.descriptions = descriptions
        self.params = _params(max_new_tokens)
        self.min_subgroup = int(min_subgroup)
        self._sha: str | None = None
        self._matching = self.matching(min_subgroup=min_subgroup, hf_relation=hf_relation,
                                       hf_attribution=hf_attribution, hf_crop=hf_crop, hf_bbox_slack=hf_bbox_slack)
        self._images = None
        self._data_info: dict | None = None

    @classmethod
    def specs(cls) -> tuple[MetricSpec, ...]:
        """accuracy, accuracy_word, one yes-rate per option, unparsed rates."""
        out = [MetricSpec("accuracy", True, chance=0.5, description="Rate of 'yes' (substring, official) on the "
                                                                    "correct option."),
               MetricSpec("accuracy_word", True, chance=0.5, official=False,
                          description="Rate of a word-boundary 'yes' (first of yes/no) on the correct option."),
               MetricSpec("unparsed_rate", False, chance=None,
                          description="Fraction of answers with neither 'yes' nor 'no' as substrings (scored 0)."),
               MetricSpec("unparsed_rate_word", False, chance=None, official=False,
                          description="Fraction of answers with neither word yes nor word no."),
               MetricSpec("balanced_accuracy", True, chance=0.5, official=False,
                          description="Non-official (the leaderboard's ranking metric): mean of the 'yes' rate "
                                      "on the correct option and the rate of answers without 'yes' on the other "
                                      "options (per item, then over items); 0.5 for a model that answers every "
                                      "option alike.")]
        for j, key in enumerate(cls.matching.option_keys):
            out.append(MetricSpec(f"{key}_yes_rate", j == 0 and cls.matching is not SnareSpatialRelationship,
                                  chance=0.5, description=f"Rate of 'yes' (substring) to the question built from "
                                                          f"option {j} ({key})."))
        return tuple(out)

    def config(self) -> dict:
        """Descriptions file (and hash), decoding, subgroup cut-off, data options and provenance."""
        return {"official_task": self.matching.official_name, "descriptions": self.descriptions,
                "descriptions_sha256": self._sha, "generation": self.params.as_dict(),
                "min_subgroup": self.min_subgroup, "describe_prompt": DESCRIBE_PROMPT,
                **options_config(self._matching.hf), "data": self._data_info}

    def cache_config(self) -> dict:
        """The descriptions are part of every prompt."""
        return {"descriptions_sha256": self._sha, "generation": self.params.as_dict()}

    def load(self, data: DataConfig) -> TaskData:
        """Cases of the matching task; one sample per (item, option) with its full second prompt."""
        if not self.descriptions:
            raise TaskError(
                f"task {self.name!r} needs the model's own image descriptions (stage 1 of the official BLIP-2 "
                f"protocol): run `mmh run --model <M> --tasks snare_describe_vg --log-samples -o <dir>` "
                f"(with the same data and model), then pass --task-args descriptions=<dir>/samples_<M>_"
                f"snare_describe_vg_<...>.jsonl")
        desc = read_descriptions(self.descriptions)
        self._sha = hashlib.sha256(Path(self.descriptions).read_bytes()).hexdigest()[:20]
        src, cases, _ = self._matching.build_cases(data)
        self._images, self._data_info = src.images, src.info
        missing = [c.id for c in cases if f"{self.prefix}:{c.id}" not in desc]
        if missing:
            raise TaskError(f"descriptions file {self.descriptions} has no description for {len(missing)} item(s) of "
                            f"{src.name} (first: {self.prefix}:{missing[0]}); it must come from snare_describe_vg on "
                            f"the same data")
        samples = []
        for c in cases:
            d = desc[f"{self.prefix}:{c.id}"]
            for j, opt in enumerate(c.options):
                q = blip2_question(opt)
                samples.append(Sample(id=f"{c.id}:{j}", gold=int(j == c.gold), meta={
                    "item": c.id, "option": j, "n_options": len(c.options), "group": c.group, "item_gold": c.gold,
                    "image": c.image_file, "bbox": list(c.bbox), "question": q, "prompt": blip2_followup(d, q),
                    **({"row": c.image_row} if c.image_row is not None else {})}))
        fp = hashlib.sha256((src.content + self._sha).encode()).hexdigest()[:20]
        return TaskData(samples, fp, src.location, "sample" if data.sample else "full")

    def request(self, sample: Sample) -> GenerateRequest:
        """``user: [image crop, second prompt]``; the oracle answers yes for the correct option."""
        img = case_image(sample.meta, self._images)
        return GenerateRequest(messages=[Message("user", [img, sample.meta["prompt"]])], params=self.params,
                               reference="yes" if sample.gold else "no")

    #: items are the resampling unit: one row per item, one column per option (``yes@0``, ...)
    resample_unit: ClassVar[Unit] = Unit(key="item", spread="option",
                                          spread_fields=("yes", "unparsed", "yes_word", "unparsed_word"),
                                          shared_fields=("item_gold",))

    def declared_metrics(self) -> tuple[Declared, ...]:
        """Over the items with an answer for every option (one row per item): ``accuracy`` (yes on
        the gold option, substring rule), ``accuracy_word`` (word rule), ``unparsed_rate`` and
        ``unparsed_rate_word`` (the item's mean over options), ``balanced_accuracy`` (mean of yes on
        the gold and no on the others) and ``<option>_yes_rate``."""
        k = len(self.matching.option_keys)
        needs = tuple(f"{f}@{j}" for f in ("yes", "unparsed", "yes_word", "unparsed_word") for j in range(k))

        def matrix(res, field):
            return res.shared(("yesno", field), lambda r: np.stack([r[f"{field}@{j}"] for j in range(k)], axis=-1))

        def item_mean(per_item):
            def fn(res):
                vals = per_item(res)
                ok = res.shared("yesno_complete", lambda r: np.isfinite(matrix(r, "yes")).all(axis=-1))
                with np.errstate(invalid="ignore", divide="ignore"):
                    return np.where(ok, vals, 0.0).sum(axis=1) / ok.sum(axis=1)
            return fn

        def at_gold(res, field):
            gold = res.shared("yesno_gold", lambda r: r["item_gold"].astype(np.int64))
            return np.take_along_axis(np.nan_to_num(matrix(res, field)), gold[..., None], axis=-1)[..., 0]

        def balanced(res):
            y, g = np.nan_to_num(matrix(res, "yes")), at_gold(res, "yes")
            return 0.5 * (g + 1.0 - (y.sum(axis=-1) - g) / (k - 1))

        def agg(fn, describe):
            return custom(needs + ("item_gold",), item_mean(fn), describe)

        aggs = {"accuracy": agg(lambda res: at_gold(res, "yes"), "yes on the gold option"),
                "accuracy_word": agg(lambda res: at_gold(res, "yes_word"), "yes (word rule) on the gold option"),
                "unparsed_rate": agg(lambda res: np.nan_to_num(matrix(res, "unparsed")).mean(axis=-1),
                                     "unparsed answers per item"),
                "unparsed_rate_word": agg(lambda res: np.nan_to_num(matrix(res, "unparsed_word")).mean(axis=-1),
                                          "unparsed answers (word rule) per item"),
                "balanced_accuracy": agg(balanced, "yes on the gold option and no on the others")}
        for j, key in enumerate(self.matching.option_keys):
            aggs[f"{key}_yes_rate"] = agg(lambda res, j=j: np.nan_to_num(matrix(res, "yes"))[..., j],
                                          f"yes on option {key}")
        return declare(self.metric_specs, **aggs)

    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None], ctx: ScoreContext) -> TaskResult:
        """Per-option yes rates over items with an answer for every option; subgroup rows >= min_subgroup."""
        by_item: dict[str, dict] = {}
        for s, r in zip(samples, responses):
            if not isinstance(r, TextResponse):
                raise TaskError(f"task {self.name!r}, sample {s.id}: expected a text response, got {type(r).__name__}")
            it = by_item.setdefault(s.meta["item"], {"n": s.meta["n_options"], "gold": s.meta["item_gold"],
                                                     "group": s.meta["group"], "ans": {}})
            it["ans"][s.meta["option"]] = r.text.lower()
        items = [v for v in by_item.values() if len(v["ans"]) == v["n"]]
        if not items:
            raise TaskError(f"task {self.name!r}: no item has an answer for every option")
        n_opt = items[0]["n"]
        sub = np.array([[("yes" in it["ans"][j]) for j in range(n_opt)] for it in items], dtype=np.float64)
        per_sample = []
        for s, r in zip(samples, responses):
            text = r.text.lower()
            m = _WORD.search(text)
            per_sample.append({"yes": "yes" in text, "item": s.meta["item"], "option": s.meta["option"],
                               "item_gold": s.meta["item_gold"], "unparsed": "yes" not in text and "no" not in text,
                               "yes_word": m is not None and m.group(1) == "yes", "unparsed_word": m is None})
        # items, not samples (one per option), are the resampling unit: one row per complete item,
        # in the order the items first appear
        keys, columns, _ = pivot_rows(per_sample, self.resample_unit)
        pos = {k: i for i, k in enumerate(keys)}
        take = np.asarray([pos[str(k)] for k, v in by_item.items() if len(v["ans"]) == v["n"]], dtype=np.int64)
        columns = {c: v[take] for c, v in columns.items()}
        metrics = score_declared(self.declared_metrics(), columns, ctx).values
        official, groups = [], np.array([it["group"] for it in items])
        names = self.matching.official_names
        for g in np.unique(groups):
            mask = groups == g
            if mask.sum() < self.min_subgroup:
                continue
            official.append({"Attributes": str(g), "Count": int(mask.sum()),
                             **{names[j]: float(sub[mask, j].mean()) for j in range(n_opt)}})
        official += [{"Attributes": names[j], names[j]: float(sub[:, j].mean())} for j in range(n_opt)]
        notes = [f"{len(by_item) - len(items)} item(s) without an answer for every option were left out."] \
            if len(items) < len(by_item) else []
        degeneracy = check_generate([r.text for r in responses], [s.gold for s in samples])
        return TaskResult(metrics, per_sample=per_sample,
                          tables={"official_records": official, "counts": {"n_items": len(items)},
                                  "degeneracy": degeneracy}, notes=notes)


def _register(name: str, matching: type[_SnareMatchTask], prefix: str) -> None:
    doc = f"SNARE {matching.official_name}, repository BLIP-2 yes/no protocol (stage 2; needs descriptions=...)."
    cls = type(name, (_SnareYesNo,), {"__doc__": doc, "description": doc, "matching": matching, "prefix": prefix,
                                      "__module__": __name__})
    cls.metric_specs = cls.specs()
    register_task(name)(cls)


_register("snare_negation_logic_yesno", SnareNegationLogic, "attribution")
_register("snare_attribute_ownership_yesno", SnareAttributeOwnership, "attribution")
_register("snare_relationship_composition_yesno", SnareRelationshipComposition, "relation")
_register("snare_spatial_relationship_yesno", SnareSpatialRelationship, "relation")
register_group("snare_yesno", ("snare_negation_logic_yesno", "snare_attribute_ownership_yesno",
                               "snare_relationship_composition_yesno", "snare_spatial_relationship_yesno"))
