"""The runner's per-batch bookkeeping: batch fetching and grouping in the loader, batch encoding
(:class:`ResponseRows`, :func:`encode_many`), one-transaction batch writes and their in-memory
hand-over (:meth:`ResponseCache.put_batch`), the input hash's fast paths, and that none of it
changes what is cached, scored or logged."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from mmharness.adapter import Adapter
from mmharness.cache import MemoryCache, ResponseCache
from mmharness.evaluate import evaluate
from mmharness.registry import include, register_adapter
from mmharness.requests import (
    ClassifyRequest,
    ClassifyResponse,
    DetectionsResponse,
    EmbeddingResponse,
    ImageArray,
    LabelMapResponse,
    LabelSet,
    MediaDecodeError,
    Response,
    ResponseRows,
    ScoresResponse,
    TextResponse,
    decode,
    encode,
    encode_many,
)
from mmharness.task import Sample, Task

PLUGIN = str(Path(__file__).parent / "plugins" / "toy_plugin.py")
include(PLUGIN)


def _same_response(a, b):
    assert type(a) is type(b)
    assert vars(a).keys() == vars(b).keys()
    for k, v in vars(a).items():
        w = getattr(b, k)
        if isinstance(v, np.ndarray):
            assert w.dtype == v.dtype and w.shape == v.shape and v.tobytes() == w.tobytes()
        else:
            assert type(w) is type(v) and w == v


# --------------------------------------------------------------------------- batch encoding


@pytest.mark.parametrize("cls,arrays", [
    (ClassifyResponse, [np.random.default_rng(0).normal(size=(7, 10)).astype(np.float32)]),
    (ClassifyResponse, [np.random.default_rng(1).normal(size=(5, 3)),  # float64 logits, with boxes
                        np.random.default_rng(2).random((5, 4)).astype(np.float32)]),
    (ClassifyResponse, [np.arange(12, dtype=np.float16).reshape(4, 3)]),
    (EmbeddingResponse, [np.random.default_rng(3).normal(size=(6, 8)).astype(np.float32).T.copy().T]),
    (EmbeddingResponse, [np.asfortranarray(np.arange(30, dtype=np.float32).reshape(6, 5))]),  # not C-ordered
    (ScoresResponse, [np.zeros((3, 0), np.float32)]),  # empty rows
    (LabelMapResponse, [np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)]),
    (ClassifyResponse, [np.zeros((0, 10), np.float32)]),  # an empty batch
])
def test_response_rows_encode_to_the_bytes_of_per_row_encode(cls, arrays):
    rows = ResponseRows(cls, *arrays)
    assert isinstance(rows, list) and len(rows) == len(arrays[0]) and rows.intact()
    plain = [cls(*(a[i] for a in arrays)) for i in range(len(arrays[0]))]
    for r, p in zip(rows, plain):
        _same_response(r, p)
    batch = encode_many(rows)
    assert batch == [encode(p) for p in plain] == [encode(r) for r in rows]
    for payload, p in zip(batch, plain):
        _same_response(decode(payload), p)
    assert encode_many(list(rows)) == batch  # a plain list takes the per-row path: same bytes


def test_modified_response_rows_fall_back_to_per_row_encoding():
    logits = np.random.default_rng(4).normal(size=(4, 3)).astype(np.float32)
    cases = {
        "box set": lambda rows: setattr(rows[1], "box", np.ones(4, np.float32)),
        "logits replaced": lambda rows: setattr(rows[2], "logits", np.zeros(3, np.float64)),
        "row replaced": lambda rows: rows.__setitem__(0, ClassifyResponse(np.ones(5, np.float32))),
        "row appended": lambda rows: rows.append(ClassifyResponse(np.ones(3, np.float32))),
        "row removed": lambda rows: rows.pop(),
        "attribute added": lambda rows: setattr(rows[3], "extra", 1),
        "kind changed": lambda rows: setattr(rows[0], "kind", "scores"),
    }
    for what, change in cases.items():
        rows = ResponseRows(ClassifyResponse, logits)
        change(rows)
        assert not rows.intact(), what
        assert encode_many(rows) == [encode(r) for r in rows], what
    rows = ResponseRows(ClassifyResponse, logits)
    rows[1].logits[0] = 42.0  # values written in place are in the arrays too: still intact
    assert rows.intact() and encode_many(rows) == [encode(r) for r in rows]


@dataclass
class _CountedResponse(Response):
    values: np.ndarray
    n: int = 1000
    kind: str = field(default="counted", init=False)


def test_response_rows_with_an_equal_field_value_of_another_identity_stay_intact():
    rows = ResponseRows(_CountedResponse, np.zeros((3, 2), np.float32))
    assert rows._untouched() and rows.intact()
    rows[1].n = int("1000")  # an equal value, another object: the closer look keeps the batch intact
    assert rows[1].n is not rows[0].n and not rows._untouched() and rows.intact()
    rows[2].n = 999
    assert not rows.intact()


def test_response_rows_refuse_what_they_cannot_encode_per_batch():
    with pytest.raises(TypeError, match="warnings"):
        ResponseRows(TextResponse, np.zeros((2, 3)))  # a mutable default (warnings list)
    with pytest.raises(TypeError, match="response dataclass"):
        ResponseRows(dict, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(B, \.\.\.\) arrays"):
        ResponseRows(EmbeddingResponse, np.zeros(3, np.float32))  # rows would be numpy scalars
    with pytest.raises(ValueError, match=r"\(B, \.\.\.\) arrays"):
        ResponseRows(ClassifyResponse, np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(TypeError, match="object arrays"):
        ResponseRows(EmbeddingResponse, np.empty((2, 2), dtype=object))
    with pytest.raises(TypeError, match="fields"):
        ResponseRows(EmbeddingResponse, np.zeros((2, 3)), np.zeros((2, 3)))
    # detections have three array fields and take the default masks=None
    rows = ResponseRows(DetectionsResponse, np.zeros((2, 1, 4), np.float32), np.ones((2, 1), np.float32),
                        np.zeros((2, 1), np.int64))
    assert encode_many(rows) == [encode(r) for r in rows] and rows[0].masks is None


# --------------------------------------------------------------------------- batch writes


def test_put_batch_stores_the_bytes_put_many_stores_and_hands_kept_rows_over_once(tmp_path):
    logits = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)
    ids = [f"s{i}" for i in range(6)]
    hashes = [f"h{i}" for i in range(6)]
    with ResponseCache(tmp_path / "a") as a, ResponseCache(tmp_path / "b") as b:
        a.put_many("A", "T", list(zip(ids, [ClassifyResponse(r) for r in logits], hashes)))
        rows = ResponseRows(ClassifyResponse, logits)
        b.put_batch("A", "T", ids, rows, hashes, keep=True)
        sql = "SELECT adapter, task, sample, payload, input_hash FROM responses ORDER BY sample"
        assert a._conn.execute(sql).fetchall() == b._conn.execute(sql).fetchall()
        got = b.get_many("A", "T", ids[:4] + ["missing"])  # the kept rows themselves, no decoding
        assert sorted(got) == ids[:4] and all(got[s][0] is rows[i] and got[s][1] == hashes[i]
                                              for i, s in enumerate(ids[:4]))
        again = b.get_many("A", "T", ids)  # the first four handed over already: read from the database
        assert sorted(again) == ids and not b._unread
        for i, s in enumerate(ids):
            _same_response(again[s][0], rows[i])
            assert (again[s][0] is rows[i]) == (i >= 4) and again[s][1] == hashes[i]
        # keep=False, or responses that are not an intact batch of rows, are never held
        b.put_batch("A", "T2", ids[:2], ResponseRows(ClassifyResponse, logits[:2]), hashes[:2])
        b.put_batch("A", "T3", ids[:2], [ClassifyResponse(r) for r in logits[:2]], hashes[:2], keep=True)
        assert not b._unread
        # a row rewritten after it was kept is read from the database
        b.put_batch("A", "T4", ids[:2], ResponseRows(ClassifyResponse, logits[:2]), hashes[:2], keep=True)
        b.put_many("A", "T4", [(ids[0], ClassifyResponse(np.ones(4, np.float32)), "new")])
        got = b.get_many("A", "T4", ids[:2])
        assert got[ids[0]][1] == "new" and got[ids[0]][0].logits.tolist() == [1.0] * 4
        assert got[ids[1]][0] is not None and not b._unread
        with pytest.raises(ValueError, match="2 ids, 1 responses"):
            b.put_batch("A", "T", ids[:2], [ClassifyResponse(logits[0])], hashes[:2])
    mem = MemoryCache()
    mem.put_batch("A", "T", ids, rows, hashes, keep=True)
    assert mem.get_many("A", "T", ids)["s1"] == (rows[1], "h1")


# --------------------------------------------------------------------------- input hashes


def _inputs_to_hash():
    from PIL import Image

    big_endian = np.arange(6, dtype=">f4").reshape(2, 3)
    grad = torch.randn(3, requires_grad=True)
    with torch.inference_mode():
        inference_tensor = torch.arange(5.0)
    return [
        torch.zeros(4000), torch.arange(12.0).reshape(3, 4).t(), torch.tensor(3.5), torch.zeros(0, 3),
        torch.ones(2, 2, dtype=torch.bfloat16), grad, torch.randn(3, dtype=torch.complex64),
        torch.arange(10)[2:7], torch.ones(3, 1, 2).as_strided((3, 1, 2), (2, 5, 1)), torch.tensor([True, False]),
        torch.zeros(3, 32, 32).contiguous(memory_format=torch.contiguous_format)[:, ::2],
        torch.arange(96.0).reshape(2, 3, 4, 4).contiguous(memory_format=torch.channels_last),
        torch.arange(3.0).reshape(1, 3).expand(4, 3), inference_tensor,
        np.zeros((8, 8, 3), np.uint8), np.arange(12).reshape(3, 4).T, big_endian, np.float32(3),
        np.ma.array([1, 2]), Image.fromarray(np.zeros((8, 8, 3), np.uint8)),
        Image.fromarray(np.zeros((4, 5), np.uint8)), b"abc", bytearray(b"xy"), "text", 3, None,
    ]


def test_input_hash_fast_paths_feed_the_same_bytes_as_the_plain_spelling():
    from mmharness.input_hash import (
        _hash_content_plain,
        hash_content,
        input_hash_digest,
        new_input_hash,
    )

    def digest(feed, *xs):
        h = new_input_hash()
        for x in xs:
            feed(h, x)
        return input_hash_digest(h)

    xs = _inputs_to_hash()
    for x in xs:
        for _ in range(2):  # the second time uses the memoised descriptions
            assert digest(hash_content, x) == digest(_hash_content_plain, x), repr(x)[:60]
    assert digest(hash_content, *xs) == digest(_hash_content_plain, *xs)
    # the known value of one input: the scheme and the bytes it hashes are unchanged
    import xxhash

    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    ref = xxhash.xxh3_128(b"tensor:torch.float32:(2, 3)" + t.numpy().tobytes()).hexdigest()
    assert digest(hash_content, t) == "xxh3_128:" + ref


def test_sample_input_hash_equals_the_piecewise_hash():
    """sample_input_hash (memoised name + description prefixes, one update each) gives the hash of
    feeding each input's name, hash_content and hash_text one by one, for every kind of input."""
    from mmharness.input_hash import (
        _hash_content_plain,
        hash_text,
        input_hash_digest,
        new_input_hash,
        sample_input_hash,
    )
    from mmharness.requests import GenerateRequest, ImageFile, MatchRequest, Message

    img = ImageFile("x.png")
    labels = LabelSet("l", ("a", "b"))
    reqs = [ClassifyRequest({"image": img}, labels), ClassifyRequest({"image": img}, labels, text="héllo"),
            MatchRequest(img, ["a cat", "ü"]), GenerateRequest([Message("user", ["describe", img])])]

    def piecewise(raws, req):
        h = new_input_hash()
        for name, raw in raws:
            h.update(name.encode())
            _hash_content_plain(h, raw)
        hash_text(h, req)
        return input_hash_digest(h)

    xs = _inputs_to_hash()
    for req in reqs:
        for x in xs:
            for name in ("image", "video"):
                for _ in range(2):  # the second time uses the memoised prefix
                    assert sample_input_hash([(name, x)], req) == piecewise([(name, x)], req), repr(x)[:60]
        pairs = [(f"in{k}", x) for k, x in enumerate(xs)]
        assert sample_input_hash(pairs, req) == piecewise(pairs, req)
    # a tensor and an array of the same dtype name and shape are told apart by their description
    t, a = torch.zeros(2, 3), np.zeros((2, 3), np.float32)
    assert sample_input_hash([("x", t)], reqs[0]) != sample_input_hash([("x", a)], reqs[0])


