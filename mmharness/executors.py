"""How a batch of requests is answered by an adapter: directly, or derived from embeddings.

An :class:`Executor` turns one collated :class:`~mmharness.requests.Batch` into one response per
request, validating what the adapter returned (count, shape, finiteness) so that a misbehaving
adapter stops the run with a message naming adapter, task and samples. ``resolve`` picks the
executor for a task: the first capability in the task's preference order that the adapter offers
directly, else one the harness can derive (embeddings -> matching scores, embeddings -> zero-shot
classifier). The runner only ever talks to executors; it never branches on names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .adapter import Adapter, AdapterError, SampleRequestError
from .requests import (
    Batch,
    Capability,
    ClassifyOutput,
    ClassifyResponse,
    Detections,
    DetectionsResponse,
    EmbeddingResponse,
    LabelMapResponse,
    LabelSet,
    Request,
    Response,
    ResponseRows,
    ScoresResponse,
    TextResponse,
)


class CapabilityError(RuntimeError):
    """The adapter offers none of the capabilities a task can use (raised before any work)."""


@dataclass
class RunContext:
    """What executors need besides the batch: names for messages, the cache for shared artifacts."""

    adapter_name: str
    task_name: str
    adapter_key: str  # adapter fingerprint + precision
    cache: Any  # ResponseCache or MemoryCache
    text_batch_size: int = 256
    artifacts: dict[str, Any] = field(default_factory=dict)  # this run's decoded shared artifacts


def to_numpy(x: Any) -> np.ndarray:
    """Tensor/array/list -> numpy array on the CPU (float tensors become float32)."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach()
            if x.is_floating_point():
                x = x.float()
            return x.cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.asarray(x)


class AdapterOutputError(AdapterError):
    """An adapter returned what the capability contract forbids (a wrong shape or count, NaN, a box
    with x2 < x1, a label outside the classes). Raised by the harness's own checks; the message
    names the adapter, the task and the offending samples."""


def shown_ids(ids: Sequence[str], limit: int = 5) -> str:
    """``a, b, c, ... (N samples)``: sample ids for messages."""
    ids = list(ids)
    return ", ".join(ids[:limit]) + (f", ... ({len(ids)} samples)" if len(ids) > limit else "")


def _fail(ctx: RunContext, batch: Batch, what: str, samples: Sequence[int] | None = None) -> AdapterOutputError:
    """The error for a broken contract: ``samples`` (indices in the batch) are the offending ones;
    default: the whole batch."""
    ids = batch.sample_ids if samples is None else [batch.sample_ids[i] for i in samples]
    return AdapterOutputError(f"adapter {ctx.adapter_name!r} on task {ctx.task_name!r}: {what} "
                              f"(sample{'s' if len(ids) != 1 else ''} {shown_ids(ids)})")


