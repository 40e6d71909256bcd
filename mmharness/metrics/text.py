"""Text-answer metrics: exact match, SQuAD/ReCoRD token F1, ROUGE-L. Pure Python, no model code.

Each function reproduces a named reference implementation, because benchmarks report numbers
computed with those and small differences in normalisation change them:

* :func:`exact_match` -- Hugging Face ``evaluate.load("exact_match")`` with default options: the
  fraction of predictions equal **as strings** to their reference (no normalisation at all).
* :func:`normalize_answer`, :func:`squad_f1`, :func:`squad_exact`, :func:`record_scores` -- the
  SQuAD v1.1 / ReCoRD official normalisation (lower-case, drop punctuation, drop the articles
  a/an/the, collapse whitespace) and token-overlap F1, maximised over the gold answers.
* :func:`rouge_l` -- ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` (what
  ``evaluate.load("rouge")`` calls): tokens are the runs of ``[a-z0-9]`` after lower-casing, no
  stemming; ROUGE-L F-measure from the longest common subsequence (0 when either side is empty).
* :func:`tablebench_rouge_l` -- the per-item scores of TableBench's ``QAMetric`` (used by PixelWorld
  for TableBench, Wiki-SS QA and SlidesVQA): both sides first pass :func:`normalize_answer`, and an
  empty normalised prediction becomes ``"#"`` (``count_blank=True``), which scores 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of ``predictions[i] == references[i]`` (string equality, no normalisation).

    Matches ``evaluate.load("exact_match").compute(...)["exact_match"]`` with default options.
    Raises ``ValueError`` on empty or mismatched inputs.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("exact match of nothing is undefined")
    return sum(str(p) == str(r) for p, r in zip(predictions, references)) / len(predictions)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower-case, remove punctuation, remove articles, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def squad_f1(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 of two answers after :func:`normalize_answer` (0 when nothing overlaps)."""
    p = normalize_answer(prediction).split()
    g = normalize_answer(ground_truth).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(p)
    recall = same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_exact(prediction: str, ground_truth: str) -> float:
    """1.0 when the two answers are equal after :func:`normalize_answer`, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def record_scores(prediction: str, ground_truths: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one ReCoRD prediction: each maximised over the gold answers.

    The official ReCoRD evaluation (SuperGLUE) averages these over queries. No gold answer gives
    (0, 0).
    """
    if not ground_truths:
        return 0.0, 0.0
    em = max(squad_exact(prediction, g) for g in ground_truths)
    f1 = max(squad_f1(prediction, g) for g in ground_truths)
    return em, f1


def rouge_tokens(text: str) -> list[str]:
    """``rouge_score``'s default tokenizer without stemming: lower-case, split on non-[a-z0-9]."""
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else (prev[j] if prev[j] >= cur[j - 1] else cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of ``prediction`` against ``reference`` (``rouge_score`` semantics).

    precision = LCS / |prediction tokens|, recall = LCS / |reference tokens|,
    F = 2PR / (P + R); 0.0 when either token list is empty or nothing is shared.
    """
    p = rouge_tokens(prediction)
    r = rouge_tokens(reference)
    if not p or not r:
        return 0.0
    lcs = _lcs_length(r, p)
    if lcs == 0:
        return 0.0
    precision = lcs / len(p)
    recall = lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def tablebench_rouge_l(prediction: str, reference: str) -> float:
    """One item's ROUGE-L as TableBench's ``QAMetric`` computes it (see the module docstring)."""
    pred = normalize_answer(prediction)
    ref = normalize_answer(reference)
    if not pred:
        pred = "#"
    return rouge_l(pred, ref)
