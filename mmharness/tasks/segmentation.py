"""Semantic segmentation: FMB (RGB + infrared), MFNet (RGB-T) and generic image/label folders, scored
with a streaming, mmseg-exact dataset-level confusion matrix (``docs/protocols/segmentation.md``).

Every scene gets a ``segment`` request with its images by input name (``rgb`` and ``infrared`` for
RGB-T sets, ``image`` for single-modality folders), the class count, and the gold label map (in the
model's label space) as reference. The adapter answers an (H, W) label map; a map of another size
than the label is resized to it with nearest-neighbour (adapters should upsample logits bilinearly
to the input size before the argmax, as mmseg does). Scoring streams: each gold label file is read
again and folded into one ``C x (C+1)`` int64 confusion matrix, response by response, so memory
does not grow with the number of images (the task sets ``stream_responses``).

Reported (fractions; x100 for the usual percent, also in ``tables["percent_2dp"]``): ``mIoU``
(primary), ``mAcc``, ``aAcc``; per-class IoU / accuracy and the full confusion matrix in the tables,
so other class subsets and absent-class policies can be recomputed without inference.

Tasks and protocols (the preset is named in ``config``, ``protocol`` and ``tables["preset"]``):

* ``fmb``: ``protocol`` = ``fmb15`` (default; 15 classes, background included), ``fmb15_no_back``,
  ``fmb13_sea`` (all three from the same 15-way predictions; the other two are reported beside it as
  ``mIoU_<preset>``) or ``fmb14`` (gt 0 ignored, k -> k-1, 14-way predictions: a separate run);
  ``split`` (``test`` default, ``train``); ``label_source`` (``index``: ``Label/``; ``color``: ``color/``
  decoded with the FMB palette, black -> ignored). Whole-image inference on an 800x600 FMB image equals
  MRFS's 600x800 sliding window (one window).
* ``mfnet``: ``mfnet9`` (9 classes, unlabeled included); ``split`` test / val / train / test_day /
  test_night; ``--data-source msrs`` reads the MSRS layout (train / test).
* ``semseg_folder``: ``images=DIR,labels=DIR,classes=voc21|cityscapes19|ade150|pcontext59|FILE|a;b;c``
  with the convention of ``preset`` (or ``ignore_index`` / ``reduce_zero_label``), ``img_suffix``,
  ``label_suffix``, ``split_file``.

Common options: ``absent_policy`` (``skip`` = mmseg default; ``zero`` / ``nan`` = RTFNet's prints),
``acc`` (``recall`` = mmseg mAcc; ``precision`` = what SegMiF prints as ACC), ``modalities`` (RGB-T
tasks: ``rgb+infrared`` default, or ``rgb`` / ``infrared`` for single-modality baselines),
``invalid_gt`` (gt values outside the classes and not the ignore index: ``error`` default, ``ignore``
drops those pixels, ``mmseg`` counts them as mmseg's ``intersect_and_union`` does: not in the gt
areas, but their predictions are false positives of the predicted class; the count and, under
``mmseg``, those predictions are recorded in the tables).
Bad data (label size differing from the image, label values outside the classes and not the ignore
index under ``invalid_gt=error``) stops the run naming the file, or is skipped and counted with
``--on-error skip``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..loaders.segmentation import (
    FMB_PROMPT_NAMES,
    MFNET_CLASSES,
    LabelMapError,
    SegRecord,
    find_fmb,
    find_folder_pairs,
    find_mfnet,
    find_msrs,
    image_ref,
    image_size,
    load_label,
    read_class_list,
    records_fingerprint,
)
from ..metrics.segmentation import (
    ABSENT_POLICIES,
    ACC_KINDS,
    INVALID_GT_POLICIES,
    PRESETS,
    ConfusionMatrix,
    LabelValueError,
    SegPreset,
    preset_scores,
    reduce_zero_label,
    resize_nearest,
)
from ..registry import did_you_mean, register_group, register_task
from ..requests import Capability, LabelMapResponse, Response, SegmentRequest
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
    task_options,
)

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "segmentation"
MODALITIES = {"rgb+infrared": ("rgb", "infrared"), "rgb": ("rgb",), "infrared": ("infrared",)}

_BASE_SPECS = (
    MetricSpec("mIoU", higher_is_better=True, range=(0.0, 1.0), chance=None, official=True, unit="fraction",
               description="mean IoU over the evaluated classes of one dataset-level confusion matrix (mmseg "
                           "IoUMetric); classes absent from both gt and prediction are left out (absent_policy)"),
    MetricSpec("mAcc", higher_is_better=True, range=(0.0, 1.0), chance=None, official=True, unit="fraction",
               description="mean per-class accuracy I/L (recall; acc=precision gives I/P) over the evaluated classes"),
    MetricSpec("aAcc", higher_is_better=True, range=(0.0, 1.0), chance=None, official=True, unit="fraction",
               description="overall pixel accuracy: sum of intersections / labelled pixels"),
)


#: The ``modalities`` option of the RGB-T tasks.
RGBT_MODALITIES_MEANING = "inputs sent: rgb+infrared, or rgb or infrared alone (single-modality baselines)"


class _SegTask(Task):
    """Shared implementation (see the module docstring): options, requests, streaming score."""

    version: ClassVar[str] = "1"
    uses: ClassVar[tuple[Capability, ...]] = (Capability.SEGMENT,)
    primary_metric: ClassVar[str] = "mIoU"
    family: ClassVar[str] = "Segmentation"
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = _BASE_SPECS
    stream_responses: ClassVar[bool] = True
    protocol_base: ClassVar[str] = ""
    option_meanings: ClassVar[dict[str, str]] = {
        "absent_policy": "a class absent from both gt and prediction: skip (left out of the mean, mmseg) or zero / "
                         "nan (RTFNet's prints)",
        "acc": "per-class accuracy of mAcc: recall (I/L, mmseg) or precision (I/P, what SegMiF prints as ACC)",
        "invalid_gt": "gt values outside the classes that are not the ignore index: error (stop), ignore (drop those "
                      "pixels) or mmseg (no gt area, but their predictions count as false positives)",
    }

    def __init__(self, absent_policy: str = "skip", acc: str = "recall", invalid_gt: str = "error"):
        _choice(self.name, "absent_policy", absent_policy, ABSENT_POLICIES)
        _choice(self.name, "acc", acc, ACC_KINDS)
        _choice(self.name, "invalid_gt", invalid_gt, INVALID_GT_POLICIES)
        self.absent_policy = absent_policy
        self.acc = acc
        self.invalid_gt = invalid_gt
        self.records: list[SegRecord] = []
        self.preset: SegPreset = PRESETS["fmb15"]
        self.classes: tuple[str, ...] = ()
        self.derived: tuple[str, ...] = ()  # other presets computed from the same matrix
        self.inputs: tuple[str, ...] = ("image",)

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """The preset, class list, inputs and scoring options (recorded in the results)."""
        return {"preset": self.preset.name, "num_classes": self.preset.num_classes,
                "ignore_index": self.preset.ignore_index, "reduce_zero_label": self.preset.reduce_zero_label,
                "inputs": list(self.inputs), "absent_policy": self.absent_policy, "acc": self.acc,
                "invalid_gt": self.invalid_gt, "invalid_gt_meaning": _INVALID_GT_MEANING[self.invalid_gt],
                "prediction_resize": "nearest (label maps); adapters upsample logits bilinearly to the input size",
                **self._extra_config()}

    def cache_config(self) -> dict:
        """What changes responses: the label space the model predicts in and the inputs it gets."""
        return {"num_classes": self.preset.num_classes, "reduce_zero_label": self.preset.reduce_zero_label,
                "inputs": list(self.inputs), **self._extra_cache_config()}

    def _extra_config(self) -> dict:
        return {}

    def _extra_cache_config(self) -> dict:
        return {}

    # ---------------------------------------------------------------- load
    def _find(self, data: DataConfig) -> tuple[list[SegRecord], str]:
        raise NotImplementedError

    def load(self, data: DataConfig) -> TaskData:
        """Find the scenes (records) and build one sample per scene (id = scene name).

        Raises :class:`DataNotFoundError` naming the expected paths and the official source."""
        try:
            recs, source = self._find(data)
        except ValueError as e:  # bad option values reach here as ValueError from the finders
            raise TaskError(f"task {self.name!r}: {e}") from None
        self.records = recs
        self.protocol = f"{self.protocol_base} preset {self.preset.name}: {self.preset.source}"
        samples = [Sample(id=r.id, gold=None, meta={"record": i}) for i, r in enumerate(recs)]
        fp = records_fingerprint(recs, f"{self.name}:{self.preset.name}")
        return TaskData(samples=samples, fingerprint=fp, source="sample" if data.sample else source,
                        kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- gold
    def _record(self, sample: Sample) -> SegRecord:
        if not self.records:
            raise TaskError(f"task {self.name!r}: call load() before request() or score()")
        return self.records[sample.meta["record"]]

    def _raw_label(self, rec: SegRecord) -> np.ndarray:
        return load_label(rec)

    def model_space(self, label: np.ndarray) -> np.ndarray:
        """The gold map in the label space the model predicts in (``reduce_zero_label`` applied)."""
        return reduce_zero_label(label) if self.preset.reduce_zero_label else label.astype(np.int64)

    def _invalid(self, label_model: np.ndarray) -> np.ndarray:
        """Mask of gt pixels outside the classes that are not the ignore index."""
        c, ign = self.preset.num_classes, self.preset.ignore_index
        valid = label_model != ign if ign is not None else np.ones(label_model.shape, bool)
        return valid & ((label_model < 0) | (label_model >= c))

    def _check_values(self, rec: SegRecord, label_model: np.ndarray) -> np.ndarray:
        """``label_model`` with its gt values outside the classes and not the ignore index handled by
        ``invalid_gt``: ``error`` raises :class:`LabelMapError` naming the file and the values; otherwise
        they become the ignore index (so that references stay in the request contract)."""
        c, ign = self.preset.num_classes, self.preset.ignore_index
        bad = self._invalid(label_model)
        if not bad.any():
            return label_model
        if self.invalid_gt == "error":
            vals = np.unique(label_model[bad]).tolist()
            shift = " after reduce_zero_label (k -> k-1)" if self.preset.reduce_zero_label else ""
            raise LabelMapError(f"label map {rec.label} has values {vals[:10]}{shift} outside the classes "
                                f"0..{c - 1} of preset {self.preset.name!r} and not the ignore index {ign} (to "
                                "score such pixels anyway: --task-args invalid_gt=mmseg, as mmseg counts them, or "
                                "invalid_gt=ignore)")
        return label_model if ign is None else np.where(bad, ign, label_model)

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> SegmentRequest:
        """A ``segment`` request with the scene's inputs; the reference is the gold map in the model's
        label space. Label maps whose size differs from the image, or holding values that are neither
        classes nor the ignore index, raise a decode error naming the file."""
        rec = self._record(sample)
        label = self._raw_label(rec)
        paths = dict(rec.images)
        for name in self.inputs:
            h, w = image_size(paths[name].split("#", 1)[0])
            if (h, w) != tuple(label.shape):
                raise LabelMapError(f"label map {rec.label} is {label.shape[1]}x{label.shape[0]} (WxH) but the "
                                    f"{name} image {paths[name].split('#', 1)[0]} is {w}x{h}; label maps must have "
                                    "the size of their image")
        ref = self._check_values(rec, self.model_space(label))
        images = {name: image_ref(name, paths[name]) for name in self.inputs}
        return SegmentRequest(images=images, num_classes=self.preset.num_classes, ignore_index=self.preset.ignore_index,
                              reference=ref.astype(np.int32))

    # ---------------------------------------------------------------- score
    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Fold each response into the confusion matrix (one gold map in memory at a time), then
        compute the preset's scores and the derived presets (see the module docstring)."""
        cm = ConfusionMatrix(self.preset.num_classes, self.preset.ignore_index, self.preset.reduce_zero_label,
                             invalid_gt=self.invalid_gt)
        per_sample: list[dict] = []
        n_resized = 0
        n = 0
        for s, r in zip(samples, responses):
            if r is None:
                continue
            if not isinstance(r, LabelMapResponse):
                raise TaskError(f"task {self.name!r}, sample {s.id}: expected a label map, got {type(r).__name__}")
            rec = self._record(s)
            try:
                label = self._raw_label(rec)
            except LabelMapError as e:
                raise TaskError(f"task {self.name!r}, sample {s.id}: {e}") from None
            pred = np.asarray(r.label_map)
            resized = pred.shape != label.shape
            if resized:
                pred = resize_nearest(pred, label.shape)
                n_resized += 1
            try:
                cm.update(pred, label)
            except LabelValueError as e:
                raise TaskError(f"task {self.name!r}, sample {s.id}: {rec.label}: {e}") from None
            g = self.model_space(label)
            valid = (g >= 0) & (g < self.preset.num_classes)  # gt classes only (invalid_gt: no gt class)
            if self.preset.ignore_index is not None:
                valid &= g != self.preset.ignore_index
            nv = int(valid.sum())
            per_sample.append({"pixel_acc": float((pred[valid] == g[valid]).mean()) if nv else None,
                               "n_pixels": nv, "resized": resized})
            n += 1
        if n == 0:
            raise TaskError(f"task {self.name!r}: no response to score")
        main = preset_scores(cm, self.preset, self.absent_policy, self.acc)
        metrics = {"mIoU": MetricValue(main.mIoU), "mAcc": MetricValue(main.mAcc), "aAcc": MetricValue(main.aAcc)}
        derived = {}
        for name in self.derived:
            sc = preset_scores(cm, PRESETS[name], self.absent_policy, self.acc)
            metrics[f"mIoU_{name}"] = MetricValue(sc.mIoU)
            derived[name] = sc.as_dict()
        names = list(self.classes)
        tables = {
            "preset": self.preset.as_dict(),
            "per_class": [{"class": names[k] if k < len(names) else str(k), "index": k, "IoU": main.iou[j],
                           "Acc": main.acc[j]} for j, k in enumerate(main.classes)],
            "classes_averaged": main.averaged,
            "confusion_matrix": {"rows": "gt class 0..C-1", "columns": "predicted class 0..C-1, then C = "
                                 "prediction outside [0, C) (e.g. 255)", "matrix": cm.to_numpy().tolist()},
            "percent_2dp": {k: (None if math.isnan(v.value) else round(100 * v.value, 2)) for k, v in metrics.items()},
            "derived_presets": derived,
            "n_images": cm.n_images,
            "n_predictions_resized": n_resized,
            "n_invalid_gt_pixels": cm.n_invalid_gt_pixels,
        }
        if self.invalid_gt == "mmseg":
            tables["invalid_gt_predictions"] = {
                "meaning": "predictions at gt pixels outside the classes (not the ignore index): predicted class "
                           "0..C-1, then C = prediction outside [0, C); counted in the predicted areas (mmseg)",
                "counts": cm.invalid_gt_predictions_numpy().tolist()}
        notes = [f"preset {self.preset.name}: {self.preset.source}. Fractions (x100 for percent).",
                 f"{len(main.averaged)} of {len(main.classes)} classes averaged (absent_policy={self.absent_policy}"
                 "; a class absent from both gt and prediction is left out under 'skip')."]
        if n_resized:
            notes.append(f"{n_resized} prediction(s) had another size than their label map and were resized to it "
                         "with nearest-neighbour (label maps are never interpolated otherwise).")
        if cm.n_invalid_gt_pixels:
            notes.append(f"{cm.n_invalid_gt_pixels} gt pixel(s) hold values outside the classes 0.."
                         f"{self.preset.num_classes - 1} and not the ignore index: invalid_gt={self.invalid_gt} "
                         f"({_INVALID_GT_MEANING[self.invalid_gt]}).")
        if self.absent_policy != "skip" or self.acc != "recall":
            notes.append("non-default absent_policy / acc: not comparable with mmseg-style tables")
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)


