"""In-scope classification and open-set (out-of-scope) metrics of MIntRec2.0. Pure numpy + sklearn.

Official definitions (``utils/metrics.py`` of https://github.com/thuiar/MIntRec2.0,
``docs/protocols/mintrec2.md`` section 3):

* in-scope (``Metrics``): on rows with gold != UNK and argmax predictions (no rejection):
  ``acc`` = accuracy, ``weighted_f1`` / ``weighted_prec`` / ``weighted_rec`` and macro ``f1`` /
  ``prec`` / ``rec`` from scikit-learn with default ``zero_division`` (0).
* open-set (``OID_Metrics``): from the confusion matrix M (rows gold, columns predicted), per row
  c: r_c = M_cc / row sum, p_c = M_cc / column sum (0 if a sum is 0), f_c = 2 r p / (r + p)
  (0 if r + p = 0); ``f1-known`` = mean of f_c over all rows but the last, ``f1-open`` = f of
  the last row, ``oid_f1`` = mean over all rows, ``oid_acc`` = accuracy. The official code rounds
  each F1 to 4 decimals; the functions here return unrounded values.
* DOC thresholds (``cal_mu_std`` / ``classify_doc``): for class c, the training samples of gold c
  give X = {p_c} U {2 - p_c} with p = sigmoid(logits); sigma_c is the maximum-likelihood normal
  scale of X (``scipy.stats.norm.fit`` = population SD); t_c = max(0.5, 1 - scale * sigma_c).
  Prediction: c* = argmax p; c* if p_c* > t_c* else UNK.
* DOC precision (:func:`doc_probabilities`): the official ``_get_outputs`` computes
  p = ``torch.sigmoid`` of the **float32** logits. Sigmoid rounds to exactly 1.0 in float32 above a
  logit of about 17 (and distinct large logits then tie), so ``np.argmax`` picks the **first** tied
  class where float64 probabilities would pick the larger logit. Everything after the sigmoid is
  float64 arithmetic on those float32 values in the official environment (numpy 1.23: ``2 - p`` of
  a float32 scalar and a Python int is float64, so ``norm.fit`` and ``1 - scale * sigma`` run in
  float64, and ``p > t`` compares the float32 value exactly), which is what :func:`doc_fit` and
  :func:`doc_predict` do with the float64 array :func:`doc_probabilities` returns. ``float32`` is the
  official path; ``float64`` (sigmoid in float64, no saturation below a logit of about 37) the
  corrected one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Label-set conventions for the open-set confusion matrix.
#: ``present_plus_unk`` (harness default): labels in gold or prediction, plus UNK always, UNK last;
#: ``present``: labels in gold or prediction only (scikit-learn default, as the official code);
#: ``fixed``: every label 0..n_known (UNK = n_known last); absent classes count as F1 = 0.
CM_LABEL_MODES = ("present_plus_unk", "present", "fixed")

#: Precision of the DOC sigmoid: ``float32`` (official ``torch.sigmoid`` on float32 logits) or ``float64``.
DOC_PRECISIONS = ("float32", "float64")


def sigmoid(x) -> np.ndarray:
    """Numerically stable logistic function (float64)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def doc_probabilities(logits, precision: str = "float32") -> np.ndarray:
    """Sigmoid probabilities for DOC, returned as float64 (N, C).

    ``float32`` (official ``_get_outputs``): ``torch.sigmoid`` on the logits cast to float32, on
    the CPU; the float32 values are returned exactly as float64, so ties created by float32 rounding
    (e.g. logits 18 and 25 both give 1.0) stay ties and ``argmax`` picks the first class, as
    ``np.argmax`` does on the official float32 array. ``float64``: :func:`sigmoid` in float64.
    """
    if precision not in DOC_PRECISIONS:
        raise ValueError(f"unknown DOC precision {precision!r}; choose one of {DOC_PRECISIONS}")
    if precision == "float64":
        return sigmoid(logits)
    import torch

    z = torch.from_numpy(np.ascontiguousarray(np.asarray(logits, dtype=np.float32)))
    return torch.sigmoid(z).numpy().astype(np.float64)


