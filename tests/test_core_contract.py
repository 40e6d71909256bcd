"""The capability contract: registries, argument parsing, response encoding, capability resolution."""

import numpy as np
import pytest

from mmharness.adapter import Adapter, AdapterError, build_adapter, parse_model_args
from mmharness.executors import CapabilityError, resolve
from mmharness.registry import ADAPTERS, TASKS, RegistryError, Registry, expand_task_names
from mmharness.requests import (
    Capability,
    ClassifyResponse,
    DetectionsResponse,
    EmbeddingResponse,
    LabelMapResponse,
    LabelSet,
    ScoresResponse,
    TextResponse,
    decode,
    encode,
)


def test_unknown_task_suggests_close_name():
    with pytest.raises(RegistryError) as e:
        TASKS.get("cifar10b")
    assert "did you mean 'cifar10_b'" in str(e.value).lower()


def test_unknown_adapter_suggests_close_name():
    with pytest.raises(RegistryError) as e:
        ADAPTERS.get("openclip")
    assert "'open_clip'" in str(e.value)


def test_group_expansion_keeps_order_and_dedups():
    assert expand_task_names("cifar_b,cifar10_b") == ["cifar10_b", "cifar100_b"]
    with pytest.raises(RegistryError):
        expand_task_names(" , ")


def test_registry_is_lazy_and_decorator_registers(tmp_path, monkeypatch):
    """An entry point is listed without importing its module; the import happens on ``get``."""
    dist = tmp_path / "mmh_lazy_demo-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmh-lazy-demo\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[mmharness.test-nothing]\nlazy = mmharness.nonexistent_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("thing", "mmharness.test-nothing")
    assert reg.names() == ["lazy"]  # listed without importing
    assert reg.origin("lazy") == "entry point (mmh-lazy-demo)"
    with pytest.raises(RegistryError, match="could not be imported"):
        reg.get("lazy")

    @reg.register("mine")
    class Mine:
        pass

    assert reg.get("mine") is Mine and Mine.name == "mine"
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("mine")(type("Other", (), {}))


def test_parse_model_args():
    assert parse_model_args("model=a/b.json,pretrained=none, seed=3") == {
        "model": "a/b.json", "pretrained": "none", "seed": "3"}
    assert parse_model_args("") == {}
    with pytest.raises(AdapterError, match="key=value"):
        parse_model_args("oops")
    with pytest.raises(AdapterError, match="twice"):
        parse_model_args("a=1,a=2")


class _Typed(Adapter):
    name = "typed"

    def __init__(self, n: int = 1, x: float = 0.5, flag: bool = False, path: str | None = None):
        super().__init__()

    def embed_text(self, texts):
        return np.zeros((len(texts), 2))


def test_build_adapter_converts_and_rejects():
    a = build_adapter(_Typed, {"n": "3", "x": "1.5", "flag": "true", "path": "none"})
    assert a.model_args == {"n": 3, "x": 1.5, "flag": True, "path": None}
    with pytest.raises(AdapterError, match="(?i)did you mean 'flag'"):
        build_adapter(_Typed, {"flg": "1"})
    with pytest.raises(AdapterError, match="not a valid int"):
        build_adapter(_Typed, {"n": "three"})
    assert _Typed.capabilities() == frozenset({Capability.EMBED_TEXT})


@pytest.mark.parametrize("resp", [
    EmbeddingResponse(np.arange(5, dtype=np.float32) / 7),
    ScoresResponse(np.array([0.1, -2.0, np.float32(1e-30)], dtype=np.float32)),
    ClassifyResponse(np.random.default_rng(0).normal(size=10).astype(np.float32), np.array([0, 0.1, 0.5, 1.0], np.float32)),
    ClassifyResponse(np.ones(3, np.float32)),
    TextResponse("héllo\nworld", prompt="USER: hi", warnings=["truncated"]),
    LabelMapResponse(np.arange(12, dtype=np.int32).reshape(3, 4)),
    DetectionsResponse(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)),
])
def test_encode_decode_roundtrip_is_exact(resp):
    back = decode(encode(resp))
    assert type(back) is type(resp)
    for k, v in vars(resp).items():
        w = getattr(back, k)
        if isinstance(v, np.ndarray):
            assert w.dtype == v.dtype and w.shape == v.shape and np.array_equal(w, v)
        else:
            assert w == v


