"""Multi-label ranking metrics and box IoU (RefAVA / RAVAR protocol). Pure numpy + scikit-learn.

The official RAVAR evaluation (``test.py::eval_epoch``, ``docs/protocols/refava.md`` section 3):

1. drop every class column without a positive label in the evaluated split (labels and scores);
2. ``mAP`` = ``sklearn.metrics.average_precision_score(labels, scores, average="weighted")``, the
   support-weighted mean of per-class AP, sum_c n_c AP_c / sum_c n_c (n_c = positives of class c);
3. ``AUROC`` = ``roc_auc_score(labels, scores, average="weighted")`` on the same columns;
4. ``mIoU`` = mean over samples of the continuous IoU of ``[x1, y1, x2, y2]`` boxes (no +1).

Here the per-class values are computed one column at a time with the same scikit-learn
functions and then averaged, so that the per-class table is available. When no kept column lacks
a negative, the weighted means equal scikit-learn's ``average="weighted"`` exactly (tests check
this).

Official quirk (``get_auc``): a kept column that is positive for *every* sample has no ROC curve;
scikit-learn of the RAVAR era (checked with 1.2.1) raises ``ValueError`` for the whole
``roc_auc_score`` call, and ``get_auc`` catches it and returns ``np.mean([0])`` = **0.0 for the
whole metric** (recent scikit-learn, e.g. 1.9, returns NaN with a warning instead, so the same
code would print nan; the harness reports the 0.0 of the version the code was written for). That
value is ``auroc_weighted`` here (the official one); ``auroc_weighted_corrected`` leaves the
undefined columns out of the support-weighted mean instead (and ``auroc_macro`` is always taken
over the defined columns). Both are equal when no column lacks a negative. The official ``get_map`` has the
same ``try``/``except``, but ``average_precision_score`` does not raise for such a column (its AP
is 1), so mAP has no such case.
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
    per kept class (``auroc`` is NaN where undefined: no negative sample); ``*_weighted`` =
    support-weighted, ``*_macro`` = plain mean. ``auroc_weighted`` is the official value (0.0 as
    soon as one kept class has no negative, see the module docstring); ``auroc_weighted_corrected``
    and ``auroc_macro`` leave those classes out. ``auroc_undefined``: kept column indices whose
    AUROC is undefined.
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
    auroc_weighted_corrected: float = float("nan")


def multilabel_scores(labels, scores) -> MultilabelScores:
    """Official RAVAR mAP / AUROC (weighted) plus the corrected AUROC and the macro variants, over
    classes with positives.

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
    corrected = float(np.average(auroc[ok], weights=w[ok])) if ok.any() else float("nan")
    return MultilabelScores(
        kept=kept, support=support, ap=ap, auroc=auroc,
        map_weighted=float(np.average(ap, weights=w)),
        map_macro=float(np.mean(ap)),
        auroc_weighted=0.0 if undefined else corrected,  # official get_auc: ValueError caught -> 0.0
        auroc_macro=float(np.mean(auroc[ok])) if ok.any() else float("nan"),
        auroc_undefined=undefined,
        auroc_weighted_corrected=corrected,
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
