"""``mmh adapter check``: does an adapter honour the capability contract?

For each capability the adapter declares, a small synthetic batch goes through the same executor
(and so the same validation) the runner uses, twice: outputs must have the right count, types,
shapes, be finite, and be identical on the second call (determinism). Derived capabilities
(zero-shot classify, match from embeddings) are checked too when the adapter can provide them.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np

from .adapter import Adapter
from .cache import MemoryCache
from .executors import DERIVED, DIRECT, Executor, RunContext
from .requests import (
    Batch,
    Capability,
    ClassifyRequest,
    DetectRequest,
    EmbedImageRequest,
    EmbedTextRequest,
    GenerateRequest,
    GenerationParams,
    ImageArray,
    LabelSet,
    MatchRequest,
    Message,
    SegmentRequest,
)

N = 4
SIZE = 48


class _SyntheticImages:
    """Deterministic random RGB images (a MediaRef source)."""

    def image(self, i: int):
        from PIL import Image

        rng = np.random.default_rng(1000 + i)
        return Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))

    def describe(self, i: int) -> str:
        return f"synthetic image {i}"


@dataclass
class CheckResult:
    """One line of the conformance report."""

    capability: str
    path: str
    ok: bool
    detail: str


def _requests(cap: Capability, n_classes: int) -> list:
    src = _SyntheticImages()
    imgs = [ImageArray(src, i) for i in range(N)]
    labels = LabelSet("check", tuple(f"class{i}" for i in range(n_classes)), ("a photo of a {}.",))
    if cap is Capability.EMBED_IMAGE:
        return [EmbedImageRequest(im) for im in imgs]
    if cap is Capability.EMBED_TEXT:
        return [EmbedTextRequest(f"a photo number {i}", reference=None) for i in range(N)]
    if cap is Capability.MATCH:
        return [MatchRequest(im, ["a red thing", "a blue thing", f"thing {i}"], reference=i % 3)
                for i, im in enumerate(imgs)]
    if cap is Capability.CLASSIFY:
        return [ClassifyRequest({"image": im}, labels, reference=i % n_classes) for i, im in enumerate(imgs)]
    if cap is Capability.GENERATE:
        return [GenerateRequest([Message("user", [im, "What is in the image?"])],
                                GenerationParams(max_new_tokens=8), reference=f"answer {i}")
                for i, im in enumerate(imgs)]
    if cap is Capability.SEGMENT:
        return [SegmentRequest({"image": im}, num_classes=n_classes,
                               reference=np.full((SIZE, SIZE), i % n_classes, dtype=np.int32))
                for i, im in enumerate(imgs)]
    if cap is Capability.DETECT:
        return [DetectRequest(im, labels, reference={"boxes": [[1.0, 2.0, 20.0, 30.0]], "labels": [i % n_classes]})
                for i, im in enumerate(imgs)]
    raise ValueError(cap)


def _batch(adapter: Adapter, reqs: list) -> Batch:
    import torch

    inputs: dict[str, list] = {}
    for r in reqs:
        for name, ref in r.media().items():
            inputs.setdefault(name, []).append(adapter.preprocess(ref.modality)(ref.load()))
    stacked = {}
    for k, v in inputs.items():
        if all(isinstance(x, torch.Tensor) for x in v) and all(x.shape == v[0].shape for x in v):
            stacked[k] = torch.stack(v).to(adapter.device)
        else:
            stacked[k] = v
    return Batch([f"check-{i}" for i in range(len(reqs))], stacked, reqs, [r.reference for r in reqs])


def _same(a, b) -> bool:
    va, vb = vars(a), vars(b)
    for k in va:
        x, y = va[k], vb[k]
        if isinstance(x, np.ndarray):
            if x.shape != y.shape or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def _check_one(adapter: Adapter, ex: Executor, n_classes: int) -> CheckResult:
    import torch

    ctx = RunContext(adapter_name=adapter.name, task_name="conformance-check",
                     adapter_key=adapter.fingerprint(), cache=MemoryCache())
    try:
        reqs = _requests(ex.capability, n_classes)
        with torch.inference_mode():
            first = ex.run(adapter, _batch(adapter, reqs), ctx)
            second = ex.run(adapter, _batch(adapter, reqs), ctx)
        if len(first) != N:
            return CheckResult(ex.capability.value, ex.path, False, f"{len(first)} responses for {N} requests")
        if not all(_same(a, b) for a, b in zip(first, second)):
            return CheckResult(ex.capability.value, ex.path, False,
                               "not deterministic: two calls on the same batch gave different outputs")
        return CheckResult(ex.capability.value, ex.path, True, _describe(first[0]))
    except Exception as e:  # report, don't crash: the point is to tell the author what is wrong
        last = traceback.extract_tb(e.__traceback__)[-1]
        return CheckResult(ex.capability.value, ex.path, False,
                           f"{type(e).__name__}: {e} (at {last.filename}:{last.lineno})")


def _describe(resp) -> str:
    parts = []
    for k, v in vars(resp).items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k} {tuple(v.shape)} {v.dtype}")
        elif k != "kind" and v not in (None, [], ""):
            parts.append(f"{k}={str(v)[:30]!r}")
    return ", ".join(parts)


def check_adapter(adapter: Adapter) -> list[CheckResult]:
    """Run the conformance checks for every declared (and derivable) capability of ``adapter``."""
    offered = adapter.capabilities()
    n_classes = int(getattr(adapter, "num_classes", None) or 5)
    results = []
    if not offered:
        return [CheckResult("-", "-", False, "the adapter overrides no capability method")]
    for cap in Capability:
        if cap in offered:
            results.append(_check_one(adapter, DIRECT[cap], n_classes))
        else:
            for ex in DERIVED.get(cap, ()):
                if all(n in offered for n in ex.needs):
                    results.append(_check_one(adapter, ex, n_classes))
    # embeddings from both towers must live in one space to be comparable
    if {Capability.EMBED_IMAGE, Capability.EMBED_TEXT} <= offered:
        try:
            import torch

            with torch.inference_mode():
                di = np.asarray(adapter.embed_image(_batch(adapter, _requests(Capability.EMBED_IMAGE, 2)).inputs["image"]).shape)[-1]
                dt = np.asarray(adapter.embed_text(["a", "b"]).shape)[-1]
            results.append(CheckResult("embed_image+embed_text", "dimensions", di == dt,
                                       f"image dim {di}, text dim {dt}"))
        except Exception as e:
            results.append(CheckResult("embed_image+embed_text", "dimensions", False, f"{type(e).__name__}: {e}"))
    return results