def test_encoded_bytes_follow_the_documented_format_and_decoded_values_are_independent():
    import json

    def reference(resp):  # the format, spelled out: 4-byte length, JSON header, raw arrays in order
        fields = {k: v for k, v in vars(resp).items() if k != "kind" and not isinstance(v, np.ndarray)}
        arrays, blobs, off = {}, b"", 0
        for k, v in vars(resp).items():
            if isinstance(v, np.ndarray):
                arrays[k] = [v.dtype.str, list(v.shape), off, v.nbytes]
                blobs, off = blobs + v.tobytes(), off + v.nbytes
        head = json.dumps({"kind": resp.kind, "fields": fields, "arrays": arrays}, separators=(",", ":")).encode()
        return len(head).to_bytes(4, "little") + head + blobs

    rng = np.random.default_rng(1)
    seq = [ClassifyResponse(rng.normal(size=10).astype(np.float32)) for _ in range(3)]
    seq += [ClassifyResponse(rng.normal(size=4).astype(np.float64)),  # same kind, other dtype and shape
            ClassifyResponse(np.ones(10, np.float32), np.array([0, 0, 1, 1], np.float32)),
            TextResponse("a", warnings=["w"]), TextResponse("b", prompt="p")]
    for resp in seq * 2:  # the second pass reuses memoised headers
        assert encode(resp) == reference(resp)
    a, b = decode(encode(seq[0])), decode(encode(seq[0]))
    a.logits[0] = 123.0  # decoded arrays are writable copies, not views of one buffer
    assert b.logits[0] == seq[0].logits[0] and decode(encode(seq[3])).logits.dtype == np.float64
    t1, t2 = decode(encode(seq[5])), decode(encode(seq[5]))
    t1.warnings.append("x")
    assert t2.warnings == ["w"]


def test_encode_never_pickles():
    payload = encode(ClassifyResponse(np.ones(3, np.float32)))
    assert b"\x80\x04" not in payload[:2] and payload[4:5] == b"{"


def test_label_set_prompts_and_key():
    ls = LabelSet("c", ("aquarium_fish", "cat"), ("a photo of a {}.", "art of the {c}."), ("aquarium fish", "cat"))
    assert ls.prompts() == [["a photo of a aquarium fish.", "art of the aquarium fish."],
                            ["a photo of a cat.", "art of the cat."]]
    assert ls.key() != LabelSet("c", ("aquarium_fish", "cat")).key()


def test_resolve_prefers_direct_then_derived_then_fails():
    both = frozenset({Capability.EMBED_IMAGE, Capability.EMBED_TEXT})
    assert resolve((Capability.CLASSIFY,), frozenset({Capability.CLASSIFY}) | both, task="t", adapter="a").path == "classify"
    assert resolve((Capability.CLASSIFY,), both, task="t", adapter="a").path.startswith("classify<-embed_image")
    assert resolve((Capability.MATCH,), both, task="t", adapter="a").path.startswith("match<-")
    with pytest.raises(CapabilityError) as e:
        resolve((Capability.CLASSIFY,), frozenset({Capability.GENERATE}), task="cifar10_b", adapter="llm")
    msg = str(e.value)
    assert "classify or embed_image+embed_text" in msg and "offers only generate" in msg


def test_zero_shot_prepare_embeds_each_label_set_once_before_the_batches():
    """ZeroShotClassify.prepare builds one classifier per label set (not for per-sample {text}
    prompts); the batches then reuse it without embedding any text."""
    import torch

    from mmharness.cache import MemoryCache
    from mmharness.executors import RunContext, ZeroShotClassify
    from mmharness.requests import Batch, ClassifyRequest, ImageFile, LabelSet

    class Counting(Adapter):
        name = "counting"
        calls: list = []

        def embed_text(self, texts):
            self.calls.append(list(texts))
            g = torch.Generator().manual_seed(len(texts))
            return torch.randn(len(texts), 4, generator=g)

        def embed_image(self, images):
            return torch.ones(len(images), 4)

    a, b = LabelSet("ab", ("a", "b"), ("x {}", "y {}")), LabelSet("cd", ("c", "d", "e"))
    per_text = LabelSet("t", ("p", "q"), ("{c} for {text}",))
    reqs = [ClassifyRequest(inputs={"image": ImageFile("i.png")}, labels=ls) for ls in (a, b, a, per_text, b)]
    ctx = RunContext("counting", "t", "k", MemoryCache())
    adapter, ex = Counting(), ZeroShotClassify()
    ex.prepare(adapter, iter(reqs), ctx)
    assert [len(c) for c in adapter.calls] == [4, 3]  # a: 2 classes x 2 templates; b: 3 x 1
    n = len(adapter.calls)
    out = ex.run(adapter, Batch(["s0", "s1"], {"image": torch.zeros(2, 3, 4, 4)}, reqs[:1] * 2, [None, None]), ctx)
    assert len(adapter.calls) == n and len(out) == 2 and out[0].logits.shape == (2,)
    # the batches take the classifier from this run's memo: no cache round trip per batch
    reads = []
    real_get = ctx.cache.get_artifact
    ctx.cache.get_artifact = lambda key: reads.append(key) or real_get(key)
    for _ in range(3):
        ex.run(adapter, Batch(["s0"], {"image": torch.zeros(1, 3, 4, 4)}, reqs[1:2], [None]), ctx)
    assert reads == [] and len(adapter.calls) == n
    fresh = RunContext("counting", "t", "k", ctx.cache)  # a new run reads the cached artifact once
    for _ in range(3):
        ex.run(adapter, Batch(["s0"], {"image": torch.zeros(1, 3, 4, 4)}, reqs[1:2], [None]), fresh)
    assert len(reads) == 1 and len(adapter.calls) == n