def test_hash_text_feeds_the_same_bytes_as_before():
    """hash_text feeds a request's text in one update: the same byte stream as the plain spelling."""
    import xxhash

    from mmharness.input_hash import hash_text
    from mmharness.requests import GenerateRequest, ImageFile, MatchRequest, Message

    def plain(h, req):
        h.update(b"\x1ftext:")
        h.update((getattr(req, "text", None) or "").encode())
        for t in getattr(req, "texts", ()) or ():
            h.update(b"\x1f")
            h.update(t.encode())
        for m in getattr(req, "messages", ()) or ():
            for p in m.parts:
                h.update(f"\x1f{m.role}:{p if isinstance(p, str) else '<media>'}".encode())

    img = ImageFile("x.png")
    labels = LabelSet("l", ("a", "b"))
    reqs = [ClassifyRequest({"image": img}, labels), ClassifyRequest({"image": img}, labels, text=""),
            ClassifyRequest({"image": img}, labels, text="héllo"), MatchRequest(img, ["a cat", "ü"]),
            GenerateRequest([Message("user", ["describe", img]), Message("assistant", ["ok"])])]
    for req in reqs:
        a, b = xxhash.xxh3_128(), xxhash.xxh3_128()
        hash_text(a, req)
        plain(b, req)
        assert a.hexdigest() == b.hexdigest()


