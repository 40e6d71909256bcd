"""Ranking of a few caption options per item (SNARE / ARO style). Pure numpy, no model code.

Each item i has one score s(i, j) per option j. The rank of option j is the number of options
placed before it:

* ``ties="earlier"`` (the official rule, numpy-1.x behaviour of the SNARE code):
  r(i, j) = #{k : s(i,k) > s(i,j)} + #{k < j : s(i,k) = s(i,j)} -- a tie goes to the earlier option,
  so every item has exactly one option of rank 0 and the top-1 rates of all options sum to 1.
* ``ties="strict"`` (documented alternative): r(i, j) = #{k != j : s(i,k) >= s(i,j)} -- an option
  tied with another is never ranked ahead of it, so a tie with the positive counts as a miss.

Tie-independent credit (:func:`tie_split_hits`): the probability that the gold option is among the
first ``n`` when ties are broken uniformly at random -- an option tied with ``t - 1`` others for a
place gets ``1/t`` of it. It equals both rules' hit rate on items without ties, gives a scorer that
ties everything exactly the chance level ``n / L``, and does not depend on the order of the options.

The official code obtains the rank from ``np.argsort`` on reversed options; that equals the
``earlier`` rule only while the sort is stable for ties (not guaranteed by numpy 2 on AVX2
machines with 4 options), so the rank is computed directly here.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from .declare import Aggregate

TIE_RULES: tuple[str, ...] = ("earlier", "strict")


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ValueError(f"scores must have shape (N items, L options) with L >= 1, got {s.shape}")
    if not np.isfinite(s).all():
        bad = np.flatnonzero(~np.isfinite(s).all(axis=1))
        raise ValueError(f"scores contain NaN or infinite values in {bad.size} row(s), first at row {int(bad[0])}")
    return s


def option_ranks(scores, ties: str = "earlier") -> np.ndarray:
    """Rank (0 = first) of every option of every item under the tie rule; int64 (N, L)."""
    if ties not in TIE_RULES:
        raise ValueError(f"ties={ties!r}: expected one of {TIE_RULES}")
    s = _check_scores(scores)
    n_opt = s.shape[1]
    # cmp[i, j, k] compares option k with option j of item i
    greater = (s[:, None, :] > s[:, :, None]).sum(axis=2)
    equal = s[:, None, :] == s[:, :, None]
    if ties == "earlier":
        mask = np.tri(n_opt, n_opt, -1, dtype=bool)  # mask[j, k] = k < j
    else:
        mask = ~np.eye(n_opt, dtype=bool)  # every other option
    return (greater + (equal & mask[None]).sum(axis=2)).astype(np.int64)


def top_n_hits(ranks: np.ndarray, n: int) -> np.ndarray:
    """Boolean (N, L): option j of item i is among the first ``n``."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return np.asarray(ranks) < n


def top_n_rates(ranks: np.ndarray, n: int) -> np.ndarray:
    """T_n(j) = fraction of items whose option j is among the first ``n``; float (L,).

    The official ``Count`` of option j is ``N * T_1(j)``.
    """
    r = np.asarray(ranks)
    if r.ndim != 2 or r.shape[0] == 0:
        raise ValueError(f"ranks must have shape (N, L) with N >= 1, got {r.shape}")
    return top_n_hits(r, n).mean(axis=0)


def gold_hits(ranks: np.ndarray, gold: Sequence[int], n: int) -> np.ndarray:
    """Boolean (N,): the gold option of item i is among its first ``n`` (classification top-n)."""
    r = np.asarray(ranks)
    g = np.asarray(gold, dtype=np.int64)
    if g.shape != (r.shape[0],):
        raise ValueError(f"gold has shape {g.shape}, expected ({r.shape[0]},)")
    if ((g < 0) | (g >= r.shape[1])).any():
        raise ValueError(f"gold indices must lie in [0, {r.shape[1]})")
    return r[np.arange(r.shape[0]), g] < n


