"""RefAVA end to end: oracle = 1 on every official metric, clip averaging and box scoring against a
direct computation, video-file layout, box units, missing data, zero-shot from embeddings."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_refava_loaders import write_test_video

from mmharness.adapter import Adapter
from mmharness.evaluate import evaluate
from mmharness.loaders import refava as ra
from mmharness.metrics.multilabel import box_iou, iou_gate, multilabel_scores
from mmharness.requests import Batch, ClassifyOutput
from mmharness.task import DataNotFoundError, TaskError

SAMPLE = Path(ra.__file__).resolve().parent.parent / "data" / "samples" / "refava"
TINY_CLIP = str(Path(__file__).resolve().parent.parent / "examples" / "tiny_clip.json")


def run(model, **kw):
    kw.setdefault("use_cache", False)
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 0)
    return evaluate(model, "refava", **kw).doc["tasks"]["refava"]


@pytest.mark.slow
def test_oracle_reaches_one_on_every_official_metric():
    t = run("oracle", sample=True)
    official = [m for m, meta in t["metric_metadata"].items() if meta["official"]]
    assert set(official) == {"map_weighted", "auroc_weighted", "miou", "map_weighted_iou_gated",
                             "auroc_weighted_iou_gated"}
    for m in official:
        assert t["metrics"][m]["value"] == 1.0, m
    assert t["n_scored"] == 8 * 11 and t["tables"]["scoring"]["kept_classes"] == 13
    assert t["config"]["repeated_frame_bug"] is False


class ScriptedRefAva(Adapter):
    """Logits and boxes that are a fixed function of (sample key, clip): tests recompute them."""

    name = "scripted_refava"

    def __init__(self, boxes: bool = True):
        super().__init__()
        self.with_boxes = boxes
        self.seen_shapes = set()

    @staticmethod
    def outputs(key: str, clip: int):
        rng = np.random.default_rng(abs(hash((key, clip))) % 2**32)
        logits = rng.standard_normal(80).astype(np.float32)
        x1, y1 = rng.uniform(0, 0.5, 2)
        box = np.array([x1, y1, x1 + rng.uniform(0.1, 0.5), y1 + rng.uniform(0.1, 0.5)], dtype=np.float32)
        return logits, box

    def classify(self, batch: Batch) -> ClassifyOutput:
        logits, boxes = [], []
        for sid, req in zip(batch.sample_ids, batch.requests):
            key, clip = sid.split("#c")
            lg, bx = self.outputs(key, int(clip))
            logits.append(lg)
            boxes.append(bx)
            assert req.multilabel and req.text and len(req.labels) == 80
        for v in batch.inputs["video"]:
            self.seen_shapes.add(tuple(np.asarray(v).shape))
        assert batch.inputs["keyframe"].shape[-2:] == (340, 465)  # resized keyframe, CHW float
        return ClassifyOutput(torch.from_numpy(np.stack(logits)),
                              torch.from_numpy(np.stack(boxes)) if self.with_boxes else None)


def _expected(split: str, clips: int = 11):
    exp = ra.read_export(SAMPLE / ra.EXPORT_NAME)[split]["records"]
    Y = np.zeros((len(exp), 80), int)
    S = np.zeros((len(exp), 80))
    iou, gate = np.zeros(len(exp)), np.zeros(len(exp))
    for i, r in enumerate(exp):
        Y[i, [a - 1 for a in r["labels"]]] = 1
        outs = [ScriptedRefAva.outputs(r["key"], c) for c in range(clips)]
        S[i] = np.mean([o[0] for o in outs], axis=0)
        ious = box_iou(np.stack([o[1] for o in outs]), np.tile(r["box"], (clips, 1)))
        iou[i], gate[i] = ious.mean(), ious[0]
    return Y, S, iou, gate


@pytest.mark.slow
def test_clip_averaged_scores_match_a_direct_computation():
    ad = ScriptedRefAva()
    t = run(ad, sample=True, batch_size=7)
    Y, S, iou, gate = _expected("test")
    ml = multilabel_scores(Y, S)
    gated = multilabel_scores(Y, iou_gate(S, gate, 0.5))
    m = t["metrics"]
    assert m["map_weighted"]["value"] == pytest.approx(ml.map_weighted, abs=1e-6)
    assert m["auroc_weighted"]["value"] == pytest.approx(ml.auroc_weighted, abs=1e-6)
    assert m["map_macro"]["value"] == pytest.approx(ml.map_macro, abs=1e-6)
    assert m["miou"]["value"] == pytest.approx(iou.mean(), abs=1e-6)
    assert m["map_weighted_iou_gated"]["value"] == pytest.approx(gated.map_weighted, abs=1e-6)
    assert m["auroc_weighted_iou_gated"]["value"] == pytest.approx(gated.auroc_weighted, abs=1e-6)
    assert ad.seen_shapes == {(8, 48, 64, 3)}  # 8 real frames per clip at the stored size
    per_class = {r["ava_id"]: r for r in t["tables"]["per_class"]}
    assert set(per_class) == {int(c) + 1 for c in ml.kept}


def test_a_class_without_negatives_gives_the_official_zero_auroc_and_the_corrected_one(tmp_path):
    """Every test instance also does AVA id 12 ("stand"): the official get_auc reports AUROC 0.0,
    the corrected metric leaves id 12 out; mAP is unaffected."""
    root = tmp_path / "refava"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("pickles"))
    doc = json.loads((root / ra.EXPORT_NAME).read_text())
    for rec in doc["splits"]["test"]["records"]:
        rec["labels"] = sorted(set(rec["labels"]) | {12})
    (root / ra.EXPORT_NAME).write_text(json.dumps(doc))
    t = run(ScriptedRefAva(), data_root=tmp_path, task_args={"clips": 2})
    Y, S, _, gate = _expected("test", clips=2)
    Y[:, 11] = 1
    ml = multilabel_scores(Y, S)
    gated = multilabel_scores(Y, iou_gate(S, gate, 0.5))
    assert ml.auroc_undefined == [11] and 0.0 < ml.auroc_weighted_corrected < 1.0
    m = t["metrics"]
    assert m["auroc_weighted"]["value"] == 0.0 and m["auroc_weighted_iou_gated"]["value"] == 0.0  # official
    assert m["auroc_weighted_corrected"]["value"] == pytest.approx(ml.auroc_weighted_corrected, abs=1e-6)
    assert m["auroc_weighted_iou_gated_corrected"]["value"] == pytest.approx(gated.auroc_weighted_corrected, abs=1e-6)
    assert m["auroc_macro"]["value"] == pytest.approx(ml.auroc_macro, abs=1e-6)
    assert m["map_weighted"]["value"] == pytest.approx(ml.map_weighted, abs=1e-6)
    meta = t["metric_metadata"]
    assert meta["auroc_weighted"]["official"] and not meta["auroc_weighted_corrected"]["official"]
    assert t["tables"]["scoring"]["auroc_undefined_ava_ids"] == [12]
    assert next(r for r in t["tables"]["per_class"] if r["ava_id"] == 12)["auroc"] is None
    assert any("AVA id(s) [12]" in n and "official get_auc" in n and "reports 0.0" in n for n in t["notes"])
    assert t["version"] == "2" and "get_auc" in t["config"]["auroc_class_without_negative"]
    # the bundled sample has a negative for every class: official and corrected agree there
    t = run(ScriptedRefAva(), sample=True, task_args={"clips": 2})
    assert t["metrics"]["auroc_weighted"]["value"] == t["metrics"]["auroc_weighted_corrected"]["value"]
    assert t["tables"]["scoring"]["auroc_undefined_ava_ids"] == []


def test_without_boxes_miou_is_absent_and_said_so():
    t = run(ScriptedRefAva(boxes=False), sample=True, task_args={"split": "val", "clips": 2})
    assert "miou" not in t["metrics"] and "map_weighted_iou_gated" not in t["metrics"]
    assert any("no boxes" in n for n in t["notes"])
    Y, S, _, _ = _expected("val", clips=2)
    assert t["metrics"]["map_weighted"]["value"] == pytest.approx(multilabel_scores(Y, S).map_weighted, abs=1e-6)
    assert t["n_scored"] == 4 * 2


def _video_file_root(tmp_path: Path, units: str = "normalized") -> Path:
    """A data root with the sample's test split as an export and its videos as MPEG-4 files."""
    root = tmp_path / "refava"
    (root / "videos").mkdir(parents=True)
    doc = json.loads((SAMPLE / ra.EXPORT_NAME).read_text())
    if units == "keyframe_pixels":
        for rec in doc["splits"]["test"]["records"]:
            rec["box"] = [rec["box"][0] * 465, rec["box"][1] * 340, rec["box"][2] * 465, rec["box"][3] * 340]
    (root / ra.EXPORT_NAME).write_text(json.dumps(doc))
    for vid in ("GenVideoA01", "GenVideoB02"):
        # 1002 s of 64x48 video would be large; 2 fps keeps the file tiny and the times exact
        write_test_video(root / "videos" / f"{vid}.mp4", n_frames=2 * 1010, fps=2)
    return tmp_path


