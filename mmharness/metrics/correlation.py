"""Correlation and label-agreement metrics used by GLUE-style benchmarks. Pure numpy/sklearn.

* :func:`pearson` / :func:`spearman` -- as ``scipy.stats.pearsonr`` / ``spearmanr`` (what
  ``evaluate.load("pearsonr")`` and ``("spearmanr")`` return): Spearman is the Pearson correlation of
  average ranks (ties share their mean rank). A constant input has no correlation: NaN.
* :func:`matthews` -- ``sklearn.metrics.matthews_corrcoef`` (``evaluate.load("matthews_correlation")``).
* :func:`macro_f1` -- ``sklearn.metrics.f1_score(average="macro")``; ``labels`` restricts the classes
  averaged over.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"correlation of {a.size} values with {b.size} values")
    if a.size < 2:
        raise ValueError("a correlation needs at least two pairs")
    return a, b


def pearson(x, y) -> float:
    """Pearson's r of two equal-length vectors; NaN when either is constant."""
    a, b = _pair(x, y)
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den == 0:
        return float("nan")
    return float(np.clip((a * b).sum() / den, -1.0, 1.0))


def average_ranks(x) -> np.ndarray:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata(method="average")``)."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    ranks = np.empty(a.size, dtype=np.float64)
    i = 0
    while i < a.size:
        j = i
        while j + 1 < a.size and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the average ranks; NaN when either input is constant."""
    a, b = _pair(x, y)
    return pearson(average_ranks(a), average_ranks(b))


def matthews(references: Sequence, predictions: Sequence) -> float:
    """Matthews correlation coefficient (sklearn's multiclass generalisation)."""
    from sklearn.metrics import matthews_corrcoef

    if len(references) != len(predictions) or len(references) == 0:
        raise ValueError("MCC needs equally many, and at least one, references and predictions")
    return float(matthews_corrcoef(list(references), list(predictions)))


def macro_f1(references: Sequence, predictions: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (classes with no support score 0)."""
    from sklearn.metrics import f1_score

    if len(references) != len(predictions) or len(references) == 0:
        raise ValueError("F1 needs equally many, and at least one, references and predictions")
    return float(f1_score(list(references), list(predictions), average="macro",
                          labels=None if labels is None else list(labels), zero_division=0))


def binary_f1(references: Sequence, predictions: Sequence) -> float:
    """F1 of the positive class 1 (``sklearn.metrics.f1_score`` with ``average="binary"``)."""
    from sklearn.metrics import f1_score

    if len(references) != len(predictions) or len(references) == 0:
        raise ValueError("F1 needs equally many, and at least one, references and predictions")
    return float(f1_score(list(references), list(predictions), average="binary", zero_division=0))
