"""Reference adapters that need no model: chance (``random``), ties (``constant``) and gold (``oracle``).

They bound every metric from below and above and prove the wiring end to end: a task scored
with ``oracle`` should reach its metric's maximum, with ``random`` its chance level.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from typing import Any

import numpy as np

from ..adapter import Adapter, AdapterError
from ..registry import register_adapter
from ..requests import Batch, ClassifyOutput, Detections

# --------------------------------------------------------------------------- helpers


def _feed(h, value: Any) -> None:
    """Feed a canonical byte form of ``value`` (tensor, array, image, text, number, container) to ``h``.

    Tensors hash their dtype, shape and raw bytes (on CPU), so equal content gives equal bytes
    whatever batch it arrived in.
    """
    if value is None:
        h.update(b"N")
        return
    if isinstance(value, str):
        data = value.encode("utf-8")
        h.update(b"S%d:" % len(data))
        h.update(data)
        return
    if isinstance(value, bytes):
        h.update(b"B%d:" % len(value))
        h.update(value)
        return
    if isinstance(value, (bool, int, float, np.number)):
        h.update(f"V{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"A{arr.dtype.str}{arr.shape};".encode())
        h.update(arr.tobytes())
        return
    if isinstance(value, dict):
        h.update(b"D%d:" % len(value))
        for k in sorted(value, key=str):
            _feed(h, str(k))
            _feed(h, value[k])
        return
    if isinstance(value, (list, tuple)):
        h.update(b"L%d:" % len(value))
        for v in value:
            _feed(h, v)
        return
    try:
        import torch

        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)};".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            return
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL image
        h.update(f"I{value.mode}{value.size};".encode())
        h.update(value.tobytes())
        return
    h.update(f"R{type(value).__qualname__}:{value!r};".encode())


def _sample_inputs(batch: Batch, i: int) -> dict[str, Any]:
    """Input ``i`` of every input name of ``batch`` (a row of a stacked tensor or a list item)."""
    return {name: value[i] for name, value in batch.inputs.items()}


def _check_batch(batch: Batch) -> None:
    if len(batch.requests) != len(batch.sample_ids):
        raise AdapterError(
            f"batch has {len(batch.sample_ids)} sample ids but {len(batch.requests)} requests"
        )


def _stack_or_list(rows: list):
    import torch

    if rows and all(r.shape == rows[0].shape for r in rows):
        return torch.stack(rows)
    return rows


# --------------------------------------------------------------------------- random


@register_adapter("random")
class RandomAdapter(Adapter):
    """Chance-level answers that depend only on ``seed`` and each input's content.

    Every output is drawn from a generator seeded by blake2b of the seed, the capability and the
    input's bytes (image tensor bytes, texts, label set), never from call order, so batching,
    sharding and resuming cannot change it. ``classify``: logits ~ N(0, 1) per class;
    ``embed_image`` / ``embed_text``: unit vectors of width ``dim`` (uniform on the sphere);
    ``match``: the dot product of the image's and each text's embeddings, so a pair's score does
    not depend on the other candidates.
    """

    version = "1"
    description = "chance baseline: outputs seeded by each input's content"

    def __init__(self, seed: int = 0, dim: int = 64):
        super().__init__()
        if dim < 1:
            raise AdapterError(f"adapter 'random': dim must be positive, got {dim}")
        self.seed = int(seed)
        self.dim = int(dim)

    def weights_identity(self) -> str:
        """``random:seed=<seed>``."""
        return f"random:seed={self.seed}"

    def _rng(self, kind: str, *parts: Any) -> np.random.Generator:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"mmharness.random:{self.seed}:{kind};".encode())
        for p in parts:
            _feed(h, p)
        return np.random.default_rng(int.from_bytes(h.digest(), "little"))

    def _unit(self, kind: str, value: Any) -> np.ndarray:
        v = self._rng(kind, value).standard_normal(self.dim)
        n = float(np.linalg.norm(v))
        return (v / n if n > 0 else np.eye(self.dim)[0]).astype(np.float32)

    def embed_image(self, images):
        """(B, ...) images -> (B, dim) float32 unit vectors, each a function of its image's bytes."""
        import torch

        rows = [self._unit("image", images[i]) for i in range(len(images))]
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros((0, self.dim))

    def embed_text(self, texts: list[str]):
        """B texts -> (B, dim) float32 unit vectors, each a function of its text."""
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = [self._unit("text", t) for t in texts]
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros((0, self.dim))

    def match(self, batch: Batch):
        """Scores in [-1, 1]: ``embed_image(image) . embed_text(text)`` for each candidate text.

        Returns (B, L) when every request has L texts, else a list of B 1-D tensors.
        """
        import torch

        _check_batch(batch)
        rows = []
        for i, req in enumerate(batch.requests):
            inputs = _sample_inputs(batch, i)
            img = self._unit("image", inputs["image"] if "image" in inputs else inputs)
            txt = np.stack([self._unit("text", t) for t in req.texts])
            rows.append(torch.from_numpy((txt @ img).astype(np.float32)))
        return _stack_or_list(rows)

    def classify(self, batch: Batch) -> ClassifyOutput:
        """Logits (B, C) ~ N(0, 1), each row a function of the sample's inputs, text and label set."""
        import torch

        _check_batch(batch)
        rows = []
        for i, req in enumerate(batch.requests):
            labels = req.labels
            rng = self._rng("classify", _sample_inputs(batch, i), getattr(req, "text", None),
                            labels.name, list(labels.classes))
            rows.append(rng.standard_normal(len(labels)).astype(np.float32))
        if not rows:
            return ClassifyOutput(logits=torch.zeros((0, 0)))
        if any(len(r) != len(rows[0]) for r in rows):
            raise AdapterError("a classify batch mixes label sets of different sizes")
        return ClassifyOutput(logits=torch.from_numpy(np.stack(rows)))