def test_video_file_layout_and_pixel_box_units(tmp_path):
    data_root = _video_file_root(tmp_path, units="keyframe_pixels")
    t = run("oracle", data_root=data_root, task_args={"clips": 1, "gt_box_units": "keyframe_pixels"})
    assert t["metrics"]["miou"]["value"] == pytest.approx(1.0, abs=1e-6)
    assert t["metrics"]["map_weighted"]["value"] == 1.0
    with pytest.raises(TaskError, match="not in normalised"):
        run("oracle", data_root=data_root, task_args={"clips": 1})


def test_missing_annotations_and_frames_are_clear_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="mmh data convert refava"):
        run("oracle", data_root=tmp_path)
    root = tmp_path / "refava"
    root.mkdir()
    shutil.copy(SAMPLE / ra.EXPORT_NAME, root / ra.EXPORT_NAME)
    with pytest.raises(DataNotFoundError, match=r"frames/GenVideoA01/image_%06d\.jpg"):
        run("oracle", data_root=tmp_path)
    with pytest.raises(TaskError, match="split 'train' is not in"):
        run("oracle", sample=True, task_args={"split": "train"})


def test_repeated_frame_bug_option_feeds_identical_frames():
    class Recorder(ScriptedRefAva):
        def classify(self, batch):
            for v in batch.inputs["video"]:
                a = np.asarray(v)
                self.seen_shapes.add(bool(all(np.array_equal(a[0], f) for f in a)))
            return super().classify(batch)

    ad = Recorder()
    t = run(ad, sample=True, task_args={"repeated_frame_bug": True, "clips": 1})
    assert t["config"]["repeated_frame_bug"] is True
    assert True in ad.seen_shapes and False not in ad.seen_shapes
    assert any("bug reproduced" in n for n in t["notes"])


