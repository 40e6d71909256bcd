"""Multi-label ranking metrics and box IoU (RefAVA / RAVAR protocol). Pure numpy + scikit-learn.

The official RAVAR evaluation (``test.py::eval_epoch``, spec ``refava.md`` section 3):

1. drop every class column without a positive label in the evaluated split (labels and scores);
2. ``mAP`` = ``sklearn.metrics.average_precision_score(labels, scores, average="weighted")``, the
   support-weighted mean of per-class AP, sum_c n_c AP_c / sum_c n_c (n_c = positives of class c);
3. ``AUROC`` = ``roc_auc_score(labels, scores, average="weighted")`` on the same columns;
4. ``mIoU`` = mean over samples of the continuous IoU of ``[x1, y1, x2, y2]`` boxes (no +1).

Here the per-class values are computed one column at a time with the same scikit-learn
functions and then averaged, so that the per-class table is available and a class whose AUROC is
undefined (a kept column that is positive for *every* sample; scikit-learn raises there) can be
left out of the AUROC mean and reported instead of crashing. When no such column exists, the
weighted means equal scikit-learn's ``average="weighted"`` exactly (tests check this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _as_2d(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or s.ndim != 2:
        raise ValueError(f"labels and scores must be 2-D (N, C); got {y.shape} and {s.shape}")
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be a 0/1 multi-hot matrix")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    return y.astype(np.int64), s


def kept_classes(labels) -> np.ndarray:
    """Indices of the class columns with at least one positive label (the official filter)."""
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be 2-D (N, C), got shape {y.shape}")
    return np.flatnonzero(y.sum(axis=0) > 0)


@dataclass
class MultilabelScores:
    """Per-class and averaged ranking metrics over the kept classes.

    ``kept``: kept column indices; ``support``: positives per kept class; ``ap`` / ``auroc``:
    per kept class (``auroc`` is NaN where undefined: no negative sample); the four averages
    follow the official definitions (``*_weighted`` = support-weighted, ``*_macro`` = plain mean).
    ``auroc_undefined``: kept column indices whose AUROC is undefined and left out of the means.
    """

    kept: np.ndarray
    support: np.ndarray
    ap: np.ndarray
    auroc: np.ndarray
    map_weighted: float
    map_macro: float
    auroc_weighted: float
    auroc_macro: float
    auroc_undefined: list[int]


def multilabel_scores(labels, scores) -> MultilabelScores:
    """Official RAVAR mAP / AUROC (weighted) plus the macro variants, over classes with positives.

    Raises ``ValueError`` when no class has a positive label (nothing to score).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = _as_2d(labels, scores)
    kept = kept_classes(y)
    if kept.size == 0:
        raise ValueError("no class has a positive label: mAP and AUROC are undefined")
    support = y[:, kept].sum(axis=0).astype(np.int64)
    ap = np.array([average_precision_score(y[:, c], s[:, c]) for c in kept], dtype=np.float64)
    auroc = np.full(kept.size, np.nan)
    undefined = []
    for j, c in enumerate(kept):
        if y[:, c].min() == 1:  # every sample positive: ROC undefined (scikit-learn raises)
            undefined.append(int(c))
            continue
        auroc[j] = roc_auc_score(y[:, c], s[:, c])
    ok = np.isfinite(auroc)
    w = support.astype(np.float64)
    return MultilabelScores(
        kept=kept, support=support, ap=ap, auroc=auroc,
        map_weighted=float(np.average(ap, weights=w)),
        map_macro=float(np.mean(ap)),
        auroc_weighted=float(np.average(auroc[ok], weights=w[ok])) if ok.any() else float("nan"),
        auroc_macro=float(np.mean(auroc[ok])) if ok.any() else float("nan"),
        auroc_undefined=undefined,
    )


def subset_accuracy(labels, scores, threshold: float = 0.0) -> float:
    """Fraction of samples whose predicted label set ``scores > threshold`` equals the gold set
    exactly (over all columns). Non-official (the official ACC is broken and always 0)."""
    y, s = _as_2d(labels, scores)
    if y.shape[0] == 0:
        raise ValueError("subset accuracy of no sample is undefined")
    return float(np.mean(np.all((s > threshold) == (y == 1), axis=1)))


def box_iou(pred, gt) -> np.ndarray:
    """Per-row IoU of ``[x1, y1, x2, y2]`` boxes (N, 4) with the continuous formula (no +1).

    inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1)); IoU = inter / (A_p + A_g - inter);
    0 where the union is 0. Areas of inverted boxes count as 0.
    """
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if p.shape != g.shape:
        raise ValueError(f"{p.shape[0]} predicted boxes for {g.shape[0]} gold boxes")
    iw = np.clip(np.minimum(p[:, 2], g[:, 2]) - np.maximum(p[:, 0], g[:, 0]), 0, None)
    ih = np.clip(np.minimum(p[:, 3], g[:, 3]) - np.maximum(p[:, 1], g[:, 1]), 0, None)
    inter = iw * ih
    area_p = np.clip(p[:, 2] - p[:, 0], 0, None) * np.clip(p[:, 3] - p[:, 1], 0, None)
    area_g = np.clip(g[:, 2] - g[:, 0], 0, None) * np.clip(g[:, 3] - g[:, 1], 0, None)
    union = area_p + area_g - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def iou_gate(scores, gate_iou, threshold: float = 0.5) -> np.ndarray:
    """ECCV ``test.py`` quirk: set a sample's whole **raw logit** vector to 0 when its IoU is
    below ``threshold`` (a zero logit outranks negative logits). Returns a new array."""
    s = np.array(scores, dtype=np.float64, copy=True)
    iou = np.asarray(gate_iou, dtype=np.float64).reshape(-1)
    if iou.shape[0] != s.shape[0]:
        raise ValueError(f"{iou.shape[0]} IoUs for {s.shape[0]} score rows")
    s[iou < threshold] = 0.0
    return s
