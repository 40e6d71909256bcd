"""The issue's check command for the torchvision detector (own file: it runs a detector at full
input resolution on the 8 sample images, the slowest detection test)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.results import load_results

pytestmark = pytest.mark.slow  # see `make test-fast`


def test_torchvision_check_command_of_the_issue(tmp_path):
    """`mmh run --model torchvision --model-args name=fasterrcnn_mobilenet_v3_large_fpn,weights=none
    --tasks coco_detection --sample` completes and its results validate."""
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", "--model", "torchvision", "--model-args",
                                  "name=fasterrcnn_mobilenet_v3_large_fpn,weights=none", "--tasks", "coco_detection",
                                  "--sample", "--no-cache", "--no-progress", "--output", str(out)])
    assert r.exit_code == 0, r.output
    (path,) = out.glob("results_*.json")
    doc = load_results(path)
    t = doc["tasks"]["coco_detection"]
    assert doc["model"]["adapter"] == "torchvision-detection" and t["n_scored"] == 8
    # random weights give scores below the builder's 0.05 threshold: no predictions, every stat -1
    assert t["metrics"]["bbox_AP"]["value"] == -1.0 and t["tables"]["bbox_coco_eval"]["no_predictions"] is True