# --------------------------------------------------------------------------- batch fetching


class _Rows:
    """Image source whose row 3 is undecodable."""

    def __init__(self, n):
        self.images = [torch.full((3, 4, 4), float(i)) for i in range(n)]

    def image(self, i):
        if i == 3:
            raise MediaDecodeError("row 3 is broken")
        return self.images[i]

    def describe(self, i):
        return f"row {i}"


class _MixedTask(Task):
    """Two label sets alternating; samples 5, 7, 9 with a second input (named in either order):
    three groups. Row 3 is undecodable."""

    name = "mixed"

    def __init__(self, n):
        self.rows = _Rows(n)
        self.sets = (LabelSet("a", ("x", "y")), LabelSet("b", ("x", "y", "z")))

    def request(self, s):
        i = int(s.id)
        image, extra = ImageArray(self.rows, i), ImageArray(self.rows, i - 1)
        inputs = {"image": image}
        if i in (5, 9):
            inputs = {"extra": extra, "image": image}
        elif i == 7:
            inputs = {"image": image, "extra": extra}
        return ClassifyRequest(inputs, self.sets[i % 2], reference=s.gold, text="t" if i == 5 else None)


def _reference_collate(items, channels_last=False):
    """The collation of per-sample items as the runner did it before batch fetching."""
    from mmharness.runner import _groups, _stack

    good = [it for it in items if it.error is None]
    groups = [([it.index for it in g], [it.input_hash for it in g],
               {k: _stack([it.inputs[k] for it in g], channels_last) for k in g[0].inputs},
               [it.request for it in g] if g[0].request is not None else None)
              for g in _groups(good)]
    return [(it.index, it.error) for it in items if it.error is not None], groups


