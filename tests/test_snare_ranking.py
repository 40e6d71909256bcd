"""SNARE ranking metrics: the fixture's expected top-n rates, the official tie rule (checked against
a transcription of the official ``top_n_accuracy`` with a stable sort), strict ties, semantic records."""

import json

import numpy as np
import pytest

from mmharness.metrics.ranking import (
    gold_hits,
    option_ranks,
    subgroup_top_n,
    top_n_rates,
    winner_records,
    winners,
)


@pytest.fixture
def scoring(fixtures_dir):
    return json.loads((fixtures_dir / "snare" / "scoring_example.json").read_text())


def official_top_n_accuracy(predictions, targets, n):
    """Transcription of snare/datasets_zoo/utils.py::top_n_accuracy with a *stable* argsort (the
    numpy-1.x behaviour the official numbers rely on)."""
    predictions = predictions[:, ::-1]
    targets = targets[:, ::-1]
    sorted_indexes = np.argsort(predictions, axis=1, kind="stable")[:, ::-1]
    correct = 0
    for i in range(len(targets)):
        if np.where(targets[i] == 1) in sorted_indexes[i][:n]:
            correct += 1
    return correct / len(targets), correct


def test_fixture_vg_style_rates(scoring):
    case = scoring["vg_style"]
    ranks = option_ranks(np.array(case["scores"]))
    exp = case["expected"]
    for n in (1, 2):
        rates = top_n_rates(ranks, n)
        for j, name in enumerate(case["class_names"]):
            assert rates[j] == pytest.approx(exp[f"{name}_top-{n}"])
    counts = (ranks == 0).sum(axis=0)
    assert [int(c) for c in counts] == [exp[f"{c}_count"] for c in case["class_names"]]


def test_fixture_semantic_argmax_and_records(scoring):
    case = scoring["semantic_structure"]
    pred = winners(np.array(case["scores"]))
    assert pred.tolist() == case["expected_argmax"]
    names = ["Correct", "shuffle_nouns_and_verb_adj", "shuffle_allbut_nouns_verb_adj", "shuffle_all_words"]
    assert winner_records(pred, names) == case["expected_records"]


@pytest.mark.parametrize("n_options", [2, 3, 4])
def test_rank_formula_equals_official_code_with_stable_sort(n_options):
    rng = np.random.default_rng(n_options)
    scores = rng.integers(0, 3, size=(400, n_options)).astype(np.float64)  # many ties
    ranks = option_ranks(scores, "earlier")
    for j in range(n_options):
        targets = np.zeros((400, n_options))
        targets[:, j] = 1
        for n in range(1, n_options + 1):
            acc, count = official_top_n_accuracy(scores, targets, n)
            assert top_n_rates(ranks, n)[j] == pytest.approx(acc)
            assert int((ranks[:, j] < n).sum()) == count


def test_earlier_rule_gives_exactly_one_winner_and_rates_sum_to_one():
    scores = np.array([[1.0, 1.0, 1.0, 1.0], [0.2, 0.5, 0.5, 0.1], [3.0, 2.0, 2.0, 3.0]])
    ranks = option_ranks(scores)
    assert ranks.tolist() == [[0, 1, 2, 3], [2, 0, 1, 3], [0, 2, 3, 1]]
    assert top_n_rates(ranks, 1).sum() == pytest.approx(1.0)


def test_strict_ties_count_a_tie_with_the_positive_as_a_miss():
    scores = np.array([[1.0, 1.0], [2.0, 1.0], [0.0, 0.0]])
    strict = option_ranks(scores, "strict")
    assert strict.tolist() == [[1, 1], [0, 1], [1, 1]]
    assert top_n_rates(strict, 1).tolist() == pytest.approx([1 / 3, 0.0])
    assert winners(scores, "strict").tolist() == [-1, 0, -1]
    assert winner_records(winners(scores, "strict"), ["a", "b"]) == [{"Relation": "a", "Accuracy": 1 / 3, "Count": 1}]


def test_gold_hits_top_n_classification():
    scores = np.array([[0.1, 0.9, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1]])
    ranks = option_ranks(scores)
    assert gold_hits(ranks, [2, 3], 1).tolist() == [False, False]
    assert gold_hits(ranks, [2, 3], 2).tolist() == [True, False]
    assert gold_hits(ranks, [2, 3], 4).tolist() == [True, True]
    with pytest.raises(ValueError, match="gold indices"):
        gold_hits(ranks, [4, 0], 1)


def test_subgroup_rows_keep_only_groups_of_at_least_min_count_in_sorted_order():
    ranks = option_ranks(np.tile([[0.9, 0.1]], (60, 1)))
    groups = ["on"] * 25 + ["wearing"] * 24 + ["above"] * 11
    rows = subgroup_top_n(ranks, groups, (1,), min_count=25)
    assert [r["group"] for r in rows] == ["on"]
    assert rows[0]["count"] == 25 and rows[0]["rates"][1] == [1.0, 0.0]
    rows = subgroup_top_n(ranks, groups, (1, 2), min_count=10)
    assert [r["group"] for r in rows] == ["above", "on", "wearing"]


def test_bad_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        option_ranks(np.array([[0.1, np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        option_ranks(np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="ties"):
        option_ranks(np.array([[0.1, 0.2]]), "random")
