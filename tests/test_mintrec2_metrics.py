"""MIntRec2.0 metrics: the fixture's expected values on the real dev rows, scikit-learn on random
predictions, the official row/column F1 by hand, DOC thresholds by hand, the linear probe."""

import csv
import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from mmharness.loaders.mintrec2 import INTENT_LABELS
from mmharness.metrics.open_set import (
    cm_labels,
    confusion,
    doc_fit,
    doc_predict,
    doc_probabilities,
    f_measure,
    in_scope_metrics,
    ood_auroc,
    open_set_metrics,
    sigmoid,
)
from mmharness.metrics.probe import cross_validated_probe, linear_probe, majority_baseline


@pytest.fixture
def dev_gold(fixtures_dir):
    with open(fixtures_dir / "mintrec2" / "in_scope_dev_from_MMLA.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    return np.array([INTENT_LABELS.index(r[3]) for r in rows])


@pytest.fixture
def expected(fixtures_dir):
    return json.loads((fixtures_dir / "mintrec2" / "synthetic_expected_metrics.json").read_text())["expected"]


def test_in_scope_fixture_values(dev_gold, expected):
    a = in_scope_metrics(dev_gold, np.full_like(dev_gold, 17))
    for k, v in expected["A_constant_Inform"].items():
        assert a[k] == pytest.approx(v, abs=1e-15), k
    pb = np.where(np.arange(len(dev_gold)) % 2 == 0, dev_gold, 17)
    b = in_scope_metrics(dev_gold, pb)
    for k, v in expected["B_gold_even_rows_Inform_odd"].items():
        assert b[k] == pytest.approx(v, abs=1e-15), k


def test_open_set_fixture_values(dev_gold, expected):
    pb = np.where(np.arange(len(dev_gold)) % 2 == 0, dev_gold, 17)
    y = np.concatenate([dev_gold, np.full(100, 30)])
    p = np.concatenate([pb, np.full(60, 30), np.full(40, 17)])
    c = open_set_metrics(y, p, 30)
    e = expected["C_oid_pB_plus_100_UNK"]
    for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
        assert c[k] == pytest.approx(e[k], abs=1e-15), k
    assert len(c["labels"]) == e["n_classes_in_cm"]
    keep = y != INTENT_LABELS.index("Refuse")
    for mode, name in (("fixed", "D_C_without_Refuse_rows_labels_range31"),
                       ("present", "D_C_without_Refuse_rows_no_labels_arg"),
                       ("present_plus_unk", "D_C_without_Refuse_rows_no_labels_arg")):
        d = open_set_metrics(y[keep], p[keep], 30, mode)
        for k in ("oid_acc", "f1-known", "f1-open", "oid_f1"):
            assert d[k] == pytest.approx(expected[name][k], abs=1e-15), (mode, k)
        assert len(d["labels"]) == expected[name]["n_classes_in_cm"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_equal_sklearn_and_the_row_column_formula_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 31, 400)
    p = np.where(rng.random(400) < 0.4, y, rng.integers(0, 31, 400))
    is_ = y != 30
    m = in_scope_metrics(y[is_], np.minimum(p[is_], 29))
    t, q = y[is_], np.minimum(p[is_], 29)
    assert m["acc"] == accuracy_score(t, q)
    assert m["weighted_f1"] == pytest.approx(f1_score(t, q, average="weighted", zero_division=0))
    assert m["weighted_prec"] == pytest.approx(precision_score(t, q, average="weighted", zero_division=0))
    assert m["rec"] == pytest.approx(recall_score(t, q, average="macro", zero_division=0))
    assert m["f1"] == pytest.approx(f1_score(t, q, average="macro", zero_division=0))
    o = open_set_metrics(y, p, 30)
    labels = sorted(set(y) | set(p) | {30})
    cm = confusion_matrix(y, p, labels=labels)
    assert o["confusion_matrix"] == cm.tolist()
    # hand computation of the official F-measure
    fs = []
    for i in range(len(labels)):
        r = cm[i, i] / cm[i].sum() if cm[i].sum() else 0
        pr = cm[i, i] / cm[:, i].sum() if cm[:, i].sum() else 0
        fs.append(2 * r * pr / (r + pr) if r + pr else 0)
    assert o["f1-known"] == pytest.approx(np.mean(fs[:-1]))
    assert o["f1-open"] == pytest.approx(fs[-1])
    assert o["oid_f1"] == pytest.approx(np.mean(fs))
    assert o["oid_acc"] == accuracy_score(y, p)


def test_unk_is_always_the_last_row_by_default():
    y, p = np.array([0, 1, 2]), np.array([0, 2, 2])
    assert cm_labels(y, p, 30) == [0, 1, 2, 30]
    assert cm_labels(y, p, 30, "present") == [0, 1, 2]
    assert cm_labels(y, p, 30, "fixed") == list(range(31))
    cm = confusion(y, p, [0, 1, 2, 30])
    assert cm.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert f_measure(cm)["f1-open"] == 0.0
    with pytest.raises(ValueError, match="outside 0..30"):
        cm_labels([31], [0], 30)


def test_doc_thresholds_by_hand(expected):
    e = expected["DOC_example"]
    th = doc_fit(np.array([[0.9], [0.8], [0.95]]), np.array([0, 0, 0]), 1)
    assert th.mu[0] == pytest.approx(e["mu"], abs=1e-15)
    assert th.sigma[0] == pytest.approx(e["std"], abs=1e-15)
    assert th.threshold[0] == pytest.approx(e["threshold_scale1"], abs=1e-15)
    # scale 2: 1 - 2 * 0.1323 = 0.735 ; a class with no training row: threshold 0.5 (official max(0.5, nan))
    P = np.array([[0.9, 0.1, 0.2], [0.8, 0.3, 0.1], [0.95, 0.2, 0.4], [0.2, 0.6, 0.1]])
    th2 = doc_fit(P, np.array([0, 0, 0, 1]), 3, scale=2.0)
    assert th2.threshold[0] == pytest.approx(1 - 2 * e["std"])
    assert th2.threshold[1] == 0.5  # sigma of {0.6, 1.4} = 0.4 -> max(0.5, 0.2)
    assert th2.threshold[2] == 0.5 and np.isnan(th2.sigma[2]) and th2.n.tolist() == [3, 1, 0]
    # prediction: argmax if strictly above its threshold, else UNK (= 3 here)
    # thresholds at scale 1: class 0: 0.8677, class 1: max(0.5, 1 - 0.4) = 0.6, class 2: 0.5
    test = np.array([[0.86, 0.1, 0.1], [0.88, 0.1, 0.1], [0.2, 0.55, 0.1], [0.2, 0.65, 0.1],
                     [0.1, 0.2, 0.5], [0.1, 0.2, 0.51]])
    th1 = doc_fit(P, np.array([0, 0, 0, 1]), 3, scale=1.0)
    assert th1.threshold[1] == pytest.approx(0.6)
    assert doc_predict(test, th1, 3).tolist() == [3, 0, 3, 1, 3, 2]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        doc_fit(np.array([[1.5]]), np.array([0]), 1)


def official_doc(train_logits, train_y, test_logits, num_labels, scale=1.0):
    """MIntRec2.0 ``methods/single_turn/TEXT/manager_ood.py`` at 38cb8bf: ``_get_outputs``'s y_logit
    (torch.sigmoid of the float32 logits), ``cal_mu_std`` / ``fit`` (scipy ``norm.fit``) and
    ``classify_doc``, transcribed. One spelling differs: in the official environment (numpy 1.23,
    checked) ``2 - p`` of a float32 scalar p is float64, so ``norm.fit`` gets a float64 array; numpy 2
    would keep float32, hence the explicit ``np.float64`` below."""
    from scipy.stats import norm as dist_model

    y_prob = torch.sigmoid(torch.tensor(np.asarray(train_logits), dtype=torch.float32)).numpy()
    test_prob = torch.sigmoid(torch.tensor(np.asarray(test_logits), dtype=torch.float32)).numpy()
    mu_stds = []
    for i in range(num_labels):
        prob_pos_X = y_prob[np.asarray(train_y) == i, i]
        prob_pos = [np.float64(p) for p in prob_pos_X] + [2 - np.float64(p) for p in prob_pos_X]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class without training rows: nan, as officially
            mu_stds.append(dist_model.fit(prob_pos))
    y_pred = []
    for p in test_prob:
        max_class = np.argmax(p)
        max_value = np.max(p)
        threshold = max(0.5, 1 - scale * mu_stds[max_class][1])
        y_pred.append(max_class if max_value > threshold else num_labels)
    return np.array(y_pred)


def test_doc_float32_sigmoid_saturates_and_the_first_class_wins():
    z = np.array([[18.0, 25.0, -3.0], [25.0, 18.0, -3.0], [3.0, 4.0, -3.0]])
    p32, p64 = doc_probabilities(z, "float32"), doc_probabilities(z, "float64")
    assert p32.dtype == np.float64 and p32[0, 0] == p32[0, 1] == 1.0  # float32: both exactly 1.0
    assert p64[0, 0] < p64[0, 1] < 1.0  # float64: 1 - 1.5e-8 < 1 - 1.4e-11
    assert p32.argmax(1).tolist() == [0, 0, 1]  # the tie goes to the first class (np.argmax)
    assert p64.argmax(1).tolist() == [1, 0, 1]
    assert np.array_equal(p32, p32.astype(np.float32).astype(np.float64))  # float32 values, exactly
    assert np.array_equal(p64, sigmoid(z))
    # the DOC prediction of the saturated row: class 0 officially (float32), class 1 in float64
    train_z = np.array([[3.0, -2.0, -2.0], [-2.0, 4.0, -2.0], [-2.0, -2.0, 2.0], [5.0, -1.0, -1.0],
                        [-1.0, 6.0, -1.0]])  # thresholds of classes 0 and 1 below 1
    train_y = np.array([0, 1, 2, 0, 1])
    th32 = doc_fit(doc_probabilities(train_z, "float32"), train_y, 3)
    th64 = doc_fit(doc_probabilities(train_z, "float64"), train_y, 3)
    assert 0.5 < th32.threshold[0] < 1.0 and 0.5 < th32.threshold[1] < 1.0
    assert doc_predict(doc_probabilities(z, "float32"), th32, 3)[0] == 0
    assert doc_predict(doc_probabilities(z, "float64"), th64, 3)[0] == 1
    assert doc_predict(doc_probabilities(z, "float32"), th32, 3).tolist() == official_doc(train_z, train_y, z, 3).tolist()
    with pytest.raises(ValueError, match="DOC precision"):
        doc_probabilities(z, "float16")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_doc_float32_path_reproduces_the_official_rule(seed):
    rng = np.random.default_rng(seed)
    n_classes = 6
    train_y = np.repeat(np.arange(n_classes), 20)
    train_z = (rng.standard_normal((train_y.size, n_classes)) * 3 - 4).astype(np.float32)
    train_z[np.arange(train_y.size), train_y] += rng.uniform(8, 30, train_y.size).astype(np.float32)
    test_z = (rng.standard_normal((300, n_classes)) * 12).astype(np.float32)  # many logits above 17
    official = official_doc(train_z, train_y, test_z, n_classes)
    for scale in (1.0, 2.0):
        th = doc_fit(doc_probabilities(train_z, "float32"), train_y, n_classes, scale)
        got = doc_predict(doc_probabilities(test_z, "float32"), th, n_classes)
        assert got.tolist() == official_doc(train_z, train_y, test_z, n_classes, scale).tolist()
        # the thresholds themselves equal the official max(0.5, 1 - scale * sigma) bit for bit
    th = doc_fit(doc_probabilities(train_z, "float32"), train_y, n_classes)
    p = torch.sigmoid(torch.tensor(train_z)).numpy()
    from scipy.stats import norm

    for c in range(n_classes):
        x = p[train_y == c, c]
        sigma = norm.fit([np.float64(v) for v in x] + [2 - np.float64(v) for v in x])[1]
        assert th.threshold[c] == max(0.5, 1 - 1.0 * sigma)
    # float64 picks another class on some saturated rows: the precision matters
    th64 = doc_fit(doc_probabilities(train_z, "float64"), train_y, n_classes)
    f64 = doc_predict(doc_probabilities(test_z, "float64"), th64, n_classes)
    assert (f64 != official).any()


def test_sigmoid_and_ood_auroc():
    assert sigmoid([0.0, 1000.0, -1000.0]).tolist() == [0.5, 1.0, 0.0]
    assert ood_auroc([0.9, 0.8, 0.3, 0.4], [True, True, False, False]) == 1.0
    assert np.isnan(ood_auroc([0.9, 0.8], [True, True]))


def _clusters(n_per, n_classes, dim, seed, spread=0.6):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * 2
    y = np.repeat(np.arange(n_classes), n_per)
    X = centres[y] + spread * rng.standard_normal((len(y), dim))
    return X, y


def test_linear_probe_selects_c_on_dev_and_is_deterministic():
    X, y = _clusters(30, 5, 8, 0)
    Xd, yd = _clusters(10, 5, 8, 0)
    Xt, yt = _clusters(10, 5, 8, 0)
    r1 = linear_probe(X, y, Xd, yd, Xt, n_classes=30)
    r2 = linear_probe(X, y, Xd, yd, Xt, n_classes=30)
    assert np.array_equal(r1.scores, r2.scores) and r1.chosen_c == r2.chosen_c
    assert r1.scores.shape == (50, 30)
    assert (r1.scores[:, 5:] == -1e4).all()  # classes never seen in training rank last
    assert np.mean(r1.scores.argmax(1) == yt) > 0.9
    best = max(r1.selection, key=lambda r: r["dev_acc"])
    assert r1.chosen_c == [best["C"]] and r1.folds[0].train_scores.shape == (150, 30)
    assert majority_baseline([3, 1, 1, 3], 2)[0] == 1  # ties: smallest id


def test_cross_validated_probe_scores_every_row_out_of_fold():
    X, y = _clusters(20, 4, 6, 1)
    groups = np.arange(len(y)) // 4  # 20 "dialogues" of 4 rows
    fit = y != 3  # class 3 plays "out of scope": scored, never fitted on
    r = cross_validated_probe(X, y, groups, n_classes=5, fit_mask=fit, folds=5, seed=0)
    assert sorted(np.concatenate([f.test for f in r.folds]).tolist()) == list(range(len(y)))
    for f in r.folds:
        assert set(groups[f.test]).isdisjoint(groups[f.train])  # no dialogue split across fit/score
        assert fit[f.train].all()
    assert (r.scores[:, 3] == -1e4).all()
    assert np.mean(r.scores.argmax(1)[fit] == y[fit]) > 0.9
    assert len(r.chosen_c) == 5 and r.majority_pred.shape == y.shape
    with pytest.raises(ValueError, match="at least 5 groups"):
        cross_validated_probe(X[:8], y[:8], groups[:8], 5)
