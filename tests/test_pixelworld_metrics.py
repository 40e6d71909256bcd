"""PixelWorld parsers and metrics on hand-written outputs with their official parses, and the text
and correlation metrics they use."""

import json
import random

import numpy as np
import pytest

from mmharness.metrics import pixelworld as P
from mmharness.metrics.correlation import average_ranks, macro_f1, matthews, pearson, spearman
from mmharness.metrics.pixelworld_scoring import PROTOCOLS, ScoredItem, dataset_score, subset_score
from mmharness.metrics.text import exact_match, normalize_answer, record_scores, rouge_l, squad_f1, tablebench_rouge_l


def test_fixture_parse_cases(fixtures_dir):
    cases = json.loads((fixtures_dir / "pixelworld" / "parse_cases.json").read_text())["cases"]
    assert len(cases) == 18
    gsm = PROTOCOLS["GSM8KDataset"]
    for c in cases:
        if c["dataset"] == "GSM8K":
            parsed = P.parse_gsm8k(c["output"])
            assert parsed == c["parsed"], c
            assert gsm.item_score(ScoredItem("main", c["output"], c["reference"]), parsed) == c["exact_match"]
        elif c["dataset"] == "MMLU-Pro":
            assert P.parse_mmlu_pro(c["output"]) == c["parsed_index"], c
        else:
            assert P.parse_arc(c["output"]) == c["parsed"], c


@pytest.mark.parametrize("task,output,expected", [
    ("cola", "Answer: Unacceptable", 0), ("cola", "Answer: Acceptable", 1), ("cola", "I am unsure", -1),
    ("sst2", "answer: Positive", 1),                     # lower-case marker: whole text kept, still parsed
    ("sst2", "ANSWER: negative, not positive", 0),       # negative is checked first
    ("mrpc", "Answer: Not Paraphrase", 0), ("mrpc", "Answer: Paraphrase", 1),
    ("qqp", "Answer: not duplicate", 0), ("qqp", "Answer: Duplicate", 1),
    ("stsb", "Answer: 3.5", 3.5), ("stsb", "Answer: 4", 4.0), ("stsb", "Answer: 3 or 4", -1),
    ("stsb", "Answer: 7.2", -1), ("stsb", "Reasoning: similar 2 sentences\nAnswer: 4.5", 4.5),
    ("mnli", "Answer: Entailment", 0), ("mnli", "Answer: Neutral", 1), ("mnli", "Answer: Contradiction", 2),
    ("mnli", "Answer: entailment or neutral", -1),
    ("qnli", "Answer: Not Entailment", 1), ("qnli", "Answer: Entailment", 0),
    ("rte", "Answer: Not Entailment", 1), ("wnli", "Answer: Not Entailment", 0), ("wnli", "Answer: Entailment", 1),
])
def test_glue_parser(task, output, expected):
    assert P.parse_glue(task, output) == expected


@pytest.mark.parametrize("task,output,expected", [
    ("boolq", "Answer: True", 1), ("boolq", "Answer: False", 0), ("boolq", "Answer: true or false", -1),
    ("cb", "Answer: Contradiction", 1), ("cb", "Answer: Neutral", 2), ("cb", "Answer: Entailment", 0),
    ("copa", "Answer: 2", 1), ("copa", "Answer: 1", 0), ("copa", "Answer: 1 or 2", -1),
    ("multirc", "Answer: True", 1), ("rte", "Answer: Not Entailment", 1),
    ("wic", "Answer: Yes", 1), ("wic", "Answer: No", 0),
    ("wsc", "Answer: I know, yes", -1),                  # official quirk: "know" contains "no"
    ("record", "Reasoning: ...\nAnswer: Lena Park", "Lena Park"),
])
def test_superglue_parser(task, output, expected):
    assert P.parse_superglue(task, output) == expected