def _check_finite(ctx: RunContext, batch: Batch, arr: np.ndarray, what: str,
                  samples: Sequence[int] | None = None) -> None:
    """NaN or infinite values in ``arr`` are an error naming the samples of the bad rows;
    ``samples`` maps each row to its sample's index in the batch (default: row i is sample i)."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        rows = np.where(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))[0] if arr.ndim else [0]
        raise _fail(ctx, batch, f"{what} contains NaN or infinite values",
                    sorted({int(samples[r]) if samples is not None else int(r) for r in rows}))


def in_context(adapter_name: str, task_name: str, sample_ids: Sequence[str], error: BaseException) -> AdapterError:
    """An exception that escaped adapter code, as an :class:`AdapterError` naming the adapter, the
    task, the batch's sample ids and the exception's type and message (chained to it). The
    harness's own contract errors already say all that and are returned as they are; a sample's
    own error stays a :class:`SampleRequestError`; ``SystemExit`` from adapter code (``exit()``)
    becomes an error like any other instead of ending the process silently.

    Raise the result as it is (not ``from error``): an error returned unchanged would become its
    own cause."""
    if isinstance(error, AdapterOutputError):
        return error
    where = f"adapter {adapter_name!r} on task {task_name!r}, sample{'s' if len(sample_ids) != 1 else ''} " \
            f"{shown_ids(sample_ids)}"
    if isinstance(error, SampleRequestError):
        wrapped: AdapterError = SampleRequestError(
            f"{where}: {error}. Pass --on-error skip to skip such samples (they are counted in the results).",
            error.sample_id)
    elif isinstance(error, SystemExit):
        wrapped = AdapterError(f"{where}: the adapter called exit({error.code!r}) (SystemExit)")
    elif isinstance(error, AdapterError):
        wrapped = AdapterError(f"{where}: {error}")
    else:
        wrapped = AdapterError(f"{where}: {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


def _check_rows(ctx: RunContext, batch: Batch, arr: np.ndarray, what: str, width: int | None = None):
    n = len(batch)
    if arr.ndim != 2 or arr.shape[0] != n or (width is not None and arr.shape[1] != width):
        exp = f"({n}, {width if width is not None else 'D'})"
        raise _fail(ctx, batch, f"{what} has shape {tuple(arr.shape)}, expected {exp}")
    _check_finite(ctx, batch, arr, what)


def _l2norm(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


class Executor:
    """Answers batches of one capability. ``path`` says how (recorded in the results)."""

    capability: Capability
    path: str
    needs: tuple[Capability, ...]

    def run(self, adapter: Adapter, batch: Batch, ctx: RunContext) -> list[Response]:
        raise NotImplementedError

    def prepare(self, adapter: Adapter, requests: Iterable[Request], ctx: RunContext) -> None:
        """Work that many batches share, done once before the loader starts, so that it runs
        while no DataLoader worker competes for the CPU (e.g. a zero-shot classifier). ``requests``
        are the light requests of the samples to compute, produced lazily. Default: nothing."""

    def group_key(self, request) -> Any:
        """Requests with different keys never share a batch (label set, generation params)."""
        return None


# --------------------------------------------------------------------------- direct executors


class EmbedImage(Executor):
    capability, path, needs = Capability.EMBED_IMAGE, "embed_image", (Capability.EMBED_IMAGE,)

    def run(self, adapter, batch, ctx):
        out = to_numpy(adapter.embed_image(batch.inputs["image"]))
        _check_rows(ctx, batch, out, "embed_image output")
        return ResponseRows(EmbeddingResponse, out.astype(np.float32))


class EmbedText(Executor):
    capability, path, needs = Capability.EMBED_TEXT, "embed_text", (Capability.EMBED_TEXT,)

    def run(self, adapter, batch, ctx):
        out = to_numpy(adapter.embed_text([r.text for r in batch.requests]))
        _check_rows(ctx, batch, out, "embed_text output")
        return ResponseRows(EmbeddingResponse, out.astype(np.float32))


def _score_rows(ctx, batch, out, what) -> list[np.ndarray]:
    """Split a (B, L) array or a list of B vectors into per-request score vectors, validated."""
    rows = list(out) if isinstance(out, (list, tuple)) else list(to_numpy(out))
    if len(rows) != len(batch):
        raise _fail(ctx, batch, f"{what} returned {len(rows)} score vectors, expected {len(batch)}")
    result = []
    for i, (row, req) in enumerate(zip(rows, batch.requests)):
        r = to_numpy(row).astype(np.float32).reshape(-1)
        if r.shape[0] != len(req.texts):
            raise _fail(ctx, batch, f"{what} gave {r.shape[0]} scores for a sample "
                                    f"which has {len(req.texts)} texts", [i])
        if not np.isfinite(r).all():
            raise _fail(ctx, batch, f"{what} returned NaN or infinite scores", [i])
        result.append(r)
    return result


class Match(Executor):
    capability, path, needs = Capability.MATCH, "match", (Capability.MATCH,)

    def run(self, adapter, batch, ctx):
        return [ScoresResponse(r) for r in _score_rows(ctx, batch, adapter.match(batch), "match")]


class Classify(Executor):
    capability, path, needs = Capability.CLASSIFY, "classify", (Capability.CLASSIFY,)

    def group_key(self, request):
        return (request.labels.key(), request.multilabel)

    def run(self, adapter, batch, ctx):
        out = adapter.classify(batch)
        if not isinstance(out, ClassifyOutput):
            raise _fail(ctx, batch, f"classify returned {type(out).__name__}, expected ClassifyOutput")
        n_classes = len(batch.requests[0].labels)
        logits = to_numpy(out.logits).astype(np.float32)
        _check_rows(ctx, batch, logits, "classify logits", n_classes)
        boxes = None
        if out.boxes is not None:
            boxes = to_numpy(out.boxes).astype(np.float32)
            _check_rows(ctx, batch, boxes, "classify boxes", 4)
        return ResponseRows(ClassifyResponse, logits) if boxes is None else ResponseRows(ClassifyResponse, logits, boxes)


class Generate(Executor):
    capability, path, needs = Capability.GENERATE, "generate", (Capability.GENERATE,)

    def group_key(self, request):
        return request.params

    def run(self, adapter, batch, ctx):
        out = adapter.generate(batch)
        if not isinstance(out, (list, tuple)) or len(out) != len(batch):
            raise _fail(ctx, batch, f"generate returned {type(out).__name__} of length "
                                    f"{len(out) if hasattr(out, '__len__') else '?'}, expected {len(batch)} strings")
        responses = []
        for i, o in enumerate(out):
            if isinstance(o, TextResponse):
                responses.append(o)
            elif isinstance(o, str):
                responses.append(TextResponse(o))
            else:
                raise _fail(ctx, batch, f"generate output {i} is {type(o).__name__}, expected str", [i])
        return responses


class Segment(Executor):
    capability, path, needs = Capability.SEGMENT, "segment", (Capability.SEGMENT,)

    def run(self, adapter, batch, ctx):
        out = adapter.segment(batch)
        maps = list(out) if isinstance(out, (list, tuple)) else list(to_numpy(out))
        if len(maps) != len(batch):
            raise _fail(ctx, batch, f"segment returned {len(maps)} label maps, expected {len(batch)}")
        res = []
        for i, m in enumerate(maps):
            a = to_numpy(m)
            if a.ndim != 2 or a.dtype.kind not in "iu":
                raise _fail(ctx, batch, f"segment map {i} has shape {a.shape} dtype {a.dtype}, "
                                        f"expected an (H, W) integer array", [i])
            req = batch.requests[i]
            c, ign = req.num_classes, getattr(req, "ignore_index", None)
            bad = None
            if a.size and (a.min() < 0 or a.max() >= c):  # two reductions; the mask only when needed
                bad = (a < 0) | (a >= c)
                if ign is not None:
                    bad &= a != ign
            if bad is not None and bad.any():
                allowed = f"0..{c - 1}" + (f" or the ignore index {ign}" if ign is not None else "")
                raise _fail(ctx, batch, f"segment map {i} has labels {np.unique(a[bad])[:10].tolist()} outside "
                                        f"{allowed}", [i])
            res.append(LabelMapResponse(a.astype(np.int32)))
        return res


class Detect(Executor):
    capability, path, needs = Capability.DETECT, "detect", (Capability.DETECT,)

    def run(self, adapter, batch, ctx):
        out = adapter.detect(batch)
        if not isinstance(out, (list, tuple)) or len(out) != len(batch):
            raise _fail(ctx, batch, f"detect returned {len(out) if hasattr(out, '__len__') else '?'} "
                                    f"results, expected {len(batch)}")
        res = []
        for i, d in enumerate(out):
            if not isinstance(d, Detections):
                raise _fail(ctx, batch, f"detect output {i} is {type(d).__name__}, expected Detections", [i])
            boxes = to_numpy(d.boxes).astype(np.float32).reshape(-1, 4)
            scores = to_numpy(d.scores).astype(np.float32).reshape(-1)
            labels = to_numpy(d.labels).astype(np.int64).reshape(-1)
            if not (len(boxes) == len(scores) == len(labels)):
                raise _fail(ctx, batch, f"detect output {i}: {len(boxes)} boxes, {len(scores)} scores, "
                                        f"{len(labels)} labels; they must be equal", [i])
            _check_finite(ctx, batch, boxes, f"detect output {i}: boxes", [i] * len(boxes))
            _check_finite(ctx, batch, scores, f"detect output {i}: scores", [i] * len(scores))
            inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
            if inverted.any():
                k = int(np.argmax(inverted))
                raise _fail(ctx, batch, f"detect output {i}: {int(inverted.sum())} box(es) with x2 < x1 or y2 < y1, "
                                        f"e.g. box {k} = {boxes[k].tolist()}; boxes are (x1, y1, x2, y2) in pixels",
                            [i])
            masks = None if getattr(d, "masks", None) is None else _masks_to_rle(ctx, batch, i, d.masks, len(boxes))
            res.append(DetectionsResponse(boxes, scores, labels, masks=masks))
        return res


def _masks_to_rle(ctx: RunContext, batch: Batch, i: int, masks: Any, n: int) -> list[dict]:
    """Instance masks of detect output ``i`` -> N compressed COCO RLE dicts with str counts.

    Accepts an (N, H, W) array/tensor (nonzero = object) or a list of N RLE dicts."""
    if isinstance(masks, (list, tuple)) and all(isinstance(m, dict) for m in masks):
        out = []
        for m in masks:
            if "size" not in m or "counts" not in m:
                raise _fail(ctx, batch, f"detect output {i}: an RLE mask needs 'size' and 'counts'", [i])
            c = m["counts"]
            out.append({"size": [int(m["size"][0]), int(m["size"][1])],
                        "counts": c.decode("ascii") if isinstance(c, bytes) else c})
    else:
        from pycocotools import mask as mask_utils

        arr = to_numpy(masks)
        if arr.ndim != 3:
            raise _fail(ctx, batch, f"detect output {i}: masks have shape {arr.shape}, expected (N, H, W)", [i])
        binary = np.asfortranarray((arr != 0).transpose(1, 2, 0).astype(np.uint8))
        out = []
        for rle in (mask_utils.encode(binary) if arr.shape[0] else []):
            out.append({"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")})
    if len(out) != n:
        raise _fail(ctx, batch, f"detect output {i}: {len(out)} masks for {n} boxes; they must be equal", [i])
    return out


# --------------------------------------------------------------------------- derived executors


def embed_texts_batched(adapter: Adapter, texts: Sequence[str], batch_size: int,
                        ctx: RunContext) -> np.ndarray:
    """Embed many texts in large batches; returns (N, D) float32, L2-normalised."""
    chunks = []
    for i in range(0, len(texts), batch_size):
        part = list(texts[i : i + batch_size])
        out = to_numpy(adapter.embed_text(part)).astype(np.float32)
        if out.ndim != 2 or out.shape[0] != len(part):
            raise AdapterError(f"adapter {ctx.adapter_name!r} on task {ctx.task_name!r}: embed_text "
                               f"returned shape {tuple(out.shape)} for {len(part)} texts")
        if not np.isfinite(out).all():
            raise AdapterError(f"adapter {ctx.adapter_name!r} on task {ctx.task_name!r}: embed_text "
                               f"returned NaN or infinite values for prompts such as {part[0]!r}")
        chunks.append(out)
    return _l2norm(np.concatenate(chunks, axis=0))


def zero_shot_classifier(adapter: Adapter, labels: LabelSet, ctx: RunContext) -> np.ndarray:
    """CLIP's zero-shot classifier: per class, the normalised mean of the normalised embeddings of
    its prompts. All C x T prompts are embedded in large flat batches; the result (C, D) is cached
    per adapter fingerprint + precision + label set."""
    key = f"zeroshot:{ctx.adapter_key}:{labels.key()}"
    if key in ctx.artifacts:  # already read or built in this run: no cache round trip per batch
        return ctx.artifacts[key]
    cached = ctx.cache.get_artifact(key)
    if cached is not None:
        from .requests import decode

        ctx.artifacts[key] = decode(cached).vector
        return ctx.artifacts[key]
    prompts = labels.prompts()
    flat = [p for per_class in prompts for p in per_class]
    emb = embed_texts_batched(adapter, flat, ctx.text_batch_size, ctx)
    per_class = emb.reshape(len(prompts), len(prompts[0]), -1).mean(axis=1)
    weights = _l2norm(per_class).astype(np.float32)
    from .requests import encode

    ctx.cache.put_artifact(key, encode(EmbeddingResponse(weights)))
    ctx.artifacts[key] = weights
    return weights


class ZeroShotClassify(Executor):
    """``classify`` derived from ``embed_image`` + ``embed_text``: logits = 100 * img . classifier."""

    capability = Capability.CLASSIFY
    path = "classify<-embed_image+embed_text (zero-shot, CLIP prompt ensemble)"
    needs = (Capability.EMBED_IMAGE, Capability.EMBED_TEXT)
    logit_scale = 100.0

    def group_key(self, request):
        return (request.labels.key(), request.multilabel)

    def prepare(self, adapter, requests, ctx):
        """Embed the prompts of every label set the requests use (one classifier per label set;
        label sets whose templates take a per-sample ``{text}`` are left to the batches)."""
        seen: set[str] = set()
        last = None
        for r in requests:
            labels = r.labels
            if labels is last:  # most tasks share one LabelSet object: nothing new to look at
                continue
            last = labels
            key = labels.key()
            if key not in seen:
                seen.add(key)
                if not any("{text}" in t for t in labels.templates):
                    zero_shot_classifier(adapter, labels, ctx)

    def run(self, adapter, batch, ctx):
        req0 = batch.requests[0]
        if set(batch.inputs) != {"image"} or req0.text is not None:
            raise CapabilityError(
                f"task {ctx.task_name!r} sends classify inputs {sorted(batch.inputs)}"
                f"{' with text' if req0.text else ''}; zero-shot classification from embeddings "
                f"supports a single image input. Use an adapter with a `classify` method.")
        weights = zero_shot_classifier(adapter, req0.labels, ctx)
        img = to_numpy(adapter.embed_image(batch.inputs["image"])).astype(np.float32)
        _check_rows(ctx, batch, img, "embed_image output", weights.shape[1])
        logits = (self.logit_scale * _l2norm(img) @ weights.T).astype(np.float32)
        return ResponseRows(ClassifyResponse, logits)


def render_prompt(template: str, class_name: str, text: str | None = None) -> str:
    """Fill a prompt template: ``{c}`` (or ``{}``) -> class name, ``{text}`` -> the request's text."""
    out = template.replace("{c}", "\x00").replace("{}", "\x00").replace("\x00", class_name)
    return out.replace("{text}", text) if text is not None else out


