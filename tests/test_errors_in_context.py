"""Errors always say where: an exception escaping adapter code names the adapter, the task, the
batch's sample ids and the exception (traceback with --debug; exit() from an adapter is an error,
not a silent exit); the contract checks at the adapter boundary refuse NaN/inf boxes and scores,
boxes with x2 < x1, and label maps outside the classes, naming the offending sample; COCO boxes
with a negative size are refused in ground truth and results, zero-size ones are counted; an
unusable cache directory and --data-source with --sample fail before any work."""

import copy
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmharness.cli import main as cli
from mmharness.evaluate import evaluate
from mmharness.executors import AdapterOutputError
from mmharness.metrics.detection import CocoFormatError, evaluate_coco, validate_ground_truth
from mmharness.task import TaskError

PLUGIN = str(Path(__file__).parent / "plugins" / "faulty_plugin.py")


def _cli(*args):
    return CliRunner().invoke(cli, [*args])


@pytest.mark.parametrize("error,shown", [
    ("value", "ValueError: generate failed mid-batch"),
    ("runtime", "RuntimeError: CUDA error: device-side assert triggered (simulated)"),
    ("exit", "the adapter called exit(3) (SystemExit)"),
])
def test_an_adapters_exception_names_adapter_task_and_samples(tmp_path, error, shown):
    r = _cli("run", "--include", PLUGIN, "--model", "raising", "--model-args", f"error={error}", "--tasks", "mmra",
             "--sample", "--batch-size", "4", "--no-cache", "--no-progress", "--output", str(tmp_path))
    assert r.exit_code == 2, r.output  # exit() inside the adapter does not end the run silently with 3
    line = r.output.strip().splitlines()[-1]
    assert line == f"error: adapter 'raising' on task 'mmra', samples 0004, 0005, 0006, 0007: {shown}"
    assert "Traceback" not in r.output


def test_debug_adds_the_traceback(tmp_path):
    r = _cli("--debug", "run", "--include", PLUGIN, "--model", "raising", "--model-args", "error=runtime",
             "--tasks", "mmra", "--sample", "--batch-size", "4", "--no-cache", "--no-progress", "--output", str(tmp_path))
    assert r.exit_code == 2
    assert "Traceback (most recent call last)" in r.output and 'raise RuntimeError("CUDA error' in r.output
    assert r.output.strip().splitlines()[-1].startswith("error: adapter 'raising' on task 'mmra', samples 0004")


@pytest.mark.parametrize("mode,message", [
    ("nan_box", r"detect output 2: boxes contains NaN or infinite values \(sample (\S+)\)$"),
    ("nan_score", r"detect output 2: scores contains NaN or infinite values \(sample (\S+)\)$"),
    ("inverted", r"detect output 2: 1 box\(es\) with x2 < x1 or y2 < y1, e\.g\. box 0 = \[10\.0, 10\.0, 4\.0, 20\.0\]; "
                 r"boxes are \(x1, y1, x2, y2\) in pixels \(sample (\S+)\)$"),
])
def test_detections_are_checked_at_the_boundary_naming_the_bad_sample(mode, message):
    import re

    with pytest.raises(AdapterOutputError) as e:
        evaluate("bad_detector", "coco_detection", model_args=f"mode={mode}", includes=[PLUGIN], sample=True,
                 batch_size=4, use_cache=False, progress=False)
    m = re.search(message, str(e.value))
    assert m, str(e.value)
    assert e.value.__cause__ is not e.value  # raised as it is, not chained to itself
    from mmharness.evaluate import build_task
    from mmharness.task import DataConfig

    ids = [s.id for s in build_task("coco_detection").load(DataConfig(sample=True)).samples]
    assert m.group(1) == ids[2]  # the third image of the first batch: the bad one, not the first


def test_label_maps_outside_the_classes_are_refused_but_the_ignore_index_is_allowed():
    with pytest.raises(AdapterOutputError, match=r"segment map 1 has labels \[99\] outside 0\.\.\d+ or the ignore "
                                                 r"index 255 \(sample \S+\)"):
        evaluate("bad_segmenter", "fmb", model_args="value=99", includes=[PLUGIN], sample=True, batch_size=2,
                 use_cache=False, progress=False)
    res = evaluate("bad_segmenter", "fmb", model_args="value=255", includes=[PLUGIN], sample=True, batch_size=2,
                   use_cache=False, progress=False)
    assert 0.0 < res.metric("fmb") <= 1.0


