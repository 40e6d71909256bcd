"""Baseline adapters: random (content-seeded), constant, oracle; argument conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmharness.adapter import AdapterError, build_adapter
from mmharness.adapters.baselines import ConstantAdapter, OracleAdapter, RandomAdapter
from mmharness.registry import ADAPTERS
from mmharness.requests import (Batch, ClassifyRequest, DetectRequest, GenerateRequest, LabelSet,
                                MatchRequest, Message, SegmentRequest)

LABELS = LabelSet("x", ("a", "b", "c", "d"))


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def _classify_batch(images, refs=None, multilabel=False, labels=LABELS):
    n = len(images)
    refs = list(range(n)) if refs is None else refs
    reqs = [ClassifyRequest(inputs={}, labels=labels, reference=r, multilabel=multilabel) for r in refs]
    return Batch(sample_ids=[f"s{i}" for i in range(n)], inputs={"image": images}, requests=reqs,
                 references=list(refs))


def _match_batch(images, texts, refs=None):
    n = len(images)
    refs = [0] * n if refs is None else refs
    reqs = [MatchRequest(image=None, texts=t, reference=r) for t, r in zip(texts, refs)]
    return Batch(sample_ids=[f"m{i}" for i in range(n)], inputs={"image": images}, requests=reqs,
                 references=list(refs))


def test_registry_names():
    assert ADAPTERS.get("random") is RandomAdapter
    assert ADAPTERS.get("constant") is ConstantAdapter
    assert ADAPTERS.get("oracle") is OracleAdapter
    assert {c.value for c in RandomAdapter.capabilities()} == {"embed_image", "embed_text", "match", "classify"}
    assert {c.value for c in ConstantAdapter.capabilities()} == {"embed_image", "embed_text", "match", "classify"}
    assert {c.value for c in OracleAdapter.capabilities()} == {"classify", "match", "generate", "segment", "detect"}


# --------------------------------------------------------------------------- random


def test_random_classify_is_per_input_not_per_call():
    a = RandomAdapter(seed=0)
    ims = _images(5)
    full = a.classify(_classify_batch(ims)).logits
    assert full.shape == (5, 4) and full.dtype == torch.float32
    # different batch composition and order: same rows
    part = a.classify(_classify_batch(ims[[3, 1]])).logits
    torch.testing.assert_close(part, full[[3, 1]], rtol=0, atol=0)
    # a fresh instance (resume, another shard) agrees
    torch.testing.assert_close(RandomAdapter(seed=0).classify(_classify_batch(ims[2:3])).logits, full[2:3],
                               rtol=0, atol=0)
    # another seed differs; distinct inputs differ
    assert not torch.equal(RandomAdapter(seed=1).classify(_classify_batch(ims)).logits, full)
    assert not torch.equal(full[0], full[1])
    # roughly N(0, 1)
    big = a.classify(_classify_batch(_images(200, seed=5), refs=[0] * 200)).logits
    assert abs(float(big.mean())) < 0.15 and 0.85 < float(big.std()) < 1.15


def test_random_classify_depends_on_label_set():
    a = RandomAdapter()
    ims = _images(2)
    other = LabelSet("y", ("p", "q", "r", "s"))
    assert not torch.equal(a.classify(_classify_batch(ims)).logits,
                           a.classify(_classify_batch(ims, labels=other)).logits)


def test_random_embeddings_and_match():
    a = RandomAdapter(seed=3, dim=16)
    ims = _images(4)
    emb = a.embed_image(ims)
    assert emb.shape == (4, 16)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(a.embed_image(ims[2:]), emb[2:], rtol=0, atol=0)
    txt = a.embed_text(["cat", "dog", "cat"])
    assert txt.shape == (3, 16)
    assert torch.equal(txt[0], txt[2]) and not torch.equal(txt[0], txt[1])
    assert torch.equal(a.embed_text(["dog"])[0], txt[1])
    # match equals the embeddings' dot product, independent of the other candidates
    scores = a.match(_match_batch(ims[:2], [["cat", "dog"], ["dog", "cat"]]))
    assert scores.shape == (2, 2)
    torch.testing.assert_close(scores[0], emb[0] @ txt[:2].T)
    single = a.match(_match_batch(ims[1:2], [["cat"]]))
    torch.testing.assert_close(single[0, 0], scores[1, 1])
    ragged = a.match(_match_batch(ims[:2], [["cat"], ["dog", "cat", "bird"]]))
    assert isinstance(ragged, list) and [len(r) for r in ragged] == [1, 3]


def test_random_handles_lists_of_unequal_images():
    a = RandomAdapter()
    ims = [torch.rand(3, 4, 5), torch.rand(3, 6, 2)]
    b = Batch(sample_ids=["a", "b"], inputs={"image": ims},
              requests=[ClassifyRequest(inputs={}, labels=LABELS) for _ in ims], references=[None, None])
    out = a.classify(b).logits
    b2 = Batch(sample_ids=["b"], inputs={"image": ims[1:]},
               requests=[ClassifyRequest(inputs={}, labels=LABELS)], references=[None])
    torch.testing.assert_close(a.classify(b2).logits[0], out[1], rtol=0, atol=0)


# --------------------------------------------------------------------------- constant


def test_constant_ties_everything():
    c = ConstantAdapter(value=0.25)
    ims = _images(3)
    logits = c.classify(_classify_batch(ims)).logits
    assert logits.shape == (3, 4) and torch.all(logits == 0.25)
    scores = c.match(_match_batch(ims[:2], [["a", "b", "c"], ["d", "e", "f"]]))
    assert scores.shape == (2, 3) and torch.all(scores == 0.25)
    e = c.embed_image(ims)
    t = c.embed_text(["x", "yy"])
    assert torch.equal(e[0], t[1]) and torch.equal(e[0], e[2])
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3))


# --------------------------------------------------------------------------- oracle


def test_oracle_classify_one_hot_and_multilabel():
    o = OracleAdapter()
    logits = o.classify(_classify_batch(_images(3), refs=[2, 0, np.int64(3)])).logits
    assert torch.equal(logits.argmax(1), torch.tensor([2, 0, 3]))
    assert torch.equal(logits.sum(1), torch.ones(3))
    multi = o.classify(_classify_batch(_images(2), refs=[[0, 3], [1]], multilabel=True)).logits
    assert multi.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0]]


def test_oracle_errors():
    o = OracleAdapter()
    with pytest.raises(AdapterError, match="oracle needs a reference for sample s1"):
        o.classify(_classify_batch(_images(2), refs=[0, None]))
    with pytest.raises(AdapterError, match=r"sample s0 is not a valid class index in \[0, 4\)"):
        o.classify(_classify_batch(_images(1), refs=[7]))


def test_oracle_match_generate_segment_detect():
    o = OracleAdapter()
    scores = o.match(_match_batch(_images(2), [["a", "b", "c"], ["d", "e", "f"]], refs=[2, 0]))
    assert scores.tolist() == [[0, 0, 1], [1, 0, 0]]

    msgs = [Message("user", ["q"])]
    gen = Batch(sample_ids=["g0", "g1", "g2"], inputs={},
                requests=[GenerateRequest(messages=msgs) for _ in range(3)],
                references=["Paris", 42, ["two", "2", "two"]])
    assert o.generate(gen) == ["Paris", "42", "two"]

    maps = [np.array([[0, 1], [2, 3]]), np.array([[1, 1], [0, 0]])]
    seg = Batch(sample_ids=["a", "b"], inputs={}, requests=[SegmentRequest(images={}, num_classes=4)] * 2,
                references=maps)
    out = o.segment(seg)
    assert out.shape == (2, 2, 2) and out.dtype == torch.int64 and out[0].tolist() == [[0, 1], [2, 3]]

    refs = [{"boxes": [[0, 0, 10, 10], [5, 5, 8, 9]], "labels": [1, 2]}, {"boxes": [], "labels": []}]
    det = Batch(sample_ids=["d0", "d1"], inputs={}, requests=[DetectRequest(image=None)] * 2, references=refs)
    d0, d1 = o.detect(det)
    assert d0.boxes.shape == (2, 4) and d0.scores.tolist() == [1.0, 1.0] and d0.labels.tolist() == [1, 2]
    assert d1.boxes.shape == (0, 4) and len(d1.scores) == 0


# --------------------------------------------------------------------------- arguments


def test_build_adapter_converts_and_rejects():
    a = build_adapter(RandomAdapter, {"seed": "3", "dim": "8"})
    assert a.seed == 3 and isinstance(a.seed, int) and a.embed_text(["x"]).shape == (1, 8)
    assert a.weights_identity() == "random:seed=3"
    assert a.fingerprint() != build_adapter(RandomAdapter, {"seed": "4"}).fingerprint()
    assert build_adapter(ConstantAdapter, {"value": "-1.5"}).value == -1.5
    with pytest.raises(AdapterError, match="Did you mean 'seed'"):
        build_adapter(RandomAdapter, {"sed": "3"})
    with pytest.raises(AdapterError, match="not a valid int"):
        build_adapter(RandomAdapter, {"seed": "three"})
    with pytest.raises(AdapterError, match=r"has no argument 'seed'.*\(none\)"):
        build_adapter(OracleAdapter, {"seed": "1"})