# --------------------------------------------------------------------------- constant


@register_adapter("constant")
class ConstantAdapter(Adapter):
    """The same answer for every input: a tie-breaking and degenerate-input baseline.

    ``classify``: every logit equals ``value``; ``match``: every score equals ``value``;
    ``embed_image`` / ``embed_text``: the same unit vector (all components ``1/sqrt(DIM)``) for
    every input, so every similarity ties.
    """

    version = "1"
    description = "constant baseline: equal logits/scores, one embedding for everything"
    DIM = 64

    def __init__(self, value: float = 0.0):
        super().__init__()
        if not math.isfinite(value):
            raise AdapterError(f"adapter 'constant': value must be finite, got {value}")
        self.value = float(value)

    def weights_identity(self) -> str:
        """``constant:<value>``."""
        return f"constant:{self.value!r}"

    def _unit_rows(self, n: int):
        import torch

        return torch.full((n, self.DIM), 1.0 / math.sqrt(self.DIM), dtype=torch.float32)

    def embed_image(self, images):
        """(B, DIM) copies of one unit vector."""
        return self._unit_rows(len(images))

    def embed_text(self, texts: list[str]):
        """(B, DIM) copies of the same unit vector as :meth:`embed_image`."""
        return self._unit_rows(1 if isinstance(texts, str) else len(texts))

    def match(self, batch: Batch):
        """``value`` for every candidate: (B, L), or a list of 1-D tensors when L differs."""
        import torch

        _check_batch(batch)
        rows = [torch.full((len(r.texts),), self.value, dtype=torch.float32) for r in batch.requests]
        return _stack_or_list(rows)

    def classify(self, batch: Batch) -> ClassifyOutput:
        """Logits (B, C) all equal to ``value``."""
        import torch

        _check_batch(batch)
        c = len(batch.requests[0].labels) if batch.requests else 0
        return ClassifyOutput(logits=torch.full((len(batch.requests), c), self.value, dtype=torch.float32))


# --------------------------------------------------------------------------- oracle


def _indices(ref: Any, n: int, sample_id: str, what: str) -> list[int]:
    """A reference that is an index or a sequence of indices -> list of ints in [0, n)."""
    plain = ref.tolist() if hasattr(ref, "tolist") else ref  # numpy / torch scalars and arrays
    items = list(plain) if isinstance(plain, (list, tuple, set, frozenset)) else [plain]
    out = []
    for x in items:
        try:
            k = int(x)
        except (TypeError, ValueError):
            raise AdapterError(
                f"oracle: reference {ref!r} of sample {sample_id} is not a {what} index"
            ) from None
        if k != x or not 0 <= k < n:
            raise AdapterError(
                f"oracle: reference {ref!r} of sample {sample_id} is not a valid {what} index in [0, {n})"
            )
        out.append(k)
    return out


