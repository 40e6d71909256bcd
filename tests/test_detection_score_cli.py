"""``mmh score detection``: the official fake results reproduce all 12 bbox and segm stats through both
backends (relative 1e-9 against EXPECTED.md), and bad input fails with a clear message."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from mmharness.cli import main
from tests.conftest import FIXTURES
from tests.test_detection_metrics import EXPECTED

COCO = FIXTURES / "coco"
GT = COCO / "instances_val2014_100.json"


def _score(args, tmp_path):
    out = tmp_path / "stats.json"
    res = CliRunner().invoke(main, ["score", "detection", *args, "--output", str(out)])
    return res, out


@pytest.mark.parametrize("backend", ["pycocotools", "faster-coco-eval"])
@pytest.mark.parametrize("iou", ["bbox", "segm"])
def test_score_detection_reproduces_the_fixture(tmp_path, iou, backend):
    res, out = _score(["--annotations", str(GT), "--predictions", str(COCO / f"instances_val2014_fake{iou}100_results.json"),
                       "--iou-type", iou, "--backend", backend], tmp_path)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "mmharness.coco_stats" and doc["iou_type"] == iou and doc["backend"] == backend
    assert doc["stats_list"] == pytest.approx(EXPECTED[iou], rel=1e-9, abs=0)
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    assert list(doc["stats"]) == names
    assert [doc["stats"][n] for n in names] == pytest.approx(EXPECTED[iou], rel=1e-9, abs=0)
    assert len(doc["inputs"]["annotations_sha256"]) == 64 and doc["no_predictions"] is False
    person = next(p for p in doc["per_class_AP"] if p["category_id"] == 1)
    assert person["name"] == "person" and 0 < person["AP"] < 1
    assert "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]" in res.output
    assert f"AP={EXPECTED[iou][0]:.4f}" in res.output


def test_score_detection_extra_budget_and_class_agnostic(tmp_path):
    res, out = _score(["-g", str(GT), "-p", str(COCO / "instances_val2014_fakebbox100_results.json"), "--no-cats",
                       "--extra-max-dets", "300", "-q"], tmp_path)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert round(doc["stats"]["AP"], 4) == 0.5952 and doc["params"]["useCats"] == 0
    assert set(doc["extra"]) == {"AP@300", "AR@300"} and "Average Precision" not in res.output


def test_score_detection_rejects_foreign_image_ids(tmp_path):
    dt = json.loads((COCO / "instances_val2014_fakebbox100_results.json").read_text())
    dt.append(dict(dt[0], image_id=987654321))
    bad = tmp_path / "preds.json"
    bad.write_text(json.dumps(dt))
    res, out = _score(["-g", str(GT), "-p", str(bad)], tmp_path)
    assert res.exit_code == 2 and not out.exists()
    assert "preds.json: 1 detection(s) have an image_id that is not an integer id of the ground truth (987654321)" in res.output


def test_score_detection_rejects_annotations_missing_fields(tmp_path):
    gt = json.loads(GT.read_text())
    broken = copy.deepcopy(gt)
    del broken["annotations"][3]["area"]
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(broken))
    res, _ = _score(["-g", str(p), "-p", str(COCO / "instances_val2014_fakebbox100_results.json")], tmp_path)
    assert res.exit_code == 2
    assert f"gt.json: annotations[3] (id {gt['annotations'][3]['id']}): missing required field(s) 'area'" in res.output
    del broken["categories"]
    p.write_text(json.dumps(broken))
    res, _ = _score(["-g", str(p), "-p", str(COCO / "instances_val2014_fakebbox100_results.json")], tmp_path)
    assert res.exit_code == 2 and "missing top-level field 'categories'" in res.output


def test_score_detection_empty_predictions_and_bad_json(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    res, out = _score(["-g", str(GT), "-p", str(empty)], tmp_path)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["no_predictions"] is True and set(doc["stats"].values()) == {-1.0}
    notjson = tmp_path / "x.json"
    notjson.write_text("{oops")
    res, _ = _score(["-g", str(GT), "-p", str(notjson)], tmp_path)
    assert res.exit_code == 2 and "is not valid JSON" in res.output