_INVALID_GT_MEANING = {
    "error": "a gt value outside the classes and not the ignore index stops the run (data error)",
    "ignore": "such gt pixels are dropped (HF evaluate); not mmseg's count",
    "mmseg": "such gt pixels are in no gt area and no intersection, but their predictions count in the predicted "
             "areas, i.e. as false positives (mmseg intersect_and_union, which masks only the ignore index)",
}


def _choice(task: str, key: str, value: str, allowed) -> None:
    if value not in allowed:
        raise TaskError(f"task {task!r}: {key}={value!r} is not one of {list(allowed)}."
                        f"{did_you_mean(str(value), list(allowed))}")


def _derived_specs(names: Sequence[str]) -> tuple[MetricSpec, ...]:
    return tuple(MetricSpec(f"mIoU_{n}", higher_is_better=True, range=(0.0, 1.0), official=True, unit="fraction",
                            description=f"mIoU under preset {n} ({PRESETS[n].source}), from the same confusion "
                                        "matrix; never compare across presets")
                 for n in names)


_FMB_SHARED = ("fmb15", "fmb15_no_back", "fmb13_sea")  # one 15-way matrix gives all three
_SINGLE = ("voc21", "cityscapes19", "ade150", "pcontext59")


@register_task("fmb")
class FMB(_SegTask):
    """FMB RGB-infrared semantic segmentation (SegMiF, ICCV 2023), test split by default."""

    description = "FMB RGB-infrared semantic segmentation (mIoU, 15/14/13-class protocols)"
    protocol_base = "FMB (SegMiF/MRFS evaluation, dataset-level confusion matrix)"
    protocol = protocol_base  # until load() names the preset
    option_meanings: ClassVar[dict[str, str]] = {
        "protocol": "class protocol: fmb15 (15 classes, background included), fmb15_no_back or fmb13_sea (all three "
                    "from the same 15-way predictions, the other two reported beside it as mIoU_<preset>), or fmb14 "
                    "(gt 0 ignored, k -> k-1, 14-way predictions: a separate run)",
        "split": "the split read: test or train",
        "label_source": "index (the Label/ index maps) or color (color/, decoded with the FMB palette; black is "
                        "ignored)",
        "modalities": RGBT_MODALITIES_MEANING,
    }
    paper: ClassVar[Paper | None] = Paper(
        key="liu2023multi",
        title="Multi-interactive Feature Learning and a Full-time Multi-modality Benchmark for Image Fusion and "
              "Segmentation",
        authors=("Jinyuan Liu", "Zhu Liu", "Guanyao Wu", "Long Ma", "Risheng Liu", "Wei Zhong", "Zhongxuan Luo",
                 "Xin Fan"),
        year=2023, venue="ICCV",
        venue_full="Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)",
        arxiv="2308.02097", repository="https://github.com/JinyuanLiu-CV/SegMiF", commit="12eb8ee",
        note="SegMiF; the 15-class evaluation follows MRFS (Zhang et al., CVPR 2024), "
             "https://github.com/HaoZhang1018/MRFS FMB/eval.py at aef3141")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Under --data-root (the FMB folder or its parent): <split>/Visible/, <split>/Infrared/ and "
               "<split>/Label/ (or color/ with label_source=color), one PNG per scene under the same name in each "
               "(the release: 1,220 train and 280 test pairs of 800x600); the flat Visible/, Infrared/, Label/ + "
               "<split>.txt layout of some repositories is read too.",
        source="https://github.com/JinyuanLiu-CV/SegMiF (Google Drive / Baidu links in its README)",
        sample_note="6 generated 80x60 test scenes in the release layout (mmharness/data/samples/segmentation/FMB/)")

    def __init__(self, protocol: str = "fmb15", split: str = "test", label_source: str = "index",
                 modalities: str = "rgb+infrared", absent_policy: str = "skip", acc: str = "recall",
                 invalid_gt: str = "error"):
        super().__init__(absent_policy=absent_policy, acc=acc, invalid_gt=invalid_gt)
        _choice(self.name, "protocol", protocol, _FMB_SHARED + ("fmb14",))
        _choice(self.name, "split", split, ("test", "train"))
        _choice(self.name, "label_source", label_source, ("index", "color"))
        labels = label_source
        _choice(self.name, "modalities", modalities, MODALITIES)
        self.preset = PRESETS[protocol]
        self.split, self.labels, self.modalities = split, labels, modalities
        self.inputs = MODALITIES[modalities]
        self.classes = FMB_PROMPT_NAMES if protocol != "fmb14" else FMB_PROMPT_NAMES[1:]
        self.derived = tuple(p for p in _FMB_SHARED if p != protocol) if protocol in _FMB_SHARED else ()
        self.metric_specs = _BASE_SPECS + _derived_specs(self.derived)

    @classmethod
    def default_metric_specs(cls) -> tuple[MetricSpec, ...]:
        """mIoU, mAcc, aAcc and the mIoU of the presets derived from the default protocol's matrix."""
        default = next(o.default for o in task_options(cls) if o.name == "protocol")
        return _BASE_SPECS + _derived_specs(tuple(p for p in _FMB_SHARED if p != default)
                                            if default in _FMB_SHARED else ())

    def _extra_config(self) -> dict:
        return {"protocol": self.preset.name, "split": self.split, "label_source": self.labels,
                "derived_presets": list(self.derived), "classes": list(self.classes)}

    def _extra_cache_config(self) -> dict:
        return {"protocol_space": "fmb14" if self.preset.name == "fmb14" else "fmb15"}

    def _find(self, data: DataConfig):
        if data.sample:  # the bundled sample holds a test split only
            return find_fmb(SAMPLE_ROOT / "FMB", "test", self.labels)
        return find_fmb(data.root, self.split, self.labels)