def test_response_cache_reads_back_whole_tasks_and_subsets_alike(tmp_path):
    """get_many answers the same whether it scans the task (most of its rows wanted) or looks
    samples up in chunks (few wanted, or more than SQLite's 999 parameters)."""
    from mmharness.cache import ResponseCache

    with ResponseCache(tmp_path) as cache:
        rows = [(f"s{i:04d}", ClassifyResponse(np.full(3, i, np.float32)), f"h{i}") for i in range(1500)]
        cache.put_many("A", "T", rows)
        cache.put_many("A", "other", rows[:10])
        cache.put_many("B", "T", rows[:10])
        everything = [r[0] for r in rows] + ["missing"]
        for wanted in (everything, everything[::-1][:1000], everything[:950], everything[::3], ["s0007"]):
            got = cache.get_many("A", "T", wanted)
            present = [w for w in wanted if w != "missing"]
            assert sorted(got) == sorted(present)
            for sid in present:
                i = int(sid[1:])
                assert got[sid][1] == f"h{i}" and got[sid][0].logits.tolist() == [float(i)] * 3
        assert cache.get_many("B", "T", everything[:1000]).keys() == {r[0] for r in rows[:10]}


def _model_class(extra_argument: bool, runtime: frozenset = frozenset()):
    """The same adapter class (same name, version, qualname) with or without one more argument."""
    if extra_argument:
        class Model(Adapter):
            name, runtime_args = "fp", runtime

            def __init__(self, n: int = 1, beams: int = 1):
                super().__init__()
    else:
        class Model(Adapter):
            name, runtime_args = "fp", runtime

            def __init__(self, n: int = 1):
                super().__init__()
    return Model


def test_fingerprint_covers_every_constructor_argument_without_a_hand_written_list():
    plain, extended = _model_class(False)(), _model_class(True)()
    assert extended.model_args == {"n": 1, "beams": 1} and plain.model_args == {"n": 1}
    assert plain.fingerprint() != extended.fingerprint()  # a new argument, nothing else changed
    assert _model_class(True)(beams=4).fingerprint() != extended.fingerprint()
    assert _model_class(True)(beams=1).fingerprint() == extended.fingerprint()
    # an argument declared as not changing answers leaves the key alone, and is still recorded
    lenient = _model_class(True, frozenset({"beams"}))
    assert lenient(beams=4).fingerprint() == lenient(beams=1).fingerprint() != lenient(n=2).fingerprint()
    assert lenient(beams=4).model_args == {"n": 1, "beams": 4}
    with pytest.raises(AttributeError, match="recorded from the constructor's arguments"):
        plain.model_args = {"n": 5}


def test_a_subclass_records_its_own_arguments_not_its_parents_call():
    class Base(Adapter):
        name = "base"

        def __init__(self, width: int = 8):
            super().__init__()

    class Child(Base):
        name = "child"

        def __init__(self, depth: int = 2, **rest):
            super().__init__(width=16)

    c = Child(depth=3, label="x")
    assert c.model_args == {"depth": 3, "label": "x"}


def test_an_alias_and_its_canonical_argument_share_one_cache_key():
    class Aliased(Adapter):
        name, aliases = "aliased", {"name": "model"}

        def __init__(self, model: str | None = None, name: str | None = None):
            super().__init__()

    by_alias, by_model = Aliased(name="resnet18"), Aliased(model="resnet18")
    assert by_alias.model_args == by_model.model_args == {"model": "resnet18"}
    assert by_alias.fingerprint() == by_model.fingerprint() != Aliased(model="resnet34").fingerprint()
    assert Aliased(model="a", name="b").model_args == {"model": "a", "name": "b"}  # left for the adapter to refuse
