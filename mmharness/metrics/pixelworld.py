"""PixelWorld answer parsers and per-dataset metrics (``docs/protocols/pixelworld.md`` section 3). Pure Python.

Every parser reproduces ``pixel_world/data.py`` of https://github.com/TIGER-AI-Lab/PixelWorld
(reference commit ``ca89a7c``) including its per-dataset case rules for the ``Answer:`` marker:

=============  ==========================================================================
dataset        rule (``-1`` = unparseable)
=============  ==========================================================================
GSM8K          lower-case; if ``answer:`` occurs keep the text after the last one, stripped
MMLU-Pro       same marker rule; the remainder must be exactly one of ``a``..``j``
ARC            after the last case-sensitive ``Answer:``; strip enclosing ``[...]`` repeatedly;
               the first character must be in ``A``-``E`` or ``1``-``5``
GLUE/SuperGLUE if ``answer:`` occurs (any case) split on ``Answer:`` (case-sensitive); keyword rules
               per sub-task, negation first
MBPP           text after the last ``Answer:`` (split, case-sensitive); one ``[...]`` pair, a
               leading ```` ```python\\n```` and a trailing ```` ``` ```` removed
TableBench     after the last ``Answer:`` (``Final Answer:`` contains it); ``[...]`` stripped repeatedly
WikiSS/Slides  text after the last ``Answer:`` (split); one ``[...]`` pair removed
MathVerse      as MMLU-Pro with letters ``a``..``d``; the gold answer goes through the same parse
=============  ==========================================================================

Gold labels arrive as the strings of the ``Answer`` column of ``TIGER-Lab/PixelWorld``; the
``gold_*`` helpers convert them as the official code does.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Sequence

NO_PARSE = -1

# --------------------------------------------------------------------------- marker helpers


def _after_marker_lower(output: str) -> str:
    """GSM8K / MMLU-Pro / MathVerse: lower-case, then text after the last ``answer:``, stripped."""
    low = output.lower()
    if "answer:" in low:
        low = low.split("answer:")[-1].strip()
    return low


def _glue_marker(output: str) -> str:
    """GLUE/SuperGLUE: test ``answer:`` case-insensitively, split on ``Answer:`` case-sensitively."""
    if "answer:" in output.lower():
        output = output.split("Answer:")[-1].strip()
    return output


def has_answer_marker(output: str) -> bool:
    """Whether an ``answer:`` marker occurs in the output (any case)."""
    return "answer:" in output.lower()


# --------------------------------------------------------------------------- parsers


def parse_gsm8k(output: str) -> str:
    """Official GSM8K parse: the lower-cased text after the last ``answer:`` (stripped)."""
    return _after_marker_lower(output)


def gold_gsm8k(answer: str) -> str:
    """GSM8K reference: ``answer.split("####")[-1].strip()``."""
    return str(answer).split("####")[-1].strip()


_MMLU_PRO_LETTERS = tuple("abcdefghij")


def parse_mmlu_pro(output: str) -> int:
    """Official MMLU-Pro parse: index 0-9 of a single letter a-j after the marker, else -1."""
    low = _after_marker_lower(output).strip()
    return _MMLU_PRO_LETTERS.index(low) if low in _MMLU_PRO_LETTERS else NO_PARSE


def gold_letter_index(answer: str, n_letters: int = 10) -> int:
    """A gold option letter (``"A"``...) -> 0-based index (official: ``ord(ref) - ord("A")``)."""
    a = str(answer).strip()
    if len(a) != 1 or not ("A" <= a <= chr(ord("A") + n_letters - 1)):
        raise ValueError(f"gold answer {answer!r} is not an option letter A-{chr(ord('A') + n_letters - 1)}")
    return ord(a) - ord("A")


_ARC_FIRST = ("A", "B", "C", "D", "E", "1", "2", "3", "4", "5")


def parse_arc(output: str) -> str | int:
    """Official ARC parse: a character in A-E / 1-5, or -1 (marker ``Answer:`` is case-sensitive)."""
    if "Answer:" in output:
        output = output.split("Answer:")[-1].strip()
    while output.startswith("[") and output.endswith("]"):
        output = output[1:-1]
    if output and output[0] in _ARC_FIRST:
        return output[0]
    return NO_PARSE


def arc_code(label: str | int) -> int:
    """Official ARC label code: letters A-E -> 5-9, digits -> their value, -1 stays -1.

    Letters and digits share the codes 5-9, so they are **not** kept distinct: the parsed answer
    ``5`` (``Answer: 5``) has the code of the letter ``A`` and scores as correct against gold ``A``
    (and ``A`` against a gold ``5``), exactly as in the official code, which the harness keeps.
    :func:`parse_arc` yields only the digits 1-5, so ``5``/``A`` is the one collision reachable
    from a model's output.
    """
    if label == NO_PARSE:
        return NO_PARSE
    s = str(label).strip()
    if s in ("A", "B", "C", "D", "E"):
        return ord(s) - ord("A") + 5
    if not s.isdigit():
        raise ValueError(f"ARC label {label!r} is neither a letter A-E nor a number")
    return int(s)


GLUE_TASKS = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli")
_STSB_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")


def parse_glue(task: str, output: str) -> int | float:
    """Official GLUE parse of one output for sub-task ``task`` (negation keywords first)."""
    output = _glue_marker(output)
    low = output.lower()
    if task == "cola":
        return 0 if "unacceptable" in low else (1 if "acceptable" in low else NO_PARSE)
    if task == "sst2":
        return 0 if "negative" in low else (1 if "positive" in low else NO_PARSE)
    if task == "mrpc":
        return 0 if "not paraphrase" in low else (1 if "paraphrase" in low else NO_PARSE)
    if task == "qqp":
        return 0 if "not duplicate" in low else (1 if "duplicate" in low else NO_PARSE)
    if task == "stsb":
        found = _STSB_NUMBER.findall(output)
        if len(found) == 1:
            val = float(found[0])
            if 0.0 <= val <= 5.0:
                return val
        return NO_PARSE
    if task == "mnli":
        flags = ("entailment" in low, "contradiction" in low, "neutral" in low)
        if sum(flags) != 1:
            return NO_PARSE
        return 0 if flags[0] else (2 if flags[1] else 1)
    if task == "wnli":
        return 0 if "not entailment" in low else (1 if "entailment" in low else NO_PARSE)
    if task in ("qnli", "rte"):
        return 1 if "not entailment" in low else (0 if "entailment" in low else NO_PARSE)
    raise ValueError(f"unknown GLUE sub-task {task!r}; expected one of {GLUE_TASKS}")


SUPERGLUE_TASKS = ("boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc")


def parse_superglue(task: str, output: str) -> int | str:
    """Official SuperGLUE parse of one output for sub-task ``task`` (ReCoRD keeps the raw string)."""
    output = _glue_marker(output)
    low = output.lower()
    if task in ("boolq", "multirc"):
        if "true" in low and "false" in low:
            return NO_PARSE
        return 1 if "true" in low else (0 if "false" in low else NO_PARSE)
    if task == "cb":
        flags = ("entailment" in low, "contradiction" in low, "neutral" in low)
        if sum(flags) != 1:
            return NO_PARSE
        return 0 if flags[0] else (1 if flags[1] else 2)
    if task == "copa":
        if "1" in output and "2" in output:
            return NO_PARSE
        return 0 if "1" in output else (1 if "2" in output else NO_PARSE)
    if task == "record":
        return output
    if task == "rte":
        return 1 if "not entailment" in low else (0 if "entailment" in low else NO_PARSE)
    if task in ("wic", "wsc"):
        if "yes" in low and "no" in low:
            return NO_PARSE
        return 1 if "yes" in low else (0 if "no" in low else NO_PARSE)
    raise ValueError(f"unknown SuperGLUE sub-task {task!r}; expected one of {SUPERGLUE_TASKS}")


def gold_number(answer: str) -> int | float:
    """A GLUE/SuperGLUE label string -> int (``"1"``) or float (STS-B ``"3.8"``)."""
    s = str(answer).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"gold label {answer!r} is not a number") from None


def gold_list(answer: Any) -> list[str]:
    """A gold answer that may be a Python list literal (``"['a', 'b']"``) -> list of strings."""
    if isinstance(answer, (list, tuple)):
        return [str(a) for a in answer]
    s = str(answer).strip()
    if s.startswith("[") and s.endswith("]"):
        try:
            val = ast.literal_eval(s)
        except (ValueError, SyntaxError):
            val = None
        if isinstance(val, (list, tuple)):
            return [str(a) for a in val]
    return [s]


def parse_mbpp(output: str) -> str:
    """Official MBPP parse: code after the last ``Answer:``, one ``[...]`` pair and fences removed."""
    output = output.split("Answer:")[-1].strip()
    if output.startswith("[") and output.endswith("]"):
        output = output[1:-1]
    if output.startswith("```python\n"):
        output = output[10:]
    if output.endswith("```"):
        output = output[:-3]
    return output


def parse_tablebench(output: str) -> str:
    """Official TableBench parse: after the last ``Answer:``; enclosing ``[...]`` stripped repeatedly."""
    if "Answer:" in output:
        output = output.split("Answer:")[-1].strip()
    while output.startswith("[") and output.endswith("]"):
        output = output[1:-1]
    return output


def parse_doc_qa(output: str) -> str:
    """Official Wiki-SS QA / SlidesVQA parse: after the last ``Answer:``; one ``[...]`` pair removed."""
    output = output.split("Answer:")[-1].strip()
    if output.startswith("[") and output.endswith("]"):
        output = output[1:-1]
    return output


_MATHVERSE_LETTERS = ("a", "b", "c", "d")


def parse_mathverse(output: str) -> int:
    """Official MathVerse parse (applied to outputs **and** gold answers): a-d -> 0-3, else -1."""
    low = _after_marker_lower(output).strip()
    return _MATHVERSE_LETTERS.index(low) if low in _MATHVERSE_LETTERS else NO_PARSE


# --------------------------------------------------------------------------- set-level metrics


def accuracy(preds: Sequence, golds: Sequence) -> float:
    """Fraction of equal pairs (``evaluate.load("accuracy")``)."""
    if len(preds) != len(golds) or not preds:
        raise ValueError("accuracy needs equally many, and at least one, predictions and references")
    return sum(p == g for p, g in zip(preds, golds)) / len(preds)


def multirc_scores(groups: Sequence[Any], preds: Sequence[int], golds: Sequence[int]) -> dict[str, float]:
    """Official SuperGLUE MultiRC metric: exact match and macro F1 per question, F1 over answers.

    ``groups`` identifies each answer's question (the official key is ``"paragraph-question"``);
    ``exact_match`` is the fraction of questions whose answers are all right, ``f1_m`` the mean over
    questions of the macro F1 of their answers, ``f1_a`` the binary F1 over all answers.
    """
    from .correlation import binary_f1

    by_q: dict[Any, list[tuple[int, int]]] = {}
    for g, p, y in zip(groups, preds, golds):
        by_q.setdefault(g, []).append((p, y))
    f1s, ems = [], []
    for pairs in by_q.values():
        qp = [p for p, _ in pairs]
        qy = [y for _, y in pairs]
        f1s.append(_sk_macro_f1_like_official(qy, qp))
        ems.append(float(all(p == y for p, y in pairs)))
    return {"exact_match": sum(ems) / len(ems), "f1_m": sum(f1s) / len(f1s),
            "f1_a": binary_f1(list(golds), list(preds))}


def _sk_macro_f1_like_official(golds: Sequence[int], preds: Sequence[int]) -> float:
    """``sklearn.metrics.f1_score(average="macro")`` over the labels present in gold and prediction."""
    from sklearn.metrics import f1_score

    return float(f1_score(list(golds), list(preds), average="macro", zero_division=0))
