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


# --------------------------------------------------------------------------- invalid_gt="mmseg"


def mmseg_intersect_and_union(pred_label, label, num_classes, ignore_index):
    """mmseg IoUMetric.intersect_and_union (mmseg 1.x; 0.x computes the same), transcribed."""
    import torch

    mask = label != ignore_index
    pred_label = pred_label[mask]
    label = label[mask]
    intersect = pred_label[pred_label == label]
    area_intersect = torch.histc(intersect.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_pred_label = torch.histc(pred_label.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_label = torch.histc(label.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_union = area_pred_label + area_label - area_intersect
    return area_intersect, area_union, area_pred_label, area_label


MMSEG_GT = np.array([[0, 1, 5], [2, 255, 7]])
MMSEG_PRED = np.array([[0, 2, 0], [2, 1, 7]])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_invalid_gt_mmseg_by_hand(backend):
    # C = 3, ignore 255. Pixels with gt != 255 (gt, pred): (0, 0) (1, 2) (5, 0) (2, 2) (7, 7).
    # area_pred_label = histogram of pred {0, 2, 0, 2, 7} over [0, 2] = [2, 0, 2] (7 outside);
    # area_label = histogram of gt {0, 1, 5, 2, 7} = [1, 1, 1] (5 and 7 outside);
    # area_intersect = histogram of pred where pred == gt {0, 2, 7} = [1, 0, 1] (7 outside);
    # union = [2 + 1 - 1, 0 + 1 - 0, 2 + 1 - 1] = [2, 1, 2]; IoU = [1/2, 0, 1/2]; Acc = I/L = [1, 0, 1]
    import torch

    conv = torch.as_tensor if backend == "torch" else np.asarray
    cm = ConfusionMatrix(3, invalid_gt="mmseg")
    cm.update(conv(MMSEG_PRED), conv(MMSEG_GT))
    assert cm.device == ("cpu" if backend == "torch" else "numpy")
    assert cm.n_invalid_gt_pixels == 2
    assert cm.invalid_gt_predictions_numpy().tolist() == [1, 0, 0, 1]  # pred 0 at gt 5; pred 7 (outside) at gt 7
    sc = cm.compute()
    assert sc.iou == [0.5, 0.0, 0.5] and sc.mIoU == pytest.approx(1 / 3)
    assert sc.acc == [1.0, 0.0, 1.0] and sc.mAcc == pytest.approx(2 / 3) and sc.aAcc == pytest.approx(2 / 3)
    precision = cm.compute(acc="precision").acc  # I/P with P = [2, 0, 2]: class 1 undefined
    assert precision[0] == precision[2] == 0.5 and math.isnan(precision[1])
    # mmseg's own code on the same pair
    i, u, p, lab = mmseg_intersect_and_union(torch.as_tensor(MMSEG_PRED), torch.as_tensor(MMSEG_GT), 3, 255)
    assert i.tolist() == [1, 0, 1] and u.tolist() == [2, 1, 2] and p.tolist() == [2, 0, 2] and lab.tolist() == [1, 1, 1]
    # invalid_gt="ignore" drops the two pixels instead: P = [1, 0, 2], union [1, 1, 2], IoU [1, 0, 1/2]
    lenient = ConfusionMatrix(3, invalid_gt="ignore")
    lenient.update(conv(MMSEG_PRED), conv(MMSEG_GT))
    assert lenient.n_invalid_gt_pixels == 2 and lenient.invalid_gt_predictions_numpy().tolist() == [0, 0, 0, 0]
    assert lenient.compute().iou == [1.0, 0.0, 0.5] and lenient.compute().mIoU == pytest.approx(0.5)
    with pytest.raises(LabelValueError, match="values 5, 7 are outside the classes 0..2"):
        ConfusionMatrix(3).update(conv(MMSEG_PRED), conv(MMSEG_GT))


@pytest.mark.parametrize("reduce_zero", [False, True])
def test_invalid_gt_mmseg_equals_mmseg_code_streamed_on_both_backends(reduce_zero):
    import torch

    rng = np.random.default_rng(3)
    c = 6
    numpy_cm = ConfusionMatrix(c, reduce_zero_label=reduce_zero, invalid_gt="mmseg")
    torch_cm = ConfusionMatrix(c, reduce_zero_label=reduce_zero, invalid_gt="mmseg")
    totals = [torch.zeros(c, dtype=torch.float64) for _ in range(4)]
    for _ in range(5):
        gt = rng.integers(0, c + 3, (16, 20))  # c, c+1, c+2: outside the classes
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = rng.integers(0, c + 2, (16, 20))  # also predictions outside [0, c)
        pred = np.where(rng.random(pred.shape) < 0.4, gt, pred)  # some agreement, also at invalid gt values
        numpy_cm.update(pred, gt)
        torch_cm.update(torch.as_tensor(pred), torch.as_tensor(gt))
        g = reduce_zero_label(gt) if reduce_zero else gt
        for t, a in zip(totals, mmseg_intersect_and_union(torch.as_tensor(pred), torch.as_tensor(g), c, 255)):
            t += a.double()
    assert np.array_equal(numpy_cm.to_numpy(), torch_cm.to_numpy())
    assert np.array_equal(numpy_cm.invalid_gt_predictions_numpy(), torch_cm.invalid_gt_predictions_numpy())
    assert numpy_cm.n_invalid_gt_pixels == torch_cm.n_invalid_gt_pixels > 0
    i, u, p, lab = (t.numpy() for t in totals)
    for cm in (numpy_cm, torch_cm):
        sc = cm.compute(absent_policy="nan")
        assert sc.iou == pytest.approx((i / u).tolist(), abs=1e-15)  # mmseg total_area_to_metrics
        assert sc.acc == pytest.approx((i / lab).tolist(), abs=1e-15)
        assert sc.aAcc == pytest.approx(i.sum() / lab.sum(), abs=1e-15)
        assert cm.compute(acc="precision").acc == pytest.approx((i / p).tolist(), abs=1e-15)
    # the other policies give other numbers on the same data (the predictions at invalid gt count nowhere)
    ign = ConfusionMatrix(c, reduce_zero_label=reduce_zero, invalid_gt="ignore")
    ign.matrix = numpy_cm.to_numpy().copy()
    assert not np.allclose(ign.compute(absent_policy="nan").iou, numpy_cm.compute(absent_policy="nan").iou)


def test_invalid_gt_mmseg_state_round_trips_and_merges():
    a, b = ConfusionMatrix(3, invalid_gt="mmseg"), ConfusionMatrix(3, invalid_gt="mmseg")
    a.update(MMSEG_PRED, MMSEG_GT)
    b.update(MMSEG_PRED[:, :2], MMSEG_GT[:, :2])
    back = ConfusionMatrix.from_state_dict(json.loads(json.dumps(a.state_dict())))
    assert back.invalid_gt == "mmseg" and back.invalid_gt_predictions_numpy().tolist() == [1, 0, 0, 1]
    assert back.compute().iou == a.compute().iou and back.n_invalid_gt_pixels == 2
    a.merge(b)
    assert a.invalid_gt_predictions_numpy().tolist() == [1, 0, 0, 1] and a.n_invalid_gt_pixels == 2
    with pytest.raises(ValueError, match="conventions"):
        a.merge(ConfusionMatrix(3, invalid_gt="ignore"))
    with pytest.raises(ValueError, match="expected one of"):
        ConfusionMatrix(3, invalid_gt="drop")
    # restrict_pairs (the SEA protocol, scikit-learn labels=) scores only pixels whose gt is a class
    restricted = a.compute(eval_classes=[0, 1, 2], restrict_pairs=True)
    assert restricted.iou == ConfusionMatrix.from_state_dict(
        {**a.state_dict(), "invalid_gt": "ignore"}).compute(eval_classes=[0, 1, 2], restrict_pairs=True).iou
