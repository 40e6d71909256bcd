"""Subgroup-consistency metrics (CIFAR-B MacroStd and friends). Pure, vectorised numpy.

Every sample belongs to one *cell* ``(class c, subgroup g)``, where ``c`` is the sample's **gold**
class and ``g`` its subgroup id. A cell's accuracy is the fraction of its samples predicted
correctly. All functions work from per-cell counts computed with ``numpy.bincount`` (no Python
loop over samples), and the ``*_from_counts`` forms accept any leading batch dimensions so that a
bootstrap can evaluate a thousand resamples in one call.

MacroStd (CIFAR-B, Chiu et al., ICCV 2023; formula reconstructed in ``docs/protocols/cifar_b.md`` §3):
for class c with non-empty subgroups G_c (M_c = |G_c|) and weights w_g = n_{c,g},

* m_c  = sum_g w_g acc_{c,g} / sum_g w_g                       (= the accuracy of class c)
* ``population``: sd_c = sqrt( sum_g w_g (acc_{c,g} - m_c)^2 / sum_g w_g )
* ``nist``:       sd_c = sqrt( M_c / (M_c - 1) * the same ),   and sd_c = 0 when M_c = 1
* MacroStd = (1/C) sum_c sd_c, a plain (unweighted) mean over classes.

Classes without any sample (possible only for a subset of the test set, or in a bootstrap
resample) have no defined sd_c and are left out of the mean; when all C classes have samples, as
on the full test set, the mean is over all C classes exactly as in the definition.
"""

from __future__ import annotations

import numpy as np

#: ``population`` and ``nist`` are the two readings of the official definition; ``unweighted``
#: (every non-empty subgroup weighs the same, population SD) is the spec's non-official extra.
CONVENTIONS = ("population", "nist", "unweighted")


# --------------------------------------------------------------------------- inputs and counts


def _check_inputs(correct, class_idx, subgroup, num_classes: int, num_subgroups: int):
    """Validate and normalise the three per-sample vectors; return (correct bool, cell int64)."""
    correct = np.asarray(correct)
    class_idx = np.asarray(class_idx)
    subgroup = np.asarray(subgroup)
    if not (correct.ndim == class_idx.ndim == subgroup.ndim == 1):
        raise ValueError("correct, class_idx and subgroup must be 1-D arrays")
    if not (correct.shape == class_idx.shape == subgroup.shape):
        raise ValueError(
            f"length mismatch: correct {correct.shape[0]}, class_idx {class_idx.shape[0]}, "
            f"subgroup {subgroup.shape[0]}"
        )
    if num_classes < 1 or num_subgroups < 1:
        raise ValueError("num_classes and num_subgroups must be positive")
    if correct.dtype != bool:
        if correct.size and not np.isin(correct, (0, 1)).all():
            raise ValueError("correct must be boolean or 0/1")
        correct = correct.astype(bool)
    for name, arr, hi in (("class_idx", class_idx, num_classes), ("subgroup", subgroup, num_subgroups)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= hi):
            raise ValueError(f"{name} values must lie in [0, {hi}), got [{arr.min()}, {arr.max()}]")
    cell = class_idx.astype(np.int64) * num_subgroups + subgroup.astype(np.int64)
    return correct, cell


def cell_counts(correct, class_idx, subgroup, num_classes: int, num_subgroups: int = 8):
    """Per-cell counts: ``(correct_counts[C, G], n[C, G])``, both int64.

    ``correct_counts[c, g]`` is the number of samples of gold class c and subgroup g that were
    predicted correctly; ``n[c, g]`` the number of such samples.
    """
    correct, cell = _check_inputs(correct, class_idx, subgroup, num_classes, num_subgroups)
    k = num_classes * num_subgroups
    n = np.bincount(cell, minlength=k).reshape(num_classes, num_subgroups)
    kc = np.bincount(cell[correct], minlength=k).reshape(num_classes, num_subgroups)
    return kc.astype(np.int64), n.astype(np.int64)


def cell_accuracy(correct, class_idx, subgroup, num_classes: int, num_subgroups: int = 8):
    """Per-(class, subgroup) accuracy table.

    Returns ``(acc[C, G], n[C, G])``: ``acc`` is float64 with NaN in empty cells, ``n`` the int64
    cell sizes. Cells are keyed by the **gold** class of each sample.
    """
    kc, n = cell_counts(correct, class_idx, subgroup, num_classes, num_subgroups)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, kc / np.maximum(n, 1), np.nan)
    return acc, n


# --------------------------------------------------------------------------- MacroStd


