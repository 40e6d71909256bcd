"""Test plugin loaded with --include: adapters that fail on purpose, for the error-context tests.

* ``raising`` (generate): raises in its second batch, ``error=value|runtime|exit`` (ValueError,
  RuntimeError, SystemExit(3)); otherwise answers ``Answer: A``.
* ``bad_detector`` (detect): one box per image from the reference; for the third image of every
  batch, ``mode=nan_box|nan_score|inverted`` breaks that image's output.
* ``bad_segmenter`` (segment): the reference label map, with one pixel of the second image of every
  batch set to ``value`` (an int: out of range, or the request's ignore index).
"""

from __future__ import annotations

import numpy as np

from mmharness.adapter import Adapter
from mmharness.registry import register_adapter
from mmharness.requests import Batch, Detections, TextResponse


def _drop(x):
    return None


@register_adapter("raising")
class Raising(Adapter):
    """Answers ``Answer: A`` in its first batch, then raises ``error``."""

    def __init__(self, error: str = "value"):
        super().__init__()
        self.error, self.calls = error, 0

    def preprocess(self, modality):
        return _drop

    def generate(self, batch: Batch):
        self.calls += 1
        if self.calls >= 2:
            if self.error == "value":
                raise ValueError("generate failed mid-batch")
            if self.error == "runtime":
                raise RuntimeError("CUDA error: device-side assert triggered (simulated)")
            raise SystemExit(3)
        return [TextResponse("Answer: A") for _ in range(len(batch))]


@register_adapter("bad_detector")
class BadDetector(Adapter):
    """The reference boxes, broken for the third image of each batch."""

    def __init__(self, mode: str = "nan_box"):
        super().__init__()
        self.mode = mode

    def preprocess(self, modality):
        return _drop

    def detect(self, batch: Batch):
        out = []
        for i, ref in enumerate(batch.references):
            boxes = np.asarray(ref["boxes"], dtype=np.float32).reshape(-1, 4)[:1].copy()
            if len(boxes) == 0:
                boxes = np.asarray([[1.0, 1.0, 5.0, 5.0]], dtype=np.float32)
            scores = np.ones(1, dtype=np.float32)
            if i == 2:
                if self.mode == "nan_box":
                    boxes[0, 3] = np.nan
                elif self.mode == "nan_score":
                    scores[0] = np.inf
                else:
                    boxes[0] = [10.0, 10.0, 4.0, 20.0]
            out.append(Detections(boxes, scores, np.zeros(1, dtype=np.int64)))
        return out


@register_adapter("bad_segmenter")
class BadSegmenter(Adapter):
    """The reference label maps, with one pixel of the second map of each batch set to ``value``."""

    def __init__(self, value: int = 99):
        super().__init__()
        self.value = value

    def preprocess(self, modality):
        return _drop

    def segment(self, batch: Batch):
        maps = [np.where(np.asarray(r) < 0, 0, np.asarray(r)).astype(np.int64) for r in batch.references]
        if len(maps) > 1:
            maps[1][0, 0] = self.value
        return maps
