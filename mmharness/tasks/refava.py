"""RefAVA: referring atomic video action recognition (RAVAR; Peng et al., ECCV 2024).

Protocol (``docs/protocols/refava.md``; official ``test.py::eval_epoch`` of https://github.com/KPeng9510/RAVAR
at 7f230c5): given a clip around an AVA keyframe and a description of one person, predict that
person's actions (multi-label over the 80 AVA v2.2 actions) and, optionally, the person's box.

* Every instance is evaluated on ``floor(90 / 8) = 11`` clips of 8 frames (clip c: window offsets
  ``linspace(c, 89, 8)``); the harness sends one ``classify`` request per clip (inputs ``video``:
  the clip's frames; ``keyframe``: the keyframe resized to 340x465; ``text``: the description;
  ``multilabel=True``) and **averages the logits over the clips** before scoring.
* Metrics (fractions): ``map_weighted`` (primary) and ``auroc_weighted``: scikit-learn
  ``average="weighted"`` over the classes with a positive label in the split (official quirk kept:
  when one of them has no negative instance, the official ``get_auc`` catches scikit-learn's
  ``ValueError`` and reports 0.0 for the whole AUROC; ``auroc_weighted_corrected`` leaves such
  classes out instead, and equals ``auroc_weighted`` otherwise); ``miou``: mean over
  instances of the clip-averaged IoU of the predicted box (only when the adapter returns boxes,
  normalised ``[x1, y1, x2, y2]`` in [0, 1] of the keyframe); ``map_weighted_iou_gated`` /
  ``auroc_weighted_iou_gated``: the ECCV ``test.py`` variant that zeroes an instance's raw logits
  when its first clip's IoU is below 0.5 (``auroc_weighted_iou_gated_corrected`` beside it). Extras
  (non-official): ``map_macro``, ``auroc_macro``,
  ``subset_acc`` (exact label-set match at logit > 0, i.e. sigmoid > 0.5; the official ACC is broken).
* Deviation from the official loader, recorded in ``config``: real frames are read (the official
  loader reads the window's first frame 90 times; ``repeated_frame_bug=true`` reproduces that).
  Every instance is scored (the official DDP loaders drop the last incomplete batch).

Data (under ``--data-root``, ``<root>``, ``<root>/refava`` or ``<root>/RefAVA``):
``refava_annotations.json`` written by ``mmh data convert refava --pickles ...`` from the official
pickles, and ``frames/<video_id>/image_%06d.jpg`` (AVA frames, 30 fps, frame 0 at 900 s) or
``videos/<video_id>.<mp4|mkv|webm|avi|mov>`` (decoded with PyAV at the same frame times).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..loaders import refava as ra
from ..loaders.video import (
    EVAL_CLIPS,
    KEYFRAME_SIZE,
    FrameFile,
    FrameFolderClip,
    VideoFileClip,
    VideoFileFrame,
    ava_clip_frames,
    ava_frame_time,
    ava_keyframe_index,
)
from ..metrics.declare import declare, mean, score_declared
from ..metrics.degeneracy import check_classify
from ..metrics.multilabel import box_iou, iou_gate, multilabel_scores, subset_accuracy
from ..registry import did_you_mean, register_task
from ..requests import Capability, ClassifyRequest, ClassifyResponse, LabelSet, Response
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

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "refava"

#: Zero-shot prompt sets (used only when the adapter offers embeddings, not ``classify``).
#: ``{text}`` is the referring description, ``{c}`` the action name.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "referring": ("{text} Action: {c}.",),
    "referring_ensemble": ("{text} Action: {c}.", "{text} The person is doing: {c}.",
                           "A video of a person. {text} Action: {c}."),
    "action_only": ("a video frame of a person doing the action: {c}.",),
}

BOX_UNITS = ("normalized", "keyframe_pixels")
GATE_IOU = 0.5

#: Published numbers (paper table; secondary summary, unverified against the PDF), in percent.
PUBLISHED = {
    "RefAtomNet": {"val": {"miou": 38.22, "map": 55.98, "auroc": 69.73},
                   "test": {"miou": 36.42, "map": 57.52, "auroc": 73.95}},
    "BLIPv2": {"val": {"miou": 32.99, "map": 52.13, "auroc": 66.56},
               "test": {"miou": 32.75, "map": 53.19, "auroc": 69.92}},
    "X3D": {"val": {"miou": 0.26, "map": 44.45, "auroc": 59.09},
            "test": {"miou": 0.27, "map": 46.34, "auroc": 64.51}},
}

METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("map_weighted", True, (0.0, 1.0), None, True, "fraction",
               "Support-weighted mean AP over the classes with a positive label in the split "
               "(sklearn average_precision_score average='weighted'; official RAVAR mAP); logits "
               "averaged over the evaluation clips."),
    MetricSpec("auroc_weighted", True, (0.0, 1.0), 0.5, True, "fraction",
               "Support-weighted mean ROC AUC over the same classes (sklearn roc_auc_score "
               "average='weighted'; official RAVAR AUC). Official quirk kept: 0.0 when a class with "
               "positives has no negative (get_auc catches scikit-learn's ValueError); see "
               "auroc_weighted_corrected."),
    MetricSpec("auroc_weighted_corrected", True, (0.0, 1.0), 0.5, False, "fraction",
               "Corrected auroc_weighted: the classes whose AUROC is undefined (no negative instance) are left "
               "out of the support-weighted mean instead of making the whole metric 0.0; equal to "
               "auroc_weighted when every class has a negative."),
    MetricSpec("miou", True, (0.0, 1.0), None, True, "fraction",
               "Mean over instances of the clip-averaged IoU of the predicted target box "
               "(continuous formula, no +1; official mIOU@1). Reported only when the adapter returns boxes."),
    MetricSpec("map_weighted_iou_gated", True, (0.0, 1.0), None, True, "fraction",
               "map_weighted after zeroing the raw logits of instances whose first-clip IoU < 0.5 "
               "(ECCV test.py variant; which script produced the paper numbers is undocumented)."),
    MetricSpec("auroc_weighted_iou_gated", True, (0.0, 1.0), None, True, "fraction",
               "auroc_weighted with the same IoU gate (ECCV test.py variant; 0.0 when a class has no "
               "negative, as auroc_weighted)."),
    MetricSpec("auroc_weighted_iou_gated_corrected", True, (0.0, 1.0), None, False, "fraction",
               "Corrected auroc_weighted_iou_gated: classes without a negative left out of the mean."),
    MetricSpec("map_macro", True, (0.0, 1.0), None, False, "fraction",
               "Non-official: unweighted mean AP over the classes with positives."),
    MetricSpec("auroc_macro", True, (0.0, 1.0), 0.5, False, "fraction",
               "Non-official: unweighted mean ROC AUC over the classes with positives."),
    MetricSpec("subset_acc", True, (0.0, 1.0), None, False, "fraction",
               "Non-official: fraction of instances whose predicted action set (clip-averaged "
               "logit > 0, i.e. sigmoid > 0.5) equals the gold set (the official ACC is broken)."),
)


@register_task("refava")
class RefAva(Task):
    """RefAVA referring atomic action recognition (see the module docstring; options in
    ``option_meanings``)."""

    version: ClassVar[str] = "2"  # 2: auroc_weighted is the official 0.0 when a class has no negative
    protocol: ClassVar[str] = ("RefAVA / RAVAR (Peng et al., ECCV 2024; test.py::eval_epoch at 7f230c5): "
                               "80-class multi-label actions of a referred person, 11 clips per keyframe, "
                               "weighted mAP/AUROC over classes with positives, box mIoU")
    description: ClassVar[str] = "Referring atomic video action recognition (AVA clips + description)."
    uses: ClassVar[tuple[Capability, ...]] = (Capability.CLASSIFY,)
    primary_metric: ClassVar[str] = "map_weighted"
    family: ClassVar[str] = "RefAVA"
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = METRIC_SPECS
    option_meanings: ClassVar[dict[str, str]] = {
        "split": "the evaluated split: test, val or train",
        "clips": "evaluation clips per instance, 1 to 11 (11 is official); their logits are averaged",
        "repeated_frame_bug": "true reproduces the official loader, which reads the window's first frame at every "
                              "position; false reads the real frames (recorded deviation)",
        "gt_box_units": "units of the annotation boxes: normalized ([0, 1] of the keyframe) or keyframe_pixels (of "
                        "the 340x465 keyframe)",
        "annotations": "path of the JSON export to read; none = refava_annotations.json in the data folder (the "
                       "media are looked for under --data-root, else beside the file)",
        "templates": "zero-shot prompt set when the model only embeds: referring, referring_ensemble or action_only",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="peng2024referring", title="Referring Atomic Video Action Recognition",
        authors=("Kunyu Peng", "Jia Fu", "Kailun Yang", "Di Wen", "Yufan Chen", "Ruiping Liu", "Junwei Zheng",
                 "Jiaming Zhang", "M. Saquib Sarfraz", "Rainer Stiefelhagen", "Alina Roitberg"),
        year=2024, venue="ECCV", venue_full="European Conference on Computer Vision (ECCV)", arxiv="2407.01872",
        repository="https://github.com/KPeng9510/RAVAR", commit="7f230c5",
        note="the protocol follows test.py::eval_epoch")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Under --data-root, or its refava/ or RefAVA/ folder: refava_annotations.json (written once from "
               "the official pickles by mmh data convert refava; the task itself never unpickles) and the AVA v2.2 "
               "media of each video: extracted frames frames/<video_id>/image_%06d.jpg (30 fps, frame 0 at 900 s, "
               "the AVA extraction layout) or the video videos/<video_id>.mp4 (also mkv, webm, avi, mov; decoded "
               "with PyAV, the video extra).",
        source="annotations: the Google Drive folder 1XBJe7MsKTQxdWpivdOJ0AtbWQJ89JbTv linked from "
               "https://github.com/KPeng9510/RAVAR ({split}_set_{keyframe,label,description}_crr_final.pkl); videos: "
               "the AVA dataset's own download (https://research.google.com/ava/, CVDF mirror) under its terms",
        convert="mmh data convert refava --pickles FILE [--pickles FILE ...] -o <root>/refava/refava_annotations.json "
                "(the three pickles of each split; a restricted unpickler, --allow-any-pickle for files you trust)",
        sample_note="generated val and test instances with 64x48 frames (mmharness/data/samples/refava/)")

    def __init__(self, split: str = "test", clips: int = EVAL_CLIPS, repeated_frame_bug: bool = False,
                 gt_box_units: str = "normalized", annotations: str | None = None,
                 templates: str = "referring"):
        if split not in ra.SPLITS:
            raise TaskError(f"task 'refava': split={split!r} is not one of {list(ra.SPLITS)}")
        if not 1 <= int(clips) <= EVAL_CLIPS:
            raise TaskError(f"task 'refava': clips={clips} must lie in 1..{EVAL_CLIPS} (11 is official)")
        if gt_box_units not in BOX_UNITS:
            raise TaskError(f"task 'refava': gt_box_units={gt_box_units!r} is not one of {list(BOX_UNITS)}")
        if templates not in TEMPLATE_SETS:
            raise TaskError(f"task 'refava': templates={templates!r} is not one of {sorted(TEMPLATE_SETS)}."
                            f"{did_you_mean(str(templates), sorted(TEMPLATE_SETS))}")
        self.split = split
        self.clips = int(clips)
        self.repeated_frame_bug = bool(repeated_frame_bug)
        self.gt_box_units = gt_box_units
        self.annotations = annotations
        self.templates = templates
        self.labelset = LabelSet(name="ava_v2.2_80", classes=ra.AVA_ACTIONS, templates=TEMPLATE_SETS[templates])
        self._media: dict[str, tuple[str, Path]] = {}

    def config(self) -> dict:
        """Split, clip sampling (and whether the official repeated-frame bug is reproduced), box units, prompts."""
        return {"split": self.split, "clips": self.clips, "frames_per_clip": 8, "window_frames": 90,
                "repeated_frame_bug": self.repeated_frame_bug,
                "frame_reading": ("official loader bug reproduced: the window's first frame at every position"
                                  if self.repeated_frame_bug else "real frames (deviation from the official "
                                  "loader, which repeats the window's first frame)"),
                "keyframe_size_hw": list(KEYFRAME_SIZE),
                "clip_frames": "stored frame size, uint8 (T, H, W, 3); adapters apply their own preprocessing "
                               "(official: 224x224 with CLIP normalisation)",
                "gt_box_units": self.gt_box_units,
                "templates": self.templates, "prompt_templates": list(self.labelset.templates),
                "iou_gate": GATE_IOU, "logit_aggregation": "mean over clips",
                "auroc_class_without_negative": ("official get_auc: the whole AUROC is 0.0 (scikit-learn's "
                                                 "ValueError caught) in auroc_weighted(_iou_gated); the "
                                                 "*_corrected metrics leave the class out")}

    def cache_config(self) -> dict:
        """What changes the responses: split, clips, frame reading, prompts."""
        return {"split": self.split, "clips": self.clips, "repeated_frame_bug": self.repeated_frame_bug,
                "templates": self.templates}

    # ---------------------------------------------------------------- load
    def _find_root(self, data: DataConfig) -> tuple[Path, Path]:
        if data.sample:
            return SAMPLE_ROOT, SAMPLE_ROOT / ra.EXPORT_NAME
        if self.annotations:
            ann = Path(self.annotations).expanduser()
            roots = ([Path(data.root).expanduser()] if data.root else []) + [ann.parent]
            for r in roots:
                for c in ra.candidate_roots(r):
                    if (c / "frames").is_dir() or (c / "videos").is_dir():
                        return c, ann
            return ann.parent, ann
        if data.root is None:
            raise DataNotFoundError(
                "task 'refava' needs --data-root (or MMH_DATA_ROOT) holding refava_annotations.json and "
                "frames/<video_id>/image_%06d.jpg or videos/<video_id>.mp4. Create the JSON with "
                "`mmh data convert refava --pickles <split>_set_{keyframe,label,description}_crr_final.pkl "
                "--output <root>/refava/refava_annotations.json` (annotations: Google Drive folder "
                "1XBJe7MsKTQxdWpivdOJ0AtbWQJ89JbTv linked from https://github.com/KPeng9510/RAVAR; "
                "videos: AVA, https://research.google.com/ava/). Or run with --sample.")
        root = Path(data.root).expanduser()
        for c in ra.candidate_roots(root):
            if (c / ra.EXPORT_NAME).is_file():
                return c, c / ra.EXPORT_NAME
        tried = ", ".join(str(c / ra.EXPORT_NAME) for c in ra.candidate_roots(root))
        raise DataNotFoundError(
            f"task 'refava': no annotation export found (looked for {tried}). Convert the official "
            "pickles with `mmh data convert refava --pickles ... --output <root>/refava/refava_annotations.json`.")

    def load(self, data: DataConfig) -> TaskData:
        """Read the JSON export's split and locate each video's frames.

        One sample per (instance, clip): ``id`` = ``"<key>#c<clip>"``, ``gold`` = AVA ids (1..80),
        ``meta`` = key, clip, video, timestamp, description, normalised gold box. Raises
        :class:`DataNotFoundError` naming the expected paths when annotations or frames are missing.
        """
        root, ann_path = self._find_root(data)
        export = ra.read_export(ann_path)
        if self.split not in export:
            raise TaskError(f"task 'refava': split {self.split!r} is not in {ann_path} (it holds "
                            f"{sorted(export)}); pass --task-args split=<one of them>")
        body = export[self.split]
        media: dict[str, tuple[str, Path]] = {}
        missing = []
        for rec in body["records"]:
            vid = rec["video_id"]
            if vid not in media:
                found = ra.find_media(root, vid)
                if found is None:
                    missing.append(vid)
                    continue
                media[vid] = found
        if missing:
            raise DataNotFoundError(
                f"task 'refava': no frames or video for {len(missing)} video id(s), e.g. {missing[0]!r}: "
                f"expected {root / 'frames' / missing[0]}/image_%06d.jpg or {root / 'videos' / missing[0]}.mp4 "
                "(AVA videos: https://research.google.com/ava/; extract frames at 30 fps from 900 s)")
        self._media = media
        samples = []
        for rec in body["records"]:
            box = self._normalise_box(rec["box"], ann_path, rec["key"])
            meta = {"key": rec["key"], "video_id": rec["video_id"], "timestamp": rec["timestamp"],
                    "person_id": rec["person_id"], "description": rec["description"], "box": box}
            for c in range(self.clips):
                samples.append(Sample(id=f"{rec['key']}#c{c:02d}", gold=list(rec["labels"]),
                                      meta={**meta, "clip": c}))
        fp_files = [ann_path]
        fp = sha256_files(fp_files, extra=f"{self.split}:{sorted(media)}")
        if body["key_order_mismatches"]:
            log.info("refava: %d key-order mismatch(es) between the official files (joined on keys)",
                     body["key_order_mismatches"])
        self._mismatches = body["key_order_mismatches"]
        return TaskData(samples=samples, fingerprint=fp, source="sample" if data.sample else f"export:{ann_path}",
                        kind="sample" if data.sample else "full")

    def _normalise_box(self, box: list[float], path: Path, key: str) -> list[float]:
        if self.gt_box_units == "keyframe_pixels":
            h, w = KEYFRAME_SIZE
            return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]
        if max(box) > 1.0 + 1e-6 or min(box) < -1e-6:
            raise TaskError(f"{path}: key {key!r}: box {box} is not in normalised [0, 1] coordinates; if the "
                            "export holds pixels of the 340x465 keyframe pass --task-args gt_box_units=keyframe_pixels")
        return list(box)

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> ClassifyRequest:
        """One clip of one instance: ``video`` (8 frames), ``keyframe`` (340x465), ``text`` = description."""
        m = sample.meta
        kind, where = self._media[m["video_id"]]
        frames = ava_clip_frames(m["timestamp"], m["clip"], repeated_frame_bug=self.repeated_frame_bug)
        key_n = ava_keyframe_index(m["timestamp"])
        if kind == "frames":
            video = FrameFolderClip(str(where), frames)
            keyframe = FrameFile(str(where / FrameFolderClip(str(where), (key_n,)).pattern.format(key_n)),
                                 size=KEYFRAME_SIZE)
        else:
            video = VideoFileClip(str(where), tuple(ava_frame_time(n) for n in frames))
            keyframe = VideoFileFrame(str(where), ava_frame_time(key_n), size=KEYFRAME_SIZE)
        ref = {"classes": [i - 1 for i in sample.gold], "box": m["box"]}
        return ClassifyRequest(inputs={"video": video, "keyframe": keyframe}, labels=self.labelset,
                               text=m["description"], multilabel=True, reference=ref)

    # ---------------------------------------------------------------- score
    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Average clip logits per instance, then the official metrics (see the module docstring)."""
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        by_key: dict[str, list[tuple[int, ClassifyResponse]]] = defaultdict(list)
        gold: dict[str, list[int]] = {}
        gold_box: dict[str, list[float]] = {}
        order: list[str] = []
        for s, r in zip(samples, responses):
            if r is None:
                continue
            if not isinstance(r, ClassifyResponse):
                raise TaskError(f"sample {s.id}: expected a classify response, got {type(r).__name__}")
            if np.asarray(r.logits).reshape(-1).shape[0] != ra.NUM_CLASSES:
                raise TaskError(f"sample {s.id}: {np.asarray(r.logits).size} logits for {ra.NUM_CLASSES} classes")
            k = s.meta["key"]
            if k not in gold:
                order.append(k)
                gold[k] = s.gold
                gold_box[k] = s.meta["box"]
            by_key[k].append((s.meta["clip"], r))
        if not order:
            raise TaskError("task 'refava': no response to score")
        n = len(order)
        Y = np.zeros((n, ra.NUM_CLASSES), dtype=np.int64)
        S = np.zeros((n, ra.NUM_CLASSES), dtype=np.float64)
        n_boxes = 0
        inst_iou = np.full(n, np.nan)
        gate_iou = np.full(n, np.nan)
        incomplete = []
        for i, k in enumerate(order):
            clips = sorted(by_key[k], key=lambda t: t[0])
            Y[i, [a - 1 for a in gold[k]]] = 1
            S[i] = np.mean([np.asarray(r.logits, dtype=np.float64).reshape(-1) for _, r in clips], axis=0)
            if len(clips) != self.clips:
                incomplete.append(k)
            boxes = [r.box for _, r in clips if r.box is not None]
            if boxes:
                if len(boxes) != len(clips):
                    raise TaskError(f"instance {k}: some clips returned a box and others did not")
                ious = box_iou(np.stack([np.asarray(b, dtype=np.float64).reshape(4) for b in boxes]),
                               np.tile(np.asarray(gold_box[k], dtype=np.float64), (len(boxes), 1)))
                inst_iou[i] = float(np.mean(ious))
                gate_iou[i] = float(ious[0])  # first available clip (clip 0 unless it was skipped)
                n_boxes += 1
        if 0 < n_boxes < n:
            raise TaskError(f"task 'refava': {n_boxes} of {n} instances have predicted boxes; an adapter must "
                            "return a box for every instance or for none")
        ml = multilabel_scores(Y, S)
        point = {"map_weighted": ml.map_weighted, "auroc_weighted": ml.auroc_weighted,
                 "auroc_weighted_corrected": ml.auroc_weighted_corrected,
                 "map_macro": ml.map_macro, "auroc_macro": ml.auroc_macro,
                 "subset_acc": subset_accuracy(Y, S, 0.0)}
        notes = [
            f"{n} instances x {self.clips} clips; logits averaged over clips; {ml.kept.size} of "
            f"{ra.NUM_CLASSES} classes have a positive label in this split and are scored (official filter).",
            "Real frames are read" + (" (official repeated-first-frame bug reproduced: repeated_frame_bug=true)."
                                      if self.repeated_frame_bug else
                                      "; the official loader reads the window's first frame 90 times "
                                      "(deviation; reproduce with repeated_frame_bug=true)."),
        ]
        if n_boxes:
            gated = multilabel_scores(Y, iou_gate(S, gate_iou, GATE_IOU))
            point.update({"miou": float(np.mean(inst_iou)), "map_weighted_iou_gated": gated.map_weighted,
                          "auroc_weighted_iou_gated": gated.auroc_weighted,
                          "auroc_weighted_iou_gated_corrected": gated.auroc_weighted_corrected})
        else:
            notes.append("The adapter returned no boxes: miou and the IoU-gated variants are not reported.")
        if ml.auroc_undefined:
            notes.append(f"AUROC undefined (every instance positive, no negative) for AVA id(s) "
                         f"{[c + 1 for c in ml.auroc_undefined]}: the official get_auc catches scikit-learn's "
                         "ValueError and reports 0.0 for the whole AUROC, so auroc_weighted (and the IoU-gated "
                         "variant) is 0.0 (official); auroc_weighted_corrected = "
                         f"{ml.auroc_weighted_corrected:.6f} leaves these classes out, as auroc_macro and the "
                         "per-class table do.")
        distinct = np.unique(S).size
        if distinct <= 2:
            notes.append("All scores take at most two distinct values (binary outputs, e.g. action names "
                         "mapped to ids): AP and AUROC are degenerate; compare such runs separately.")
        if incomplete:
            notes.append(f"{len(incomplete)} instance(s) scored on fewer than {self.clips} clips (skipped "
                         f"clips), e.g. {incomplete[:3]}.")
        if getattr(self, "_mismatches", 0):
            notes.append(f"The official files of this split disagree in key order at {self._mismatches} "
                         "position(s); joined on keys (the official loader would mis-pair them).")
        metrics = {m: MetricValue(value=float(v)) for m, v in point.items() if np.isfinite(v)}
        if n > 1:  # the per-instance means get intervals by the one rule (metrics.declare)
            columns = {"exact": np.all((S > 0) == (Y == 1), axis=1).astype(np.float64)}
            aggs = {"subset_acc": mean("exact")}
            if n_boxes:
                columns["iou"], aggs["miou"] = inst_iou, mean("iou")
            official = {m: float(point[m]) for m in aggs if np.isfinite(point[m])}
            metrics.update(score_declared(declare(self.metric_specs, **{m: aggs[m] for m in official}), columns,
                                          ctx, values=official).values)
        notes.append("No confidence intervals for the ranking metrics (mAP, AUROC).")
        tables = {
            "per_class": [{"ava_id": int(c) + 1, "action": ra.AVA_ACTIONS[c], "label_type": ra.label_type(int(c) + 1),
                           "support": int(sup), "ap": float(ap),
                           "auroc": None if not np.isfinite(au) else float(au)}
                          for c, sup, ap, au in zip(ml.kept, ml.support, ml.ap, ml.auroc)],
            "scoring": {"split": self.split, "n_instances": n, "clips_per_instance": self.clips,
                        "kept_classes": int(ml.kept.size), "with_boxes": bool(n_boxes),
                        "auroc_undefined_ava_ids": [int(c) + 1 for c in ml.auroc_undefined],
                        "incomplete_instances": incomplete[:100],
                        "key_order_mismatches": int(getattr(self, "_mismatches", 0))},
            "published_percent": {m: v[self.split] for m, v in PUBLISHED.items() if self.split in v},
            # the same clip-averaged logits for every instance: the model ignores its input
            "degeneracy": check_classify(S, [sorted(gold[k]) for k in order], single_label=False),
        }
        idx = {k: i for i, k in enumerate(order)}
        per_sample = []
        for s, r in zip(samples, responses):
            if r is None:
                continue
            i = idx[s.meta["key"]]
            row = {"id": s.id, "key": s.meta["key"], "clip": s.meta["clip"], "gold": s.gold}
            if r.box is not None:
                row["iou"] = float(box_iou(np.asarray(r.box).reshape(1, 4), np.asarray([gold_box[s.meta['key']]]))[0])
                row["instance_iou"] = float(inst_iou[i])
            per_sample.append(row)
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)