@register_task("mfnet")
class MFNet(_SegTask):
    """MFNet RGB-thermal semantic segmentation (RTFNet layout; or MSRS with ``--data-source msrs``)."""

    description = "MFNet RGB-thermal semantic segmentation (9 classes incl. unlabeled, mIoU)"
    protocol_base = "MFNet (RTFNet compute_results, consider_unlabeled=True; dataset-level confusion matrix)"
    protocol = protocol_base  # until load() names the preset
    option_meanings: ClassVar[dict[str, str]] = {
        "split": "the split list read: test, val, train, test_day or test_night (MSRS: test or train)",
        "modalities": RGBT_MODALITIES_MEANING,
    }
    paper: ClassVar[Paper | None] = Paper(
        key="ha2017mfnet",
        title="MFNet: Towards Real-Time Semantic Segmentation for Autonomous Vehicles with Multi-Spectral Scenes",
        authors=("Qishen Ha", "Kohei Watanabe", "Takumi Karasawa", "Yoshitaka Ushiku", "Tatsuya Harada"),
        year=2017, venue="IROS",
        venue_full="IEEE/RSJ International Conference on Intelligent Robots and Systems (IROS)",
        repository="https://github.com/yuxiangsun/RTFNet",
        note="the evaluation is RTFNet's compute_results (Sun et al., RA-L 2019; also in SegMiF's util/util.py), "
             "whose repository also gives the dataset layout")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Under --data-root (or its MFNet/ or ir_seg_dataset/ folder), RTFNet's layout: images/<name>.png "
               "(4-channel RGB + thermal), labels/<name>.png and the split lists train.txt, val.txt, test.txt, "
               "test_day.txt, test_night.txt; with --data-source msrs, the MSRS layout <split>/vi/, <split>/ir/ and "
               "<split>/Segmentation_labels/.",
        source="https://www.mi.t.u-tokyo.ac.jp/static/projects/mil_multispectral/ (RTFNet layout: "
               "https://github.com/yuxiangsun/RTFNet); MSRS: https://github.com/Linfeng-Tang/MSRS",
        sample_note="6 generated 80x60 scenes with every split list (mmharness/data/samples/segmentation/MFNet/)")

    def __init__(self, split: str = "test", modalities: str = "rgb+infrared", absent_policy: str = "skip",
                 acc: str = "recall", invalid_gt: str = "error"):
        super().__init__(absent_policy=absent_policy, acc=acc, invalid_gt=invalid_gt)
        _choice(self.name, "modalities", modalities, MODALITIES)
        self.preset = PRESETS["mfnet9"]
        self.split, self.modalities = split, modalities
        self.inputs = MODALITIES[modalities]
        self.classes = MFNET_CLASSES
        self.source_kind = "rtfnet"

    def _extra_config(self) -> dict:
        return {"split": self.split, "source": self.source_kind, "classes": list(self.classes)}

    def _find(self, data: DataConfig):
        if data.sample:
            self.source_kind = "rtfnet"
            return find_mfnet(SAMPLE_ROOT / "MFNet", self.split)  # the sample ships every split file
        src = (data.source or "rtfnet").lower()
        finders = {"rtfnet": find_mfnet, "msrs": find_msrs}
        if src not in finders:
            raise TaskError(f"task 'mfnet': --data-source {src!r} is not one of {list(finders)}."
                            f"{did_you_mean(src, list(finders))}")
        self.source_kind = src
        return finders[src](data.root, self.split)