def test_zero_shot_from_embeddings_uses_frames_and_referring_text(tmp_path):
    """The derived executor's logits equal a hand computation with open_clip on the same frames."""
    res = evaluate("open_clip", "refava", model_args=f"model={TINY_CLIP},pretrained=none", sample=True,
                   task_args={"split": "val", "clips": 1}, use_cache=False, progress=False, bootstrap=0,
                   log_samples=True, output=tmp_path)
    t = res.doc["tasks"]["refava"]
    assert "video: mean of frame embeddings" in t["capability_path"]
    rows = [json.loads(line) for line in res.sample_logs["refava"].read_text().splitlines()]

    from PIL import Image

    from mmharness.adapter import build_adapter
    from mmharness.loaders.video import FrameFolderClip, ava_clip_frames
    from mmharness.registry import ADAPTERS

    ad = build_adapter(ADAPTERS.get("open_clip"), {"model": TINY_CLIP, "pretrained": "none"})
    rec = ra.read_export(SAMPLE / ra.EXPORT_NAME)["val"]["records"][0]
    frames = FrameFolderClip(str(SAMPLE / "frames" / rec["video_id"]), ava_clip_frames(rec["timestamp"], 0)).load()
    pre = ad.preprocess("image")
    with torch.no_grad():
        img = ad.embed_image(torch.stack([pre(Image.fromarray(f)) for f in frames])).numpy()
        v = img.mean(axis=0)
        v /= np.linalg.norm(v)
        prompts = [f"{rec['description']} Action: {c}." for c in ra.AVA_ACTIONS]
        w = ad.embed_text(prompts).numpy()
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    expected = 100.0 * w @ v
    got = next(r for r in rows if r["id"] == f"{rec['key']}#c00")["response"]["logits"]
    assert np.asarray(got) == pytest.approx(expected, abs=1e-3)


def test_an_undecodable_frame_stops_the_run_or_is_skipped(tmp_path):
    root = tmp_path / "refava"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("pickles"))
    rec = ra.read_export(SAMPLE / ra.EXPORT_NAME)["val"]["records"][0]
    from mmharness.loaders.video import ava_clip_frames

    bad_frame = ava_clip_frames(rec["timestamp"], 1)[0]  # window offset 1: used by clip 1 only
    (root / "frames" / rec["video_id"] / f"image_{bad_frame:06d}.jpg").write_bytes(b"broken")
    args = {"split": "val", "clips": 2}
    with pytest.raises(TaskError, match=rf"sample {rec['key']}#c01 .*cannot decode frame .*image_{bad_frame:06d}"):
        run("oracle", data_root=tmp_path, task_args=args)
    t = run("oracle", data_root=tmp_path, task_args=args, on_error="skip")
    assert t["n_skipped"] >= 1 and rec["key"] in t["tables"]["scoring"]["incomplete_instances"]
    assert t["metrics"]["map_weighted"]["value"] == 1.0