def _reference_input_hash(task, sample):
    """A sample's input hash spelled out: each input's name and decoded content, then the text."""
    from mmharness.input_hash import hash_content, hash_text, input_hash_digest, new_input_hash

    req = task.request(sample)
    h = new_input_hash()
    for name, ref in req.media().items():
        h.update(name.encode())
        hash_content(h, ref.load())
    hash_text(h, req)
    return input_hash_digest(h)


@pytest.mark.parametrize("keep_requests", [False, True])
def test_batch_fetch_groups_hashes_and_stacks_like_per_sample_items(keep_requests):
    from mmharness.executors import ZeroShotClassify
    from mmharness.runner import RequestDataset, _Collator

    n = 12
    task = _MixedTask(n)
    samples = [Sample(f"{i:02d}", i % 2) for i in range(n)]
    todo = [0, 1, 2, 3, 4, 5, 7, 8, 9, 11]
    ex = ZeroShotClassify()

    def dataset(**kw):
        return RequestDataset(task, samples, todo, lambda m: (lambda x: x * 2), ex.group_key,
                              keep_requests=keep_requests, **kw)

    positions = list(range(len(todo)))
    per_item = dataset()
    expected_errors, expected_groups = _reference_collate([per_item[p] for p in positions])
    assert expected_errors == [(3, "row 3 is broken")] and len(expected_groups) == 3
    assert [g[0] for g in expected_groups] == [[0, 2, 4, 8], [1, 11], [5, 7, 9]]
    assert list(expected_groups[2][2]) == ["extra", "image"]
    assert [h for g in expected_groups for h in g[1]] == \
           [_reference_input_hash(task, samples[i]) for g in expected_groups for i in g[0]]
    built = [task.request(samples[i]) for i in todo]
    for ds in (dataset(), dataset(requests=list(built))):
        got = _Collator(False)(ds.__getitems__(positions))
        assert [(it.index, it.error) for it in got.errors] == expected_errors and got.size == len(todo)
        assert len(got.groups) == len(expected_groups)
        for g, (indices, hashes, inputs, reqs) in zip(got.groups, expected_groups):
            assert g.indices == indices and g.input_hashes == hashes
            assert list(g.inputs) == list(inputs) and all(torch.equal(g.inputs[k], inputs[k]) for k in inputs)
            if keep_requests:
                assert [(r.labels, r.text, r.inputs["image"].index) for r in g.requests] == \
                       [(r.labels, r.text, r.inputs["image"].index) for r in reqs]
            else:
                assert g.requests is None and reqs is None
    # prebuilt requests are handed over (the same objects) once, then dropped
    requests = list(built)
    ds = dataset(requests=requests)
    got = _Collator(False)(ds.__getitems__(positions[:3]))
    if keep_requests:
        assert got.groups[0].requests[0] is built[0]
    assert requests[:3] == [None] * 3 and requests[3] is built[3]
    # items fetched one by one collate the same way
    again = _Collator(False)([dataset()[p] for p in positions])
    assert [g.indices for g in again.groups] == [g[0] for g in expected_groups]
    assert [g.input_hashes for g in again.groups] == [g[1] for g in expected_groups]


