"""``mmh score segmentation``: the mean-IoU fixtures reproduced from PNG folders (the same metric code
as the tasks), presets, resizing of a prediction larger than its label, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mmharness.cli import main
from tests.conftest import FIXTURES

SEG = FIXTURES / "segmentation"


def _write(folder, maps, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(maps):
        Image.fromarray(np.asarray(m, dtype=np.uint8), mode="L").save(folder / f"{(names or [])[i] if names else i}.png")


def _score(tmp_path, *args):
    out = tmp_path / "stats.json"
    res = CliRunner().invoke(main, ["score", "segmentation", "--labels", str(tmp_path / "gt"), "--predictions",
                                    str(tmp_path / "pred"), *args, "--output", str(out)])
    return res, (json.loads(out.read_text()) if out.exists() else None)


def test_hf_doctest_from_png_folders(tmp_path):
    d = json.loads((SEG / "hf_mean_iou_doctest.json").read_text())
    _write(tmp_path / "gt", d["references"])
    _write(tmp_path / "pred", d["predictions"])
    res, doc = _score(tmp_path, "--classes", ";".join(f"c{k}" for k in range(10)))
    assert res.exit_code == 0, res.output
    assert doc["mIoU"] == pytest.approx(d["expected"]["mean_iou"], rel=1e-12)
    assert doc["mAcc"] == pytest.approx(d["expected"]["mean_accuracy"], rel=1e-12)
    assert doc["aAcc"] == pytest.approx(d["expected"]["overall_accuracy"], rel=1e-12)
    assert [c["IoU"] for c in doc["per_class"]] == pytest.approx(d["expected"]["per_category_iou"], rel=1e-12)
    assert doc["conventions"]["ignore_index"] == 255 and doc["inputs"]["n_images"] == 3
    assert "mIoU=0.4775" in res.output
    res, doc = _score(tmp_path, "--classes", ";".join(f"c{k}" for k in range(12)), "--absent-policy", "zero")
    assert doc["mIoU"] == pytest.approx(d["extra_expected_num_labels_12"]["mean_iou_absent_as_zero"], rel=1e-12)


@pytest.mark.parametrize("preset,key", [("fmb15", "fmb15_incl_bg"), ("fmb15_no_back", "fmb15_no_back"),
                                        ("fmb13_sea", "sea13_open_vocab")])
def test_fmb_toy_presets_with_a_larger_prediction(tmp_path, preset, key):
    d = json.loads((SEG / "fmb_protocol_toy.json").read_text())
    _write(tmp_path / "gt", [d["gt"]], ["scene"])
    big = np.kron(np.asarray(d["pred"]), np.ones((2, 2), dtype=np.int64))  # 8x12: resized back with nearest
    _write(tmp_path / "pred", [big], ["scene"])
    res, doc = _score(tmp_path, "--preset", preset)
    assert res.exit_code == 0, res.output
    assert doc["mIoU"] == pytest.approx(d["expected"][key]["mIoU"], rel=1e-12)
    assert doc["resized_predictions"] == ["scene"] and "resized to their label size" in res.output
    assert doc["preset"]["name"] == preset and len(doc["confusion_matrix"]) == 15


def test_fmb14_preset_reduces_the_labels(tmp_path):
    d = json.loads((SEG / "fmb_protocol_toy.json").read_text())
    pred = np.asarray(d["pred"])
    _write(tmp_path / "gt", [d["gt"]])
    _write(tmp_path / "pred", [np.where(pred == 0, 255, pred - 1)])  # a 14-way prediction, background void
    res, doc = _score(tmp_path, "--preset", "fmb14")
    assert res.exit_code == 0, res.output
    assert doc["mIoU"] == pytest.approx(d["expected"]["fmb14_bg_ignored"]["mIoU"], rel=1e-12)
    assert doc["per_class"][0]["class"] == "road" and doc["conventions"]["reduce_zero_label"] is True


def test_missing_predictions_and_bad_label_values_fail_clearly(tmp_path):
    _write(tmp_path / "gt", [np.zeros((3, 3)), np.ones((3, 3))], ["a", "b"])
    _write(tmp_path / "pred", [np.zeros((3, 3))], ["a"])
    res, doc = _score(tmp_path, "--classes", "x;y")
    assert res.exit_code == 1 and doc is None
    assert "1 label map(s) have no prediction '<name>.png'" in res.output and "(e.g. b)" in res.output
    _write(tmp_path / "pred", [np.zeros((3, 3))], ["b"])
    bad = np.ones((3, 3))
    bad[1, 1] = 7
    _write(tmp_path / "gt", [bad], ["b"])
    res, _ = _score(tmp_path, "--classes", "x;y")
    assert res.exit_code == 1 and "b.png: ground-truth label values 7 are outside the classes 0..1" in res.output
    res, _ = _score(tmp_path)
    assert res.exit_code == 2 and "--classes" in res.output
    Image.new("RGB", (3, 3)).save(tmp_path / "gt" / "b.png")
    res, _ = _score(tmp_path, "--classes", "x;y")
    assert res.exit_code == 1 and "has mode RGB: label files must be single-channel index PNGs" in res.output
