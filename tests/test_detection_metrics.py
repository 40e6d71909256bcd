"""COCO metrics: the official fake-results fixture through both backends, the small/keypoint sets,
and every input edge case of docs/protocols/detection.md section 3 (derived by mutating the real fixture)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mmharness.metrics.detection import (
    STAT_NAMES,
    CocoFormatError,
    ann_to_rle,
    evaluate_coco,
    to_coco_results,
    validate_ground_truth,
    xyxy_to_xywh,
)
from tests.conftest import FIXTURES

COCO = FIXTURES / "coco"

# Full-precision values of fixtures/coco/EXPECTED.md section A (faster-coco-eval's asserted values).
EXPECTED = {
    "bbox": [0.5045806987249628, 0.6969727247299577, 0.5729816669904824, 0.5856257209410443, 0.5193996948036719,
             0.5013978986347466, 0.38681277964578054, 0.5936795762842003, 0.595352982877607, 0.6398109626113442,
             0.5664205978994309, 0.5642905982905982],
    "segm": [0.3195452758576433, 0.5622883972521636, 0.29892653412086784, 0.3873740315997838, 0.31018272403369485,
             0.3269339071005138, 0.2682297225711534, 0.41544868114906375, 0.4168394992198818, 0.4694498622754236,
             0.37675922666197265, 0.3814715099715099],
}
PUBLISHED_3DP = {  # val2014_fake_eval_res.txt
    "bbox": [0.505, 0.697, 0.573, 0.586, 0.519, 0.501, 0.387, 0.594, 0.595, 0.640, 0.566, 0.564],
    "segm": [0.320, 0.562, 0.299, 0.387, 0.310, 0.327, 0.268, 0.415, 0.417, 0.469, 0.377, 0.381],
}
BACKENDS = ("pycocotools", "faster-coco-eval")


@pytest.fixture(scope="module")
def gt():
    return json.loads((COCO / "instances_val2014_100.json").read_text())


@pytest.fixture(scope="module")
def fake():
    return {t: json.loads((COCO / f"instances_val2014_fake{t}100_results.json").read_text()) for t in ("bbox", "segm")}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("iou", ["bbox", "segm"])
def test_official_fake_results_reproduce_all_12_stats(gt, fake, iou, backend):
    res = evaluate_coco(gt, fake[iou], iou, backend=backend)
    assert res.stats_list == pytest.approx(EXPECTED[iou], rel=1e-9, abs=0)
    assert res.stats_list == pytest.approx(PUBLISHED_3DP[iou], abs=5e-4)
    assert list(res.stats) == list(STAT_NAMES[iou]) and res.stats["AP"] == res.stats_list[0]
    assert res.backend == backend and res.backend_version and not res.no_predictions
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in res.summary
    assert res.n_detections == 734 and res.n_images == 100
    # per-class AP (detectron2 recipe): 70 categories with gt have a value, 10 without are NaN
    finite = [v for v in res.per_class_ap.values() if not np.isnan(v)]
    assert len(res.per_class_ap) == 80 and len(finite) == 70


def test_backends_agree_to_machine_precision(gt, fake):
    for iou in ("bbox", "segm"):
        a = evaluate_coco(gt, fake[iou], iou, backend="pycocotools").stats_list
        b = evaluate_coco(gt, fake[iou], iou, backend="faster-coco-eval").stats_list
        assert max(abs(x - y) for x, y in zip(a, b)) <= 2.3e-16


def test_inputs_are_not_mutated(gt, fake):
    before = copy.deepcopy(fake["bbox"][:3])
    gt_before = copy.deepcopy(gt["annotations"][:3])
    evaluate_coco(gt, fake["bbox"], "bbox")
    assert fake["bbox"][:3] == before and "id" not in fake["bbox"][0]  # loadRes adds id/area on its own copy
    assert gt["annotations"][:3] == gt_before


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_synthetic_bbox_and_segm(backend):
    g = json.loads((COCO / "small" / "gt_dataset.json").read_text())
    d = json.loads((COCO / "small" / "dt_dataset.json").read_text())
    bbox = [{k: x[k] for k in ("image_id", "category_id", "bbox", "score")} for x in d]
    res = evaluate_coco(g, bbox, "bbox", backend=backend)
    assert res.stats_list == pytest.approx(
        [0.6947194719471946, 0.6947194719471946, 0.6947194719471946, -1.0, 0.7920792079207921, 0.0,
         0.6666666666666666, 0.75, 0.75, -1.0, 0.7916666666666666, 0.0], rel=1e-9, abs=1e-12)
    # segm: each detection polygon merged to one RLE, bbox/area/id removed (faster-coco-eval test_basic)
    images = {im["id"]: im for im in g["images"]}
    segm = [{"image_id": x["image_id"], "category_id": x["category_id"], "score": x["score"],
             "segmentation": ann_to_rle(x["segmentation"], images[x["image_id"]]["height"],
                                        images[x["image_id"]]["width"])} for x in d]
    res = evaluate_coco(g, segm, "segm", backend=backend)
    assert res.stats_list == pytest.approx(
        [0.6947194719471946, 0.6947194719471946, 0.6947194719471946, -1.0, 0.7367986798679867, 0.0,
         0.6666666666666666, 0.75, 0.75, -1.0, 0.7916666666666666, 0.0], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keypoints_ten_stats(backend):
    g = json.loads((COCO / "keypoints" / "gt_dataset.json").read_text())
    d = json.loads((COCO / "keypoints" / "dt_dataset.json").read_text())
    res = evaluate_coco(g, d, "keypoints", backend=backend)
    assert list(res.stats) == list(STAT_NAMES["keypoints"])
    assert res.stats_list == pytest.approx(
        [0.5048844884488449, 0.7227722772277227, 0.6336633663366337, 0.46633663366336636, 0.7504950495049505,
         0.5181818181818182, 0.7272727272727273, 0.6363636363636364, 0.4666666666666666, 0.75], rel=1e-9)


# --------------------------------------------------------------------------- edge cases (spec section 3 table)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_result_list_reports_minus_one_and_flags(gt, backend):
    res = evaluate_coco(gt, [], "bbox", backend=backend)
    assert res.no_predictions and res.stats_list == [-1.0] * 12
    assert any("no predictions" in w for w in res.warnings)


@pytest.mark.parametrize("mutate,match", [
    (lambda r: r + [dict(r[0], image_id=999999999)], r"1 detection\(s\) have an image_id that is not an integer id.*999999999"),
    (lambda r: [dict(x, image_id=str(x["image_id"])) for x in r], r"734 detection\(s\).*as strings they never match"),
])
def test_foreign_or_string_image_ids_are_rejected(gt, fake, mutate, match):
    with pytest.raises(CocoFormatError, match=match):
        evaluate_coco(gt, mutate(copy.deepcopy(fake["bbox"])), "bbox", results_source="preds.json")


def test_unknown_category_warns(gt, fake):
    dt = copy.deepcopy(fake["bbox"]) + [dict(fake["bbox"][0], category_id=12)]  # 12 is an unused COCO id
    res = evaluate_coco(gt, dt, "bbox")
    assert any("category_id not in the ground truth ([12])" in w for w in res.warnings)
    assert res.stats_list == pytest.approx(EXPECTED["bbox"], rel=1e-9)  # such records are ignored


def test_contiguous_ids_give_zero_and_a_hint(gt, fake):
    order = sorted(c["id"] for c in gt["categories"])
    dt = [dict(x, category_id=order.index(x["category_id"])) for x in fake["bbox"]]
    res = evaluate_coco(gt, dt, "bbox")
    assert round(res.stats_list[0], 4) == 0.0
    assert any("contiguous indices" in w for w in res.warnings)


def test_xyxy_boxes_warn_and_reproduce_the_silent_score(gt, fake):
    dt = [dict(x, bbox=[x["bbox"][0], x["bbox"][1], x["bbox"][0] + x["bbox"][2], x["bbox"][1] + x["bbox"][3]])
          for x in fake["bbox"]]
    res = evaluate_coco(gt, dt, "bbox")
    assert round(res.stats_list[0], 4) == 0.0321
    # the fake boxes are mostly small, so few extend past the border: the heuristic stays quiet here
    wide = [dict(x, bbox=[x["bbox"][0], x["bbox"][1], 700.0, 700.0]) for x in fake["bbox"]]
    assert any("[x1, y1, x2, y2]" in w for w in evaluate_coco(gt, wide, "bbox").warnings)


@pytest.mark.parametrize("field", ["area", "iscrowd"])
def test_gt_without_area_or_iscrowd_is_rejected(gt, fake, field):
    bad = copy.deepcopy(gt)
    del bad["annotations"][5][field]
    with pytest.raises(CocoFormatError, match=rf"gt.json: annotations\[5\] \(id {bad['annotations'][5]['id']}\): "
                                              rf"missing required field\(s\) '{field}'"):
        evaluate_coco(bad, fake["bbox"], "bbox", gt_source="gt.json")


def test_gt_structure_errors_name_the_problem(gt):
    with pytest.raises(CocoFormatError, match="missing top-level field 'categories'"):
        validate_ground_truth({"images": [], "annotations": []}, "x.json")
    bad = copy.deepcopy(gt)
    bad["annotations"][0]["image_id"] = 424242
    with pytest.raises(CocoFormatError, match=r"image_id 424242 is not in 'images'"):
        validate_ground_truth(bad, "x.json")
    bad = copy.deepcopy(gt)
    bad["images"][1]["id"] = bad["images"][0]["id"]
    with pytest.raises(CocoFormatError, match="duplicate image id"):
        validate_ground_truth(bad, "x.json")


def test_missing_optional_fields_are_fine(gt, fake):
    lean = {k: copy.deepcopy(gt[k]) for k in ("images", "annotations", "categories")}  # no info / licenses
    for c in lean["categories"]:
        c.pop("supercategory")
    for im in lean["images"]:
        for k in ("coco_url", "flickr_url", "license", "date_captured"):
            im.pop(k)
    for backend in BACKENDS:
        assert evaluate_coco(lean, fake["bbox"], "bbox", backend=backend).stats_list == pytest.approx(
            EXPECTED["bbox"], rel=1e-9)
    no_segm = copy.deepcopy(lean)
    for a in no_segm["annotations"]:
        a.pop("segmentation")
    assert evaluate_coco(no_segm, fake["bbox"], "bbox").stats_list == pytest.approx(EXPECTED["bbox"], rel=1e-9)
    with pytest.raises(CocoFormatError, match="'segmentation'"):
        evaluate_coco(no_segm, fake["segm"], "segm")


def test_use_cats_zero_and_extra_max_dets(gt, fake):
    for backend in BACKENDS:
        assert round(evaluate_coco(gt, fake["bbox"], "bbox", backend=backend, use_cats=False).stats_list[0], 4) == 0.5952
        res = evaluate_coco(gt, fake["bbox"], "bbox", backend=backend, extra_max_dets=[300])
        assert res.stats_list == pytest.approx(EXPECTED["bbox"], rel=1e-9)  # the 12 official stats unchanged
        assert res.params["maxDets"] == [1, 10, 100, 300]
        assert res.extra["AP@300"] == pytest.approx(EXPECTED["bbox"][0])  # the fixture has < 100 per image
        assert res.extra["AR@300"] == pytest.approx(EXPECTED["bbox"][8])
    with pytest.raises(ValueError, match="must exceed"):
        evaluate_coco(gt, fake["bbox"], "bbox", extra_max_dets=[50])


def test_tied_scores_resolve_by_input_order(gt, fake):
    dt = [dict(x, score=1.0) for x in fake["bbox"]]
    assert round(evaluate_coco(gt, dt, "bbox").stats_list[0], 4) == 0.5138


def test_segm_results_with_bbox_are_repaired(gt, fake):
    from pycocotools import mask as mask_utils

    dt = [dict(x, bbox=[float(v) for v in mask_utils.toBbox(x["segmentation"])]) for x in fake["segm"]]
    res = evaluate_coco(gt, dt, "segm")
    assert res.stats_list == pytest.approx(EXPECTED["segm"], rel=1e-9)  # not 0.4093 / 0.3246 / 0.3092
    assert any("dropped 'bbox' from 734 segm result(s)" in r for r in res.repairs)


def test_segm_mask_size_must_match_image(gt, fake):
    dt = copy.deepcopy(fake["segm"])
    dt[0]["segmentation"]["size"] = [10, 10]
    with pytest.raises(CocoFormatError, match=r"record 0 \(image_id \d+\): RLE size \[10, 10\] differs"):
        evaluate_coco(gt, dt, "segm")


def test_img_ids_restrict_evaluation(gt, fake):
    ids = sorted(im["id"] for im in gt["images"])[:10]
    res = evaluate_coco(gt, fake["bbox"], "bbox", img_ids=ids)
    sub_gt = dict(gt, images=[im for im in gt["images"] if im["id"] in ids],
                  annotations=[a for a in gt["annotations"] if a["image_id"] in ids])
    sub_dt = [r for r in fake["bbox"] if r["image_id"] in ids]
    ref = evaluate_coco(sub_gt, sub_dt, "bbox")
    assert res.n_images == 10 and res.stats_list == pytest.approx(ref.stats_list, rel=1e-12)
    with pytest.raises(CocoFormatError, match="not in it"):
        evaluate_coco(gt, fake["bbox"], "bbox", img_ids=[123456789])


# --------------------------------------------------------------------------- results writer round trip


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 2e-3)])
def test_adapter_style_outputs_round_trip_to_the_official_numbers(gt, fake, dtype, tol):
    """XYXY boxes with contiguous labels (as adapters return them) -> COCO results -> the official stats
    (float64: exactly; float32, the cached response precision: within 2e-3, ties and IoU edges move)."""
    cat_ids = np.asarray(sorted(c["id"] for c in gt["categories"]))
    by_image: dict[int, list[dict]] = {}
    for r in fake["bbox"]:
        by_image.setdefault(r["image_id"], []).append(r)
    results = []
    for image_id, recs in by_image.items():
        xywh = np.asarray([r["bbox"] for r in recs], dtype=np.float64)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(dtype)
        labels = np.searchsorted(cat_ids, [r["category_id"] for r in recs])
        scores = np.asarray([r["score"] for r in recs], dtype=dtype)
        bbox, segm = to_coco_results(image_id, xyxy, scores, cat_ids[labels])
        assert segm == []
        results += bbox
    res = evaluate_coco(gt, results, "bbox")
    assert res.stats_list == pytest.approx(EXPECTED["bbox"], rel=tol)


def test_xyxy_to_xywh_and_mask_records():
    assert xyxy_to_xywh(np.array([[1.0, 2.0, 4.0, 7.0]])).tolist() == [[1.0, 2.0, 3.0, 5.0]]
    rle = {"size": [4, 5], "counts": "abc"}
    bbox, segm = to_coco_results(7, np.array([[0, 0, 1, 1]]), np.array([0.5]), np.array([3]), [rle])
    assert bbox == [{"image_id": 7, "category_id": 3, "bbox": [0.0, 0.0, 1.0, 1.0], "score": 0.5}]
    assert segm == [{"image_id": 7, "category_id": 3, "segmentation": rle, "score": 0.5}] and "bbox" not in segm[0]
    with pytest.raises(ValueError, match="2 masks for 1 detections"):
        to_coco_results(7, np.array([[0, 0, 1, 1]]), np.array([0.5]), np.array([3]), [rle, rle])
