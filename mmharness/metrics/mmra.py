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

Aggregation: subtask accuracy = mean over the items of that subtask; **Overall = sample-weighted
(micro) accuracy** over all items (this reproduces the paper's Overall column, see
:func:`weighted_overall`); the macro mean over subtasks is reported under a distinct name.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Mapping, Sequence

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


def weighted_overall(scores: Mapping[str, float], counts: Mapping[str, int]) -> float:
    """Sample-weighted mean of per-subtask scores: sum_k n_k s_k / sum_k n_k (the Overall column)."""
    keys = [k for k in scores if k in counts]
    missing = sorted(set(scores) - set(counts))
    if missing:
        raise ValueError(f"no count for subtask(s) {missing}")
    total = sum(counts[k] for k in keys)
    if total <= 0:
        raise ValueError("subtask counts sum to zero")
    return sum(counts[k] * scores[k] for k in keys) / total


def macro_mean(scores: Mapping[str, float]) -> float:
    """Unweighted mean of per-subtask scores (not the paper's Overall; reported separately)."""
    if not scores:
        raise ValueError("no subtask scores")
    return sum(scores.values()) / len(scores)