# --------------------------------------------------------------------------- end to end


def _run(tmp_path, out, **kw):
    kw.setdefault("data_root", tmp_path / "data")
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 50)
    return evaluate("toy_perfect", "toy_shapes", output=tmp_path / out, log_samples=True, **kw)


def _sample_log(res):
    return [json.loads(line) for line in res.sample_logs["toy_shapes"].read_text().splitlines()]


def test_in_process_workers_cached_and_uncached_runs_log_and_score_identically(tmp_path):
    """Responses handed over in memory (in process), read back from the database (workers,
    rerun) or never stored (no cache): the same metrics and per-sample logs."""
    cache = tmp_path / "cache"
    fresh = _run(tmp_path, "a", cache_dir=cache, num_workers=0, batch_size=6)
    rerun = _run(tmp_path, "b", cache_dir=cache, num_workers=0, batch_size=6)
    workers = _run(tmp_path, "c", cache_dir=tmp_path / "cache2", num_workers=1, batch_size=7)
    nocache = _run(tmp_path, "d", use_cache=False, num_workers=0, batch_size=40)
    assert fresh.doc["tasks"]["toy_shapes"]["cache"] == {"hits": 0, "computed": 40}
    assert rerun.doc["tasks"]["toy_shapes"]["cache"] == {"hits": 40, "computed": 0}
    logs = [_sample_log(r) for r in (fresh, rerun, workers, nocache)]
    assert len(logs[0]) == 40 and all(log == logs[0] for log in logs)
    docs = [r.doc["tasks"]["toy_shapes"] for r in (fresh, rerun, workers, nocache)]
    for key in ("metrics", "tables", "notes", "n_scored"):
        assert all(d[key] == docs[0][key] for d in docs), key


@register_adapter("toy_embeds_batch_path")
class Embeds(Adapter):
    """Embeddings only: the toy task runs zero-shot (the executor has a ``prepare``)."""

    def __init__(self):
        self.device = "cpu"

    def embed_text(self, texts):
        g = torch.Generator().manual_seed(len(texts))
        return torch.randn(len(texts), 3, generator=g)

    def embed_image(self, images):
        return images.mean(dim=(2, 3))


def test_in_process_zero_shot_run_builds_each_request_once_and_caches_its_batches(tmp_path, monkeypatch):
    """With a ``prepare`` that reads every request (zero-shot classification), an in-process
    run still builds each request once; each batch is one durable transaction."""
    from mmharness.registry import TASKS

    cls = TASKS.get("toy_shapes")
    built = []
    real = cls.request
    monkeypatch.setattr(cls, "request", lambda self, s: built.append(s.id) or real(self, s))
    writes = []
    real_write = ResponseCache._write
    monkeypatch.setattr(ResponseCache, "_write", lambda self, sql, rows: writes.append(len(rows)) or
                        real_write(self, sql, rows))
    res = evaluate(Embeds(), "toy_shapes", data_root=tmp_path / "data", cache_dir=tmp_path / "cache",
                   progress=False, bootstrap=0, batch_size=16, num_workers=0)
    t = res.doc["tasks"]["toy_shapes"]
    assert t["capability_path"].startswith("classify<-embed_image") and t["cache"]["computed"] == 40
    assert len(built) == 40 and sorted(built) == sorted(set(built))
    assert writes == [1, 16, 16, 8]  # the zero-shot classifier artifact, then one write per batch
    again = evaluate(Embeds(), "toy_shapes", data_root=tmp_path / "data", cache_dir=tmp_path / "cache",
                     progress=False, bootstrap=0, batch_size=16, num_workers=0)
    assert again.doc["tasks"]["toy_shapes"]["metrics"] == t["metrics"]