def _ints(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer label ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _ints("y_true", y_true), _ints("y_pred", y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} gold labels but {p.shape[0]} predictions")
    if t.size == 0:
        raise ValueError("no sample to score")
    return t, p


# --------------------------------------------------------------------------- in-scope


def in_scope_metrics(y_true, y_pred) -> dict[str, float]:
    """Official in-scope metrics: acc, weighted_f1, weighted_prec, weighted_rec, f1, prec, rec.

    scikit-learn with its default label set (labels present in gold or prediction) and
    ``zero_division`` 0, exactly as the official ``Metrics`` class.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    t, p = _pair(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning: the value is 0, as officially
        return {
            "acc": float(accuracy_score(t, p)),
            "weighted_f1": float(f1_score(t, p, average="weighted", zero_division=0)),
            "weighted_prec": float(precision_score(t, p, average="weighted", zero_division=0)),
            "weighted_rec": float(recall_score(t, p, average="weighted", zero_division=0)),
            "f1": float(f1_score(t, p, average="macro", zero_division=0)),
            "prec": float(precision_score(t, p, average="macro", zero_division=0)),
            "rec": float(recall_score(t, p, average="macro", zero_division=0)),
        }


# --------------------------------------------------------------------------- open set


def cm_labels(y_true, y_pred, n_known: int, mode: str = "present_plus_unk") -> list[int]:
    """The confusion-matrix label list (sorted; UNK = ``n_known`` last when included)."""
    if mode not in CM_LABEL_MODES:
        raise ValueError(f"unknown confusion-matrix label mode {mode!r}; choose one of {CM_LABEL_MODES}")
    t, p = _pair(y_true, y_pred)
    bad = sorted(set(np.unique(np.concatenate([t, p])).tolist()) - set(range(n_known + 1)))
    if bad:
        raise ValueError(f"label ids {bad[:5]} outside 0..{n_known} (UNK = {n_known})")
    if mode == "fixed":
        return list(range(n_known + 1))
    present = set(np.unique(np.concatenate([t, p])).tolist())
    if mode == "present_plus_unk":
        present.add(n_known)
    return sorted(present)


def confusion(y_true, y_pred, labels: list[int]) -> np.ndarray:
    """Confusion matrix (rows gold, columns predicted) over ``labels`` in that order (int64)."""
    t, p = _pair(y_true, y_pred)
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    keep = np.array([a in index and b in index for a, b in zip(t.tolist(), p.tolist())], dtype=bool)
    ti = np.array([index[a] for a in t[keep].tolist()], dtype=np.int64)
    pi = np.array([index[b] for b in p[keep].tolist()], dtype=np.int64)
    return np.bincount(ti * k + pi, minlength=k * k).reshape(k, k).astype(np.int64)


def f_measure(cm) -> dict[str, float]:
    """Official ``OID_Metrics._F_measure`` without rounding: per-row F, then f1-known (all rows but
    the last), f1-open (last row), oid_f1 (all rows); also the per-row lists."""
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"confusion matrix must be square with at least 2 rows, got {m.shape}")
    tp = np.diag(m)
    rows, cols = m.sum(axis=1), m.sum(axis=0)
    r = np.divide(tp, rows, out=np.zeros_like(tp), where=rows != 0)
    p = np.divide(tp, cols, out=np.zeros_like(tp), where=cols != 0)
    f = np.divide(2 * r * p, r + p, out=np.zeros_like(tp), where=(r + p) != 0)
    return {"f1-known": float(np.mean(f[:-1])), "f1-open": float(f[-1]), "oid_f1": float(np.mean(f)),
            "per_class_f1": f.tolist(), "per_class_recall": r.tolist(), "per_class_precision": p.tolist()}


def open_set_metrics(y_true, y_pred, n_known: int, mode: str = "present_plus_unk") -> dict:
    """Official OID metrics (``oid_acc``, ``f1-known``, ``f1-open``, ``oid_f1``) with the
    confusion matrix and its label list (UNK = ``n_known``)."""
    t, p = _pair(y_true, y_pred)
    labels = cm_labels(t, p, n_known, mode)
    cm = confusion(t, p, labels)
    fm = f_measure(cm)
    return {"oid_acc": float(np.mean(t == p)), "f1-known": fm["f1-known"], "f1-open": fm["f1-open"],
            "oid_f1": fm["oid_f1"], "labels": labels, "confusion_matrix": cm.tolist(),
            "per_class_f1": fm["per_class_f1"], "last_label_is_unk": labels[-1] == n_known}


# --------------------------------------------------------------------------- DOC


@dataclass
class DocThresholds:
    """Fitted DOC thresholds: per class ``mu``, ``sigma`` (NaN without training samples),
    ``threshold`` and ``n`` (training samples of that gold class), with the ``scale`` used."""

    mu: np.ndarray
    sigma: np.ndarray
    threshold: np.ndarray
    n: np.ndarray
    scale: float

    def as_dict(self) -> dict:
        """JSON-friendly view (NaN becomes None)."""
        def clean(a):
            return [None if not np.isfinite(x) else float(x) for x in a]
        return {"scale": self.scale, "threshold": clean(self.threshold), "sigma": clean(self.sigma),
                "mu": clean(self.mu), "n_train": self.n.astype(int).tolist()}


def doc_fit(probs, y_true, n_classes: int, scale: float = 1.0) -> DocThresholds:
    """Fit DOC thresholds from training sigmoid probabilities ``probs`` (N, C) and gold ids.

    Rows whose gold id is not in 0..C-1 (e.g. UNK training rows) are ignored, as officially. A
    class with no training sample has an undefined sigma; the official code then gets
    ``max(0.5, nan)`` = 0.5, which is reproduced (threshold 0.5, sigma NaN).
    """
    P = np.asarray(probs, dtype=np.float64)
    y = _ints("y_true", y_true)
    if P.ndim != 2 or P.shape[1] != n_classes or P.shape[0] != y.shape[0]:
        raise ValueError(f"probs must have shape ({y.shape[0]}, {n_classes}), got {P.shape}")
    if P.size and (P.min() < 0 or P.max() > 1):
        raise ValueError("probs must lie in [0, 1] (sigmoid of the logits)")
    if scale < 0:
        raise ValueError(f"DOC scale must be non-negative, got {scale}")
    mu = np.full(n_classes, np.nan)
    sigma = np.full(n_classes, np.nan)
    n = np.zeros(n_classes, dtype=np.int64)
    for c in range(n_classes):
        pc = P[y == c, c]
        n[c] = pc.size
        if pc.size == 0:
            continue
        x = np.concatenate([pc, 2.0 - pc])
        mu[c] = float(np.mean(x))
        sigma[c] = float(np.sqrt(np.mean((x - mu[c]) ** 2)))  # MLE scale (scipy.stats.norm.fit)
    thr = np.where(np.isfinite(sigma), np.maximum(0.5, 1.0 - scale * np.nan_to_num(sigma)), 0.5)
    return DocThresholds(mu=mu, sigma=sigma, threshold=thr, n=n, scale=float(scale))


def doc_predict(probs, thresholds: DocThresholds, unk_id: int) -> np.ndarray:
    """DOC prediction: argmax class (the first one on ties, as ``np.argmax``) if its probability is
    **strictly** above its threshold, else ``unk_id``."""
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != thresholds.threshold.shape[0]:
        raise ValueError(f"probs must be (N, {thresholds.threshold.shape[0]}), got {P.shape}")
    top = np.argmax(P, axis=1)
    ok = P[np.arange(P.shape[0]), top] > thresholds.threshold[top]
    return np.where(ok, top, unk_id).astype(np.int64)


def ood_auroc(confidence, is_in_scope) -> float:
    """Non-official extra: AUROC of a confidence score (e.g. max probability) separating in-scope
    (positive) from out-of-scope rows. NaN when only one kind of row is present."""
    from sklearn.metrics import roc_auc_score

    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    pos = np.asarray(is_in_scope, dtype=bool).reshape(-1)
    if c.shape != pos.shape:
        raise ValueError(f"{c.shape[0]} confidences for {pos.shape[0]} rows")
    if pos.all() or not pos.any():
        return float("nan")
    return float(roc_auc_score(pos.astype(int), c))
