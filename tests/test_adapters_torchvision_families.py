"""Every detector and segmenter family the issue names builds offline with random weights and answers
through the runner's executors (small inputs; the heavier families live here, not in the main file)."""

from __future__ import annotations

import pytest
import torch

from mmharness.cache import MemoryCache
from mmharness.executors import DIRECT, RunContext
from mmharness.adapters.torchvision_dense import TorchvisionDetector, TorchvisionSegmenter
from mmharness.requests import Batch, Capability, DetectRequest, LabelSet, SegmentRequest


def _coco80() -> LabelSet:
    from torchvision.models._meta import _COCO_CATEGORIES

    return LabelSet("coco80", tuple(c for c in _COCO_CATEGORIES if c not in ("__background__", "N/A")))


@pytest.mark.parametrize("arch,kw", [
    ("retinanet_resnet50_fpn", {"min_size": 64, "max_size": 96}),
    ("fcos_resnet50_fpn", {"min_size": 64, "max_size": 96}),
    ("ssdlite320_mobilenet_v3_large", {}),
    ("ssd300_vgg16", {}),
])
@pytest.mark.slow
def test_detector_families(arch, kw):
    det = TorchvisionDetector(model=arch, score_thresh=0.0, detections_per_img=10, **kw)
    img = torch.rand(3, 50, 70, generator=torch.Generator().manual_seed(0))
    batch = Batch(["a"], {"image": [img]}, [DetectRequest(None, _coco80())], [None])
    with torch.inference_mode():
        (resp,) = DIRECT[Capability.DETECT].run(det, batch, RunContext("tv", "t", "k", MemoryCache()))
    assert resp.boxes.shape[1] == 4 and len(resp.boxes) == len(resp.labels) <= 10
    assert ((resp.labels >= 0) & (resp.labels < 80)).all() and resp.masks is None
    assert det.weights_identity() == "random:seed=0"


@pytest.mark.parametrize("arch", ["deeplabv3_resnet50", "fcn_resnet50", "deeplabv3_mobilenet_v3_large"])
def test_segmenter_families(arch):
    seg = TorchvisionSegmenter(model=arch, num_classes=9)
    x = torch.rand(1, 3, 33, 45, generator=torch.Generator().manual_seed(0))
    batch = Batch(["a"], {"image": x}, [SegmentRequest({}, 9)], [None])
    with torch.inference_mode():
        (resp,) = DIRECT[Capability.SEGMENT].run(seg, batch, RunContext("tv", "t", "k", MemoryCache()))
    assert resp.label_map.shape == (33, 45) and resp.label_map.max() < 9