@register_adapter("oracle")
class OracleAdapter(Adapter):
    """Answers with the gold reference each request carries (``batch.references``).

    ``classify``: one-hot logits (several ones for a multilabel reference list);
    ``match``: 1 for the reference text index (or indices), 0 elsewhere; ``generate``:
    ``str(reference)`` (for a list of acceptable answers, its most frequent one, the first on
    ties); ``segment``: the reference label map; ``detect``: the reference boxes and labels (and
    instance masks, when the reference has ``masks``) with score 1. A missing reference raises
    :class:`AdapterError` naming the sample. Embeddings are not offered (there is no gold embedding).
    """

    version = "1"
    description = "oracle baseline: answers from the task's gold references (upper bound / wiring check)"

    def __init__(self):
        super().__init__()

    def weights_identity(self) -> str:
        """``oracle``."""
        return "oracle"

    def _refs(self, batch: Batch) -> list[Any]:
        _check_batch(batch)
        refs = batch.references
        if refs is None or len(refs) != len(batch.sample_ids):
            raise AdapterError(
                f"oracle: batch has {len(batch.sample_ids)} samples but "
                f"{'no' if refs is None else len(refs)} references"
            )
        for sid, ref in zip(batch.sample_ids, refs):
            if ref is None:
                raise AdapterError(
                    f"oracle needs a reference for sample {sid}, but its request carries none "
                    "(this task does not expose gold answers to adapters)"
                )
        return list(refs)

    def classify(self, batch: Batch) -> ClassifyOutput:
        """One-hot logits (B, C) at the reference class index (or indices, multilabel).

        A reference may also be a dict ``{"classes": index or indices, "box": [x1, y1, x2, y2]}``
        (e.g. RefAVA: actions plus the target person's box); the boxes are then returned too
        (every reference of the batch must carry one).
        """
        import torch

        refs = self._refs(batch)
        c = len(batch.requests[0].labels) if batch.requests else 0
        logits = torch.zeros((len(refs), c), dtype=torch.float32)
        boxes = []
        for i, (sid, req, ref) in enumerate(zip(batch.sample_ids, batch.requests, refs)):
            if len(req.labels) != c:
                raise AdapterError("oracle: a classify batch mixes label sets of different sizes")
            if isinstance(ref, dict):
                if "classes" not in ref:
                    raise AdapterError(f"oracle: classify reference of sample {sid} is a dict without 'classes'")
                if ref.get("box") is not None:
                    boxes.append(np.asarray(ref["box"], dtype=np.float32).reshape(4))
                ref = ref["classes"]
            logits[i, _indices(ref, c, sid, "class")] = 1.0
        if boxes and len(boxes) != len(refs):
            raise AdapterError("oracle: some classify references of the batch carry a box and others do not")
        return ClassifyOutput(logits=logits, boxes=torch.from_numpy(np.stack(boxes)) if boxes else None)

    def match(self, batch: Batch):
        """Scores 1 at the reference text index (or indices), 0 elsewhere; (B, L) or a list."""
        import torch

        refs = self._refs(batch)
        rows = []
        for sid, req, ref in zip(batch.sample_ids, batch.requests, refs):
            row = torch.zeros(len(req.texts), dtype=torch.float32)
            row[_indices(ref, len(req.texts), sid, "text")] = 1.0
            rows.append(row)
        return _stack_or_list(rows)

    def generate(self, batch: Batch) -> list[str]:
        """``str(reference)``; for a list/tuple of acceptable answers, the most frequent one."""
        out = []
        for ref in self._refs(batch):
            if isinstance(ref, (list, tuple)) and ref:
                counts = Counter(str(r) for r in ref)
                best = max(counts.values())
                out.append(next(str(r) for r in ref if counts[str(r)] == best))
            else:
                out.append(str(ref))
        return out

    def segment(self, batch: Batch):
        """The reference label maps as int64 tensors: (B, H, W), or a list when sizes differ."""
        import torch

        rows = []
        for sid, ref in zip(batch.sample_ids, self._refs(batch)):
            arr = ref.detach().cpu() if isinstance(ref, torch.Tensor) else torch.as_tensor(np.asarray(ref))
            if arr.ndim != 2:
                raise AdapterError(f"oracle: reference label map of sample {sid} has shape {tuple(arr.shape)}, not (H, W)")
            rows.append(arr.to(torch.int64))
        return _stack_or_list(rows)

    def detect(self, batch: Batch) -> list[Detections]:
        """Reference ``{"boxes": (N, 4), "labels": (N,)}`` -> Detections with every score 1."""
        import torch

        out = []
        for sid, ref in zip(batch.sample_ids, self._refs(batch)):
            if not isinstance(ref, dict) or "boxes" not in ref or "labels" not in ref:
                raise AdapterError(
                    f"oracle: detection reference of sample {sid} must be a dict with 'boxes' and 'labels'"
                )
            boxes = torch.as_tensor(np.asarray(ref["boxes"], dtype=np.float32)).reshape(-1, 4)
            labels = torch.as_tensor(np.asarray(ref["labels"], dtype=np.int64)).reshape(-1)
            if len(boxes) != len(labels):
                raise AdapterError(
                    f"oracle: detection reference of sample {sid} has {len(boxes)} boxes but {len(labels)} labels"
                )
            masks = ref.get("masks")  # optional instance masks (RLE dicts or an (N, H, W) array)
            if masks is not None and len(masks) != len(boxes):
                raise AdapterError(
                    f"oracle: detection reference of sample {sid} has {len(boxes)} boxes but {len(masks)} masks"
                )
            out.append(Detections(boxes=boxes, scores=torch.ones(len(boxes), dtype=torch.float32), labels=labels,
                                  masks=masks))
        return out
