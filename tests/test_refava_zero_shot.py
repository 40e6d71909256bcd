"""The derived executor for zero-shot classification of video clips with per-sample prompts: chosen
for embedding adapters, identical to the image zero-shot executor on single images, frame-mean
embeddings, prompts filled with each sample's text, clear errors."""

import numpy as np
import pytest
import torch

from mmharness.adapters.baselines import RandomAdapter
from mmharness.cache import MemoryCache
from mmharness.executors import (
    CapabilityError,
    RunContext,
    ZeroShotClassify,
    ZeroShotVideoTextClassify,
    render_prompt,
    resolve,
)
from mmharness.requests import Batch, Capability, ClassifyRequest, LabelSet

LABELS = LabelSet("acts", ("stand", "sit", "talk to (a person)"), ("a photo of a {}.",))
TEXT_LABELS = LabelSet("acts", ("stand", "sit", "talk to (a person)"), ("{text} Action: {c}.", "{text} doing {}"))


def ctx():
    return RunContext(adapter_name="random", task_name="t", adapter_key="k", cache=MemoryCache())


def _batch(inputs, reqs):
    return Batch([f"s{i}" for i in range(len(reqs))], inputs, reqs, [None] * len(reqs))


def test_resolved_for_embedding_adapters_and_path_keeps_its_prefix():
    ex = resolve((Capability.CLASSIFY,), frozenset({Capability.EMBED_IMAGE, Capability.EMBED_TEXT}),
                 task="t", adapter="a")
    assert isinstance(ex, ZeroShotVideoTextClassify)
    assert ex.path.startswith("classify<-embed_image+embed_text (zero-shot, CLIP prompt ensemble")


def test_single_image_requests_are_answered_exactly_as_before():
    ad = RandomAdapter(seed=3, dim=32)
    imgs = torch.rand(4, 3, 8, 8)
    reqs = [ClassifyRequest({"image": None}, LABELS) for _ in range(4)]
    new = ZeroShotVideoTextClassify().run(ad, _batch({"image": imgs}, reqs), ctx())
    old = ZeroShotClassify().run(ad, _batch({"image": imgs}, reqs), ctx())
    for a, b in zip(new, old):
        assert np.array_equal(a.logits, b.logits)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_video_frames_are_averaged_and_prompts_use_each_sample_text():
    ad = RandomAdapter(seed=1, dim=32)
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8) for _ in range(2)]
    reqs = [ClassifyRequest({"video": None}, TEXT_LABELS, text=t, multilabel=True)
            for t in ("The man on the left.", "The woman in red.")]
    out = ZeroShotVideoTextClassify().run(ad, _batch({"video": clips}, reqs), ctx())
    from PIL import Image

    pre = ad.preprocess("image")
    for clip, req, resp in zip(clips, reqs, out):
        frames = torch.stack([pre(Image.fromarray(f)) for f in clip])
        v = _unit(_unit(ad.embed_image(frames).numpy()).mean(axis=0))
        w = []
        for c in TEXT_LABELS.classes:
            e = _unit(ad.embed_text([render_prompt(t, c, req.text) for t in TEXT_LABELS.templates]).numpy())
            w.append(_unit(e.mean(axis=0)))
        assert resp.logits == pytest.approx(100 * np.stack(w) @ v, abs=1e-4)
    # preprocessed (T, C, H, W) float clips are taken as they are
    pre_clips = [torch.stack([pre(Image.fromarray(f)) for f in c]) for c in clips]
    again = ZeroShotVideoTextClassify().run(ad, _batch({"video": pre_clips}, reqs), ctx())
    assert np.allclose(again[0].logits, out[0].logits, atol=1e-5)


def test_render_prompt_and_errors():
    got = render_prompt("{text} Action: {c}.", "sit", "The man {} on the left.")
    assert got == "The man {} on the left. Action: sit."
    assert render_prompt("a photo of a {}.", "dog") == "a photo of a dog."
    ad = RandomAdapter(dim=8)
    clip = [np.zeros((2, 4, 4, 3), np.uint8)]
    with pytest.raises(Exception, match="carry no text"):
        ZeroShotVideoTextClassify().run(ad, _batch({"video": clip}, [ClassifyRequest({}, TEXT_LABELS)]), ctx())
    with pytest.raises(CapabilityError, match="needs an 'image' or a 'video' input"):
        ZeroShotVideoTextClassify().run(ad, _batch({"audio": [np.zeros(10)]},
                                                   [ClassifyRequest({}, TEXT_LABELS, text="x")]), ctx())
    with pytest.raises(CapabilityError, match=r"neither \(T, H, W, 3\)"):
        ZeroShotVideoTextClassify().run(ad, _batch({"video": [np.zeros((4, 4))]},
                                                   [ClassifyRequest({}, LABELS)]), ctx())


def test_text_only_requests_use_the_text_as_query():
    ad = RandomAdapter(seed=2, dim=32)
    reqs = [ClassifyRequest({}, LABELS, text=t) for t in ("i'm so sorry.", "thanks a lot!")]
    out = ZeroShotVideoTextClassify().run(ad, _batch({"context": [[], ["earlier"]]}, reqs), ctx())
    w = np.stack([_unit(_unit(ad.embed_text([render_prompt(t, c) for t in LABELS.templates]).numpy()).mean(0))
                  for c in LABELS.classes])
    for req, resp in zip(reqs, out):
        q = _unit(ad.embed_text([req.text]).numpy()[0])
        assert resp.logits == pytest.approx(100 * w @ q, abs=1e-4)
    with pytest.raises(CapabilityError, match="needs an 'image' or a 'video' input"):  # {text} prompts, no visual
        ZeroShotVideoTextClassify().run(ad, _batch({}, [ClassifyRequest({}, TEXT_LABELS, text="x")]), ctx())
