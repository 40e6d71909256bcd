"""Degenerate responses: per-run evidence, computed at scoring time, that a model's answers do not
depend on its input. Pure numpy, no model code.

Each check returns the record a task writes to ``tables["degeneracy"]`` of its results::

    {"checked": [rule, ...], "n": <responses looked at>, "degenerate": None | {"rule", "reason", ...}}

and the leaderboard flags the cell (with the reason) and leaves it out of that task's ranks, without
reading sample logs. Rules (:data:`RULES`):

* ``constant_logits`` (classify): every scored sample got exactly the same logits;
* ``one_class`` (classify): every scored sample is predicted the same class (top-1);
* ``identical_answers`` (generate): every answer text is the same (after stripping white space);
* ``ties`` (match): the top score is tied on more than half of the items (official tie rules then
  pick the winner, not the model).

A rule can only fire on at least :data:`MIN_SAMPLES` responses, and the classify and generate rules
only when the gold answers are not all the same (a model that always gives the one right answer is
not degenerate on such a set; the evidence could not tell the two apart).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

RULES: dict[str, str] = {
    "constant_logits": "classify: every scored sample got exactly the same logits",
    "one_class": "classify: every scored sample is predicted the same class",
    "identical_answers": "generate: every answer text is the same",
    "ties": "match: the top score is tied on more than half of the items",
}

#: fewer responses than this are never flagged (nothing to compare)
MIN_SAMPLES = 2
#: longest answer text quoted in a reason
QUOTE_CHARS = 60


def record(checked: Sequence[str], n: int, flag: dict | None, **counts: int) -> dict:
    """The ``tables["degeneracy"]`` record (``counts``: evidence kept whether or not a rule fired)."""
    return {"checked": list(checked), "n": int(n), **counts, "degenerate": flag}


def _distinct(values: Sequence[Any]) -> int:
    try:  # hashable values (ints, strings, tuples of them) are their own _hashable() up to equality
        return len(set(values))
    except TypeError:  # a list, dict or array among them
        return len({_hashable(v) for v in values})


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return tuple(v.reshape(-1).tolist())
    return v


def _gold_note(golds: Sequence[Any] | None) -> tuple[bool, dict]:
    """(may flag, evidence): the gold answers must not all be the same."""
    if golds is None:
        return True, {}
    k = _distinct(golds)
    return k > 1, {"n_distinct_gold": k}


def check_classify(logits: np.ndarray, golds: Sequence[Any] | None = None,
                   class_names: Sequence[str] | None = None, single_label: bool = True) -> dict:
    """``constant_logits`` and (single-label tasks) ``one_class`` over an ``(n, C)`` logit matrix."""
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"logits must have shape (n, C), got {x.shape}")
    n = x.shape[0]
    checked = ["constant_logits"] + (["one_class"] if single_label else [])
    may, gold_ev = _gold_note(golds)
    if n < MIN_SAMPLES or not may or x.shape[1] == 0:
        return record(checked, n, None)
    same = np.array_equal(x, np.broadcast_to(x[0], x.shape), equal_nan=True)
    if same:
        flat = bool(np.all(x[0] == x[0, 0]))
        what = ", equal for every class" if flat else ""
        return record(checked, n, {
            "rule": "constant_logits",
            "reason": f"all {n} scored samples got the same logits{what}: the model ignores its input",
            "flat": flat, **gold_ev})
    if single_label:
        pred = x.argmax(axis=1)
        if np.all(pred == pred[0]):
            c = int(pred[0])
            name = f" ({class_names[c]})" if class_names is not None and c < len(class_names) else ""
            return record(checked, n, {
                "rule": "one_class",
                "reason": f"all {n} scored samples are predicted class {c}{name}", "class": c,
                **gold_ev})
    return record(checked, n, None)


def check_generate(texts: Sequence[str], golds: Sequence[Any] | None = None) -> dict:
    """``identical_answers`` over the answer texts of a run."""
    stripped = [str(t).strip() for t in texts]
    n = len(stripped)
    may, gold_ev = _gold_note(golds)
    if n < MIN_SAMPLES or not may:
        return record(["identical_answers"], n, None)
    if len(set(stripped)) == 1:
        a = stripped[0]
        quoted = a if len(a) <= QUOTE_CHARS else a[:QUOTE_CHARS] + "…"
        return record(["identical_answers"], n, {
            "rule": "identical_answers", "reason": f"all {n} answers are the same text: {quoted!r}",
            "answer": quoted, **gold_ev})
    return record(["identical_answers"], n, None)


def top_tied(scores: np.ndarray) -> np.ndarray:
    """Boolean (N,): the highest score of item i is shared by at least two options."""
    s = np.asarray(scores, dtype=np.float64)
    top = s.max(axis=1, keepdims=True)
    return (s == top).sum(axis=1) > 1


def check_match(scores: np.ndarray, texts: Sequence[Sequence[str]] | None = None) -> dict:
    """``ties`` over an ``(N, L)`` score matrix (L options per item). With the options' ``texts``,
    the evidence also counts the tied items whose top options have the same text (any model ties
    there; the rule counts them too: the winner is still not the model's choice)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must have shape (N, L), got {s.shape}")
    n = s.shape[0]
    tied = top_tied(s) if n else np.zeros(0, dtype=bool)
    k = int(tied.sum())
    ev: dict = {"n_tied": k}
    same_text = None
    if texts is not None:
        same_text = 0
        for i in np.flatnonzero(tied):
            top = s[i] == s[i].max()
            same_text += int(len({texts[i][j] for j in np.flatnonzero(top)}) < int(top.sum()))
        ev["n_tied_same_text"] = same_text
    if n < MIN_SAMPLES or 2 * k <= n:
        return record(["ties"], n, None, **ev)
    why = f" ({same_text} of them between options with the same text)" if same_text else ""
    return record(["ties"], n, {
        "rule": "ties", "reason": f"the top score is tied on {k} of {n} items{why}: the tie rule, not the model, "
                                  f"picks the answer there", **ev}, **ev)

