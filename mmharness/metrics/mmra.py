"""MMRA answer extraction and aggregation (``docs/protocols/mmra.md`` section 3). Pure Python/numpy.

The official rules are those of ``evaluate/evaluate_demo.py`` of https://github.com/Wusiwei0410/MMRA
(commit ``82dc33b``), reproduced exactly:

* ``Choice QA`` (:func:`parse_choice`): all matches of ``\\(([A-D])\\)``; if there are none, all
  matches of ``\\b([A-D])\\b`` (case-sensitive). The most frequent letter wins; on a tie, the tied
  letter whose **first occurrence is latest** (the last tied entry of ``Counter.most_common()``,
  which lists equal counts in first-occurrence order). No match: unparseable (``None``).
* ``True or false QA`` (:func:`parse_yes_no`): all matches of ``\\b(yes|no)\\b`` with
  ``re.IGNORECASE``, counted **case-sensitively** (``Yes`` and ``yes`` are different keys), same
  frequency and tie rule; the parse keeps the matched casing.
* Scoring: 1 when ``gold.lower() == parsed.lower()``, else 0; unparseable scores 0.

:func:`parse_first` is the documented non-official alternative (``parse=first_letter``): the
first standalone option letter (or yes/no) in the response.

Aggregation (each statistic once, on per-subtask counts: :func:`declared_aggregates`): subtask
accuracy = mean over the items of that subtask; **Overall = sample-weighted (micro) accuracy**
over all items (this reproduces the paper's Overall column, see :func:`weighted_overall`); the
macro mean over subtasks is reported under a distinct name.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable, Mapping, Sequence

import numpy as np

from .declare import Aggregate, Resample, group_codes, group_sums, mean, mean_finite, mean_of_group_means

CHOICE_QA = "Choice QA"
YES_NO_QA = "True or false QA"
#: QA_type spellings the official prompt builder accepts for multiple choice (sic).
CHOICE_QA_ALIASES = ("Choice QA", "Chooice QA")

_PAREN_LETTER = re.compile(r"\(([A-D])\)")
_BARE_LETTER = re.compile(r"\b([A-D])\b")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def _most_frequent_latest_tie(matches: Sequence[str]) -> str | None:
    """The most frequent item; among equally frequent ones, the one whose first occurrence is latest."""
    if not matches:
        return None
    ranked = Counter(matches).most_common()  # equal counts keep first-occurrence order
    top = ranked[0][1]
    return [item for item, count in ranked if count == top][-1]


def parse_choice(response: str) -> str | None:
    """Official ``extract_option_labels`` (without options): an option letter A-D, or None."""
    matches = _PAREN_LETTER.findall(response)
    if not matches:
        matches = _BARE_LETTER.findall(response)
    return _most_frequent_latest_tie(matches)


def parse_yes_no(response: str) -> str | None:
    """Official ``extract_yes_no``: ``yes``/``no`` in the casing found, or None."""
    return _most_frequent_latest_tie(_YES_NO.findall(response))


def normalize_qa_type(qa_type: str) -> str:
    """``Choice QA`` (also for the misspelling ``Chooice QA``) or ``True or false QA``; else ValueError."""
    if qa_type in CHOICE_QA_ALIASES:
        return CHOICE_QA
    if qa_type == YES_NO_QA:
        return YES_NO_QA
    raise ValueError(f"unknown QA_type {qa_type!r}: expected one of "
                     f"{list(CHOICE_QA_ALIASES) + [YES_NO_QA]}")


def parse_official(qa_type: str, response: str) -> str | None:
    """The official parse for an item of ``qa_type``."""
    if normalize_qa_type(qa_type) == CHOICE_QA:
        return parse_choice(response)
    return parse_yes_no(response)


def parse_first(qa_type: str, response: str) -> str | None:
    """Non-official alternative: the first standalone option letter A-D (or yes/no), or None."""
    if normalize_qa_type(qa_type) == CHOICE_QA:
        m = _BARE_LETTER.search(response)
    else:
        m = _YES_NO.search(response)
    return m.group(1) if m else None


def is_correct(gold: str, parsed: str | None) -> bool:
    """Official scoring: case-insensitive equality; an unparseable answer is wrong."""
    return parsed is not None and str(gold).lower() == parsed.lower()


# --------------------------------------------------------------------------- aggregation
# Each MMRA statistic exists once, as a function of per-subtask hit and item counts (arrays whose
# last axis is the subtask; leading axes are resamples). The task's metric declarations apply them
# to resampled counts (:func:`subtask_counts`), ``mmh compare`` through those declarations, and the
# dict helpers below (used to check the paper's table) to published per-subtask scores.


def overall_accuracy(hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Overall = sample-weighted (micro) accuracy: sum_k hits_k / sum_k n_k (the paper's Overall)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(hits, axis=-1) / np.sum(counts, axis=-1)


def macro_accuracy(hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Unweighted mean over the subtasks present (n_k > 0) of their accuracies (not the Overall):
    :func:`mmharness.metrics.declare.mean_of_group_means`."""
    return mean_of_group_means(hits, counts)


