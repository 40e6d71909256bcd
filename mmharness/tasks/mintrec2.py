"""MIntRec2.0: multimodal intent recognition (30 intents) and out-of-scope detection in conversations.

Protocol (``docs/protocols/mintrec2.md``; https://github.com/thuiar/MIntRec2.0 at 38cb8bf; Zhang et al.,
ICLR 2024). Three ways to obtain predictions, chosen with the task option ``protocol``:

* ``classify`` (default; trained models): a ``classify`` request per utterance over the 30
  intents (``text`` = transcript; ``inputs`` = raw ``video``/``audio`` media or pre-extracted
  ``video_feats``/``audio_feats`` as chosen with ``modalities``; multi-turn adds a ``context``
  input). When out-of-scope rows are evaluated, the model's outputs on the **train** split's
  in-scope rows are requested too and fit the DOC thresholds.
* ``generate`` (LLMs/MLLMs, MMLA): the MMLA prompt, verbatim; answers parsed as ``intent: <label>``
  (case-insensitive); ``UNK``/"out of scope" answers and unparsable answers count as UNK.
* ``linear_probe``: ``embed_text`` of every needed utterance; scikit-learn logistic regression fit
  on train, C selected on dev accuracy, scores reported on test (``probe=splits``), or nested
  grouped cross-validation over one split's dialogues (``probe=cv``, e.g. a dev-only release).

Scoring (fractions): in-scope metrics on in-scope rows with argmax over the 30 intents and **no
rejection** (``acc`` (primary), ``weighted_f1``, ``weighted_prec``, ``rec`` (macro recall), and the
code's macro ``f1`` and ``prec``); open-set metrics on in-scope + out-of-scope rows with DOC
predictions (sigmoid scores, thresholds ``max(0.5, 1 - scale * sigma_c)`` fitted on train outputs;
the sigmoid runs on float32 logits as the official ``torch.sigmoid``, so it saturates to 1.0 above a
logit of about 17 and ties go to the first class: ``doc_precision=float32``, the default, or the
corrected ``float64``):
``oid_acc``, ``f1-known``, ``f1-open``, ``oid_f1`` from the confusion matrix whose label set is
(default) the labels present plus UNK last. Extra, non-official: ``oos_auroc`` (max sigmoid
probability, in-scope vs out-of-scope). Multi-turn (``setting=multi_turn``) reads ``total/`` and
gives each utterance the earlier utterances of its speaker in the dialogue, newest first.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..loaders import mintrec2 as mr
from ..loaders.audio import AudioFile
from ..loaders.video import VideoFileUniform
from ..metrics.declare import declare, mean, score_declared
from ..metrics.degeneracy import check_classify, check_generate
from ..metrics.open_set import (
    CM_LABEL_MODES,
    DOC_PRECISIONS,
    DocThresholds,
    doc_fit,
    doc_probabilities,
    in_scope_metrics,
    ood_auroc,
    open_set_metrics,
    sigmoid,
)
from ..metrics.probe import C_GRID, cross_validated_probe, linear_probe
from ..registry import did_you_mean, register_task
from ..requests import (
    Capability,
    ClassifyRequest,
    ClassifyResponse,
    EmbeddingResponse,
    EmbedTextRequest,
    GenerateRequest,
    GenerationParams,
    LabelSet,
    Message,
    Response,
    TextResponse,
)
from ..task import (
    DataConfig,
    DataInfo,
    DataNotFoundError,
    MetricSpec,
    MetricValue,
    Paper,
    Sample,
    ScoreContext,
    Task,
    TaskData,
    TaskError,
    TaskResult,
    sha256_files,
)

log = logging.getLogger(__name__)

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "mintrec2"

PROTOCOLS: dict[str, Capability] = {"classify": Capability.CLASSIFY, "generate": Capability.GENERATE,
                                    "linear_probe": Capability.EMBED_TEXT}
SETTINGS = ("single_turn", "multi_turn")
MODALITIES = ("text", "video", "audio", "video_feats", "audio_feats")
PROBE_MODES = ("splits", "cv")
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".webm")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".mp4", ".mkv")  # audio files, or the audio track of the videos
DOC_TIES = ("accept", "strict")
OOS_INSTRUCTIONS: dict[str, str] = {
    "none": "",
    "unk_option": " If the utterance expresses none of these intents, respond 'intent: UNK'.",
}
#: Prompts for zero-shot classification derived from embeddings (adapters without ``classify``).
#: With a video input: the official XCLIP prompt of MIntRec2.0 (``text_pre.py``): 'The speaker in
#: this video says: ' + text + '.' + ' The intent of this speaker is: ' + label, matched against the
#: clip. Text only: the transcript's embedding is matched against 'The intent of this speaker is: '
#: + label (the second half of the same prompt; not an official protocol).
VIDEO_ZERO_SHOT_TEMPLATES = ("The speaker in this video says: {text}. The intent of this speaker is: {c}",)
TEXT_ZERO_SHOT_TEMPLATES = ("The intent of this speaker is: {c}",)
INTENT_LABELSET = LabelSet(name="mintrec2_intents", classes=mr.INTENT_LABELS, templates=VIDEO_ZERO_SHOT_TEMPLATES)
TEXT_INTENT_LABELSET = LabelSet(name="mintrec2_intents_text", classes=mr.INTENT_LABELS,
                                templates=TEXT_ZERO_SHOT_TEMPLATES)

METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("acc", True, (0.0, 1.0), None, True, "fraction",
               "In-scope accuracy: argmax over the 30 intents on in-scope rows, no rejection (paper ACC)."),
    MetricSpec("weighted_f1", True, (0.0, 1.0), None, True, "fraction",
               "In-scope support-weighted F1 (sklearn, labels present in gold or prediction; paper WF1)."),
    MetricSpec("weighted_prec", True, (0.0, 1.0), None, True, "fraction",
               "In-scope support-weighted precision (paper WP)."),
    MetricSpec("rec", True, (0.0, 1.0), None, True, "fraction", "In-scope macro recall (paper R)."),
    MetricSpec("f1", True, (0.0, 1.0), None, True, "fraction", "In-scope macro F1 (saved by the official code)."),
    MetricSpec("prec", True, (0.0, 1.0), None, True, "fraction",
               "In-scope macro precision (saved by the official code)."),
    MetricSpec("oid_acc", True, (0.0, 1.0), None, True, "fraction",
               "Open-set accuracy over in-scope + out-of-scope rows (31-way, DOC predictions; paper ACC)."),
    MetricSpec("f1-known", True, (0.0, 1.0), None, True, "fraction",
               "Mean per-class F1 over all confusion-matrix rows but the last (UNK) (paper F1-IS)."),
    MetricSpec("f1-open", True, (0.0, 1.0), None, True, "fraction", "F1 of the UNK row (paper F1-OOS)."),
    MetricSpec("oid_f1", True, (0.0, 1.0), None, True, "fraction",
               "Mean per-class F1 over all rows including UNK (paper F1; official dev early-stopping score)."),
    MetricSpec("oos_auroc", True, (0.0, 1.0), 0.5, False, "fraction",
               "Non-official: ROC AUC of the max sigmoid probability separating in-scope (positive) from "
               "out-of-scope rows (float64 sigmoid, whatever doc_precision)."),
    MetricSpec("majority_acc", True, (0.0, 1.0), None, False, "fraction",
               "Non-official: in-scope accuracy of predicting the most frequent training intent (the "
               "baseline a linear probe must beat)."),
    MetricSpec("unparsed_rate", False, (0.0, 1.0), 0.0, False, "fraction",
               "Non-official: fraction of generated answers that name no intent and no UNK (counted as UNK)."),
)


def _stable_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


@register_task("mintrec2")
class MIntRec2(Task):
    """MIntRec2.0 intent recognition and out-of-scope detection (see the module docstring; options in
    ``option_meanings``, all recorded in :meth:`config`)."""

    version: ClassVar[str] = "2"  # 2: DOC sigmoid in float32 by default (official; can change predictions)
    protocol: ClassVar[str] = ("MIntRec2.0 (Zhang et al., ICLR 2024; thuiar/MIntRec2.0 at 38cb8bf): 30 intents + "
                               "UNK; in-scope argmax metrics and open-set metrics with DOC thresholds; MMLA prompt "
                               "for generation; linear probe on text embeddings")
    description: ClassVar[str] = "Multimodal intent recognition + out-of-scope detection in TV-series dialogues."
    uses: ClassVar[tuple[Capability, ...]] = (Capability.CLASSIFY, Capability.GENERATE, Capability.EMBED_TEXT)
    primary_metric: ClassVar[str] = "acc"
    family: ClassVar[str] = "MIntRec2.0"
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = METRIC_SPECS
    option_meanings: ClassVar[dict[str, str]] = {
        "protocol": "how predictions are obtained: classify (trained models), generate (the MMLA prompt) or "
                    "linear_probe (logistic regression on embed_text embeddings); it picks the one capability used",
        "setting": "single_turn (one utterance) or multi_turn (total/: the speaker's earlier utterances in the "
                   "dialogue as context, newest first)",
        "split": "the evaluated split: test, dev or train",
        "ood": "also score the out-of-scope rows (open-set metrics with DOC thresholds fitted on train outputs) "
               "when the data has them",
        "modalities": "classify inputs, joined by '+': text (always), video and audio (raw media) or video_feats "
                      "and audio_feats (the released features)",
        "feature_pickles": "explicit opt-in to read the released feature pickles (video_feats, audio_feats), through "
                           "the restricted unpickler",
        "video_feats_file": "the video feature pickle: absolute, or relative to the rows' release folder (in-scope/, "
                            "the out-of-scope folder or total/)",
        "audio_feats_file": "the audio feature pickle: absolute, or relative to the rows' release folder",
        "video_frames": "frames sampled from each raw video (modalities with video)",
        "doc_scale": "DOC threshold scale: class thresholds max(0.5, 1 - scale * sigma_c) (official 1)",
        "doc_ties": "a probability equal to its class threshold: accept (counted in-scope) or strict (the official "
                    "> comparison, which leaves such exact ties to float rounding)",
        "doc_precision": "the DOC sigmoid: float32 (official torch.sigmoid of float32 logits: 1.0 above a logit of "
                         "about 17, the first tied class wins) or float64 (corrected)",
        "cm_labels": "label set of the open-set confusion matrix: present_plus_unk (labels in gold or prediction, "
                     "plus UNK last), present (scikit-learn's default, as the official code) or fixed (all 31)",
        "probe": "linear_probe evaluation: splits (fit on train, C chosen on dev, scores on test) or cv (nested "
                 "grouped cross-validation over one split's dialogues)",
        "probe_folds": "folds of probe=cv",
        "context_separator": "joins a multi-turn utterance and its context for embed_text",
        "oos_instruction": "protocol=generate: none (the MMLA prompt as published) or unk_option (adds: respond "
                           "'intent: UNK' when no intent fits)",
        "max_new_tokens": "generation limit of protocol=generate",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="zhang2024mintrec",
        title="MIntRec2.0: A Large-scale Benchmark Dataset for Multimodal Intent Recognition and Out-of-scope "
              "Detection in Conversations",
        authors=("Hanlei Zhang", "Xin Wang", "Hua Xu", "Qianrui Zhou", "Kai Gao", "Jianhua Su", "Jinyue Zhao",
                 "Wenrui Li", "Yanting Chen"),
        year=2024, venue="ICLR", venue_full="International Conference on Learning Representations (ICLR)",
        arxiv="2403.10943", url="https://openreview.net/forum?id=nY9nITZQjc",
        repository="https://github.com/thuiar/MIntRec2.0", commit="38cb8bf",
        note="protocol=generate uses the MMLA prompt (Zhang et al., arXiv:2504.16427, https://github.com/thuiar/MMLA)")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Under --data-root, or its MIntRec2.0/ or mintrec2/ folder, one of: the official release "
               "(in-scope/{train,dev,test}.tsv, out-of-scope/MIntRec2.0-OOD/{split}.tsv, total/{split}.tsv for "
               "multi-turn); the MMLA layout (folder MIntRec2.0/ of THUIAR/MMLA-Datasets: {split}.tsv or "
               "MIntRec2.0_{split}_text_intent_llamafactory.json); or, with --data-source hf, a Hugging Face snapshot "
               "(THU-IAR/MIntRec2.0 or THUIAR/MMLA-Datasets; offline: from the HF cache). Text needs nothing else; "
               "raw media for modalities=video,audio go beside the TSVs in video/ and audio/ (dia{D}_utt{U}.mp4 and "
               ".wav, or MMLA's MIntRec2.0_{D}_{U}.mp4); the released features are read from "
               "video_data/swin_feats.pkl and audio_data/wavlm_feats.pkl in the rows' release folder, only with "
               "feature_pickles=true.",
        source="https://github.com/thuiar/MIntRec2.0 (Google Drive folder 1W-z8kMOA1TaB3pE4rk4ZpkBQLvODMQ_Y: TSVs, "
               "features, raw videos), or the Hugging Face datasets THU-IAR/MIntRec2.0 and THUIAR/MMLA-Datasets",
        sample_note="six real in-scope dev dialogues (text and labels) spread over train/dev/test, with generated "
                    "out-of-scope rows and videos (mmharness/data/samples/mintrec2/)")

    def __init__(self, protocol: str = "classify", setting: str = "single_turn", split: str = "test",
                 ood: bool = True, modalities: str = "text", feature_pickles: bool = False,
                 video_feats_file: str = "video_data/swin_feats.pkl",
                 audio_feats_file: str = "audio_data/wavlm_feats.pkl", video_frames: int = 8,
                 doc_scale: float = 1.0, doc_ties: str = "accept", doc_precision: str = "float32",
                 cm_labels: str = "present_plus_unk",
                 probe: str = "splits", probe_folds: int = 5, context_separator: str = " [SEP] ",
                 oos_instruction: str = "none", max_new_tokens: int = 32):
        def choose(name, value, allowed):
            if value not in allowed:
                raise TaskError(f"task 'mintrec2': {name}={value!r} is not one of {list(allowed)}."
                                f"{did_you_mean(str(value), list(allowed))}")
        choose("protocol", protocol, PROTOCOLS)
        choose("setting", setting, SETTINGS)
        choose("split", split, mr.SPLITS)
        choose("doc_ties", doc_ties, DOC_TIES)
        choose("doc_precision", doc_precision, DOC_PRECISIONS)
        choose("cm_labels", cm_labels, CM_LABEL_MODES)
        choose("probe", probe, PROBE_MODES)
        choose("oos_instruction", oos_instruction, OOS_INSTRUCTIONS)
        mods = tuple(m.strip() for m in str(modalities).replace(",", "+").split("+") if m.strip())
        for m in mods:
            choose("modalities entry", m, MODALITIES)
        if "text" not in mods:
            raise TaskError("task 'mintrec2': modalities must include text (the transcript)")
        if ("video" in mods and "video_feats" in mods) or ("audio" in mods and "audio_feats" in mods):
            raise TaskError("task 'mintrec2': choose raw media or features for a modality, not both")
        if any(m.endswith("_feats") for m in mods) and not feature_pickles:
            raise TaskError("task 'mintrec2': video_feats/audio_feats are read from pickles, which the harness "
                            "unpickles only on explicit request: add feature_pickles=true")
        if protocol == "linear_probe" and mods != ("text",):
            raise TaskError("task 'mintrec2': the linear probe embeds text only; use modalities=text")
        if protocol == "linear_probe" and probe == "splits" and split != "test":
            raise TaskError("task 'mintrec2': probe=splits fits on train, selects on dev and reports test; "
                            "use split=test, or probe=cv to cross-validate within one split")
        if doc_scale < 0 or video_frames < 1 or probe_folds < 2 or max_new_tokens < 1:
            raise TaskError("task 'mintrec2': doc_scale >= 0, video_frames >= 1, probe_folds >= 2 and "
                            "max_new_tokens >= 1 are required")
        self.protocol_name = protocol
        self.uses = (PROTOCOLS[protocol],)  # type: ignore[misc]  # per instance: the protocol decides
        self.setting, self.split, self.ood = setting, split, bool(ood)
        self.modalities = mods
        self.feature_pickles = bool(feature_pickles)
        self.video_feats_file, self.audio_feats_file = video_feats_file, audio_feats_file
        self.video_frames = int(video_frames)
        self.doc_scale, self.doc_ties, self.cm_labels = float(doc_scale), doc_ties, cm_labels
        self.doc_precision = doc_precision
        self.probe, self.probe_folds = probe, int(probe_folds)
        self.context_separator = context_separator
        self.oos_instruction, self.max_new_tokens = oos_instruction, int(max_new_tokens)
        self._resolved: dict[str, Any] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._context: dict[str, tuple[str, ...]] = {}

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """All options, plus what was resolved at load time (layout, rows per role)."""
        return {"protocol": self.protocol_name, "setting": self.setting, "split": self.split, "ood": self.ood,
                "modalities": list(self.modalities), "feature_pickles": self.feature_pickles,
                "video_feats_file": self.video_feats_file, "audio_feats_file": self.audio_feats_file,
                "video_frames": self.video_frames, "doc_scale": self.doc_scale,
                "doc_ties": self.doc_ties,
                "doc_ties_meaning": ("a probability equal to its class threshold (above the 0.5 floor) is "
                                     "accepted; the official `>` leaves such exact ties to float rounding, and "
                                     "they arise only for constant-confidence outputs"
                                     if self.doc_ties == "accept" else "official strict `>` comparison"),
                "doc_precision": self.doc_precision,
                "doc_precision_meaning": ("official: torch.sigmoid of the float32 logits (saturates to 1.0 above a "
                                          "logit of about 17; the first class wins ties), thresholds and comparison "
                                          "in float64 on those values"
                                          if self.doc_precision == "float32" else
                                          "corrected (non-official): sigmoid in float64, no float32 saturation"),
                "cm_labels": self.cm_labels, "probe": self.probe, "probe_folds": self.probe_folds,
                "probe_c_grid": list(C_GRID), "context_separator": self.context_separator,
                "multi_turn_context": "earlier utterances of the same speaker in the dialogue, newest first",
                "oos_instruction": self.oos_instruction,
                "oos_instruction_text": OOS_INSTRUCTIONS[self.oos_instruction],
                "generate_unparsed": "counted as UNK", "max_new_tokens": self.max_new_tokens,
                "label_order": list(mr.INTENT_LABELS) + [mr.UNK_LABEL], **self._resolved}

    def cache_config(self) -> dict:
        """What changes responses: protocol, setting, inputs, prompts (not scoring conventions)."""
        return {"protocol": self.protocol_name, "setting": self.setting, "modalities": list(self.modalities),
                "video_feats_file": self.video_feats_file, "audio_feats_file": self.audio_feats_file,
                "video_frames": self.video_frames, "context_separator": self.context_separator,
                "oos_instruction": self.oos_instruction, "max_new_tokens": self.max_new_tokens}

    # ---------------------------------------------------------------- load
    def load(self, data: DataConfig) -> TaskData:
        """Read the layout and build the samples: the evaluated rows (role ``eval``), plus train
        rows (``fit``) and dev rows (``select``) when the protocol needs outputs on them.

        Sample ``id`` = ``"<split>/dia<D>_utt<U>"``, ``gold`` = intent id (30 = UNK)."""
        root = SAMPLE_ROOT if data.sample else (Path(data.root) if data.root else None)
        if root is None and data.source != "hf":
            raise DataNotFoundError(
                "task 'mintrec2' needs --data-root (or MMH_DATA_ROOT) with the official layout "
                "(in-scope/, out-of-scope/MIntRec2.0-OOD/, total/), MMLA TSVs or MMLA JSON files, or "
                "--data-source hf (THU-IAR/MIntRec2.0 / THUIAR/MMLA-Datasets from the HF cache), or --sample.")
        d = mr.detect(root, None if data.sample else data.source)
        if self.split not in d.in_scope:
            raise TaskError(f"task 'mintrec2': split {self.split!r} is not in {d.directory} (layout {d.layout}; "
                            f"splits: {d.splits()}); pass --task-args split=<one of them>")
        eval_rows = self._rows(d, self.split, with_oos=self.ood)
        has_oos = any(not r.in_scope for r in eval_rows)
        roles: list[tuple[str, list[mr.Utterance]]] = [("eval", eval_rows)]
        notes = []
        if self.protocol_name == "classify" and has_oos:
            if "train" in d.in_scope and self.split != "train":
                roles.append(("fit", [r for r in self._rows(d, "train", with_oos=False)]))
            else:
                notes.append("no train split: DOC thresholds cannot be fitted and open-set metrics are not computed")
        if self.protocol_name == "linear_probe" and self.probe == "splits":
            missing = [s for s in ("train", "dev") if s not in d.in_scope]
            if missing:
                raise TaskError(f"task 'mintrec2': probe=splits needs the {' and '.join(missing)} split(s), which "
                                f"{d.directory} lacks (splits: {d.splits()}); use probe=cv to cross-validate within "
                                f"split={self.split!r}")
            roles.append(("fit", self._rows(d, "train", with_oos=False)))
            roles.append(("select", self._rows(d, "dev", with_oos=False)))
        self._prepare_media(d, [r for _, rows in roles for r in rows])
        samples = []
        for role, rows in roles:
            for r in rows:
                samples.append(Sample(id=f"{r.split}/{r.key}", gold=r.label,
                                      meta={"role": role, "split": r.split, "key": r.key,
                                            "dialogue": r.dialogue_id, "utterance": r.utterance_id,
                                            "speaker": r.speaker, "text": r.text}))
        self._resolved = {"layout": d.layout, "directory": "sample" if data.sample else str(d.directory),
                          "rows": {role: len(rows) for role, rows in roles},
                          "eval_out_of_scope_rows": sum(not r.in_scope for r in eval_rows),
                          "load_notes": notes}
        fp = sha256_files(d.files, extra=_stable_hash(self.split, self.setting, str(self.ood), d.layout))
        source = "sample" if data.sample else f"{d.layout}:{d.directory}"
        return TaskData(samples=samples, fingerprint=fp, source=source, kind="sample" if data.sample else "full")

    def _rows(self, d: mr.MIntRecData, split: str, with_oos: bool) -> list[mr.Utterance]:
        """Rows of ``split`` in dialogue order; multi-turn also fills the context map."""
        if self.setting == "single_turn":
            rows = list(d.in_scope.get(split, []))
            if with_oos:
                rows += d.out_of_scope.get(split, [])
            return rows
        total = d.total.get(split)
        if total is None:
            total = list(d.in_scope.get(split, [])) + list(d.out_of_scope.get(split, []))
            if not total or any(r.speaker is None for r in total):
                raise TaskError(f"task 'mintrec2': multi-turn needs total/{split}.tsv (or rows with speaker_name) "
                                f"in {d.directory}")
        self._context.update({f"{split}/{k}": v for k, v in mr.same_speaker_context(total).items()})
        rows = [r for ds in mr.dialogues(total).values() for r in ds]
        return [r for r in rows if with_oos or r.in_scope]

    def _prepare_media(self, d: mr.MIntRecData, rows: list[mr.Utterance]) -> None:
        self._media = {}
        wanted = [m for m in self.modalities if m != "text"]
        if not wanted:
            return
        base_dirs = [d.directory, *(x for x in (d.oos_directory, d.total_directory) if x is not None),
                     d.directory / "in-scope"]
        stores: dict[str, set] = {}
        for r in rows:
            entry: dict[str, Any] = {}
            for m in wanted:
                if m in ("video", "audio"):
                    subs = mr.VIDEO_DIRS if m == "video" else mr.AUDIO_DIRS + mr.VIDEO_DIRS
                    dirs = [b / sub for b in base_dirs for sub in subs]
                    exts = VIDEO_EXTS if m == "video" else AUDIO_EXTS
                    p = mr.find_media_file(dirs, r, exts)
                    if p is None:
                        raise DataNotFoundError(
                            f"task 'mintrec2': no {m} file for {r.key} ({r.source}); looked for "
                            f"{' or '.join(mr.media_names(r, exts[0]))} under "
                            f"{', '.join(str(x) for x in dirs[:4])}, ...")
                    entry[m] = str(p)
                else:
                    rel = self.video_feats_file if m == "video_feats" else self.audio_feats_file
                    feat_dir = (d.total_directory if self.setting == "multi_turn" and d.total_directory else
                                (d.directory / "in-scope" if r.in_scope and d.layout == "official" else
                                 d.oos_directory if not r.in_scope and d.oos_directory else d.directory))
                    path = Path(rel) if Path(rel).is_absolute() else feat_dir / rel
                    if str(path) not in stores:
                        if not path.is_file():
                            raise DataNotFoundError(f"task 'mintrec2': feature pickle {path} not found (option "
                                                    f"{m}_file; the official release has <split dir>/video_data/ "
                                                    "and audio_data/)")
                        stores[str(path)] = mr.FeatureStore(path).keys()
                    if r.key not in stores[str(path)]:
                        raise TaskError(f"task 'mintrec2': {path} has no features for {r.key} ({r.source})")
                    entry[m] = str(path)
            self._media[f"{r.split}/{r.key}"] = entry

    # ---------------------------------------------------------------- requests
    def _context_of(self, sample: Sample) -> tuple[str, ...]:
        if self.setting != "multi_turn":
            return ()
        return self._context.get(f"{sample.meta['split']}/{sample.meta['key']}", ())

    def _media_inputs(self, sample: Sample) -> dict[str, Any]:
        entry = self._media.get(f"{sample.meta['split']}/{sample.meta['key']}", {})
        out: dict[str, Any] = {}
        for m, where in entry.items():
            if m == "video":
                out["video"] = VideoFileUniform(where, self.video_frames)
            elif m == "audio":
                out["audio"] = AudioFile(where)
            else:
                out[m] = mr.FeatureRef(where, sample.meta["key"])
        return out

    def embed_text_input(self, sample: Sample) -> str:
        """The text embedded by the linear probe: the utterance, then (multi-turn) its speaker's
        earlier utterances newest first, joined with ``context_separator``."""
        return self.context_separator.join((sample.meta["text"], *self._context_of(sample)))

    def prompt(self, sample: Sample) -> str:
        """The generation prompt: MMLA verbatim (single-turn, no OOS instruction), with the
        documented non-official additions for multi-turn context and the OOS instruction."""
        p = mr.mmla_prompt(sample.meta["text"])
        ctx = self._context_of(sample)
        if ctx:
            earlier = " / ".join(reversed(ctx))  # oldest first reads naturally in a prompt
            p = p.replace(" Based on the text,", f" Earlier in this conversation the same speaker said: {earlier} "
                                                 "Based on the text,", 1)
        return p + OOS_INSTRUCTIONS[self.oos_instruction]

    def request(self, sample: Sample):
        """The request of the chosen protocol for one utterance."""
        gold = sample.gold
        if self.protocol_name == "linear_probe":
            return EmbedTextRequest(text=self.embed_text_input(sample))
        if self.protocol_name == "classify":
            inputs = self._media_inputs(sample)
            if self.setting == "multi_turn":
                inputs["context"] = mr.TextContext(self._context_of(sample))
            labels = INTENT_LABELSET if "video" in self.modalities else TEXT_INTENT_LABELSET
            return ClassifyRequest(inputs=inputs, labels=labels, text=sample.meta["text"],
                                   reference=gold if gold != mr.UNK_ID else [])
        parts: list[Any] = [v for k, v in self._media_inputs(sample).items() if k in ("video", "audio")]
        parts.append(self.prompt(sample))
        answer = f"intent: {mr.INTENT_LABELS[gold] if gold != mr.UNK_ID else mr.UNK_LABEL}"
        return GenerateRequest(messages=[Message("user", parts)],
                               params=GenerationParams(max_new_tokens=self.max_new_tokens), reference=answer)

    # ---------------------------------------------------------------- score
    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Predictions of the chosen protocol, then the official in-scope and open-set metrics."""
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        pairs = [(s, r) for s, r in zip(samples, responses) if r is not None]
        by_role: dict[str, list[tuple[Sample, Response]]] = {}
        for s, r in pairs:
            by_role.setdefault(s.meta["role"], []).append((s, r))
        ev = by_role.get("eval", [])
        if not ev:
            raise TaskError("task 'mintrec2': no evaluated row has a response")
        notes = list(self._resolved.get("load_notes", []))
        tables: dict[str, Any] = {}
        extra_metrics: dict[str, float] = {}
        gold = np.array([s.gold for s, _ in ev], dtype=np.int64)
        if self.protocol_name == "generate":
            texts = [r.text if isinstance(r, TextResponse) else None for _, r in ev]
            if any(t is None for t in texts):
                raise TaskError("task 'mintrec2': the generate protocol expects text responses")
            parsed = [mr.parse_intent(t) for t in texts]
            pred_is = pred_oid = np.array([mr.UNK_ID if p is None else p for p in parsed], dtype=np.int64)
            extra_metrics["unparsed_rate"] = float(np.mean([p is None for p in parsed]))
            logits = None
            tables["degeneracy"] = check_generate(texts, gold.tolist())
            notes.append("Generated answers parsed as 'intent: <label>' (case-insensitive); UNK/out-of-scope "
                         "answers and unparsable answers count as UNK (also in the in-scope metrics, where they "
                         "are wrong).")
        else:
            logits, fits = self._logits(ev, by_role, ctx, tables, extra_metrics, notes)
            pred_is = np.argmax(logits, axis=1).astype(np.int64)
            pred_oid = self._doc_predictions(logits, fits, tables, notes)
            tables["degeneracy"] = check_classify(logits, gold.tolist(), list(mr.INTENT_LABELS) + [mr.UNK_LABEL])
        is_rows = gold != mr.UNK_ID
        metrics: dict[str, MetricValue] = {}
        if is_rows.any():
            ism = in_scope_metrics(gold[is_rows], pred_is[is_rows])
            for k in ("acc", "weighted_f1", "weighted_prec", "rec", "f1", "prec"):
                metrics[k] = MetricValue(ism[k])
            correct = (gold[is_rows] == pred_is[is_rows]).astype(np.float64)
            if correct.size > 1:  # the official accuracy; its interval by the one rule (metrics.declare)
                metrics.update(score_declared(declare(self.metric_specs, acc=mean("correct")), {"correct": correct},
                                              ctx, values={"acc": float(ism["acc"])}).values)
            from sklearn.metrics import f1_score

            present = sorted(set(gold[is_rows].tolist()))
            per = f1_score(gold[is_rows], pred_is[is_rows], labels=present, average=None, zero_division=0)
            tables["in_scope_per_class"] = [
                {"intent": mr.INTENT_LABELS[c], "support": int((gold[is_rows] == c).sum()), "f1": float(f)}
                for c, f in zip(present, per)]
        else:
            raise TaskError("task 'mintrec2': no in-scope row to score")
        oos = ~is_rows
        if oos.any() and pred_oid is not None:
            om = open_set_metrics(gold, pred_oid, mr.NUM_INTENTS, self.cm_labels)
            for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
                metrics[k] = MetricValue(om[k])
            names = list(mr.INTENT_LABELS) + [mr.UNK_LABEL]
            tables["open_set_confusion_matrix"] = {"labels": [names[i] for i in om["labels"]],
                                                   "rows_gold_columns_predicted": om["confusion_matrix"],
                                                   "per_class_f1": om["per_class_f1"]}
            if not om["last_label_is_unk"]:
                notes.append("cm_labels=present and UNK is neither gold nor predicted: the last confusion-matrix "
                             "row is not UNK (official behaviour); f1-open is that class's F1.")
            if logits is not None:
                au = ood_auroc(sigmoid(logits).max(axis=1), is_rows)
                if np.isfinite(au):
                    extra_metrics["oos_auroc"] = au
        elif not oos.any():
            notes.append("No out-of-scope row evaluated (none in the data, or ood=false): open-set metrics "
                         "are not computed.")
        else:
            notes.append("Out-of-scope rows were evaluated but no train-split outputs were available to fit the "
                         "DOC thresholds (no train split, or --limit cut them off): open-set metrics are not "
                         "computed.")
        for k, v in extra_metrics.items():
            metrics[k] = MetricValue(float(v))
        notes.append("Values are fractions (the paper reports x100, rounded to 2 decimals; the official code "
                     "rounds open-set F1 values to 4 decimals first, here unrounded).")
        per_sample = [{"id": s.id, "role": s.meta["role"], "gold": int(s.gold)} for s, _ in pairs]
        pos = {s.id: i for i, (s, _) in enumerate(ev)}
        for row in per_sample:
            i = pos.get(row["id"])
            if i is not None:
                row["pred_in_scope"] = int(pred_is[i])
                if pred_oid is not None:
                    row["pred_open_set"] = int(pred_oid[i])
        tables["scoring"] = {"protocol": self.protocol_name, "setting": self.setting, "split": self.split,
                             "doc_precision": self.doc_precision,
                             "n_eval": len(ev), "n_in_scope": int(is_rows.sum()), "n_out_of_scope": int(oos.sum()),
                             "rows_by_role": {k: len(v) for k, v in by_role.items()}}
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)

    # ---------------------------------------------------------------- logits (classify / probe)
    def _logits(self, ev, by_role, ctx, tables, extra, notes):
        """(N_eval, 30) logits for the evaluated rows and the DOC fitting groups
        ``[(fit_logits, fit_gold, eval_row_indices), ...]``."""
        if self.protocol_name == "classify":
            def mat(pairs):
                rows = []
                for s, r in pairs:
                    if not isinstance(r, ClassifyResponse):
                        raise TaskError(f"sample {s.id}: expected a classify response, got {type(r).__name__}")
                    v = np.asarray(r.logits, dtype=np.float64).reshape(-1)
                    if v.shape[0] != mr.NUM_INTENTS:
                        raise TaskError(f"sample {s.id}: {v.shape[0]} logits for {mr.NUM_INTENTS} intents")
                    rows.append(v)
                return np.stack(rows) if rows else np.zeros((0, mr.NUM_INTENTS))
            logits = mat(ev)
            fit = by_role.get("fit", [])
            fits = []
            if fit:
                fits.append((mat(fit), np.array([s.gold for s, _ in fit]), np.arange(len(ev))))
            return logits, fits
        # linear probe
        def emb(pairs):
            rows = []
            for s, r in pairs:
                if not isinstance(r, EmbeddingResponse):
                    raise TaskError(f"sample {s.id}: expected an embedding response, got {type(r).__name__}")
                rows.append(np.asarray(r.vector, dtype=np.float64).reshape(-1))
            return np.stack(rows)
        X = emb(ev)
        y = np.array([s.gold for s, _ in ev], dtype=np.int64)
        if self.probe == "splits":
            fit, sel = by_role.get("fit", []), by_role.get("select", [])
            if not fit or not sel:
                raise TaskError("task 'mintrec2': the linear probe needs train (fit) and dev (select) embeddings; "
                                "--limit may have cut them off (the evaluated rows come first)")
            Xf, yf = emb(fit), np.array([s.gold for s, _ in fit])
            res = linear_probe(Xf, yf, emb(sel), np.array([s.gold for s, _ in sel]), X, mr.NUM_INTENTS,
                               seed=ctx.seed)
            fits = [(res.folds[0].train_scores, yf, np.arange(len(ev)))]
            tables["probe"] = {"mode": "splits", "chosen_C": res.chosen_c[0], "selection_dev_acc": res.selection,
                               "n_train": int(len(yf)), "n_dev": len(sel)}
            notes.append(f"Linear probe: logistic regression fit on {len(yf)} train rows, C={res.chosen_c[0]} "
                         f"selected on {len(sel)} dev rows (dev accuracy), scored on the {self.split} rows.")
        else:
            groups = np.array([s.meta["dialogue"] for s, _ in ev])
            res = cross_validated_probe(X, y, groups, mr.NUM_INTENTS, fit_mask=y != mr.UNK_ID,
                                        folds=self.probe_folds, seed=ctx.seed)
            fits = [(f.train_scores, y[f.train], f.test) for f in res.folds]
            tables["probe"] = {"mode": "cv", "folds": self.probe_folds, "chosen_C_per_fold": res.chosen_c,
                               "inner_cv_selection": res.selection,
                               "fold_sizes": [int(f.test.size) for f in res.folds]}
            notes.append(f"Linear probe, nested cross-validation within split {self.split!r}: {self.probe_folds} "
                         "outer folds grouped by dialogue (stratified where possible), C chosen per fold by inner "
                         "grouped 3-fold CV; every row scored out-of-fold. Not the official train/dev/test protocol.")
        is_rows = y != mr.UNK_ID
        maj = res.majority_pred
        if maj is not None and is_rows.any():
            extra["majority_acc"] = float(np.mean(maj[is_rows] == y[is_rows]))
        return res.scores, fits

    def _doc_predictions(self, logits, fits, tables, notes) -> np.ndarray | None:
        """DOC open-set predictions for the evaluated rows (None without fitting outputs)."""
        if not fits:
            return None
        preds = {}
        docs = []
        for precision in (self.doc_precision,) + tuple(p for p in DOC_PRECISIONS if p != self.doc_precision):
            pred = np.full(logits.shape[0], mr.UNK_ID, dtype=np.int64)
            for fit_logits, fit_gold, idx in fits:
                th = doc_fit(doc_probabilities(fit_logits, precision), fit_gold, mr.NUM_INTENTS, self.doc_scale)
                pred[idx] = self._doc_apply(doc_probabilities(logits[idx], precision), th)
                if precision == self.doc_precision:
                    docs.append(th)
            preds[precision] = pred
        pred = preds[self.doc_precision]
        other = next(p for p in DOC_PRECISIONS if p != self.doc_precision)
        n_diff = int(np.sum(preds[other] != pred))
        t0 = docs[0]
        d0 = t0.as_dict()
        per_class = [{"intent": mr.INTENT_LABELS[c], "threshold": d0["threshold"][c], "sigma": d0["sigma"][c],
                      "mu": d0["mu"][c], "n_train": d0["n_train"][c]} for c in range(mr.NUM_INTENTS)]
        tables["doc_thresholds"] = {"per_class": per_class, "scale": t0.scale, "fitted_models": len(docs),
                                    "note": "thresholds of the first fitted model" if len(docs) > 1 else "",
                                    "precision": self.doc_precision,
                                    f"rows_predicted_otherwise_with_{other}": n_diff}
        if n_diff:
            notes.append(f"DOC: {n_diff} evaluated row(s) get another open-set prediction with doc_precision={other} "
                         f"than with the {self.doc_precision} used here (float32 rounding of the sigmoid: logits above "
                         "about 17 all give 1.0 and the first class wins the tie, or a probability lies within "
                         "float32 rounding of its threshold; official = float32).")
        empty = [mr.INTENT_LABELS[c] for c in range(mr.NUM_INTENTS) if t0.n[c] == 0]
        if empty:
            notes.append(f"DOC: no training row for {len(empty)} intent(s) (e.g. {empty[0]}); their threshold is "
                         "0.5, as the official max(0.5, nan).")
        return pred

    def _doc_apply(self, probs: np.ndarray, th: DocThresholds) -> np.ndarray:
        top = np.argmax(probs, axis=1)
        p = probs[np.arange(probs.shape[0]), top]
        t = th.threshold[top]
        ok = p > t
        if self.doc_ties == "accept":
            ok |= (t > 0.5) & np.isclose(p, t, rtol=0.0, atol=1e-12)
        return np.where(ok, top, mr.UNK_ID).astype(np.int64)