def text_conditioned_classifier(adapter: Adapter, labels: LabelSet, text: str, ctx: RunContext) -> np.ndarray:
    """Zero-shot classifier (C, D) whose prompts embed a per-sample ``text`` (templates with
    ``{text}``): per class, the normalised mean of its normalised prompt embeddings. Cached per
    adapter fingerprint + precision + label set + text."""
    from .requests import decode, encode, hash_bytes

    key = f"zeroshot-text:{ctx.adapter_key}:{labels.key()}:{hash_bytes(text.encode('utf-8'))}"
    cached = ctx.cache.get_artifact(key)
    if cached is not None:
        return decode(cached).vector
    names = labels.class_prompt_names or labels.classes
    flat = [render_prompt(t, c, text) for c in names for t in labels.templates]
    emb = embed_texts_batched(adapter, flat, ctx.text_batch_size, ctx)
    weights = _l2norm(emb.reshape(len(names), len(labels.templates), -1).mean(axis=1)).astype(np.float32)
    ctx.cache.put_artifact(key, encode(EmbeddingResponse(weights)))
    return weights


def _frames_to_images(adapter: Adapter, clip: Any) -> Any:
    """One clip -> (T, C, H, W) tensor ready for ``embed_image``: raw uint8 frames (T, H, W, 3) go
    through the adapter's image preprocessing; a float tensor (T, C, H, W) is taken as is."""
    import torch
    from PIL import Image

    if isinstance(clip, torch.Tensor) and clip.is_floating_point() and clip.ndim == 4:
        return clip
    arr = to_numpy(clip)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise CapabilityError(f"a video input of shape {arr.shape} is neither (T, H, W, 3) frames nor a "
                              "preprocessed (T, C, H, W) tensor")
    pre = adapter.preprocess("image")
    return torch.stack([pre(Image.fromarray(np.ascontiguousarray(f.astype(np.uint8)))) for f in arr])


