"""Answer parsing for SNARE's generative (MLLM) protocol. Pure Python, no model code.

* :func:`legacy_parse` -- the official cascade of ``MLLM-test.py`` / ``GPT-4-Vision-test.py``
  (SNARE repository history, commit ``d367352``): lower-case; ``"yes"`` anywhere -> 1; else
  ``"no"`` anywhere -> 0 (this also matches ``not``, ``another``, ``snow``); else the **largest**
  digit among ``0``..``4`` occurring anywhere; else 100 (never equal to a gold label).
* :func:`strict_parse` -- the harness default (``docs/protocols/snare.md`` 3.3): task-aware. Yes/no prompts:
  the first word-boundary ``yes`` or ``no``. Multiple choice: the first standalone number, valid
  only if it is an option number. The "0 -> no, 1 -> yes" prompt of attribute ownership accepts the
  first of ``yes``/``no``/``0``/``1``. Unparsed -> ``None``.
"""

from __future__ import annotations

import re

UNPARSED_LEGACY = 100
ANSWER_KINDS = ("yesno", "yesno01", "mc")

_YESNO = re.compile(r"\b(yes|no)\b")
_YESNO01 = re.compile(r"\b(yes|no|0|1)\b")
_NUMBER = re.compile(r"\b(\d+)\b")


def legacy_parse(answer: str) -> int:
    """The official cascade (see the module docstring); 100 when nothing matches."""
    a = answer.lower()
    if "yes" in a:
        return 1
    if "no" in a:
        return 0
    out = None
    for j in ("0", "1", "2", "3", "4"):
        if j in a:
            out = int(j)
    return UNPARSED_LEGACY if out is None else out


def strict_parse(answer: str, kind: str, n_options: int = 2) -> int | None:
    """Task-aware parse (see the module docstring); ``None`` when the answer is not understood."""
    a = answer.lower()
    if kind == "yesno":
        m = _YESNO.search(a)
        return None if m is None else int(m.group(1) == "yes")
    if kind == "yesno01":
        m = _YESNO01.search(a)
        return None if m is None else {"yes": 1, "no": 0, "1": 1, "0": 0}[m.group(1)]
    if kind == "mc":
        m = _NUMBER.search(a)
        if m is None:
            return None
        k = int(m.group(1))
        return k if k < n_options else None
    raise ValueError(f"unknown answer kind {kind!r}; expected one of {ANSWER_KINDS}")


def gold_answer(kind: str, gold: int) -> str:
    """The shortest answer text that both parsers read as ``gold`` (``yes``/``no`` or the number)."""
    if kind in ("yesno", "yesno01"):
        return "yes" if gold == 1 else "no"
    return str(gold)
