"""RefAVA metrics: the fixture's expected values, scikit-learn's weighted averages on random data,
IoU by hand, the IoU gate on raw logits, subset accuracy, undefined AUROC columns."""

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from mmharness.metrics.multilabel import (
    box_iou,
    iou_gate,
    kept_classes,
    multilabel_scores,
    subset_accuracy,
)


@pytest.fixture
def example(fixtures_dir):
    return json.loads((fixtures_dir / "refava" / "synthetic_metric_example.json").read_text())


def test_fixture_example_exact(example):
    y = np.array(example["labels_multi_hot"])
    s = np.array(example["logits"])
    e = example["expected"]
    m = multilabel_scores(y, s)
    assert m.kept.tolist() == e["kept_class_indices"]
    assert m.support.tolist() == e["support"]
    assert m.ap.tolist() == pytest.approx(e["ap_per_class"], abs=1e-15)
    assert m.auroc.tolist() == pytest.approx(e["auroc_per_class"], abs=1e-15)
    assert m.map_weighted == pytest.approx(e["map_weighted"], abs=1e-15)
    assert m.map_macro == pytest.approx(e["map_macro"], abs=1e-15)
    assert m.auroc_weighted == pytest.approx(e["auroc_weighted"], abs=1e-15)
    assert m.auroc_macro == pytest.approx(e["auroc_macro"], abs=1e-15)
    assert subset_accuracy(y, s) == e["subset_acc_at_0.5"]
    iou = box_iou(example["pred_boxes_xyxy"], example["gt_boxes_xyxy"])
    assert iou.tolist() == pytest.approx(e["ious"], abs=1e-15)
    assert iou.mean() == pytest.approx(e["miou"], abs=1e-15)
    gated = multilabel_scores(y, iou_gate(s, iou, 0.5))
    assert gated.map_weighted == pytest.approx(e["map_weighted_with_iou_gate"], abs=1e-15)
    assert gated.auroc_weighted == pytest.approx(e["auroc_weighted_with_iou_gate"], abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_means_equal_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((60, 80)) < 0.05).astype(int)
    y[:, 7] = 0  # a class without positives is dropped
    y[0, 3] = 1
    s = rng.standard_normal((60, 80))
    kept = kept_classes(y)
    assert 7 not in kept.tolist() and 3 in kept.tolist()
    m = multilabel_scores(y, s)
    ap_w = average_precision_score(y[:, kept], s[:, kept], average="weighted")
    assert m.map_weighted == pytest.approx(ap_w, abs=1e-12)
    assert m.map_macro == pytest.approx(average_precision_score(y[:, kept], s[:, kept], average="macro"), abs=1e-12)
    assert m.auroc_weighted == pytest.approx(roc_auc_score(y[:, kept], s[:, kept], average="weighted"), abs=1e-12)
    assert m.auroc_macro == pytest.approx(roc_auc_score(y[:, kept], s[:, kept], average="macro"), abs=1e-12)
    assert m.auroc_weighted_corrected == m.auroc_weighted  # no class without a negative here
    # the weighted mean is the support-weighted mean of the per-class values (hand computation)
    assert m.map_weighted == pytest.approx(float((m.support * m.ap).sum() / m.support.sum()), abs=1e-12)


def test_iou_by_hand():
    # overlap 5x5 = 25; areas 100 and 100 -> 25 / 175
    assert box_iou([[0, 0, 10, 10]], [[5, 5, 15, 15]])[0] == pytest.approx(25 / 175)
    assert box_iou([[0, 0, 10, 10]], [[10, 0, 20, 10]])[0] == 0.0  # touching edges: no overlap
    assert box_iou([[0, 0, 0, 0]], [[0, 0, 0, 0]])[0] == 0.0  # zero union
    # invariant to a shared (even anisotropic) scaling: normalised vs pixel units
    a, b = np.array([[0.1, 0.2, 0.5, 0.9]]), np.array([[0.2, 0.1, 0.6, 0.8]])
    scale = np.array([465, 340, 465, 340])
    assert box_iou(a, b)[0] == pytest.approx(box_iou(a * scale, b * scale)[0])