class ZeroShotVideoTextClassify(ZeroShotClassify):
    """Zero-shot ``classify`` from ``embed_image`` + ``embed_text``, extended to video clips and
    per-sample prompts (a superset of :class:`ZeroShotClassify`, which it runs unchanged for a
    single image input with label-set prompts).

    * A ``video`` input (raw (T, H, W, 3) frames, or preprocessed (T, C, H, W) tensors) is embedded
      frame by frame with the adapter's image preprocessing; the sample's visual embedding is the
      normalised mean of its normalised frame embeddings. Other inputs (e.g. a keyframe used
      for boxes) are not used, and no box is returned.
    * When the label set's templates contain ``{text}``, each sample gets its own classifier from
      prompts filled with its request ``text`` (e.g. RefAVA: the referring expression); otherwise
      the shared, cached label-set classifier is used.
    * Without an image or video input, requests that carry ``text`` and label-set prompts without
      ``{text}`` are classified text to text: the query is the embedding of the request text (e.g.
      a MIntRec2.0 transcript). Non-media inputs (such as a dialogue ``context``) are not used.

    Logits = 100 * cosine(query embedding, class embedding).
    """

    path = ("classify<-embed_image+embed_text (zero-shot, CLIP prompt ensemble; video: mean of frame "
            "embeddings; templates with {text}: per-sample prompts; no image/video: text query)")

    def run(self, adapter, batch, ctx):
        req0 = batch.requests[0]
        per_sample_text = any("{text}" in t for t in req0.labels.templates)
        visual_input = "video" in batch.inputs or "image" in batch.inputs
        if not visual_input and not per_sample_text and all(r.text for r in batch.requests):
            return self._text_query(adapter, batch, ctx)
        if "video" not in batch.inputs and not per_sample_text:
            return super().run(adapter, batch, ctx)
        if "video" in batch.inputs:
            clips = batch.inputs["video"]
            clips = list(clips) if not isinstance(clips, list) else clips
            frames = [_frames_to_images(adapter, c) for c in clips]
            import torch

            flat = torch.cat(frames).to(ctx_device(adapter))
            emb = _l2norm(to_numpy(adapter.embed_image(flat)).astype(np.float32))
            if emb.ndim != 2 or emb.shape[0] != flat.shape[0]:
                raise _fail(ctx, batch, f"embed_image returned shape {tuple(emb.shape)} for {flat.shape[0]} frames")
            _check_finite(ctx, batch, emb, "embed_image output",
                          np.repeat(np.arange(len(frames)), [f.shape[0] for f in frames]))
            bounds = np.cumsum([0] + [f.shape[0] for f in frames])
            visual = _l2norm(np.stack([emb[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])]))
        elif set(batch.inputs) == {"image"}:
            visual = _l2norm(to_numpy(adapter.embed_image(batch.inputs["image"])).astype(np.float32))
            _check_rows(ctx, batch, visual, "embed_image output")
        else:
            raise CapabilityError(
                f"task {ctx.task_name!r} sends classify inputs {sorted(batch.inputs)}; zero-shot "
                "classification from embeddings needs an 'image' or a 'video' input. Use an adapter "
                "with a `classify` method.")
        if per_sample_text:
            missing = [sid for sid, r in zip(batch.sample_ids, batch.requests) if not r.text]
            if missing:
                raise _fail(ctx, batch, f"the prompt templates use {{text}} but sample(s) {missing[:5]} carry no text")
            weights = [text_conditioned_classifier(adapter, r.labels, r.text, ctx) for r in batch.requests]
        else:
            w = zero_shot_classifier(adapter, req0.labels, ctx)
            weights = [w] * len(batch)
        if visual.shape[1] != weights[0].shape[1]:
            raise _fail(ctx, batch, f"visual embeddings have dim {visual.shape[1]} but text embeddings "
                                    f"have dim {weights[0].shape[1]}")
        return [ClassifyResponse((self.logit_scale * weights[i] @ visual[i]).astype(np.float32))
                for i in range(len(batch))]

    def _text_query(self, adapter, batch, ctx):
        """Text-to-text zero-shot: request texts against the shared label-set classifier."""
        weights = zero_shot_classifier(adapter, batch.requests[0].labels, ctx)
        query = embed_texts_batched(adapter, [r.text for r in batch.requests], ctx.text_batch_size, ctx)
        if query.shape[1] != weights.shape[1]:
            raise _fail(ctx, batch, f"text embeddings of the requests have dim {query.shape[1]} but the class "
                                    f"embeddings have dim {weights.shape[1]}")
        return ResponseRows(ClassifyResponse, (self.logit_scale * query @ weights.T).astype(np.float32))


