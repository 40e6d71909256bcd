"""torchvision detectors and segmenters: family dispatch of the `torchvision` name, label-space
mapping, masks, local weight files, conformance, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmharness.adapter import AdapterError, build_adapter
from mmharness.adapters.torchvision_classifier import TorchvisionClassifier
from mmharness.adapters.torchvision_dense import TorchvisionDetector, TorchvisionSegmenter
from mmharness.conformance import check_adapter
from mmharness.executors import DIRECT, RunContext
from mmharness.cache import MemoryCache
from mmharness.registry import ADAPTERS
from mmharness.requests import Batch, Capability, DetectRequest, LabelSet, SegmentRequest

COCO_SUBSET = LabelSet("coco-subset", ("person", "car", "hair drier", "toothbrush"))


def _coco80() -> LabelSet:
    from torchvision.models._meta import _COCO_CATEGORIES

    return LabelSet("coco80", tuple(c for c in _COCO_CATEGORIES if c not in ("__background__", "N/A")))
FAST = "fasterrcnn_mobilenet_v3_large_320_fpn"


def _detect_batch(images, labels=COCO_SUBSET):
    reqs = [DetectRequest(None, labels) for _ in images]
    return Batch([f"s{i}" for i in range(len(images))], {"image": images}, reqs, [None] * len(images))


@pytest.fixture(scope="module")
def detector():
    return TorchvisionDetector(model=FAST, score_thresh=0.0, detections_per_img=30)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return [torch.rand(3, 90, 120, generator=g), torch.rand(3, 64, 80, generator=g)]


def test_torchvision_name_dispatches_by_builder_family():
    tv = ADAPTERS.get("torchvision")
    assert tv is TorchvisionClassifier
    assert tv.resolve_class({"name": "fasterrcnn_mobilenet_v3_large_fpn"}) is TorchvisionDetector
    assert tv.resolve_class({"model": "deeplabv3_resnet50"}) is TorchvisionSegmenter
    assert tv.resolve_class({"model": "resnet18"}) is TorchvisionClassifier
    a = build_adapter(tv, {"name": "resnet18", "num_classes": "10"})  # `name` is an alias of `model`
    assert isinstance(a, TorchvisionClassifier) and a.model_args["model"] == "resnet18"
    with pytest.raises(AdapterError, match="disagree"):
        TorchvisionClassifier(model="resnet18", name="resnet34")
    assert {c.value for c in TorchvisionDetector.capabilities()} == {"detect"}
    assert {c.value for c in TorchvisionSegmenter.capabilities()} == {"segment"}


@pytest.mark.slow
def test_detector_maps_coco_ids_to_the_label_set_by_name(detector, images):
    with torch.inference_mode():
        out = detector.detect(_detect_batch(images))
    assert len(out) == 2
    for d in out:
        assert d.boxes.shape[1] == 4 and len(d.boxes) == len(d.scores) == len(d.labels) > 0
        assert set(d.labels.tolist()) <= {0, 1, 2, 3} and d.masks is None
    # the random head's favourite classes are "hair drier"/"toothbrush" (ids 89/90): kept through the name map
    raw = detector.model([images[0]])[0]["labels"]
    names = {detector.categories[k] for k in raw.tolist()}
    kept = {COCO_SUBSET.classes[k] for k in out[0].labels.tolist()}
    assert kept == names & set(COCO_SUBSET.classes)
    with pytest.raises(AdapterError, match="none of the model's 91 classes"):
        detector.detect(_detect_batch(images[:1], LabelSet("shapes", ("cloud", "heart"))))


def test_detector_arguments_are_checked(tmp_path):
    with pytest.raises(AdapterError, match="Did you mean 'fasterrcnn_resnet50_fpn'"):
        TorchvisionDetector(model="fasterrcnn_resnet50")
    with pytest.raises(AdapterError, match="keypoint detection is not served"):
        TorchvisionDetector(model="keypointrcnn_resnet50_fpn")
    with pytest.raises(AdapterError, match="fixed input size; min_size is not accepted"):
        TorchvisionDetector(model="ssdlite320_mobilenet_v3_large", min_size=200)
    with pytest.raises(AdapterError, match="a 6-way head needs categories=FILE"):
        TorchvisionDetector(model=FAST, num_classes=6)
    cats = tmp_path / "cats.txt"
    cats.write_text("__background__\ncar\nperson\n")
    with pytest.raises(AdapterError, match="3 category names for a 6-way head"):
        TorchvisionDetector(model=FAST, num_classes=6, categories=str(cats))


@pytest.mark.slow
def test_custom_head_with_categories_file_and_index_map(tmp_path, images):
    cats = tmp_path / "cats.txt"
    cats.write_text("__background__\nToothbrush\nperson\n")
    det = TorchvisionDetector(model=FAST, num_classes=3, categories=str(cats), score_thresh=0.0)
    mapping = det._label_map(COCO_SUBSET)
    assert mapping.tolist() == [-1, 3, 0]  # case-insensitive name match; background never maps
    idx = TorchvisionDetector(model=FAST, num_classes=3, label_map="index", score_thresh=0.0)
    assert idx._label_map(COCO_SUBSET).tolist() == [-1, 0, 1]
    with torch.inference_mode():
        out = idx.detect(_detect_batch(images[:1]))
    assert set(out[0].labels.tolist()) <= {0, 1}


@pytest.mark.slow
def test_detector_weights_file_round_trip(tmp_path, detector, images):
    path = tmp_path / "det.pt"
    torch.save(detector.model.state_dict(), path)
    loaded = TorchvisionDetector(model=FAST, weights=str(path), score_thresh=0.0, detections_per_img=30)
    with torch.inference_mode():
        a, b = detector.detect(_detect_batch(images)), loaded.detect(_detect_batch(images))
    assert all(torch.equal(x.boxes, y.boxes) and torch.equal(x.labels, y.labels) for x, y in zip(a, b))
    assert loaded.weights_identity().startswith("sha256:") and loaded.fingerprint() != detector.fingerprint()
    with pytest.raises(AdapterError, match="do not fit"):
        TorchvisionDetector(model=FAST, weights=str(path), num_classes=5, label_map="index")


@pytest.mark.slow
def test_mask_rcnn_masks_become_rle_at_image_size(images):
    det = TorchvisionDetector(model="maskrcnn_resnet50_fpn", score_thresh=0.0, detections_per_img=5, min_size=64,
                              max_size=96)
    ctx = RunContext("tv", "t", "k", MemoryCache())
    with torch.inference_mode():
        out = DIRECT[Capability.DETECT].run(det, _detect_batch(images, _coco80()), ctx)
    for resp, im in zip(out, images):
        assert resp.masks is not None and len(resp.masks) == len(resp.boxes) > 0
        assert resp.masks[0]["size"] == list(im.shape[1:]) and isinstance(resp.masks[0]["counts"], str)


@pytest.mark.slow
def test_conformance_checks_pass():
    seg = TorchvisionSegmenter(model="lraspp_mobilenet_v3_large", num_classes=5)
    assert all(r.ok for r in check_adapter(seg)), [r.detail for r in check_adapter(seg)]
    det = TorchvisionDetector(model=FAST, num_classes=6, label_map="index", score_thresh=0.0)
    results = check_adapter(det)
    assert [r.capability for r in results] == ["detect"] and results[0].ok, results[0].detail


def _seg_batch(inputs, n_classes):
    k = len(next(iter(inputs.values())))
    return Batch([f"s{i}" for i in range(k)], inputs, [SegmentRequest({}, n_classes) for _ in range(k)], [None] * k)


@pytest.mark.slow
def test_segmenter_modalities_resize_and_errors():
    seg = TorchvisionSegmenter(model="lraspp_mobilenet_v3_large", num_classes=15, modality="infrared", resize=32)
    rgb = torch.zeros(2, 3, 48, 64)
    ir = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = seg.segment(_seg_batch({"rgb": rgb, "infrared": ir}, 15))
        again = seg.segment(_seg_batch({"rgb": rgb + 1, "infrared": ir}, 15))  # the rgb image is not used
    assert [tuple(o.shape) for o in out] == [(48, 64), (48, 64)] and out[0].dtype == torch.int64
    assert all(torch.equal(a, b) for a, b in zip(out, again))
    with pytest.raises(AdapterError, match=r"modality=infrared\) got inputs \['image'\]"):
        seg.segment(_seg_batch({"image": rgb}, 15))
    with pytest.raises(AdapterError, match="predicts 15 classes but the task asks for 9"):
        seg.segment(_seg_batch({"infrared": ir}, 9))
    with pytest.raises(AdapterError, match="Did you mean 'deeplabv3_resnet50'"):
        TorchvisionSegmenter(model="deeplabv3_resnet5")


def test_segmenter_weights_file_drops_training_only_aux_head(tmp_path):
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        trained = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=4, aux_loss=True)
    path = tmp_path / "seg.pt"
    torch.save(trained.state_dict(), path)
    assert any(k.startswith("aux_classifier.") for k in trained.state_dict())
    seg = TorchvisionSegmenter(model="deeplabv3_mobilenet_v3_large", weights=str(path), num_classes=4)
    trained.eval()
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ref = trained(x)["out"].argmax(1)[0]
        got = seg.segment(_seg_batch({"image": x}, 4))[0]
    assert torch.equal(ref, got) and np.unique(got.numpy()).size >= 1
