"""Semantic-segmentation metrics: a streaming, mmseg-exact confusion matrix and its IoU family.

Protocol (``docs/protocols/segmentation.md`` section 3, mmsegmentation ``IoUMetric`` / HF ``evaluate``
``mean_iou``): one **dataset-level** confusion matrix accumulated image by image (never per-image
means), ``CM[g, p]`` int64 over the pixels whose ground truth is not ``ignore_index``. Per class c:
``I_c = CM[c, c]``, ``L_c = sum_p CM[c, p]`` (gt pixels), ``P_c = sum_g CM[g, c]`` (predicted
pixels), ``U_c = L_c + P_c - I_c``; ``IoU_c = I_c / U_c`` (NaN when ``U_c = 0``: the class is absent
from both ground truth and prediction), ``Acc_c = I_c / L_c``. ``mIoU`` and ``mAcc`` are NaN-means
over the evaluated classes; ``aAcc = sum I / sum L``.

Mmseg details kept exactly:

* a **predicted** value outside ``[0, C)`` (e.g. 255) counts as a false negative of the gt class and
  a false positive of no class: the matrix has one extra column ``C`` ("void prediction");
* ``reduce_zero_label`` follows the uint8 arithmetic: gt 0 -> 255, then gt - 1, then 254 -> 255;
* a class predicted but absent from the ground truth gets IoU 0 and **is** averaged.

A **ground-truth** value outside ``[0, C)`` that is not ``ignore_index`` is a data error. What to do
with it is the ``invalid_gt`` policy (:data:`INVALID_GT_POLICIES`), and every policy counts such
pixels in ``n_invalid_gt_pixels``:

* ``error`` (default): ``update`` raises :class:`LabelValueError` naming the values;
* ``ignore``: the pixels are dropped (as HF ``evaluate`` drops them);
* ``mmseg``: what mmseg's ``intersect_and_union`` does. It masks out only ``ignore_index``, then
  takes ``torch.histc(..., bins=C, min=0, max=C-1)`` of the prediction (``area_pred_label``), of the
  gt (``area_label``) and of the prediction where prediction == gt (``area_intersect``); histc
  leaves values outside ``[0, C-1]`` out. So such a pixel adds nothing to ``L`` or ``I`` but still
  adds its prediction to ``P`` (a false positive of the predicted class, raising that class's union).
  The state keeps those predictions in ``invalid_gt_predictions`` (``C + 1`` counts, the last one
  = predictions outside ``[0, C)``, which count nowhere), beside the matrix.

:class:`ConfusionMatrix` is a torchmetrics-style state (``update`` / ``compute`` / ``reset`` /
``merge``): memory is one ``C x (C+1)`` int64 matrix whatever the number of images. Given torch
tensors it accumulates on their device (``torch.bincount``); given numpy arrays, with numpy.

Presets (:data:`PRESETS`) name the label conventions and class subsets of the published protocols
(FMB 15/14/13-class, MFNet 9, ADE20K-150, Pascal Context-59, Cityscapes-19, VOC-21).
Pure numpy (torch only when given tensors); no model code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

IGNORE_INDEX = 255

ABSENT_POLICIES = ("skip", "zero", "nan")
"""How a class with no gt and no prediction (IoU 0/0) enters the mean: ``skip`` (mmseg, HF,
torchmetrics >= 1.0: left out), ``zero`` (RTFNet's ``np.mean(np.nan_to_num(iou))``), ``nan`` (plain
``np.mean``: the mean becomes NaN)."""

INVALID_GT_POLICIES = ("error", "ignore", "mmseg")
"""Ground-truth values outside ``[0, C)`` that are not the ignore index: ``error`` (default: a data
error), ``ignore`` (dropped), ``mmseg`` (mmseg ``intersect_and_union``: counted only as predictions)."""

ACC_KINDS = ("recall", "precision")
"""Per-class accuracy: ``recall`` = I/L (mmseg mAcc), ``precision`` = I/P (what SegMiF prints as ACC)."""


class LabelValueError(ValueError):
    """A ground-truth map holds values that are neither classes ``[0, C)`` nor the ignore index."""

    def __init__(self, values: Sequence[int], num_classes: int, ignore_index: int | None):
        self.values = [int(v) for v in values]
        shown = ", ".join(str(v) for v in self.values[:10]) + (" ..." if len(self.values) > 10 else "")
        ign = f" or the ignore index {ignore_index}" if ignore_index is not None else ""
        super().__init__(f"ground-truth label values {shown} are outside the classes 0..{num_classes - 1}{ign}")


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class SegPreset:
    """A published label convention: how many classes, which value is ignored, whether labels are
    shifted (``reduce_zero_label``) and which classes are averaged.

    ``eval_classes``: the class indices averaged (default: all). With ``restrict_pairs`` only the
    pixels whose gt **and** prediction are both in ``eval_classes`` are scored (scikit-learn
    ``confusion_matrix(labels=...)`` semantics, as in the SEA re-evaluation of FMB).
    """

    name: str
    num_classes: int
    ignore_index: int | None = IGNORE_INDEX
    reduce_zero_label: bool = False
    eval_classes: tuple[int, ...] | None = None
    restrict_pairs: bool = False
    source: str = ""

    def as_dict(self) -> dict:
        """JSON-able description (recorded in results)."""
        return {"name": self.name, "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label,
                "eval_classes": list(self.eval_classes) if self.eval_classes is not None else None,
                "restrict_pairs": self.restrict_pairs, "source": self.source}


_FMB_NO_BACK = tuple(range(1, 15))
_FMB_SEA = tuple(c for c in range(1, 15) if c != 13)  # 1..14 without Bicycle

PRESETS: dict[str, SegPreset] = {p.name: p for p in (
    SegPreset("fmb15", 15, source="SegMiF / MRFS FMB eval: labels 0..14 as is, 255 ignored, all 15 averaged"),
    SegPreset("fmb15_no_back", 15, eval_classes=_FMB_NO_BACK,
              source="MRFS mean_IoU_no_back: fmb15 matrix, classes 1..14 averaged"),
    SegPreset("fmb14", 14, reduce_zero_label=True,
              source="CMX / Sigma configs: gt 0 ignored, k -> k-1, 14-way predictions"),
    SegPreset("fmb13_sea", 15, eval_classes=_FMB_SEA, restrict_pairs=True,
              source="SEA open-vocabulary re-evaluation: pixels with gt and prediction in 1..14 minus Bicycle"),
    SegPreset("mfnet9", 9, source="RTFNet compute_results (consider_unlabeled=True): labels 0..8, all 9 averaged"),
    SegPreset("ade150", 150, reduce_zero_label=True, source="mmseg ADE20KDataset (reduce_zero_label)"),
    SegPreset("pcontext59", 59, reduce_zero_label=True, source="mmseg PascalContextDataset59 (reduce_zero_label)"),
    SegPreset("cityscapes19", 19, source="mmseg CityscapesDataset (*_labelTrainIds.png, 255 ignored)"),
    SegPreset("voc21", 21, source="mmseg PascalVOCDataset (background included, 255 = boundary ignored)"),
)}


# --------------------------------------------------------------------------- label transforms


def reduce_zero_label(label: Any) -> Any:
    """mmseg's ``reduce_zero_label`` on an integer map (numpy or torch): 0 -> 255, k -> k-1, 255 -> 255.

    Same result as the uint8 arithmetic ``l[l == 0] = 255; l = l - 1; l[l == 254] = 255``.
    """
    if _is_torch(label):
        import torch

        out = label.to(torch.int64) - 1
        out[(label == 0) | (label == 255)] = 255
        return out
    lab = np.asarray(label).astype(np.int64)
    out = lab - 1
    out[(lab == 0) | (lab == 255)] = 255
    return out


def resize_nearest(label_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) integer map to ``size = (h, w)``.

    Same indices as ``torch.nn.functional.interpolate(mode="nearest")``: source index
    ``floor(dst * in / out)``. Label maps are never interpolated otherwise.
    """
    arr = np.asarray(label_map)
    if arr.ndim != 2:
        raise ValueError(f"resize_nearest expects an (H, W) map, got shape {arr.shape}")
    h, w = int(size[0]), int(size[1])
    if arr.shape == (h, w):
        return arr
    ys = np.minimum((np.arange(h) * (arr.shape[0] / h)).astype(np.int64), arr.shape[0] - 1)
    xs = np.minimum((np.arange(w) * (arr.shape[1] / w)).astype(np.int64), arr.shape[1] - 1)
    return arr[ys[:, None], xs[None, :]]


