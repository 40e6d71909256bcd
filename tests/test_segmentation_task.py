"""FMB / MFNet / semseg_folder end to end: oracle 1.0, protocols named in the results, streaming
scoring (lazy responses, one chunk decoded at a time), loaders of every layout, and bad data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.adapter import Adapter
from mmharness.evaluate import evaluate
from mmharness.loaders.segmentation import (
    FMB_PALETTE,
    RGBTChannels,
    decode_color_label,
    find_fmb,
    read_label_map,
)
from mmharness.requests import LabelMapResponse, encode
from mmharness.results import load_results
from mmharness.runner import CachedResponses
from mmharness.task import DataNotFoundError, TaskError

SAMPLE = Path(__file__).resolve().parent.parent / "mmharness" / "data" / "samples" / "segmentation"


def run(tasks, model="oracle", **kw):
    kw.setdefault("sample", True)
    kw.setdefault("use_cache", False)
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 0)
    return evaluate(model, tasks, **kw)


def test_oracle_scores_one_on_every_segmentation_task(tmp_path):
    res = run("fmb,mfnet,semseg_folder", output=tmp_path / "out", cache_dir=tmp_path / "cache", use_cache=True)
    for t in ("fmb", "mfnet", "semseg_folder"):
        doc = res.doc["tasks"][t]
        assert doc["metrics"]["mIoU"]["value"] == 1.0 and doc["metrics"]["aAcc"]["value"] == 1.0, t
    fmb = res.doc["tasks"]["fmb"]
    assert fmb["config"]["preset"] == "fmb15" and "preset fmb15" in fmb["protocol"]
    assert fmb["metrics"]["mIoU_fmb15_no_back"]["value"] == 1.0 and fmb["metrics"]["mIoU_fmb13_sea"]["value"] == 1.0
    assert fmb["config"]["inputs"] == ["rgb", "infrared"]
    m = np.array(fmb["tables"]["confusion_matrix"]["matrix"])
    assert m.shape == (15, 16) and m.sum() == m.trace() and m[:, 15].sum() == 0
    assert res.doc["tasks"]["mfnet"]["tables"]["preset"]["name"] == "mfnet9"
    assert res.doc["tasks"]["semseg_folder"]["config"]["classes"][15] == "person"
    load_results(res.path)


def test_fmb14_protocol_runs_in_the_14_way_space():
    res = run("fmb", task_args="protocol=fmb14")
    t = res.doc["tasks"]["fmb"]
    assert res.metric("fmb") == 1.0 and t["config"]["num_classes"] == 14 and t["config"]["reduce_zero_label"]
    assert len(t["tables"]["per_class"]) == 14 and t["tables"]["per_class"][0]["class"] == "road"
    assert "mIoU_fmb15_no_back" not in t["metrics"]


class _Spy(Adapter):
    """Answers the gold map at half resolution (so the task must resize) and counts calls."""

    name = "seg_spy"

    def __init__(self):
        super().__init__()

    def segment(self, batch):
        import torch

        return [torch.as_tensor(np.asarray(r)[::2, ::2].copy()) for r in batch.references]


def test_scoring_streams_lazily_and_resizes_predictions(tmp_path, monkeypatch):
    from mmharness.tasks import segmentation as seg

    seen = {}
    original = seg._SegTask.score

    def spy(self, samples, responses, ctx):
        seen["type"] = type(responses).__name__
        return original(self, samples, responses, ctx)

    monkeypatch.setattr(seg._SegTask, "score", spy)
    res = run("fmb", model=_Spy(), cache_dir=tmp_path / "c", use_cache=True)
    assert seen["type"] == "_LazyView"  # not a list: responses are read from the cache on access
    t = res.doc["tasks"]["fmb"]
    assert t["tables"]["n_predictions_resized"] == 6 and any("nearest-neighbour" in n for n in t["notes"])
    assert 0.5 < res.metric("fmb") < 1.0  # half-resolution nearest upsampling loses thin structures


class _CountingCache:
    """MemoryCache-like cache that records how many responses each get_many decodes."""

    def __init__(self, n):
        from mmharness.cache import MemoryCache

        self.inner = MemoryCache()
        self.inner.put_many("a", "t", [(f"{i:03d}", LabelMapResponse(np.full((64, 64), i, np.int32)), None)
                                       for i in range(n) if i != 5])  # sample 005 skipped
        self.calls = []

    def cached_ids(self, a, t):
        return self.inner.cached_ids(a, t)

    def get_many(self, a, t, ids):
        self.calls.append(len(ids))
        return self.inner.get_many(a, t, ids)


def test_cached_responses_hold_one_chunk_at_a_time():
    cache = _CountingCache(40)
    lazy = CachedResponses(cache, "a", "t", [f"{i:03d}" for i in range(40)], chunk=8)
    assert cache.calls == [] and len(lazy) == 40 and not lazy.present(5) and lazy.present(6)
    values = [None if r is None else int(r.label_map[0, 0]) for r in lazy]
    assert values == [None if i == 5 else i for i in range(40)]
    assert cache.calls == [8] * 5  # each chunk fetched once while iterating in order
    sub = lazy.subset([39, 1])
    assert [int(r.label_map[0, 0]) for r in sub] == [39, 1] and len(encode(sub[0])) > 64 * 64 * 4


def test_fmb_loader_layouts_and_color_labels(tmp_path):
    recs, src = find_fmb(SAMPLE / "FMB", "test")
    assert len(recs) == 6 and src.startswith("fmb:") and dict(recs[0].images)["infrared"].endswith("Infrared/00000.png")
    idx = read_label_map(recs[0].label)
    col = decode_color_label(Path(recs[0].label).parent.parent / "color" / "00000.png", FMB_PALETTE)
    assert np.array_equal(col, np.where(idx == 0, 255, idx))  # black (background) decodes to ignore
    res = run("fmb", task_args="label_source=color")
    assert res.metric("fmb") == 1.0 and res.doc["tasks"]["fmb"]["config"]["label_source"] == "color"
    # the flat re-organisation FMB/{Visible,Infrared,Label}/ + test.txt
    flat = tmp_path / "FMB"
    for f in ("Visible", "Infrared", "Label"):
        shutil.copytree(SAMPLE / "FMB" / "test" / f, flat / f)
    (flat / "test.txt").write_text("00001.png\n00003\n")
    recs, src = find_fmb(tmp_path, "test")
    assert [r.id for r in recs] == ["00001", "00003"] and src.startswith("fmb-flat:")
    (flat / "Infrared" / "00003.png").unlink()
    with pytest.raises(DataNotFoundError, match=r"1 name\(s\) missing from .*Infrared \(e.g. 00003\)"):
        find_fmb(tmp_path, "test")
    with pytest.raises(DataNotFoundError, match="SegMiF"):
        find_fmb(tmp_path / "nowhere", "test")


def test_mfnet_rgbt_channels_and_msrs_layout(tmp_path):
    img = SAMPLE / "MFNet" / "images" / "00003D.png"
    raw = np.asarray(Image.open(img))
    assert raw.shape[2] == 4
    assert np.array_equal(np.asarray(RGBTChannels(str(img), "rgb").load()), raw[..., :3])
    th = np.asarray(RGBTChannels(str(img), "thermal").load())
    assert th.shape == raw.shape[:2] + (3,) and np.array_equal(th[..., 1], raw[..., 3])
    res = run("mfnet", task_args="split=test_night")
    assert res.doc["tasks"]["mfnet"]["n_samples"] == 2
    msrs = tmp_path / "MSRS" / "test"
    for sub, part in (("vi", "rgb"), ("ir", "thermal")):
        (msrs / sub).mkdir(parents=True)
        for name in ("00003D", "00004N"):
            RGBTChannels(str(SAMPLE / "MFNet" / "images" / f"{name}.png"), part).load().save(msrs / sub / f"{name}.png")
    shutil.copytree(SAMPLE / "MFNet" / "labels", msrs / "Segmentation_labels")
    (msrs / "Segmentation_labels" / "00001D.png").unlink()
    res = run("mfnet", sample=False, data_root=tmp_path, data_source="msrs", task_args="modalities=infrared")
    t = res.doc["tasks"]["mfnet"]
    assert res.metric("mfnet") == 1.0 and t["n_samples"] == 2 and t["config"]["inputs"] == ["infrared"]
    assert t["config"]["source"] == "msrs"


def _fmb_copy(tmp_path):
    root = tmp_path / "FMB"
    shutil.copytree(SAMPLE / "FMB", root)
    return root


def test_label_of_another_size_than_its_image_stops_or_is_skipped(tmp_path):
    root = _fmb_copy(tmp_path)
    lab = root / "test" / "Label" / "00002.png"
    Image.fromarray(read_label_map(lab)[:40, :50]).save(lab)
    with pytest.raises(TaskError, match=r"sample 00002.*label map .*00002.png is 50x40 \(WxH\) but the rgb image "
                                        r".*00002.png is 80x60"):
        run("fmb", sample=False, data_root=tmp_path)
    res = run("fmb", sample=False, data_root=tmp_path, on_error="skip")
    t = res.doc["tasks"]["fmb"]
    assert t["n_skipped"] == 1 and t["skipped"][0]["id"] == "00002" and res.metric("fmb") == 1.0


def test_label_values_outside_the_classes_are_reported(tmp_path):
    root = _fmb_copy(tmp_path)
    lab = root / "test" / "Label" / "00004.png"
    arr = read_label_map(lab).copy()
    arr[5, 5] = 20
    Image.fromarray(arr).save(lab)
    with pytest.raises(TaskError, match=r"00004.png has values \[20\] outside the classes 0..14 of preset 'fmb15' "
                                        r"and not the ignore index 255"):
        run("fmb", sample=False, data_root=tmp_path)


class _IgnoredAsOne(Adapter):
    """Answers the gold map (reference) with class 1 wherever the reference holds the ignore index."""

    name = "seg_ignored_as_one"

    def segment(self, batch):
        return [np.where(np.asarray(r) == 255, 1, np.asarray(r)) for r in batch.references]


def test_invalid_gt_option_counts_as_mmseg_does_or_drops(tmp_path):
    root = _fmb_copy(tmp_path)
    lab = root / "test" / "Label" / "00004.png"
    arr = read_label_map(lab).copy()
    arr[5, 5] = 20
    Image.fromarray(arr).save(lab)
    # by hand: every valid gt pixel is predicted right; the gt-20 pixel (the reference holds 255 there)
    # is predicted 1. mmseg: no gt area, no intersection, but one more predicted pixel of class 1, so
    # IoU_1 = L_1 / (L_1 + 1) and every other present class has IoU 1; aAcc = 1 (intersections / gt areas)
    labels = [read_label_map(p) for p in sorted((root / "test" / "Label").glob("*.png"))]
    gt_area = np.bincount(np.concatenate([g[g < 15].ravel() for g in labels]), minlength=15)
    assert gt_area[1] > 0
    iou = {c: 1.0 for c in range(15) if gt_area[c]}
    iou[1] = gt_area[1] / (gt_area[1] + 1)
    t = run("fmb", model=_IgnoredAsOne(), sample=False, data_root=tmp_path, task_args="invalid_gt=mmseg").doc[
        "tasks"]["fmb"]
    assert t["config"]["invalid_gt"] == "mmseg" and "intersect_and_union" in t["config"]["invalid_gt_meaning"]
    assert t["tables"]["n_invalid_gt_pixels"] == 1
    counts = t["tables"]["invalid_gt_predictions"]["counts"]
    assert counts[1] == 1 and sum(counts) == 1 and len(counts) == 16
    per_class = {r["index"]: r["IoU"] for r in t["tables"]["per_class"]}
    assert per_class[1] == pytest.approx(iou[1], abs=1e-15) and per_class[1] < 1.0
    assert t["metrics"]["mIoU"]["value"] == pytest.approx(np.mean(list(iou.values())), abs=1e-15)
    assert t["metrics"]["aAcc"]["value"] == 1.0 and t["metrics"]["mAcc"]["value"] == 1.0
    assert t["metrics"]["mIoU_fmb13_sea"]["value"] == 1.0  # gt 20 is no SEA class: that pixel is not scored
    assert any("1 gt pixel(s) hold values outside the classes 0..14" in n and "invalid_gt=mmseg" in n
               for n in t["notes"])
    t = run("fmb", model=_IgnoredAsOne(), sample=False, data_root=tmp_path, task_args="invalid_gt=ignore").doc[
        "tasks"]["fmb"]
    assert t["metrics"]["mIoU"]["value"] == 1.0 and t["tables"]["n_invalid_gt_pixels"] == 1
    assert "invalid_gt_predictions" not in t["tables"] and t["config"]["invalid_gt"] == "ignore"
    # the default stays an error, naming the option
    with pytest.raises(TaskError, match=r"outside the classes 0..14 .*invalid_gt=mmseg"):
        run("fmb", model=_IgnoredAsOne(), sample=False, data_root=tmp_path)
    assert run("fmb").doc["tasks"]["fmb"]["config"]["invalid_gt"] == "error"
    with pytest.raises(TaskError, match="invalid_gt='drop' is not one of"):
        run("mfnet", task_args="invalid_gt=drop")


@pytest.mark.slow
def test_torchvision_segmenter_on_rgbt_scenes():
    res = run("fmb", model="torchvision", model_args="model=lraspp_mobilenet_v3_large,num_classes=15,modality=infrared")
    t = res.doc["tasks"]["fmb"]
    assert res.doc["model"]["adapter"] == "torchvision-segmentation"
    assert 0.0 <= res.metric("fmb") < 0.5 and np.array(t["tables"]["confusion_matrix"]["matrix"]).sum() > 0
    from mmharness.adapter import AdapterError

    with pytest.raises(AdapterError, match="predicts 21 classes but the task asks for 15"):
        run("fmb", model="torchvision", model_args="model=lraspp_mobilenet_v3_large")


def test_semseg_folder_with_paths_and_class_file(tmp_path):
    voc = tmp_path / "voc"
    shutil.copytree(SAMPLE / "VOCstyle", voc)
    classes = tmp_path / "classes.txt"
    classes.write_text("# VOC\n" + "\n".join(f"c{k}" for k in range(21)) + "\n")
    res = run("semseg_folder", sample=False, data_root=tmp_path,
              task_args=f"images=voc/JPEGImages,labels=voc/SegmentationClass,classes={classes}")
    t = res.doc["tasks"]["semseg_folder"]
    assert res.metric("semseg_folder") == 1.0 and t["config"]["preset"] == "custom" and t["n_samples"] == 5
    (voc / "SegmentationClass" / "2007_000003.png").unlink()
    with pytest.raises(DataNotFoundError, match=r"1 image\(s\) .* have no label '<name>.png' .*2007_000003"):
        run("semseg_folder", sample=False, data_root=tmp_path,
            task_args="images=voc/JPEGImages,labels=voc/SegmentationClass,preset=voc21")
    with pytest.raises(TaskError, match="needs classes="):
        run("semseg_folder", sample=False, data_root=tmp_path, task_args="images=voc/JPEGImages,labels=voc/SegmentationClass")
    with pytest.raises(TaskError, match="preset ade150 has 150 classes but the class list has 21"):
        run("semseg_folder", task_args="preset=ade150,classes=voc21")
