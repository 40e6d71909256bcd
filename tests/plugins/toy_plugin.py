"""Test plugin loaded with --include: a toy task on generated images and a few test adapters.

``toy_shapes``: N generated 16x16 images whose class is the colour channel that is brightest;
gold = that channel. Adapters: ``toy_perfect`` (classify by looking at the pixels: a real model of
the toy task), ``toy_slow`` (same, but sleeps per batch and appends each computed sample id to the
file named by its ``log`` argument, so a test can kill it midway and count recomputation),
``toy_bad`` (returns a wrong shape / NaN / wrong count, chosen by ``mode``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from mmharness.adapter import Adapter
from mmharness.metrics.declare import declare, mean, score_declared
from mmharness.registry import register_adapter, register_task
from mmharness.requests import Capability, ClassifyOutput, ClassifyRequest, ImageFile, LabelSet
from mmharness.task import DataNotFoundError, MetricSpec, Sample, Task, TaskData, TaskResult, sha256_files

LABELS = LabelSet("rgb", ("red", "green", "blue"), ("a {} image.",))


def make_images(root: Path, n: int) -> list[Path]:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(7)
    for i in range(n):
        p = root / f"{i:04d}.png"
        if not p.exists():
            arr = rng.integers(0, 100, (16, 16, 3), dtype=np.uint8)
            arr[..., i % 3] += 120
            Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@register_task("toy_shapes")
class ToyShapes(Task):
    """Classify generated images by their dominant colour channel."""

    version = "1"
    protocol = "toy"
    description = "test task"
    uses = (Capability.CLASSIFY,)
    primary_metric = "accuracy"
    metric_specs = (MetricSpec("accuracy", True, chance=1 / 3),)

    def __init__(self, n: int = 40):
        self.n = n

    def config(self):
        return {"n": self.n}

    def load(self, data):
        if data.root is None:
            raise DataNotFoundError("toy_shapes needs --data-root (images are generated there)")
        root = Path(data.root)
        paths = make_images(root, self.n)
        samples = [Sample(f"{i:04d}", i % 3, {"path": str(p)}) for i, p in enumerate(paths)]
        return TaskData(samples, sha256_files(paths), f"png:{root}", "sample" if data.sample else "full")

    def request(self, sample):
        return ClassifyRequest({"image": ImageFile(sample.meta["path"])}, LABELS, reference=sample.gold)

    def declared_metrics(self):
        """The one declaration: accuracy is the mean of the per-sample ``correct``."""
        return declare(self.metric_specs, accuracy=mean("correct"))

    def score(self, samples, responses, ctx):
        pred = np.array([int(np.argmax(r.logits)) for r in responses])
        gold = np.array([s.gold for s in samples])
        correct = pred == gold
        metrics = score_declared(self.declared_metrics(), {"correct": correct}, ctx).values
        return TaskResult(metrics, [{"pred": int(p), "correct": bool(c)} for p, c in zip(pred, correct)])


@register_adapter("toy_perfect")
class ToyPerfect(Adapter):
    """Logits = mean intensity of each channel."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.device = "cpu"

    def classify(self, batch):
        x = batch.inputs["image"]
        return ClassifyOutput(x.mean(dim=(2, 3)) * self.scale)


@register_adapter("toy_slow")
class ToySlow(ToyPerfect):
    """ToyPerfect that sleeps ``delay`` seconds per batch and logs computed ids to ``log``."""

    runtime_args = frozenset({"log", "delay"})  # they do not change outputs

    def __init__(self, log: str, delay: float = 0.3):
        self.scale = 1.0
        self.log, self.delay = log, delay
        self.device = "cpu"

    def classify(self, batch):
        time.sleep(self.delay)
        out = super().classify(batch)
        with open(self.log, "a") as f:
            f.write("".join(s + "\n" for s in batch.sample_ids))
            f.flush()
            os.fsync(f.fileno())
        return out


@register_adapter("toy_bad")
class ToyBad(Adapter):
    """Misbehaves on purpose: mode = shape | nan | count | type."""

    def __init__(self, mode: str = "shape"):
        self.mode = mode
        self.device = "cpu"

    def classify(self, batch):
        n = len(batch)
        if self.mode == "shape":
            return ClassifyOutput(torch.zeros(n, 5))
        if self.mode == "nan":
            x = torch.zeros(n, 3)
            x[-1, 0] = float("nan")
            return ClassifyOutput(x)
        if self.mode == "count":
            return ClassifyOutput(torch.zeros(n - 1, 3))
        return [0] * n


@register_adapter("toy_llm")
class ToyLLM(Adapter):
    """Offers only ``generate``: cannot serve a classify task."""

    def generate(self, batch):
        return ["red"] * len(batch)
