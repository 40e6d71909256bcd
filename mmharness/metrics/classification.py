"""Plain classification metrics: top-1 predictions and accuracy. Pure numpy, no model code."""

from __future__ import annotations

import numpy as np


def top1(logits: np.ndarray) -> np.ndarray:
    """Top-1 class index of each row of ``logits`` (N, C), as an int64 array of shape (N,).

    Ties are broken towards the **lowest** class index (``numpy.argmax`` returns the first
    maximum), so the result is deterministic. Raises ``ValueError`` if ``logits`` is not 2-D, has
    no classes, or contains NaN (a NaN would otherwise silently win the argmax).
    """
    arr = np.asarray(logits)
    if arr.ndim != 2:
        raise ValueError(f"top1 expects logits of shape (N, C), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError("top1: logits have zero classes")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        bad = np.flatnonzero(np.isnan(arr).any(axis=1))
        raise ValueError(f"top1: NaN logits in {bad.size} row(s), first at row {int(bad[0])}")
    return np.argmax(arr, axis=1).astype(np.int64, copy=False)


def accuracy(correct: np.ndarray) -> float:
    """Fraction of true entries in the boolean (or 0/1) vector ``correct``, as a Python float.

    Raises ``ValueError`` when ``correct`` is empty (accuracy of nothing is undefined).
    """
    arr = np.asarray(correct)
    if arr.size == 0:
        raise ValueError("accuracy of an empty prediction set is undefined")
    return float(np.count_nonzero(arr)) / float(arr.size)