# --------------------------------------------------------------------------- scoring


def test_cifar_b_scores_stacked_and_row_by_row_logits_alike():
    """The stacked fast path of CIFAR-B scoring and its row-by-row path give the same result."""
    from mmharness.task import ScoreContext
    from mmharness.tasks.cifar_b import Cifar10B

    rng = np.random.default_rng(6)
    n = 200
    samples = [Sample(f"{i:05d}", int(rng.integers(10)), {"subgroup": int(rng.integers(8)), "image_name": ""})
               for i in range(n)]
    logits = rng.normal(size=(n, 10)).astype(np.float32)
    fast = list(ResponseRows(ClassifyResponse, logits))
    slow = [ClassifyResponse(r[None, :]) for r in logits]  # (1, C) logits: the row-by-row path
    mixed = [ClassifyResponse(r.astype(np.float64)) if i % 2 else ClassifyResponse(r) for i, r in enumerate(logits)]
    ctx = ScoreContext(seed=0, bootstrap_resamples=100, ci_level=0.95)
    task = Cifar10B()
    results = [task.score(samples, rs, ctx) for rs in (fast, slow, mixed)]
    for r in results[1:]:
        assert {k: v.as_dict() for k, v in r.metrics.items()} == {k: v.as_dict() for k, v in results[0].metrics.items()}
        assert r.per_sample == results[0].per_sample and r.tables == results[0].tables
    p = results[0].per_sample[0]
    assert type(p["pred"]) is int and type(p["correct"]) is bool and type(p["subgroup"]) is int
    with pytest.raises(Exception, match="expected a classify response"):
        task.score(samples[:2], [fast[0], ScoresResponse(np.zeros(10, np.float32))], ctx)
    with pytest.raises(Exception, match="9 logits for 10 classes"):
        task.score(samples[:2], [fast[0], ClassifyResponse(np.zeros(9, np.float32))], ctx)


def test_data_file_digests_are_memoised_but_never_stale(tmp_path):
    """sha256_files reads a file once per process, and a rewritten file (same size, new content)
    gets a new digest: the memo is keyed by inode, size and modification/change times."""
    import hashlib

    from mmharness.task import _FILES_DIGESTS, sha256_files

    f = tmp_path / "data.bin"
    f.write_bytes(b"a" * 1000)
    first = sha256_files([f], extra="x")
    assert first == hashlib.sha256(b"x" + b"data.bin" + b"a" * 1000).hexdigest()[:20]
    n_memo = len(_FILES_DIGESTS)
    assert sha256_files([f], extra="x") == first and len(_FILES_DIGESTS) == n_memo
    f.write_bytes(b"b" * 1000)
    second = sha256_files([f], extra="x")
    assert second == hashlib.sha256(b"x" + b"data.bin" + b"b" * 1000).hexdigest()[:20] != first


def test_stack_keeps_unequal_shapes_as_a_list_and_raises_real_errors():
    """_stack stacks tensors of one shape, keeps tensors of different shapes (or non-tensors) as the
    list they came in, and does not hide an error that is not a shape mismatch."""
    from mmharness.runner import _stack

    a, b = torch.zeros(3, 4, 4), torch.ones(3, 4, 4)
    out = _stack([a, b])
    assert out.shape == (2, 3, 4, 4) and out[1].eq(1).all()
    assert _stack([a, b], channels_last=True).is_contiguous(memory_format=torch.channels_last)
    ragged = [a, torch.zeros(3, 5, 4)]
    assert _stack(ragged) is ragged
    mixed = [a, np.zeros((3, 4, 4))]
    assert _stack(mixed) is mixed
    assert _stack([]) == []
    meta = [a, torch.zeros(3, 4, 4, device="meta")]  # one shape, two devices: a real error
    with pytest.raises(RuntimeError):
        _stack(meta)