def test_other_parsers():
    assert P.parse_mbpp("Answer:\n```python\ndef f():\n    return 1\n```") == "def f():\n    return 1\n"
    assert P.parse_mbpp("Answer: [def f(): pass]") == "def f(): pass"
    assert P.parse_tablebench("Reasoning: x\nFinal Answer: [[7]]") == "7"
    assert P.parse_doc_qa("Answer: [[Paris]]") == "[Paris]"  # one pair only
    assert P.parse_mathverse("Answer: b") == 1 and P.parse_mathverse("Answer: 5") == -1
    assert P.arc_code("C") == 7 and P.arc_code("3") == 3 and P.arc_code(-1) == -1
    assert P.gold_list("['a', 'b c']") == ["a", "b c"] and P.gold_list("plain, text") == ["plain, text"]
    with pytest.raises(ValueError, match="not an option letter"):
        P.gold_letter_index("K")


def test_text_metrics_by_hand():
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    assert tablebench_rouge_l("The cat sat on the mat.", "cat is on mat") == pytest.approx(0.75)
    assert tablebench_rouge_l("", "anything") == 0.0 and rouge_l("x", "") == 0.0
    assert rouge_l("7,400", "7400") == 0.0  # tokens "7" "400" vs "7400"
    assert tablebench_rouge_l("7,400", "7400") == 1.0  # punctuation removed first
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert squad_f1("Barack Obama", "Obama") == pytest.approx(2 / 3)
    assert record_scores("the Lena Park", ["Park", "Lena Park"]) == (1.0, 1.0)
    assert record_scores("Lena", ["Lena Park"]) == (0.0, pytest.approx(2 / 3))
    assert exact_match(["366", "366."], ["366", "366"]) == 0.5


def test_correlations_match_scipy_and_sklearn():
    from scipy import stats
    from sklearn.metrics import f1_score, matthews_corrcoef

    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 40).astype(float)
    y = x + rng.normal(0, 1.5, 40)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert np.array_equal(average_ranks([3, 1, 3, 2]), stats.rankdata([3, 1, 3, 2]))
    assert np.isnan(pearson([2.5, 2.5, 2.5], [1, 2, 3]))
    a, b = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert matthews(a, b) == pytest.approx(matthews_corrcoef(a, b))
    assert macro_f1(a, b) == pytest.approx(f1_score(a, b, average="macro"))


def _items(subset, outputs, answers, groups=None):
    return [ScoredItem(subset, o, a, g) for o, a, g in zip(outputs, answers, groups or [None] * len(outputs))]