def pooled_accuracy(hits: np.ndarray, counts: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Micro accuracy over the subtasks where ``members`` (bool, one per subtask) is true (a level)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(hits[..., members], axis=-1) / np.sum(counts[..., members], axis=-1)


def weighted_overall(scores: Mapping[str, float], counts: Mapping[str, int]) -> float:
    """:func:`overall_accuracy` of published per-subtask scores: sum_k n_k s_k / sum_k n_k."""
    keys = [k for k in scores if k in counts]
    missing = sorted(set(scores) - set(counts))
    if missing:
        raise ValueError(f"no count for subtask(s) {missing}")
    n = np.asarray([counts[k] for k in keys], dtype=np.float64)
    if n.sum() <= 0:
        raise ValueError("subtask counts sum to zero")
    return float(overall_accuracy(n * np.asarray([scores[k] for k in keys], dtype=np.float64), n))


def macro_mean(scores: Mapping[str, float]) -> float:
    """:func:`macro_accuracy` of published per-subtask scores (not the paper's Overall)."""
    if not scores:
        raise ValueError("no subtask scores")
    return float(macro_accuracy(np.asarray(list(scores.values()), dtype=np.float64), np.ones(len(scores))))


def subtask_counts(res: Resample, subtask_of: Callable[[str], str], order: Sequence[str]
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per resample and subtask: hits of ``correct`` and items, shapes ``(r, k)``, and the subtask
    keys: those of ``order`` present in the data, then any others sorted. ``subtask_of`` maps the
    per-item ``task`` string to its subtask key (spelling variants share one)."""

    def compute(r: Resample):
        correct = r.full("correct").astype(np.float64)
        hits, counts = group_sums(r, correct, np.ones(correct.shape, dtype=bool), "task", order, subtask_of)
        return hits, counts, group_codes(r, "task", order, subtask_of)[1]

    return res.shared(("mmra_subtask_counts", subtask_of, tuple(order)), compute)


def declared_aggregates(subtask_of: Callable[[str], str], order: Sequence[str],
                        level_of: Mapping[str, str]) -> dict[str, Aggregate]:
    """The MMRA aggregates by metric name: ``overall`` (:func:`overall_accuracy`),
    ``macro_subtask`` (:func:`macro_accuracy`), ``<level>_level`` (:func:`pooled_accuracy` over
    the subtasks of that level in ``level_of``), ``acc_<key>`` per subtask of ``order``,
    ``overall_first_letter`` (mean of ``correct_first_letter``) and ``unparsed_rate`` (mean of
    ``unparsed`` over the answered items; NaN marks an item without a response)."""
    needs = ("correct", "task")

    def counts(res):
        return subtask_counts(res, subtask_of, order)

    def level(lv: str) -> Aggregate:
        def fn(res):
            hits, n, groups = counts(res)
            return pooled_accuracy(hits, n, np.asarray([level_of.get(g) == lv for g in groups], dtype=bool))
        return Aggregate(needs, fn, f"micro accuracy over the {lv}-level subtasks")

    def one(key: str) -> Aggregate:
        def fn(res):
            hits, n, groups = counts(res)
            if key not in groups:
                return np.full(res.r, np.nan)
            j = groups.index(key)
            with np.errstate(invalid="ignore", divide="ignore"):
                return hits[:, j] / n[:, j]
        return Aggregate(needs, fn, f"accuracy on subtask {key}")

    out = {
        "overall": Aggregate(needs, lambda res: overall_accuracy(*counts(res)[:2]), "micro accuracy (Overall)"),
        "macro_subtask": Aggregate(needs, lambda res: macro_accuracy(*counts(res)[:2]),
                                   "unweighted mean of the subtask accuracies"),
        "entity_level": level("entity"),
        "image_level": level("image"),
        "overall_first_letter": mean("correct_first_letter"),
    }
    out.update({f"acc_{key}": one(key) for key in order})
    out["unparsed_rate"] = mean_finite("unparsed")  # NaN: an item without a response
    return out
