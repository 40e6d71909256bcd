"""coco_detection / coco_format end to end: oracle 1.0 (bbox and segm), predictions written in COCO
result format and re-scored by ``mmh score detection`` to the same numbers, --limit, bad data, label
mapping checks, and the issue's torchvision check command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mmharness.adapter import Adapter
from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.requests import Detections
from mmharness.results import load_results
from mmharness.task import DataNotFoundError, TaskError

SAMPLE = Path(__file__).resolve().parent.parent / "mmharness" / "data" / "samples" / "coco"


def run(tmp_path, model="oracle", tasks="coco_detection", **kw):
    kw.setdefault("sample", True)
    kw.setdefault("use_cache", False)
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 0)
    return evaluate(model, tasks, **kw)


def test_oracle_scores_one_on_bbox_and_segm_and_writes_coco_results(tmp_path):
    res = run(tmp_path, output=tmp_path / "out")
    t = res.doc["tasks"]["coco_detection"]
    assert t["primary_metric"] == "bbox_AP" and t["data"]["kind"] == "sample"
    for iou in ("bbox", "segm"):
        for n in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"):
            assert t["metrics"][f"{iou}_{n}"]["value"] == 1.0, (iou, n)
    assert t["tables"]["evaluated"] == ["bbox", "segm"] and t["config"]["backend"] == "pycocotools"
    load_results(res.path)  # validates against the schema (artifacts included)
    files = {k: tmp_path / "out" / v for k, v in t["artifacts"].items()}
    assert set(files) == {"coco_bbox_results.json", "coco_segm_results.json"}
    bbox = json.loads(files["coco_bbox_results.json"].read_text())
    gt = json.loads((SAMPLE / "annotations" / "instances_val2017.json").read_text())
    assert len(bbox) == sum(1 for a in gt["annotations"] if not a["iscrowd"])
    assert {r["image_id"] for r in bbox} <= {im["id"] for im in gt["images"]}
    assert set(bbox[0]) == {"image_id", "category_id", "bbox", "score"}
    segm = json.loads(files["coco_segm_results.json"].read_text())
    assert isinstance(segm[0]["segmentation"]["counts"], str) and "bbox" not in segm[0]
    # the written predictions re-score to the same numbers through `mmh score detection`
    for iou, path in (("bbox", files["coco_bbox_results.json"]), ("segm", files["coco_segm_results.json"])):
        out = tmp_path / f"{iou}.json"
        r = CliRunner().invoke(main, ["score", "detection", "-g", str(SAMPLE / "annotations" / "instances_val2017.json"),
                                      "-p", str(path), "--iou-type", iou, "-q", "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert json.loads(out.read_text())["stats"]["AP"] == 1.0


def test_faster_backend_limit_and_iou_types(tmp_path):
    res = run(tmp_path, task_args="backend=faster-coco-eval,iou_types=bbox", limit=3)
    t = res.doc["tasks"]["coco_detection"]
    assert t["metrics"]["bbox_AP"]["value"] == 1.0 and "segm_AP" not in t["metrics"]
    assert t["tables"]["n_images_evaluated"] == 3 and t["tables"]["n_images_in_split"] == 8
    assert t["tables"]["bbox_coco_eval"]["backend"] == "faster-coco-eval"
    assert any("evaluated on 3 of the 8 images" in n for n in t["notes"])
    seg = run(tmp_path, task_args="iou_types=segm")
    assert seg.doc["tasks"]["coco_detection"]["primary_metric"] == "segm_AP"
    assert seg.metric("coco_detection") == 1.0


def test_coco_format_takes_paths(tmp_path):
    data = tmp_path / "mydata"
    shutil.copytree(SAMPLE, data)
    res = run(tmp_path, tasks="coco_format", sample=False, data_root=tmp_path,
              task_args="annotations=mydata/annotations/instances_val2017.json,images=mydata/val2017")
    t = res.doc["tasks"]["coco_format"]
    assert res.metric("coco_format") == 1.0 and t["config"]["annotations"].endswith("instances_val2017.json")
    assert t["data"]["source"].startswith("coco:")
    with pytest.raises(DataNotFoundError, match="annotations=PATH,images=DIR"):
        run(tmp_path, tasks="coco_format", sample=False)


def test_official_layout_and_missing_data(tmp_path):
    root = tmp_path / "coco"
    shutil.copytree(SAMPLE, root)
    res = run(tmp_path, sample=False, data_root=tmp_path)  # finds <root>/coco/annotations/instances_val2017.json
    assert res.metric("coco_detection") == 1.0
    with pytest.raises(DataNotFoundError, match=r"instances_val2014.json.*cocodataset.org"):
        run(tmp_path, sample=False, data_root=tmp_path, task_args="split=val2014")


def test_bad_annotation_file_is_reported(tmp_path):
    data = tmp_path / "d"
    shutil.copytree(SAMPLE, data)
    ann = data / "annotations" / "instances_val2017.json"
    gt = json.loads(ann.read_text())
    del gt["annotations"][2]["iscrowd"]
    ann.write_text(json.dumps(gt))
    with pytest.raises(TaskError, match=r"instances_val2017.json: annotations\[2\] \(id \d+\): missing required "
                                        r"field\(s\) 'iscrowd'"):
        run(tmp_path, tasks="coco_format", sample=False, task_args=f"annotations={ann},images={data / 'val2017'}")


class _RawIds(Adapter):
    """Returns dataset category ids instead of label-set indices: a classic mapping bug."""

    name = "raw_ids"

    def __init__(self):
        super().__init__()

    def detect(self, batch):
        import torch

        return [Detections(torch.tensor([[1.0, 1.0, 5.0, 5.0]]), torch.tensor([0.9]), torch.tensor([90]))
                for _ in batch.requests]


def test_label_indices_out_of_range_stop_with_an_explanation(tmp_path):
    with pytest.raises(TaskError, match=r"labels \[90\] are outside the request's label set of 80 categories"):
        run(tmp_path, model=_RawIds())


class _NoMasks(_RawIds):
    def detect(self, batch):
        import torch

        return [Detections(torch.tensor([[1.0, 1.0, 5.0, 5.0]]), torch.tensor([0.9]), torch.tensor([0]))
                for _ in batch.requests]


def test_segm_requested_without_masks_is_an_error_and_auto_falls_back(tmp_path):
    with pytest.raises(TaskError, match="needs instance masks, but 8 of 8 responses carry none"):
        run(tmp_path, model=_NoMasks(), task_args="iou_types=bbox+segm")
    res = run(tmp_path, model=_NoMasks())
    t = res.doc["tasks"]["coco_detection"]
    assert t["tables"]["evaluated"] == ["bbox"] and 0.0 <= res.metric("coco_detection") < 0.1


@pytest.mark.slow
def test_random_detector_with_zero_threshold_goes_through_the_whole_path(tmp_path):
    res = run(tmp_path, model="torchvision", output=tmp_path / "o", limit=2,
              model_args="model=fasterrcnn_mobilenet_v3_large_fpn,score_thresh=0,detections_per_img=20,min_size=160,max_size=224")
    t = res.doc["tasks"]["coco_detection"]
    bbox = json.loads((tmp_path / "o" / t["artifacts"]["coco_bbox_results.json"]).read_text())
    assert len(bbox) == 40 and all(r["category_id"] in range(1, 91) for r in bbox)
    assert 0.0 <= t["metrics"]["bbox_AP"]["value"] < 0.05
    assert np.isfinite([r["score"] for r in bbox]).all()


def test_missing_image_file_stops_or_is_skipped_and_not_evaluated(tmp_path):
    data = tmp_path / "d"
    shutil.copytree(SAMPLE, data)
    (data / "val2017" / "000000001037.jpg").unlink()
    args = f"annotations={data / 'annotations' / 'instances_val2017.json'},images={data / 'val2017'}"
    with pytest.raises(TaskError, match=r"sample 1037 .*image file not found: .*000000001037.jpg"):
        run(tmp_path, tasks="coco_format", sample=False, task_args=args)
    res = run(tmp_path, tasks="coco_format", sample=False, task_args=args, on_error="skip")
    t = res.doc["tasks"]["coco_format"]
    assert t["n_skipped"] == 1 and t["tables"]["n_images_evaluated"] == 7 and res.metric("coco_format") == 1.0