def _coco_gt():
    return {"images": [{"id": 1, "width": 50, "height": 40, "file_name": "a.jpg"}],
            "categories": [{"id": 3, "name": "car"}],
            "annotations": [{"id": 10, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 10], "area": 200,
                             "iscrowd": 0},
                            {"id": 11, "image_id": 1, "category_id": 3, "bbox": [30, 5, 0, 10], "area": 0,
                             "iscrowd": 0}]}


def test_coco_boxes_with_negative_size_are_refused_and_zero_sizes_counted():
    gt = _coco_gt()
    bad = copy.deepcopy(gt)
    bad["annotations"][0]["bbox"] = [5, 5, -20, 10]
    with pytest.raises(CocoFormatError, match=r"annotations\[0\].*'bbox' \[5, 5, -20, 10\] has a negative width"):
        validate_ground_truth(bad, "gt.json")
    results = [{"image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 10], "score": 0.9},
               {"image_id": 1, "category_id": 3, "bbox": [40, 30, 0, 4], "score": 0.3}]
    res = evaluate_coco(gt, results)
    assert any(w.startswith("1 ground-truth box(es) have zero width or height") for w in res.warnings)
    assert any(w.startswith("1 detection box(es) have zero width or height") for w in res.warnings)
    assert res.stats["AP"] == pytest.approx(0.5, abs=0.01)  # one of two gt boxes found, as COCOeval scores it
    with pytest.raises(CocoFormatError, match=r"record 1 \(image_id 1\): 'bbox' \[40, 30, -3, 4\] has a negative"):
        evaluate_coco(gt, [results[0], {**results[1], "bbox": [40, 30, -3, 4]}])


def test_an_unusable_cache_dir_and_data_source_with_sample_fail_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = _cli("run", "--model", "oracle", "--tasks", "cifar10_b", "--sample", "--cache-dir", str(blocker / "cache"),
             "--no-progress", "--output", str(tmp_path / "out"))
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith(f"error: cache directory {blocker / 'cache'} cannot be used ")
    assert "--no-cache" in r.output and "Traceback" not in r.output
    with pytest.raises(TaskError, match=r"--data-source binary picks a loader for real data.*--sample"):
        evaluate("oracle", "cifar10_b", sample=True, data_source="binary", use_cache=False, progress=False)



def test_annotation_paths_cannot_leave_the_data_root(tmp_path):
    import json

    from mmharness.loaders.aro import UnsafePathError
    from mmharness.loaders.coco import load_coco_dataset
    from mmharness.loaders.refava import parse_key

    (tmp_path / "images").mkdir()
    gt = _coco_gt()
    gt["images"][0]["file_name"] = "../../etc/passwd"
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with pytest.raises(UnsafePathError, match=r"images\[0\] \(id 1\): image path '../../etc/passwd' escapes"):
        load_coco_dataset(tmp_path / "gt.json", tmp_path / "images")
    with pytest.raises(TaskError, match=r"video id '\.\./\.\./x', which is not a plain name"):
        parse_key("../../x___902___1", "refava_annotations.json")
    assert parse_key("-5KQ66BBWC4___902___1").video_id == "-5KQ66BBWC4"


def test_an_adapters_exception_in_shared_work_names_adapter_task_and_the_step():
    """An exception in an executor's prepare (the zero-shot classifier's prompt embeddings, before
    the first batch) names the adapter, the task and that step, like a batch's error."""
    import numpy as np

    from mmharness.adapter import Adapter, AdapterError

    class PromptsFail(Adapter):
        name = "prompts_fail"

        def embed_image(self, images):
            return np.ones((len(images), 4), np.float32)

        def embed_text(self, texts):
            raise RuntimeError("tokenizer exploded")

    with pytest.raises(AdapterError) as e:
        evaluate(PromptsFail(), "cifar10_b", sample=True, limit=2, use_cache=False, progress=False)
    msg = str(e.value)
    assert msg.startswith("adapter 'prompts_fail' on task 'cifar10_b', sample (shared work before the first batch: "
                          "classify<-embed_image+embed_text (zero-shot"), msg
    assert msg.endswith(")): RuntimeError: tokenizer exploded"), msg
    assert isinstance(e.value.__cause__, RuntimeError)