def _is_torch(x: Any) -> bool:
    t = type(x)
    return t.__module__.startswith("torch") and t.__name__ == "Tensor"


# --------------------------------------------------------------------------- the streaming state


class ConfusionMatrix:
    """Dataset-level confusion matrix ``(C, C+1)`` int64, filled one image (or batch) at a time.

    ``update(pred, label)`` takes integer maps of equal shape (any number of leading dims), numpy or
    torch; ``compute(...)`` returns :class:`SegmentationScores`. ``merge`` adds another state (for
    data-parallel shards); ``state_dict`` / ``from_state_dict`` round-trip it as plain JSON.
    ``reduce_zero_label`` applies to the gt only; predictions must already be in the reduced space.
    ``invalid_gt`` (:data:`INVALID_GT_POLICIES`): what a gt value outside ``[0, C)`` that is not the
    ignore index does (see the module docstring).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX,
                 reduce_zero_label: bool = False, invalid_gt: str = "error"):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if invalid_gt not in INVALID_GT_POLICIES:
            raise ValueError(f"invalid_gt={invalid_gt!r}: expected one of {INVALID_GT_POLICIES}")
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.reduce_zero_label = bool(reduce_zero_label)
        self.invalid_gt = invalid_gt
        self.reset()

    def reset(self) -> None:
        """Empty the state."""
        c = self.num_classes
        self.matrix: Any = np.zeros((c, c + 1), dtype=np.int64)
        #: predictions at gt pixels outside [0, C) (not ignored), by predicted class; last = outside [0, C)
        self.invalid_gt_predictions: Any = np.zeros(c + 1, dtype=np.int64)
        self.n_images = 0
        self.n_invalid_gt_pixels = 0

    @property
    def device(self) -> str:
        """``"numpy"`` or the torch device the state lives on."""
        return str(self.matrix.device) if _is_torch(self.matrix) else "numpy"

    def update(self, pred: Any, label: Any) -> None:
        """Add one image (or a stack of images) to the matrix.

        Raises ``ValueError`` when shapes differ, and :class:`LabelValueError` for gt values outside
        ``[0, C)`` that are not the ignore index (under ``invalid_gt="error"``).
        """
        if _is_torch(pred) or _is_torch(label):
            self._update_torch(pred, label)
            return
        p = np.asarray(pred)
        g = np.asarray(label)
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {p.shape} differs from label shape {g.shape}")
        if p.dtype.kind not in "iub" or g.dtype.kind not in "iub":
            raise ValueError(f"label maps must be integer arrays, got prediction {p.dtype} and label {g.dtype}")
        c = self.num_classes
        g = reduce_zero_label(g) if self.reduce_zero_label else g.astype(np.int64, copy=False)
        valid = np.ones(g.shape, dtype=bool) if self.ignore_index is None else (g != self.ignore_index)
        bad = valid & ((g < 0) | (g >= c))
        extra = None
        if bad.any():
            if self.invalid_gt == "error":
                raise LabelValueError(np.unique(g[bad]).tolist(), c, self.ignore_index)
            self.n_invalid_gt_pixels += int(bad.sum())
            if self.invalid_gt == "mmseg":
                pb = p[bad].astype(np.int64, copy=False)
                extra = np.bincount(np.where((pb < 0) | (pb >= c), c, pb), minlength=c + 1)
            valid &= ~bad
        gv = g[valid]
        pv = p[valid].astype(np.int64, copy=False)
        pv = np.where((pv < 0) | (pv >= c), c, pv)
        counts = np.bincount(gv * (c + 1) + pv, minlength=c * (c + 1)).reshape(c, c + 1)
        if _is_torch(self.matrix):
            import torch

            self.matrix += torch.as_tensor(counts, device=self.matrix.device)
            if extra is not None:
                self.invalid_gt_predictions += torch.as_tensor(extra, device=self.matrix.device)
        else:
            self.matrix += counts
            if extra is not None:
                self.invalid_gt_predictions += extra
        self.n_images += 1 if p.ndim <= 2 else int(np.prod(p.shape[:-2]))

    def _update_torch(self, pred: Any, label: Any) -> None:
        import torch

        dev = pred.device if _is_torch(pred) else label.device
        p = torch.as_tensor(pred, device=dev)
        g = torch.as_tensor(label, device=dev)
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {tuple(p.shape)} differs from label shape {tuple(g.shape)}")
        if p.is_floating_point() or g.is_floating_point():
            raise ValueError(f"label maps must be integer tensors, got prediction {p.dtype} and label {g.dtype}")
        if not _is_torch(self.matrix) or self.matrix.device != dev:
            self.matrix = torch.as_tensor(np.asarray(self.to_numpy()), device=dev)
            self.invalid_gt_predictions = torch.as_tensor(self.invalid_gt_predictions_numpy(), device=dev)
        c = self.num_classes
        g = reduce_zero_label(g) if self.reduce_zero_label else g.to(torch.int64)
        valid = torch.ones_like(g, dtype=torch.bool) if self.ignore_index is None else (g != self.ignore_index)
        bad = valid & ((g < 0) | (g >= c))
        if bool(bad.any()):
            if self.invalid_gt == "error":
                raise LabelValueError(torch.unique(g[bad]).cpu().tolist(), c, self.ignore_index)
            self.n_invalid_gt_pixels += int(bad.sum())
            if self.invalid_gt == "mmseg":
                pb = p[bad].to(torch.int64)
                pb = torch.where((pb < 0) | (pb >= c), torch.full_like(pb, c), pb)
                self.invalid_gt_predictions += torch.bincount(pb, minlength=c + 1)
            valid &= ~bad
        gv = g[valid]
        pv = p[valid].to(torch.int64)
        pv = torch.where((pv < 0) | (pv >= c), torch.full_like(pv, c), pv)
        self.matrix += torch.bincount(gv * (c + 1) + pv, minlength=c * (c + 1)).reshape(c, c + 1)
        self.n_images += 1 if p.ndim <= 2 else int(np.prod(tuple(p.shape[:-2])))

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add ``other``'s counts (same class count and conventions) into this state; returns self."""
        if (other.num_classes, other.ignore_index, other.reduce_zero_label, other.invalid_gt) != (
                self.num_classes, self.ignore_index, self.reduce_zero_label, self.invalid_gt):
            raise ValueError("cannot merge confusion matrices with different class counts or conventions")
        mine = self.to_numpy() + other.to_numpy()
        extra = self.invalid_gt_predictions_numpy() + other.invalid_gt_predictions_numpy()
        if _is_torch(self.matrix):
            import torch

            self.matrix = torch.as_tensor(mine, device=self.matrix.device)
            self.invalid_gt_predictions = torch.as_tensor(extra, device=self.matrix.device)
        else:
            self.matrix = mine
            self.invalid_gt_predictions = extra
        self.n_images += other.n_images
        self.n_invalid_gt_pixels += other.n_invalid_gt_pixels
        return self

    def to_numpy(self) -> np.ndarray:
        """The ``(C, C+1)`` matrix as int64 numpy (column ``C`` = predictions outside ``[0, C)``)."""
        if _is_torch(self.matrix):
            return self.matrix.detach().cpu().numpy().astype(np.int64)
        return self.matrix

    def invalid_gt_predictions_numpy(self) -> np.ndarray:
        """``invalid_gt_predictions`` as int64 numpy (all zero unless ``invalid_gt="mmseg"``)."""
        v = self.invalid_gt_predictions
        return v.detach().cpu().numpy().astype(np.int64) if _is_torch(v) else v

    def state_dict(self) -> dict:
        """Plain-JSON state: conventions, counts and the matrix as nested lists."""
        return {"num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label, "invalid_gt": self.invalid_gt,
                "n_images": self.n_images, "n_invalid_gt_pixels": self.n_invalid_gt_pixels,
                "matrix": self.to_numpy().tolist(),
                "invalid_gt_predictions": self.invalid_gt_predictions_numpy().tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "ConfusionMatrix":
        """Inverse of :meth:`state_dict`; validates the matrix shape."""
        cm = cls(state["num_classes"], state.get("ignore_index", IGNORE_INDEX), state.get("reduce_zero_label", False),
                 state.get("invalid_gt", "error"))
        m = np.asarray(state["matrix"], dtype=np.int64)
        if m.shape != (cm.num_classes, cm.num_classes + 1):
            raise ValueError(f"state matrix has shape {m.shape}, expected {(cm.num_classes, cm.num_classes + 1)}")
        cm.matrix = m
        v = np.asarray(state.get("invalid_gt_predictions", np.zeros(cm.num_classes + 1)), dtype=np.int64)
        if v.shape != (cm.num_classes + 1,):
            raise ValueError(f"state invalid_gt_predictions has shape {v.shape}, expected {(cm.num_classes + 1,)}")
        cm.invalid_gt_predictions = v
        cm.n_images = int(state.get("n_images", 0))
        cm.n_invalid_gt_pixels = int(state.get("n_invalid_gt_pixels", 0))
        return cm

    def compute(self, eval_classes: Sequence[int] | None = None, restrict_pairs: bool = False,
                absent_policy: str = "skip", acc: str = "recall") -> "SegmentationScores":
        """Scores from the accumulated matrix (see :func:`scores_from_matrix`; under
        ``invalid_gt="mmseg"`` the predictions at invalid gt pixels join the predicted areas)."""
        extra = self.invalid_gt_predictions_numpy() if self.invalid_gt == "mmseg" else None
        return scores_from_matrix(self.to_numpy(), eval_classes=eval_classes, restrict_pairs=restrict_pairs,
                                  absent_policy=absent_policy, acc=acc, invalid_gt_predictions=extra)


# --------------------------------------------------------------------------- scores


@dataclass
class SegmentationScores:
    """IoU-family scores of one confusion matrix (fractions in [0, 1]; NaN = undefined).

    ``classes`` are the class indices the per-class lists refer to; ``averaged`` are those that
    entered ``mIoU`` (all of ``classes`` whose IoU is defined, under ``absent_policy="skip"``).
    """

    aAcc: float
    mAcc: float
    mIoU: float
    iou: list[float]
    acc: list[float]
    classes: list[int]
    averaged: list[int]
    absent_policy: str = "skip"
    acc_kind: str = "recall"
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-able view (NaN kept as float NaN; the results writer turns it into null)."""
        return {"aAcc": self.aAcc, "mAcc": self.mAcc, "mIoU": self.mIoU, "per_class_iou": self.iou,
                "per_class_acc": self.acc, "classes": self.classes, "n_classes_averaged": len(self.averaged),
                "classes_averaged": self.averaged, "absent_policy": self.absent_policy, "acc": self.acc_kind}


def _mean(values: np.ndarray, policy: str) -> float:
    if values.size == 0:
        return math.nan
    if policy == "skip":
        fin = values[~np.isnan(values)]
        return float(fin.mean()) if fin.size else math.nan
    if policy == "zero":
        return float(np.nan_to_num(values, nan=0.0).mean())
    return float(values.mean())  # "nan": plain mean


def scores_from_matrix(matrix: np.ndarray, eval_classes: Sequence[int] | None = None,
                       restrict_pairs: bool = False, absent_policy: str = "skip",
                       acc: str = "recall", invalid_gt_predictions: Sequence[int] | None = None
                       ) -> SegmentationScores:
    """aAcc, mAcc, mIoU and per-class IoU / accuracy from a ``(C, C+1)`` (or ``(C, C)``) matrix.

    ``eval_classes``: classes reported and averaged (default all). ``restrict_pairs``: score only
    pixels whose gt and prediction are both in ``eval_classes`` (sub-matrix). ``absent_policy`` in
    :data:`ABSENT_POLICIES`, ``acc`` in :data:`ACC_KINDS`. ``aAcc`` is over all classes of the
    (possibly restricted) matrix. ``invalid_gt_predictions`` (``invalid_gt="mmseg"``): predictions
    at gt pixels outside the classes, added to the predicted areas P only (their gt is in no class,
    so ``restrict_pairs`` leaves them out, as scikit-learn's ``labels=`` does).
    """
    if absent_policy not in ABSENT_POLICIES:
        raise ValueError(f"absent_policy={absent_policy!r}: expected one of {ABSENT_POLICIES}")
    if acc not in ACC_KINDS:
        raise ValueError(f"acc={acc!r}: expected one of {ACC_KINDS}")
    m = np.asarray(matrix, dtype=np.int64)
    c = m.shape[0]
    if m.ndim != 2 or m.shape[1] not in (c, c + 1):
        raise ValueError(f"confusion matrix must have shape (C, C) or (C, C+1), got {m.shape}")
    classes = list(range(c)) if eval_classes is None else [int(k) for k in eval_classes]
    if any(not 0 <= k < c for k in classes) or len(set(classes)) != len(classes):
        raise ValueError(f"eval_classes {classes} must be distinct indices in [0, {c})")
    if restrict_pairs:
        sub = m[np.ix_(classes, classes)]
        inter = np.diag(sub).astype(np.float64)
        gt_area = sub.sum(axis=1).astype(np.float64)
        pred_area = sub.sum(axis=0).astype(np.float64)
        total_i, total_l = inter.sum(), gt_area.sum()
    else:
        inter_all = np.diag(m[:, :c]).astype(np.float64)
        gt_all = m.sum(axis=1).astype(np.float64)
        pred_all = m[:, :c].sum(axis=0).astype(np.float64)
        if invalid_gt_predictions is not None:
            extra = np.asarray(invalid_gt_predictions, dtype=np.int64)
            if extra.shape not in ((c,), (c + 1,)):
                raise ValueError(f"invalid_gt_predictions must have {c} or {c + 1} counts, got shape {extra.shape}")
            pred_all = pred_all + extra[:c].astype(np.float64)
        total_i, total_l = inter_all.sum(), gt_all.sum()
        inter, gt_area, pred_area = inter_all[classes], gt_all[classes], pred_all[classes]
    union = gt_area + pred_area - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
        denom = gt_area if acc == "recall" else pred_area
        per_acc = np.where(denom > 0, inter / np.where(denom > 0, denom, 1), np.nan)
    averaged = [k for k, v in zip(classes, iou) if not np.isnan(v)] if absent_policy == "skip" else list(classes)
    return SegmentationScores(
        aAcc=float(total_i / total_l) if total_l > 0 else math.nan,
        mAcc=_mean(per_acc, absent_policy),
        mIoU=_mean(iou, absent_policy),
        iou=[float(v) for v in iou],
        acc=[float(v) for v in per_acc],
        classes=classes,
        averaged=averaged,
        absent_policy=absent_policy,
        acc_kind=acc,
    )


def preset_scores(cm: ConfusionMatrix, preset: SegPreset, absent_policy: str = "skip",
                  acc: str = "recall") -> SegmentationScores:
    """Scores of ``cm`` under ``preset``'s class subset (the matrix must have its class count)."""
    if cm.num_classes != preset.num_classes:
        raise ValueError(f"preset {preset.name!r} needs a {preset.num_classes}-class matrix, got {cm.num_classes}")
    return cm.compute(eval_classes=preset.eval_classes, restrict_pairs=preset.restrict_pairs,
                      absent_policy=absent_policy, acc=acc)
