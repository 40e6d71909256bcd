"""The streaming confusion-matrix IoU: published HF/mmseg doctest values, every FMB preset of the toy
fixture, absent-class policies, mmseg quirks (void predictions, reduce_zero_label), streaming and
device equivalence, and bad ground-truth values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mmharness.metrics.segmentation import (
    PRESETS,
    ConfusionMatrix,
    LabelValueError,
    preset_scores,
    reduce_zero_label,
    resize_nearest,
    scores_from_matrix,
)
from tests.conftest import FIXTURES

SEG = FIXTURES / "segmentation"


@pytest.fixture(scope="module")
def hf():
    return json.loads((SEG / "hf_mean_iou_doctest.json").read_text())


@pytest.fixture(scope="module")
def toy():
    d = json.loads((SEG / "fmb_protocol_toy.json").read_text())
    return np.array(d["gt"]), np.array(d["pred"]), d["expected"]


def _nan_list(xs):
    return [math.nan if x is None else x for x in xs]


def _fill(n, hf):
    cm = ConfusionMatrix(n, ignore_index=255)
    for p, g in zip(hf["predictions"], hf["references"]):
        cm.update(np.array(p), np.array(g))
    return cm


def test_hf_mean_iou_doctest(hf):
    sc = _fill(10, hf).compute()
    exp = hf["expected"]
    assert sc.mIoU == pytest.approx(exp["mean_iou"], rel=1e-12)
    assert sc.mAcc == pytest.approx(exp["mean_accuracy"], rel=1e-12)
    assert sc.aAcc == pytest.approx(exp["overall_accuracy"], rel=1e-12)
    assert sc.iou == pytest.approx(exp["per_category_iou"], rel=1e-12)
    assert sc.acc == pytest.approx(exp["per_category_accuracy"], abs=1e-8)  # doctest prints 8 decimals


def test_absent_class_policies_num_labels_12(hf):
    cm = _fill(12, hf)
    extra = hf["extra_expected_num_labels_12"]
    assert cm.compute(absent_policy="skip").mIoU == pytest.approx(extra["mean_iou_nan_skip"], rel=1e-12)
    assert cm.compute(absent_policy="zero").mIoU == pytest.approx(extra["mean_iou_absent_as_zero"], rel=1e-12)
    assert math.isnan(cm.compute(absent_policy="nan").mIoU) and extra["mean_iou_plain_mean"] == "NaN"
    sc = cm.compute()
    assert math.isnan(sc.iou[10]) and math.isnan(sc.iou[11]) and sc.averaged == list(range(10))


def test_fmb_presets_on_the_toy(toy):
    gt, pred, exp = toy
    cm = ConfusionMatrix(15)
    cm.update(pred, gt)
    s15 = preset_scores(cm, PRESETS["fmb15"])
    e = exp["fmb15_incl_bg"]
    assert (s15.mIoU, s15.aAcc) == (pytest.approx(e["mIoU"], rel=1e-12), pytest.approx(e["aAcc"], rel=1e-12))
    assert s15.mAcc == pytest.approx(e["mAcc"], rel=1e-9)  # summation order: last ulp
    np.testing.assert_allclose(s15.iou, _nan_list(e["per_class_iou"]), rtol=1e-12)
    assert len(s15.averaged) == e["n_classes_averaged"] == 8
    assert preset_scores(cm, PRESETS["fmb15_no_back"]).mIoU == pytest.approx(exp["fmb15_no_back"]["mIoU"], rel=1e-12)
    sea = preset_scores(cm, PRESETS["fmb13_sea"])
    assert sea.classes == exp["sea13_open_vocab"]["eval_classes"]
    assert sea.mIoU == pytest.approx(exp["sea13_open_vocab"]["mIoU"], rel=1e-12)
    np.testing.assert_allclose(sea.iou, _nan_list(exp["sea13_open_vocab"]["per_class_iou"]), rtol=1e-12)
    # RTFNet prints: plain mean (NaN: absent classes) and mean(nan_to_num)
    assert math.isnan(cm.compute(absent_policy="nan").mIoU)
    assert cm.compute(absent_policy="zero").mIoU == pytest.approx(exp["rtfnet_mean_all15"]["mean_nan_to_num"], rel=1e-12)


def test_fmb14_reduce_zero_label(toy):
    gt, pred, exp = toy
    e = exp["fmb14_bg_ignored"]
    cm = ConfusionMatrix(14, reduce_zero_label=True)
    cm.update(reduce_zero_label(pred), gt)  # 15-way prediction mapped like the gt: 0 -> 255 (void), k -> k-1
    sc = preset_scores(cm, PRESETS["fmb14"])
    assert sc.mIoU == pytest.approx(e["mIoU"], rel=1e-12) and len(sc.averaged) == e["n_classes_averaged"]
    assert sc.mAcc == pytest.approx(e["mAcc"], rel=1e-12) and sc.aAcc == pytest.approx(e["aAcc"], rel=1e-12)
    np.testing.assert_allclose(sc.iou, _nan_list(e["per_class_iou"]), rtol=1e-12)


def test_reduce_zero_label_uint8_semantics():
    lab = np.array([0, 1, 2, 150, 254, 255], dtype=np.uint8)
    ref = lab.copy()
    ref[ref == 0] = 255
    ref = ref - 1
    ref[ref == 254] = 255  # mmseg's uint8 arithmetic
    assert reduce_zero_label(lab).tolist() == ref.astype(np.int64).tolist() == [255, 0, 1, 149, 253, 255]


def test_void_predictions_are_false_negatives_only():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 255, 1, 7]]), np.array([[0, 0, 1, 2]]))
    assert cm.to_numpy().tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]]
    sc = cm.compute()
    assert sc.iou == [0.5, 1.0, 0.0]  # class 0: I=1, L=2, P=1; class 2: a miss, no false positive anywhere
    assert sc.aAcc == 0.5


def test_predicted_but_absent_class_counts_as_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 2]]), np.array([[0, 0]]))
    sc = cm.compute()
    assert sc.iou[0] == 0.5 and math.isnan(sc.iou[1]) and sc.iou[2] == 0.0 and sc.averaged == [0, 2]
    assert sc.mIoU == 0.25


def test_streaming_equals_one_shot_and_merge(hf):
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 6, (7, 9)) for _ in range(5)]
    preds = [rng.integers(0, 6, (7, 9)) for _ in range(5)]
    for g in gts:
        g[0, 0] = 255
    streamed = ConfusionMatrix(6)
    for p, g in zip(preds, gts):
        streamed.update(p, g)
    once = ConfusionMatrix(6)
    once.update(np.stack(preds), np.stack(gts))
    assert np.array_equal(streamed.to_numpy(), once.to_numpy()) and streamed.n_images == once.n_images == 5
    a, b = ConfusionMatrix(6), ConfusionMatrix(6)
    for i, (p, g) in enumerate(zip(preds, gts)):
        (a if i % 2 else b).update(p, g)
    assert np.array_equal(a.merge(b).to_numpy(), streamed.to_numpy())
    back = ConfusionMatrix.from_state_dict(json.loads(json.dumps(streamed.state_dict())))
    assert back.compute().mIoU == streamed.compute().mIoU and back.to_numpy().dtype == np.int64
    with pytest.raises(ValueError, match="different class counts"):
        a.merge(ConfusionMatrix(7))


def test_torch_tensors_accumulate_on_their_device(toy):
    torch = pytest.importorskip("torch")
    gt, pred, _ = toy
    cm = ConfusionMatrix(15)
    cm.update(torch.as_tensor(pred), torch.as_tensor(gt, dtype=torch.uint8))
    assert cm.device == "cpu" and isinstance(cm.matrix, torch.Tensor) and cm.matrix.dtype == torch.int64
    ref = ConfusionMatrix(15)
    ref.update(pred, gt)
    assert np.array_equal(cm.to_numpy(), ref.to_numpy())
    cm.update(pred, gt)  # numpy after torch keeps the torch state
    assert np.array_equal(cm.to_numpy(), 2 * ref.to_numpy())
    t14 = ConfusionMatrix(14, reduce_zero_label=True)
    t14.update(reduce_zero_label(torch.as_tensor(pred)), torch.as_tensor(gt))
    n14 = ConfusionMatrix(14, reduce_zero_label=True)
    n14.update(reduce_zero_label(pred), gt)
    assert np.array_equal(t14.to_numpy(), n14.to_numpy())


def test_invalid_ground_truth_values_raise_or_are_counted():
    cm = ConfusionMatrix(4)
    with pytest.raises(LabelValueError, match=r"values 7, 9 are outside the classes 0..3 or the ignore index 255"):
        cm.update(np.array([[0, 7, 9, 255]]), np.array([[0, 7, 9, 255]]))
    lenient = ConfusionMatrix(4, invalid_gt="ignore")
    lenient.update(np.array([[0, 7, 9, 255]]), np.array([[0, 7, 9, 255]]))
    assert lenient.n_invalid_gt_pixels == 2 and lenient.to_numpy().sum() == 1
    with pytest.raises(ValueError, match="prediction shape"):
        cm.update(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="integer"):
        cm.update(np.zeros((2, 2)), np.zeros((2, 2), int))


def test_int64_counts_do_not_overflow():
    m = np.zeros((2, 3), dtype=np.int64)
    m[0, 0] = 3_000_000_000  # > int32; e.g. 5000 Cityscapes frames of one class
    m[1, 1] = 1
    m[0, 1] = 1_000_000_000
    sc = scores_from_matrix(m)
    assert sc.iou[0] == pytest.approx(0.75) and sc.aAcc == pytest.approx(0.75)


def test_precision_accuracy_and_class_subsets():
    m = np.array([[3, 1, 0], [0, 2, 0]])  # C = 2 with a void column
    assert scores_from_matrix(m, acc="precision").acc == [1.0, 2 / 3]
    assert scores_from_matrix(m).acc == [0.75, 1.0]
    assert scores_from_matrix(m, eval_classes=[1]).classes == [1]
    with pytest.raises(ValueError, match="distinct indices"):
        scores_from_matrix(m, eval_classes=[0, 0])


def test_resize_nearest_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for src, dst in (((5, 7), (12, 9)), ((12, 16), (5, 4)), ((6, 8), (6, 8))):
        a = rng.integers(0, 20, src)
        ref = torch.nn.functional.interpolate(torch.as_tensor(a, dtype=torch.float32)[None, None], size=dst,
                                              mode="nearest")[0, 0].to(torch.int64).numpy()
        assert np.array_equal(resize_nearest(a, dst), ref)