def per_class_std_from_counts(correct_counts, n, convention: str = "population") -> np.ndarray:
    """Per-class weighted SD of subgroup accuracy, shape ``(..., C)``, from counts ``(..., C, G)``.

    Implements sd_c of the module docstring for the given ``convention`` (``"population"`` or
    ``"nist"``). Classes with no sample get NaN. Leading dimensions are batch dimensions.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown SD convention {convention!r}; choose one of {CONVENTIONS}")
    k = np.asarray(correct_counts, dtype=np.float64)
    w = np.asarray(n, dtype=np.float64)
    if k.shape != w.shape or k.ndim < 2:
        raise ValueError(f"counts must have equal shapes (..., C, G); got {k.shape} and {w.shape}")
    if (k < 0).any() or (k > w).any():
        raise ValueError("correct_counts must lie between 0 and n")
    nonempty = w > 0
    if convention == "unweighted":  # non-official extra: every non-empty subgroup counts once
        w = nonempty.astype(np.float64)
    total = w.sum(axis=-1)  # (..., C)
    has = total > 0
    safe_total = np.where(has, total, 1.0)
    acc = k / np.where(nonempty, np.asarray(n, dtype=np.float64), 1.0)  # 0 in empty cells (weight 0)
    mean = (w * acc).sum(axis=-1) / safe_total  # class accuracy m_c (weighted) or mean cell accuracy
    dev = np.where(nonempty, acc - mean[..., None], 0.0)
    var = (w * dev * dev).sum(axis=-1) / safe_total
    if convention == "nist":
        m = nonempty.sum(axis=-1)
        factor = np.where(m > 1, m / np.maximum(m - 1, 1), 0.0)
        var = var * factor
    sd = np.sqrt(var)
    return np.where(has, sd, np.nan)


def macro_std_from_counts(correct_counts, n, convention: str = "population"):
    """MacroStd from per-cell counts ``(..., C, G)``; returns a float, or an array of the leading shape.

    The mean over classes skips classes without samples (NaN when no class has any sample).
    """
    sd = per_class_std_from_counts(correct_counts, n, convention)
    valid = ~np.isnan(sd)
    cnt = valid.sum(axis=-1)
    tot = np.where(valid, sd, 0.0).sum(axis=-1)
    out = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def macro_std(correct, class_idx, subgroup, num_classes: int, convention: str = "population",
              num_subgroups: int = 8) -> float:
    """CIFAR-B MacroStd of per-sample results (spec §3), as a fraction (multiply by 100 for %).

    ``correct[i]``: whether sample i was predicted as its gold class ``class_idx[i]``;
    ``subgroup[i]``: its subgroup id in ``[0, num_subgroups)``. ``convention`` is ``"population"``
    (divide by the total weight) or ``"nist"`` (times M_c/(M_c-1); 0 when M_c = 1).
    A perfect (or uniformly wrong) classifier scores 0.
    """
    kc, n = cell_counts(correct, class_idx, subgroup, num_classes, num_subgroups)
    return macro_std_from_counts(kc, n, convention)


# --------------------------------------------------------------------------- worst subgroup (non-official)


def worst_subgroup_from_counts(correct_counts, n, min_n: int = 5):
    """Minimum cell accuracy over cells with at least ``min_n`` samples, from counts ``(..., C, G)``.

    Returns a float (or an array of the leading shape); NaN when no cell is large enough.
    """
    k = np.asarray(correct_counts, dtype=np.float64)
    w = np.asarray(n, dtype=np.float64)
    if k.shape != w.shape or k.ndim < 2:
        raise ValueError(f"counts must have equal shapes (..., C, G); got {k.shape} and {w.shape}")
    if min_n < 1:
        raise ValueError("min_n must be at least 1")
    ok = w >= min_n
    acc = np.where(ok, k / np.where(ok, w, 1.0), np.inf)
    flat = acc.reshape(acc.shape[:-2] + (-1,))
    out = flat.min(axis=-1)
    out = np.where(np.isinf(out), np.nan, out)
    return float(out) if np.ndim(out) == 0 else out


def worst_subgroup_accuracy(correct, class_idx, subgroup, num_classes: int, min_n: int = 5,
                            num_subgroups: int = 8) -> float:
    """Non-official extra: the lowest (class, subgroup) accuracy among cells with ``n >= min_n``.

    ``min_n`` (default 5) keeps tiny cells (CIFAR-B has cells of 1-4 images) from dominating.
    NaN when no cell has ``min_n`` samples.
    """
    kc, n = cell_counts(correct, class_idx, subgroup, num_classes, num_subgroups)
    return worst_subgroup_from_counts(kc, n, min_n)


# --------------------------------------------------------------------------- bootstrap support


def resampled_cell_counts(idx, correct, class_idx, subgroup, num_classes: int,
                          num_subgroups: int = 8):
    """Per-cell counts of resamples: ``(correct_counts[R, C, G], n[R, C, G])`` for ``idx`` (R, m).

    Row r of ``idx`` lists the sample indices drawn in resample r (with repetition). One
    ``bincount`` over all resamples; no Python loop over samples or resamples.
    """
    correct, cell = _check_inputs(correct, class_idx, subgroup, num_classes, num_subgroups)
    idx = np.asarray(idx)
    if idx.ndim == 1:
        idx = idx[None, :]
    r = idx.shape[0]
    k = num_classes * num_subgroups
    code = cell * 2 + correct  # one bin per (cell, correct?) pair
    drawn = code[idx] + (np.arange(r, dtype=np.int64) * (2 * k))[:, None]
    counts = np.bincount(drawn.ravel(), minlength=r * 2 * k).reshape(r, num_classes, num_subgroups, 2)
    return counts[..., 1], counts.sum(axis=-1)