def test_gate_zeroes_raw_logits_which_outrank_negative_ones():
    y = np.array([[1, 0], [0, 1], [1, 0]])
    s = np.array([[-3.0, -4.0], [-4.0, 2.0], [-2.0, -5.0]])
    assert multilabel_scores(y, s).ap[0] == 1.0  # positives -3, -2 above the negative -4
    gated = iou_gate(s, [0.9, 0.2, 0.9])
    assert gated.tolist() == [[-3.0, -4.0], [0.0, 0.0], [-2.0, -5.0]]
    # the gated negative's 0 now outranks both positives: AP = (1/2 + 2/3) / 2
    assert multilabel_scores(y, gated).ap[0] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_subset_accuracy_threshold_is_logit_zero():
    y = np.array([[1, 0, 1], [0, 1, 0]])
    s = np.array([[0.1, -0.1, 2.0], [0.0, 1.0, -1.0]])  # row 2: logit 0 is not > 0 -> correct
    assert subset_accuracy(y, s) == 1.0
    assert subset_accuracy(y, s + 0.15) == 0.0  # row 1 class 1 and row 2 class 0 flip to positive


def _roc_auc_score_sklearn_1_2_1(y_true, y_score, average):
    """scikit-learn 1.2.1's roc_auc_score on a multi-hot matrix: ValueError as soon as one column has
    a single class (checked against 1.2.1 itself; 1.9 returns NaN with a warning instead)."""
    for c in range(y_true.shape[1]):
        if len(np.unique(y_true[:, c])) != 2:
            raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    return roc_auc_score(y_true, y_score, average=average)


def official_get_auc(preds, labels):
    """RAVAR test.py::get_auc at 7f230c5, verbatim but for the logger line and the scikit-learn version."""
    preds = preds[:, ~(np.all(labels == 0, axis=0))]
    labels = labels[:, ~(np.all(labels == 0, axis=0))]
    aps = [0]
    try:
        aps = _roc_auc_score_sklearn_1_2_1(labels, preds, average="weighted")
    except ValueError:
        pass
    return np.mean(aps)


def test_undefined_auroc_column_official_zero_and_corrected_value():
    y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0]])  # class 0 positive everywhere, class 2 never
    s = np.array([[0.2, 0.9, 0.5], [0.1, 0.1, 0.4], [0.3, 0.8, 0.3]])
    m = multilabel_scores(y, s)
    assert m.auroc_undefined == [0]
    # official: get_auc catches scikit-learn's ValueError and reports 0.0 for the whole metric
    assert m.auroc_weighted == 0.0 == official_get_auc(s, y)
    # corrected: the undefined class left out of the support-weighted mean (the harness's former value)
    assert m.auroc_weighted_corrected == pytest.approx(roc_auc_score(y[:, 1], s[:, 1])) == 1.0
    assert m.auroc_macro == 1.0 and np.isnan(m.auroc[0])
    assert m.map_weighted == pytest.approx((3 * 1.0 + 2 * 1.0) / 5)
    # the IoU-gated variant has the same labels, hence the same official 0.0
    # by hand: gating row 0 sets its class-1 score (a positive) to 0, below the negative's 0.1; the
    # other positive (0.8) stays above it: one of the two positive-negative pairs is ordered -> 0.5
    gated = multilabel_scores(y, iou_gate(s, [0.1, 0.9, 0.9]))
    assert gated.auroc_weighted == 0.0 and gated.auroc_weighted_corrected == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_official_and_corrected_auroc_agree_when_every_class_has_a_negative(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((40, 12)) < 0.3).astype(int)
    y[0] = 0  # every class has a negative
    s = rng.standard_normal((40, 12))
    m = multilabel_scores(y, s)
    assert m.auroc_undefined == []
    assert m.auroc_weighted == m.auroc_weighted_corrected == pytest.approx(official_get_auc(s, y), abs=1e-12)
    y[:, 3] = 1  # now class 3 has no negative: the official value collapses to 0.0
    m = multilabel_scores(y, s)
    assert m.auroc_undefined == [3] and m.auroc_weighted == 0.0 == official_get_auc(s, y)
    keep = [c for c in range(12) if c != 3 and y[:, c].any()]
    assert m.auroc_weighted_corrected == pytest.approx(
        roc_auc_score(y[:, keep], s[:, keep], average="weighted"), abs=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="no class has a positive"):
        multilabel_scores(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="0/1"):
        multilabel_scores(np.array([[2, 0]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        multilabel_scores(np.array([[1, 0]]), np.array([[np.nan, 0]]))
    with pytest.raises(ValueError, match="predicted boxes"):
        box_iou(np.zeros((2, 4)), np.zeros((3, 4)))