def test_glue_unparsed_default_is_wrong_and_random_fallback_is_seeded():
    glue = PROTOCOLS["GLUEDataset"]
    outs = ["Answer: Acceptable", "Answer: ???", "Answer: Unacceptable", "Answer: ???"]
    items = _items("cola", outs, ["1", "0", "0", "1"])
    parsed = [glue.parse("cola", o) for o in outs]
    assert parsed == [1, -1, 0, -1]
    # default: -1 becomes the wrong label -> preds [1, 1, 0, 0] vs gold [1, 0, 0, 1]
    assert glue.subset_metrics("cola", items, parsed)["matthews_correlation"] == pytest.approx(0.0)
    r1 = glue.subset_metrics("cola", items, parsed, fallback="random", rng=random.Random(5))
    r2 = glue.subset_metrics("cola", items, parsed, fallback="random", rng=random.Random(5))
    assert r1 == r2
    stsb = _items("stsb", ["Answer: 4.0", "Answer: none", "Answer: 1.0"], ["4.5", "2.0", "0.5"])
    m = glue.subset_metrics("stsb", stsb, [4.0, -1, 1.0])
    # the unparsed answer counts as the midpoint 2.5
    assert m["pearsonr"] == pytest.approx(pearson([4.0, 2.5, 1.0], [4.5, 2.0, 0.5]))
    mrpc = glue.subset_metrics("mrpc", _items("mrpc", ["a"] * 4, ["1", "1", "0", "0"]), [1, 0, 0, 0])
    assert mrpc["accuracy"] == 0.75 and mrpc["f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_superglue_multirc_record_and_cb():
    sg = PROTOCOLS["SuperGLUEDataset"]
    items = _items("multirc", ["x"] * 5, ["1", "0", "1", "1", "0"], ["q1", "q1", "q2", "q2", "q2"])
    m = sg.subset_metrics("multirc", items, [1, 0, 1, 0, -1])  # -1 -> wrong (1 - gold = 1)
    # q1 all right; q2 preds [1, 0, 1] vs gold [1, 1, 0]
    assert m["exact_match"] == 0.5
    from sklearn.metrics import f1_score

    f1_q2 = f1_score([1, 1, 0], [1, 0, 1], average="macro")
    assert m["f1_m"] == pytest.approx((1.0 + f1_q2) / 2)
    assert m["f1_a"] == pytest.approx(f1_score([1, 0, 1, 1, 0], [1, 0, 1, 0, 1]))
    rec = sg.subset_metrics("record", _items("record", ["", ""], ["['Oslo']", "['Lena Park', 'Park']"]),
                            ["oslo", "Lena"])
    assert rec["exact_match"] == 0.5 and rec["f1"] == pytest.approx((1 + 2 / 3) / 2)
    cb = sg.subset_metrics("cb", _items("cb", ["x"] * 3, ["0", "1", "2"]), [0, 1, -1])
    # the official passes -1 to the macro F1 as its own class (no fallback for CB)
    assert cb["accuracy"] == pytest.approx(2 / 3)
    assert cb["f1"] == pytest.approx(f1_score([0, 1, 2], [0, 1, -1], average="macro"))
    assert subset_score(cb) == pytest.approx((cb["accuracy"] + cb["f1"]) / 2)
    assert dataset_score({"a": 0.5, "b": 1.0}) == 0.75


def test_mathverse_official_quirk_and_strict_score():
    mv = PROTOCOLS["MathverseDataset"]
    it = ScoredItem("main", "I cannot tell", "12")  # a free-form gold parses to -1 ...
    assert mv.item_score(it, mv.parse("main", it.output)) == 1.0  # ... and so does the output: "correct"
    assert mv.strict_item_score(it, mv.parse("main", it.output)) == 0.0


def test_arc_digit_five_matches_letter_a_as_officially():
    # the official label codes map A-E to 5-9, so digit 5 and letter A share a code
    assert P.arc_code("5") == P.arc_code("A") == 5
    arc = PROTOCOLS["ARCDataset"]
    for out, gold, score in (("Answer: 5", "A", 1.0), ("Answer: A", "5", 1.0), ("Answer: 4", "A", 0.0),
                             ("Answer: B", "5", 0.0), ("Answer: 1", "1", 1.0)):
        it = ScoredItem("ARC-Easy", out, gold)
        assert arc.item_score(it, arc.parse("ARC-Easy", out)) == score, (out, gold)


def test_reference_responses_parse_back_to_gold():
    cases = [("GSM8KDataset", "main", "366"), ("MMLUProDataset", "math", "J"), ("ARCDataset", "ARC-Easy", "4"),
             ("TableBenchDataset", "FactChecking", "Yes"), ("WikiSS_QADataset", "main", "['a', 'b']"),
             ("MathverseDataset", "main", "C")]
    for cls, sub, ans in cases:
        proto = PROTOCOLS[cls]
        out = proto.reference_response(sub, ans)
        assert proto.item_score(ScoredItem(sub, out, ans), proto.parse(sub, out)) == 1.0, cls
    glue, sg = PROTOCOLS["GLUEDataset"], PROTOCOLS["SuperGLUEDataset"]
    for sub in P.GLUE_TASKS:
        for gold in (["0", "1"] if sub not in ("stsb", "mnli") else (["0", "1", "2"] if sub == "mnli" else ["3.2"])):
            assert glue.parse(sub, glue.reference_response(sub, gold)) == glue.gold(sub, gold), (sub, gold)
    for sub in ("boolq", "cb", "copa", "multirc", "rte", "wic", "wsc"):
        for gold in ["0", "1"]:
            assert sg.parse(sub, sg.reference_response(sub, gold)) == int(gold), (sub, gold)
