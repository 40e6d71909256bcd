"""The runner's per-batch bookkeeping: batch fetching and grouping in the loader, batch encoding
(:class:`ResponseRows`, :func:`encode_many`), one-transaction batch writes and their in-memory
hand-over (:meth:`ResponseCache.put_batch`), the input hash's fast paths, and that none of it
changes what is cached, scored or logged."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmharness.cache import MemoryCache, ResponseCache
from mmharness.evaluate import evaluate
from mmharness.adapter import Adapter
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
    ResponseRows,
    ScoresResponse,
    TextResponse,
    decode,
    encode,
    encode_many,
)
from mmharness.task import Sample

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