def tie_split_hits(scores, gold: Sequence[int], n: int = 1) -> np.ndarray:
    """Float (N,): probability that the gold option of item i is among the first ``n`` when ties are
    broken uniformly at random: ``clip((n - above) / tied, 0, 1)`` with ``above`` = options scored
    higher than the gold and ``tied`` = options scored equal to it (the gold included)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    s = _check_scores(scores)
    g = np.asarray(gold, dtype=np.int64)
    if g.shape != (s.shape[0],):
        raise ValueError(f"gold has shape {g.shape}, expected ({s.shape[0]},)")
    if ((g < 0) | (g >= s.shape[1])).any():
        raise ValueError(f"gold indices must lie in [0, {s.shape[1]})")
    sg = s[np.arange(s.shape[0]), g][:, None]
    above = (s > sg).sum(axis=1)
    tied = (s == sg).sum(axis=1)
    return np.clip((n - above) / tied, 0.0, 1.0)


def winners(scores, ties: str = "earlier") -> np.ndarray:
    """The option ranked first for each item (int64 (N,)); -1 where no option wins (``strict`` ties).

    With ``ties="earlier"`` this is ``numpy.argmax`` (the first maximum), as the official
    semantic-structure scorer computes it.
    """
    ranks = option_ranks(scores, ties)
    first = ranks == 0
    out = np.where(first.any(axis=1), first.argmax(axis=1), -1)
    return out.astype(np.int64)


def winner_records(pred: np.ndarray, names: Sequence[str]) -> list[dict]:
    """The official semantic-structure records: one per option that wins at least once.

    ``pred`` holds the winning option per item (-1 = none). Records are ``{"Relation": name,
    "Accuracy": count / N, "Count": count}`` in the order of each option's first win (the order of
    ``dict(Counter(preds))`` in the official code); options that never win have no record.
    """
    p = np.asarray(pred, dtype=np.int64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError("pred must be a non-empty 1-D array")
    counts = Counter(int(x) for x in p)
    out = []
    for k, c in counts.items():
        if k < 0:
            continue
        out.append({"Relation": names[k], "Accuracy": c / p.size, "Count": int(c)})
    return out


def subgroup_top_n(ranks: np.ndarray, groups: Sequence[str], ns: Sequence[int],
                   min_count: int = 25) -> list[dict]:
    """Per-subgroup T_n(j) for every option j and every n in ``ns``.

    Subgroups are visited in sorted order (``numpy.unique``, as the official code does) and only
    those with at least ``min_count`` items are returned: ``{"group", "count", "rates": {n: [T_n(j)
    for each option]}}``.
    """
    r = np.asarray(ranks)
    g = np.asarray(list(groups))
    if g.shape[0] != r.shape[0]:
        raise ValueError(f"{g.shape[0]} subgroup labels for {r.shape[0]} items")
    rows = []
    for name in np.unique(g):
        mask = g == name
        count = int(mask.sum())
        if count < min_count:
            continue
        rows.append({"group": str(name), "count": count,
                     "rates": {int(n): top_n_rates(r[mask], n).tolist() for n in ns}})
    return rows


# --------------------------------------------------------------------------- declared aggregates


def option_top_n(option: int, n: int) -> Aggregate:
    """Declared aggregate: the rate at which option ``option`` ranks among the first ``n``, from
    the per-item ``ranks`` column (one row of option ranks per item)."""
    return Aggregate(("ranks",), lambda res: (res["ranks"][..., option] < n).mean(axis=-1),
                     f"rate of option {option} among the first {n} (ranks)")


def gold_top_n(n: int) -> Aggregate:
    """Declared aggregate: the rate at which the gold option ranks among the first ``n``, from the
    per-item ``ranks`` and ``gold`` columns."""

    def fn(res):
        ranks, gold = res["ranks"], res["gold"].astype(np.int64)
        return (np.take_along_axis(ranks, gold[..., None], axis=-1)[..., 0] < n).mean(axis=-1)

    return Aggregate(("ranks", "gold"), fn, f"rate of the gold option among the first {n}")
