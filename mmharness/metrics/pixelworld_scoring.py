"""PixelWorld per-dataset scoring protocols: parse -> sub-task metrics -> dataset score. Pure Python.

One :class:`DatasetProtocol` per wrapper class of the official code (``GSM8KDataset``, ...), kept
in :data:`PROTOCOLS` (a registry, keyed by the ``Dataset`` column value). Each protocol knows

* its sub-tasks (the ``Subset`` column) in the official order,
* the official parser (:mod:`mmharness.metrics.pixelworld`) and how to read the gold ``Answer``,
* the official metric(s) of a sub-task; **sub-task score = mean of its metric values, dataset
  score = unweighted mean over sub-tasks** (``DatasetWarperBase.Eval``/``FinalScore``),
* a *reference response*: a text the official parser maps back to the gold answer (what the
  ``oracle`` adapter and the gold ``scripted`` file answer).

Unparseable answers (-1): the official GLUE code replaces each by a random label drawn from the
set of references, and the MultiRC code by a random 0/1 (unseeded). The harness default
(``fallback="none"``) scores them as wrong instead -- on binary sub-tasks -1 becomes the wrong label
(1 - gold), on STS-B the midpoint 2.5, elsewhere it stays -1 and cannot match; ``fallback="random"``
reproduces the official expectation with a seeded ``random.Random``. Other sub-tasks have no
fallback in the official code and get none here.

Values are fractions (accuracy, F1, ROUGE-L in [0, 1]; MCC and correlations in [-1, 1]); the
published tables are x100. ROUGE-L is the mean per-item F-measure; the official ``QAMetric`` reports
the median of 1,000 unseeded bootstrap means of the same per-item scores (the "mid" of
``rouge_score``'s ``BootstrapAggregator``), which differs from the mean only by resampling noise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

from . import pixelworld as P
from . import tablebench_viz as V
from .correlation import macro_f1, matthews, pearson, spearman
from .text import exact_match, record_scores, tablebench_rouge_l

FALLBACKS = ("none", "random")


@dataclass
class ScoredItem:
    """One response to score: its sub-task, raw output, gold ``Answer`` string and extras.

    ``group`` is the MultiRC question key; ``passed`` the MBPP execution result and ``execution``
    the TableBench Visualization verdict (``{"scorer", "ecr@1", "pass@1"}``), both set by the task,
    which runs the code; metrics never execute anything.
    """

    subset: str
    output: str
    answer: Any
    group: Any = None
    passed: bool | None = None
    execution: dict | None = None


class DatasetProtocol:
    """Base class: see the module docstring. ``decomposable`` protocols have per-item scores."""

    name: ClassVar[str] = ""
    cls_name: ClassVar[str] = ""
    subsets: ClassVar[tuple[str, ...]] = ()
    decomposable: ClassVar[bool] = True
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy",)
    #: official answer template of the repository's run script (``script/checklist.sh``)
    official_template: ClassVar[str] = "base"

    def parse(self, subset: str, output: str) -> Any:
        raise NotImplementedError

    def unparsed(self, subset: str, output: str, parsed: Any) -> bool:
        """Whether the official parser failed (-1), or found no ``Answer:`` marker for free text."""
        return parsed == P.NO_PARSE

    def gold(self, subset: str, answer: Any) -> Any:
        return answer

    def item_score(self, item: ScoredItem, parsed: Any) -> float:
        """Per-item score (decomposable protocols only)."""
        raise NotImplementedError

    def subset_metrics(self, subset: str, items: Sequence[ScoredItem], parsed: Sequence[Any], *,
                       fallback: str = "none", rng: random.Random | None = None) -> dict[str, float]:
        """The official metric values of one sub-task (default: mean of :meth:`item_score`)."""
        scores = [self.item_score(it, p) for it, p in zip(items, parsed)]
        return {self.metric_names[0]: sum(scores) / len(scores)}

    def reference_response(self, subset: str, answer: Any, extra: dict | None = None) -> str | None:
        """A response the official parser maps to the gold answer (None if none can be built)."""
        return f"Answer: {answer}"


# --------------------------------------------------------------------------- decomposable ones


class GSM8K(DatasetProtocol):
    """GSM8K: exact string match of the parse against ``answer.split("####")[-1].strip()``."""

    name, cls_name, subsets = "GSM8K", "GSM8KDataset", ("main",)
    metric_names = ("exact_match",)
    official_template = "cot"

    def parse(self, subset, output):
        return P.parse_gsm8k(output)

    def unparsed(self, subset, output, parsed):
        return not P.has_answer_marker(output)

    def gold(self, subset, answer):
        return P.gold_gsm8k(answer)

    def item_score(self, item, parsed):
        return exact_match([parsed], [self.gold(item.subset, item.answer)])

    def reference_response(self, subset, answer, extra=None):
        return f"Answer: {self.gold(subset, answer)}"


class MMLUPro(DatasetProtocol):
    """MMLU-Pro: accuracy per category (14), dataset = unweighted mean over categories."""

    name, cls_name = "MMLU-Pro", "MMLUProDataset"
    subsets = ("health", "history", "chemistry", "computer science", "biology", "engineering", "other",
               "economics", "math", "psychology", "philosophy", "business", "law", "physics")
    official_template = "cot"

    def parse(self, subset, output):
        return P.parse_mmlu_pro(output)

    def gold(self, subset, answer):
        return P.gold_letter_index(answer, 10)

    def item_score(self, item, parsed):
        return float(parsed == self.gold(item.subset, item.answer))


class ARC(DatasetProtocol):
    """ARC: accuracy on label codes (letters 5-9, digits as numbers), mean of Easy and Challenge."""

    name, cls_name, subsets = "ARC", "ARCDataset", ("ARC-Easy", "ARC-Challenge")

    def parse(self, subset, output):
        return P.parse_arc(output)

    def gold(self, subset, answer):
        return P.arc_code(answer)

    def item_score(self, item, parsed):
        return float(P.arc_code(parsed) == self.gold(item.subset, item.answer))


class MBPP(DatasetProtocol):
    """MBPP: pass@1 of the parsed code + the test asserts (executed by the task), mean of 2 subsets."""

    name, cls_name, subsets = "MBPP", "MBPPDataset", ("full", "sanitized")
    metric_names = ("pass@1",)

    def parse(self, subset, output):
        return P.parse_mbpp(output)

    def unparsed(self, subset, output, parsed):
        return "Answer:" not in output

    def gold(self, subset, answer):
        return P.gold_list(answer)

    def item_score(self, item, parsed):
        if item.passed is None:
            raise ValueError("MBPP item scored without an execution result")
        return float(item.passed)

    def reference_response(self, subset, answer, extra=None):
        code = (extra or {}).get("code")
        return None if not code else f"Answer:\n```python\n{code}\n```"

    @staticmethod
    def program(parsed_code: str, answer: Any) -> str:
        """The program executed for pass@1: completion + newline + the test asserts (one per line)."""
        return parsed_code + "\n" + "\n".join(P.gold_list(answer))


class TableBench(DatasetProtocol):
    """TableBench: ROUGE-L (TableBench ``QAMetric``) for FactChecking, NumericalReasoning and
    DataAnalysis; Visualization by executing the chart code (the task runs it in the sandbox and
    sets ``item.execution``; see :mod:`mmharness.metrics.tablebench_viz`). Mean over the types.

    Visualization metrics: with the ``pixelworld`` evaluator (PixelWorld's numbers) ``ecr@1`` and
    ``pass@1``, sub-task score = their mean (PixelWorld's ``GetResult``); with the ``tablebench``
    evaluator ``pass@1`` alone (TableBench reports Pass@1 as the Visualization score).
    """

    name, cls_name = "TableBench", "TableBenchDataset"
    subsets = ("DataAnalysis", "NumericalReasoning", "Visualization", "FactChecking")
    metric_names = ("rouge_l",)
    VIZ = "Visualization"

    def parse(self, subset, output):
        return P.parse_tablebench(output)

    def unparsed(self, subset, output, parsed):
        if subset == self.VIZ:  # no code block for either official extractor
            return not V.extract_code_pixelworld(parsed).strip() and not V.extract_code_tablebench(output)
        return "Answer:" not in output

    def gold(self, subset, answer):
        if subset == self.VIZ:
            V.check_reference(answer)
        return answer

    @staticmethod
    def _execution(item) -> dict:
        if not item.execution:
            raise ValueError("TableBench Visualization item scored without an execution verdict")
        return item.execution

    def item_score(self, item, parsed):
        if item.subset == self.VIZ:
            ex = self._execution(item)
            if ex["scorer"] == "pixelworld":
                return (float(ex["ecr@1"]) + float(ex["pass@1"])) / 2
            return float(ex["pass@1"])
        return tablebench_rouge_l(parsed, str(item.answer))

    def subset_metrics(self, subset, items, parsed, *, fallback="none", rng=None):
        if subset != self.VIZ:
            return super().subset_metrics(subset, items, parsed, fallback=fallback, rng=rng)
        ex = [self._execution(it) for it in items]
        passed = sum(float(e["pass@1"]) for e in ex) / len(ex)
        if ex[0]["scorer"] == "pixelworld":
            return {"ecr@1": sum(float(e["ecr@1"]) for e in ex) / len(ex), "pass@1": passed}
        return {"pass@1": passed}

    def reference_response(self, subset, answer, extra=None):
        if subset == self.VIZ:
            return V.gold_chart_code(str(answer), (extra or {}).get("chart_type"))
        return f"Final Answer: {answer}"


class DocQA(DatasetProtocol):
    """Wiki-SS QA / SlidesVQA: ROUGE-L (``QAMetric``) against the gold answer(s) joined with ','."""

    subsets = ("main",)
    metric_names = ("rouge_l",)

    def parse(self, subset, output):
        return P.parse_doc_qa(output)

    def unparsed(self, subset, output, parsed):
        return "Answer:" not in output

    def gold(self, subset, answer):
        return ",".join(P.gold_list(answer))

    def item_score(self, item, parsed):
        return tablebench_rouge_l(parsed, self.gold(item.subset, item.answer))

    def reference_response(self, subset, answer, extra=None):
        return f"Answer: {self.gold(subset, answer)}"


class WikiSS(DocQA):
    name, cls_name = "WikiSS_QA", "WikiSS_QADataset"


class SlidesVQA(DocQA):
    name, cls_name = "SlidesVQA", "SlidesVQADataset"


class MathVerse(DatasetProtocol):
    """MathVerse: accuracy of the parsed letter against the **parsed** gold (both through the parser).

    Official quirk kept in ``accuracy``: a gold answer that is not a letter a-d parses to -1, and an
    unparseable output (-1) then counts as correct. :meth:`strict_item_score` is the corrected score
    (an unparseable output is never correct).
    """

    name, cls_name, subsets = "MathVerse", "MathverseDataset", ("main",)

    def parse(self, subset, output):
        return P.parse_mathverse(output)

    def item_score(self, item, parsed):
        return float(parsed == P.parse_mathverse(str(item.answer)))

    def strict_item_score(self, item, parsed) -> float:
        """Corrected: correct only when the output parses to a letter equal to the gold letter."""
        return float(parsed != P.NO_PARSE and parsed == P.parse_mathverse(str(item.answer)))


# --------------------------------------------------------------------------- GLUE / SuperGLUE


_GLUE_BINARY = ("cola", "sst2", "mrpc", "qqp", "qnli", "rte", "wnli")
_GLUE_LABEL_TEXT = {
    "cola": {0: "Unacceptable", 1: "Acceptable"},
    "sst2": {0: "Negative", 1: "Positive"},
    "mrpc": {0: "Not Paraphrase", 1: "Paraphrase"},
    "qqp": {0: "Not Duplicate", 1: "Duplicate"},
    "mnli": {0: "Entailment", 1: "Neutral", 2: "Contradiction"},
    "qnli": {0: "Entailment", 1: "Not Entailment"},
    "rte": {0: "Entailment", 1: "Not Entailment"},
    "wnli": {0: "Not Entailment", 1: "Entailment"},
}
STSB_MIDPOINT = 2.5


def _apply_fallback(preds: list, golds: list, *, mode: str, rng: random.Random | None,
                    wrong: Callable[[Any], Any] | None, pool: Sequence[Any]) -> list:
    """Replace -1 predictions: a seeded random draw from ``pool`` (``random``), or ``wrong(gold)``."""
    out = []
    for p, g in zip(preds, golds):
        if p == P.NO_PARSE:
            if mode == "random":
                if rng is None:
                    raise ValueError("fallback='random' needs a seeded random.Random")
                p = rng.choice(list(pool))
            elif wrong is not None:
                p = wrong(g)
        out.append(p)
    return out


class GLUE(DatasetProtocol):
    """GLUE (9 sub-tasks): CoLA MCC; MRPC/QQP accuracy + macro F1; STS-B Pearson + Spearman; others
    accuracy. Sub-task score = mean of its metric values; dataset = mean over sub-tasks."""

    name, cls_name, subsets = "GLUE", "GLUEDataset", P.GLUE_TASKS
    decomposable = False

    def parse(self, subset, output):
        return P.parse_glue(subset, output)

    def gold(self, subset, answer):
        return P.gold_number(answer)

    def subset_metrics(self, subset, items, parsed, *, fallback="none", rng=None):
        golds = [self.gold(subset, it.answer) for it in items]
        if subset in _GLUE_BINARY:
            wrong = lambda g: 1 - int(g)  # noqa: E731
        elif subset == "stsb":
            wrong = lambda g: STSB_MIDPOINT  # noqa: E731
        else:
            wrong = None
        pool = sorted(set(golds))  # the official draws from set(references)
        preds = _apply_fallback(list(parsed), golds, mode=fallback, rng=rng, wrong=wrong, pool=pool)
        if subset == "cola":
            return {"matthews_correlation": matthews(golds, preds)}
        if subset in ("mrpc", "qqp"):
            return {"accuracy": P.accuracy(preds, golds), "f1": macro_f1(golds, preds)}
        if subset == "stsb":
            return {"pearsonr": pearson(preds, golds), "spearmanr": spearman(preds, golds)}
        return {"accuracy": P.accuracy(preds, golds)}

    def reference_response(self, subset, answer, extra=None):
        g = self.gold(subset, answer)
        if subset == "stsb":
            return f"Answer: {answer}"
        return f"Answer: {_GLUE_LABEL_TEXT[subset][int(g)]}"


_SUPERGLUE_LABEL_TEXT = {
    "boolq": {0: "False", 1: "True"},
    "multirc": {0: "False", 1: "True"},
    "cb": {0: "Entailment", 1: "Contradiction", 2: "Neutral"},
    "copa": {0: "1", 1: "2"},
    "rte": {0: "Entailment", 1: "Not Entailment"},
    "wic": {0: "No", 1: "Yes"},
    "wsc": {0: "No", 1: "Yes"},
}


class SuperGLUE(DatasetProtocol):
    """SuperGLUE (8 sub-tasks) with the Hugging Face ``super_glue`` metric: accuracy; CB accuracy +
    macro F1; MultiRC exact match, F1_m, F1_a (per question); ReCoRD max-over-gold EM and F1."""

    name, cls_name, subsets = "SuperGLUE", "SuperGLUEDataset", P.SUPERGLUE_TASKS
    decomposable = False

    def parse(self, subset, output):
        return P.parse_superglue(subset, output)

    def unparsed(self, subset, output, parsed):
        if subset == "record":
            return not P.has_answer_marker(output)
        return parsed == P.NO_PARSE

    def gold(self, subset, answer):
        return P.gold_list(answer) if subset == "record" else P.gold_number(answer)

    def subset_metrics(self, subset, items, parsed, *, fallback="none", rng=None):
        golds = [self.gold(subset, it.answer) for it in items]
        preds = list(parsed)
        if subset == "record":
            pairs = [record_scores(str(p), g) for p, g in zip(preds, golds)]
            return {"exact_match": sum(e for e, _ in pairs) / len(pairs),
                    "f1": sum(f for _, f in pairs) / len(pairs)}
        if subset == "multirc":
            preds = _apply_fallback(preds, golds, mode=fallback, rng=rng,
                                    wrong=lambda g: 1 - int(g), pool=(0, 1))
            groups = [it.group if it.group is not None else i for i, it in enumerate(items)]
            return P.multirc_scores(groups, preds, golds)
        if subset == "cb":
            return {"accuracy": P.accuracy(preds, golds), "f1": macro_f1(golds, preds)}
        return {"accuracy": P.accuracy(preds, golds)}

    def reference_response(self, subset, answer, extra=None):
        g = self.gold(subset, answer)
        if subset == "record":
            return f"Answer: {g[0]}" if g else None
        return f"Answer: {_SUPERGLUE_LABEL_TEXT[subset][int(g)]}"


PROTOCOLS: dict[str, DatasetProtocol] = {p.cls_name: p for p in (
    GSM8K(), MMLUPro(), ARC(), GLUE(), SuperGLUE(), MBPP(), TableBench(), MathVerse(), SlidesVQA(),
    WikiSS())}


def subset_score(metrics: dict[str, float]) -> float:
    """Official sub-task score: the mean of its metric values (``np.mean(list(results.values()))``)."""
    if not metrics:
        raise ValueError("no metric values")
    return sum(metrics.values()) / len(metrics)


def dataset_score(subset_scores: dict[str, float]) -> float:
    """Official dataset score: the unweighted mean over its sub-tasks (``FinalScore``)."""
    if not subset_scores:
        raise ValueError("no sub-task scores")
    return sum(subset_scores.values()) / len(subset_scores)