def ctx_device(adapter: Adapter) -> str:
    """The device the adapter's inputs should be on."""
    return getattr(adapter, "device", "cpu") or "cpu"


class MatchFromEmbeddings(Executor):
    """``match`` derived from embeddings: cosine similarity of the image with each text."""

    capability = Capability.MATCH
    path = "match<-embed_image+embed_text (cosine similarity)"
    needs = (Capability.EMBED_IMAGE, Capability.EMBED_TEXT)

    def run(self, adapter, batch, ctx):
        img = _l2norm(to_numpy(adapter.embed_image(batch.inputs["image"])).astype(np.float32))
        _check_rows(ctx, batch, img, "embed_image output")
        flat = [t for r in batch.requests for t in r.texts]
        txt = embed_texts_batched(adapter, flat, ctx.text_batch_size, ctx)
        if txt.shape[1] != img.shape[1]:
            raise _fail(ctx, batch, f"image embeddings have dim {img.shape[1]} but text embeddings "
                                    f"have dim {txt.shape[1]}")
        out, start = [], 0
        for i, r in enumerate(batch.requests):
            n = len(r.texts)
            out.append(ScoresResponse((txt[start : start + n] @ img[i]).astype(np.float32)))
            start += n
        return out


DIRECT: dict[Capability, Executor] = {e.capability: e for e in
                                      (EmbedImage(), EmbedText(), Match(), Classify(), Generate(),
                                       Segment(), Detect())}
DERIVED: dict[Capability, tuple[Executor, ...]] = {
    Capability.CLASSIFY: (ZeroShotVideoTextClassify(),),  # runs ZeroShotClassify unchanged on images
    Capability.MATCH: (MatchFromEmbeddings(),),
}


def resolve(uses: Sequence[Capability], offered: frozenset[Capability], *, task: str,
            adapter: str) -> Executor:
    """Pick how to answer a task: its first usable capability, direct before derived."""
    for cap in uses:
        if cap in offered:
            return DIRECT[cap]
        for ex in DERIVED.get(cap, ()):
            if all(n in offered for n in ex.needs):
                return ex
    options = []
    for cap in uses:
        alts = [cap.value] + ["+".join(n.value for n in ex.needs) for ex in DERIVED.get(cap, ())]
        options.append(" or ".join(alts))
    raise CapabilityError(
        f"task {task!r} needs {'; or '.join(options)}, but adapter {adapter!r} offers only "
        f"{', '.join(sorted(c.value for c in offered)) or 'nothing'}")