@register_task("semseg_folder")
class SemsegFolder(_SegTask):
    """Generic semantic segmentation from an image folder and a label folder with a class list."""

    description = "semantic segmentation from image/label folders with a class list (ADE20K/VOC/Cityscapes style)"
    protocol_base = "generic image/label folders (mmseg IoUMetric semantics)"
    protocol = protocol_base  # until load() names the preset
    option_meanings: ClassVar[dict[str, str]] = {
        "images": "needed on real data: the image folder (a relative path is taken under --data-root)",
        "labels": "needed on real data: the label folder, paired with the images by relative path minus suffix",
        "classes": "needed on real data (or preset): the class list: voc21, cityscapes19, ade150, pcontext59, a text "
                   "file with one name per line, or names joined by ';'",
        "preset": "label convention of a standard set (voc21, cityscapes19, ade150, pcontext59): class count, ignore "
                  "index and reduce_zero_label",
        "ignore_index": "label value left out of scoring; none = the preset's, else 255",
        "reduce_zero_label": "label 0 ignored and k -> k-1 (ADE20K style); none = the preset's, else false",
        "img_suffix": "file name suffix of the images",
        "label_suffix": "file name suffix of the labels",
        "split_file": "a text file of the names to evaluate (a relative path is taken under --data-root); none = "
                      "every pair",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="mmseg2020", title="MMSegmentation: OpenMMLab Semantic Segmentation Toolbox and Benchmark",
        authors=("{MMSegmentation Contributors}",), year=2020, venue="GitHub", kind="misc",
        url="https://github.com/open-mmlab/mmsegmentation",
        repository="https://github.com/open-mmlab/mmsegmentation",
        note="no benchmark of its own: the metric is mmsegmentation's IoUMetric; cite the dataset you evaluate on")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Any image folder and label folder (images=DIR, labels=DIR, relative to --data-root), paired by "
               "relative path minus suffix (img_suffix, label_suffix), optionally restricted to the names of "
               "split_file, with a class list (classes=) and the label convention of preset= (or ignore_index, "
               "reduce_zero_label): e.g. Pascal VOC JPEGImages/ + SegmentationClass/, ADE20K, Cityscapes "
               "*_labelTrainIds.png.",
        source="your own data, or a standard set from its official site (Pascal VOC, ADE20K, Cityscapes, Pascal "
               "Context)",
        sample_note="5 generated Pascal-VOC-style scenes (mmharness/data/samples/segmentation/VOCstyle/)")

    def __init__(self, images: str | None = None, labels: str | None = None, classes: str | None = None,
                 preset: str | None = None, ignore_index: int | None = None, reduce_zero_label: bool | None = None,
                 img_suffix: str = ".jpg", label_suffix: str = ".png", split_file: str | None = None,
                 absent_policy: str = "skip", acc: str = "recall", invalid_gt: str = "error"):
        super().__init__(absent_policy=absent_policy, acc=acc, invalid_gt=invalid_gt)
        if preset is not None:
            _choice(self.name, "preset", preset, _SINGLE)
        self.images, self.labels_dir = images, labels
        self.img_suffix, self.label_suffix, self.split_file = img_suffix, label_suffix, split_file
        self._options = (classes, preset, ignore_index, reduce_zero_label)
        self.inputs = ("image",)
        if classes is not None or preset is not None:
            self._configure(classes, preset, ignore_index, reduce_zero_label)

    def _configure(self, classes: str | None, preset: str | None, ignore_index: int | None,
                   reduce_zero_label: bool | None) -> None:
        base = PRESETS[preset] if preset else None
        if classes is None and preset is not None:
            classes = preset
        if classes is None:
            raise TaskError(f"task {self.name!r} needs classes=<{'|'.join(_SINGLE)}|FILE|name;name;...> "
                            "(or preset=NAME)")
        try:
            self.classes = read_class_list(classes)
        except ValueError as e:
            raise TaskError(f"task {self.name!r}: {e}") from None
        if base is not None and len(self.classes) != base.num_classes:
            raise TaskError(f"task {self.name!r}: preset {preset} has {base.num_classes} classes but the class list "
                            f"has {len(self.classes)}")
        ign = ignore_index if ignore_index is not None else (base.ignore_index if base else 255)
        rzl = reduce_zero_label if reduce_zero_label is not None else (base.reduce_zero_label if base else False)
        name = preset if base is not None and (ign, rzl) == (base.ignore_index, base.reduce_zero_label) else "custom"
        self.preset = SegPreset(name, len(self.classes), ign, bool(rzl),
                                source=base.source if base is not None and name != "custom" else
                                f"{len(self.classes)} classes, ignore_index={ign}, reduce_zero_label={bool(rzl)}")
        self.class_spec = classes

    def _extra_config(self) -> dict:
        return {"images": self.images, "labels": self.labels_dir, "classes": list(self.classes),
                "img_suffix": self.img_suffix, "label_suffix": self.label_suffix, "split_file": self.split_file}

    def _find(self, data: DataConfig):
        classes, preset, ign, rzl = self._options
        if classes is None and preset is None:
            if not data.sample:
                self._configure(None, None, ign, rzl)  # raises: a class list is required
            self._configure(None, "voc21", ign, rzl)  # the bundled sample is VOC-style
        if data.sample:
            root = SAMPLE_ROOT / "VOCstyle"
            return find_folder_pairs(root / "JPEGImages", root / "SegmentationClass", ".jpg", ".png",
                                     root / "val.txt")
        if not self.images or not self.labels_dir:
            raise DataNotFoundError(f"task {self.name!r} needs --task-args images=DIR,labels=DIR,classes=...")

        def resolve(p: str) -> Path:
            q = Path(p).expanduser()
            return q if q.is_absolute() or data.root is None else Path(data.root) / q

        return find_folder_pairs(resolve(self.images), resolve(self.labels_dir), self.img_suffix,
                                 self.label_suffix, resolve(self.split_file) if self.split_file else None)


register_group("segmentation", ("fmb", "mfnet"))
