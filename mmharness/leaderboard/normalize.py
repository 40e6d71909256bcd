"""Scores normalised against chance, fractional ranks and averages: the leaderboard's arithmetic.

Pure functions, no I/O. The rules (also written into every leaderboard under ``rules``):

* **Normalised score.** For a metric with declared ``range = [lo, hi]``, ``higher_is_better`` and
  ``chance``: ``best = hi`` if higher is better else ``lo``; the *zero point* is ``chance`` when the
  metric declares one, otherwise the *worst end of the declared range* (``lo`` if higher is better,
  else ``hi``). Then ``normalized = (value - zero) / (best - zero)``: 1 = the best possible value,
  0 = chance (or the worst possible value when there is no chance level), negative = below chance.
  It is never clipped. It is undefined (``None``) when ``best`` or the zero point is not a finite
  number, or when they are equal; such a task is left out of the average score (it is still ranked).
  Example: MacroStd (lower is better, range [0, 0.5], no chance level): ``(0.5 - v) / 0.5``.
* **Per-task rank.** Among the ranked models that have a value and whose cell is not flagged degenerate
  (see ``build.RULES["degenerate"]``), 1 = best in the metric's direction;
  ties get the mean of the positions they span (fractional ranking: 1, 2.5, 2.5, 4), so that the
  ranks of every task sum to the same total and average ranks stay comparable.
* **Averages.** Over the chosen task set, the plain mean of the values that exist (a cell flagged
  degenerate adds its normalised score capped at 0); nothing is imputed. An average that misses any
  task of the set is *incomplete* and is marked as such.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

NORMALIZATION_RULE = (
    "normalized = (value - zero) / (best - zero), best = range max if higher_is_better else range min; "
    "zero = the metric's chance level, or, when it has none, the worst end of its declared range "
    "(range min if higher_is_better else range max). 1 = best possible, 0 = chance (or worst possible), "
    "negative = below chance; never clipped. Undefined (null) when best or zero is unknown or they are "
    "equal: such a task is left out of the average score but still ranked.")
RANK_RULE = (
    "Per task, among ranked models with a value and no degeneracy flag: 1 = best in the metric's direction; "
    "ties share the mean of the positions they span (fractional ranking: 1, 2.5, 2.5, 4). Models flagged as "
    "sample-data or limited runs are not ranked unless included explicitly; a cell flagged degenerate is never "
    "ranked on its task.")
AVERAGE_RULE = (
    "average_score = mean of the normalised scores over the task set (tasks with an undefined "
    "normalisation excluded; a cell flagged degenerate counts at most 0); average_rank = mean of the per-task "
    "ranks over the task set (degenerate cells have none). Missing cells are never imputed: an average over "
    "fewer tasks than the set is marked incomplete. Overall rank: "
    "ranked models with a complete row, ordered by average_score (higher first; by average_rank when no task "
    "of the set can be normalised); equal averages share a rank (1, 2, 2, 4). Incomplete rows get no overall "
    "rank and are listed after the complete ones.")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def normalization_reference(meta: dict) -> dict:
    """``{"method", "zero", "best"}`` for a metric's metadata (see the module docstring).

    ``method`` is ``"chance"`` (zero point = chance level), ``"range"`` (no chance level: zero point
    = worst end of the range) or ``"none"`` (not normalisable; ``zero``/``best`` may be None).
    """
    lo, hi = (list(meta.get("range") or [None, None]) + [None, None])[:2]
    hib = bool(meta.get("higher_is_better", True))
    best = hi if hib else lo
    chance = meta.get("chance")
    if _finite(chance):
        method, zero = "chance", chance
    else:
        method, zero = "range", (lo if hib else hi)
    if not (_finite(best) and _finite(zero)) or best == zero:
        return {"method": "none", "zero": zero if _finite(zero) else None,
                "best": best if _finite(best) else None}
    return {"method": method, "zero": float(zero), "best": float(best)}


def normalize(value: float | None, ref: dict) -> float | None:
    """``(value - zero) / (best - zero)`` for a reference from :func:`normalization_reference`;
    None when the value is missing or the metric is not normalisable."""
    if value is None or not _finite(value) or ref["method"] == "none":
        return None
    return (float(value) - ref["zero"]) / (ref["best"] - ref["zero"])


def fractional_ranks(values: Sequence[float], higher_is_better: bool) -> list[float]:
    """Rank ``values`` (1 = best in the given direction); ties get the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_better else values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = r
        i = j + 1
    return ranks


def competition_ranks(keys: Sequence[float]) -> list[int]:
    """Standard competition ranking of ``keys`` where smaller is better: 1, 2, 2, 4."""
    ranks = []
    for k in keys:
        ranks.append(1 + sum(1 for other in keys if other < k))
    return ranks


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values, or None when there are none."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
