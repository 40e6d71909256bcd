"""OpenClipAdapter: tiny random open_clip models built offline from a config JSON."""

from __future__ import annotations

import json
import os
import pickle
import tempfile

import pytest
import torch
from PIL import Image

from mmharness.adapter import AdapterError, build_adapter
from mmharness.adapters.open_clip import OpenClipAdapter
from mmharness.registry import ADAPTERS

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TEXTS = ["a photo of a cat.", "a photo of a dog.", "an airplane"]


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("oc") / "tiny-clip.json"
    path.write_text(json.dumps(TINY))
    return str(path)


@pytest.fixture(scope="module")
def adapter(cfg_path):
    return OpenClipAdapter(model=cfg_path)


@pytest.fixture(scope="module")
def images(adapter):
    tf = adapter.preprocess("image")
    ims = [Image.new("RGB", (40 + 3 * i, 36), (30 * i, 200 - 20 * i, 7 * i)) for i in range(3)]
    return torch.stack([tf(im) for im in ims])


def _save_state_dict(adapter, path):
    torch.save(adapter.model.state_dict(), path)


def test_registered_and_capabilities(adapter):
    assert ADAPTERS.get("open_clip") is OpenClipAdapter
    assert {c.value for c in OpenClipAdapter.capabilities()} == {"embed_image", "embed_text"}
    assert not adapter.model.training
    assert isinstance(adapter.logit_scale, float)
    assert adapter.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)
    assert adapter.embed_dim == 32


def test_embeddings_shape_and_unit_norm(adapter, images):
    img = adapter.embed_image(images)
    txt = adapter.embed_text(TEXTS)
    assert img.shape == (3, 32) and txt.shape == (3, 32)
    assert img.dtype == torch.float32 and txt.dtype == torch.float32
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(3))
    assert adapter.embed_text([]).shape == (0, 32)
    # batch composition does not change a text's embedding
    torch.testing.assert_close(adapter.embed_text(TEXTS[1:2])[0], txt[1], atol=1e-5, rtol=1e-5)


def test_random_weights_are_deterministic_and_leave_global_rng_alone(cfg_path, adapter, images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    other = OpenClipAdapter(model=cfg_path, pretrained="none")
    assert torch.equal(torch.rand(3), expected)  # construction did not consume the caller's RNG
    assert torch.equal(other.embed_image(images), adapter.embed_image(images))
    assert torch.equal(other.embed_text(TEXTS), adapter.embed_text(TEXTS))
    assert other.weights_identity() == "random:seed=0"
    assert other.fingerprint() == adapter.fingerprint()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_roundtrip(tmp_path, cfg_path, adapter, images, suffix):
    path = tmp_path / f"ckpt{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in adapter.model.state_dict().items()}, str(path))
    else:
        _save_state_dict(adapter, path)
    loaded = OpenClipAdapter(model=cfg_path, pretrained=str(path))
    assert torch.equal(loaded.embed_image(images), adapter.embed_image(images))
    assert torch.equal(loaded.embed_text(TEXTS), adapter.embed_text(TEXTS))
    assert loaded.weights_identity().startswith("sha256:")


def test_fingerprint_follows_checkpoint_content(tmp_path, cfg_path, adapter, images):
    path = tmp_path / "ckpt.pt"
    _save_state_dict(adapter, path)
    first = OpenClipAdapter(model=cfg_path, pretrained=str(path))
    sd = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    sd["visual.proj"] += 0.5
    torch.save(sd, path)  # same path, new content
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = OpenClipAdapter(model=cfg_path, pretrained=str(path))
    assert first.weights_identity() != second.weights_identity()
    assert first.fingerprint() != second.fingerprint()
    assert first.fingerprint() != adapter.fingerprint()
    assert not torch.equal(first.embed_image(images), second.embed_image(images))


def test_fingerprint_follows_config_content(tmp_path, adapter):
    a = tmp_path / "tiny-clip.json"
    a.write_text(json.dumps({**TINY, "quick_gelu": True}))
    changed = OpenClipAdapter(model=str(a))
    assert changed.arch != adapter.arch
    assert changed.fingerprint() != adapter.fingerprint()


def test_config_registration_leaves_no_temporary_directory(tmp_path, monkeypatch, images):
    """Registering a config JSON leaves nothing in the temporary folder, and the registration
    outlives its file: a later registration (open_clip rescans its paths) keeps the first usable."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({**TINY, "embed_dim": 24}))  # contents no other test registers
    second.write_text(json.dumps({**TINY, "embed_dim": 40}))
    a = OpenClipAdapter(model=str(first))
    assert a.embed_dim == 24 and a.embed_image(images).shape == (3, 24)
    assert OpenClipAdapter(model=str(second)).embed_dim == 40
    first.unlink()
    assert list(tmp.iterdir()) == []
    import open_clip

    assert open_clip.get_model_config(a.arch)["embed_dim"] == 24
    # nor anywhere else: no config path open_clip was given in this process is still on disk
    assert [p for p in open_clip.factory._MODEL_CONFIG_PATHS
            if "mmh-open_clip-configs-" in str(p) and p.exists()] == []
    again = OpenClipAdapter(model=str(second))  # registered before: not re-added
    assert again.arch != a.arch and again.embed_image(images).shape == (3, 40)


def test_preprocess_is_picklable(adapter):
    tf = adapter.preprocess("image")
    clone = pickle.loads(pickle.dumps(tf))
    im = Image.new("L", (50, 41), 128)  # grayscale is converted to RGB
    out = clone(im)
    assert out.shape == (3, 32, 32)
    assert torch.equal(out, tf(im))
    assert adapter.preprocess("text")("x") == "x"


def test_hub_style_config_and_preprocess_override(tmp_path):
    path = tmp_path / "open_clip_config.json"
    path.write_text(json.dumps({"model_cfg": TINY, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}))
    a = OpenClipAdapter(model=str(path))
    out = a.preprocess("image")(Image.new("RGB", (32, 32), (255, 255, 255)))
    torch.testing.assert_close(out, torch.ones(3, 32, 32))


def test_build_adapter_from_strings(cfg_path):
    a = build_adapter(OpenClipAdapter, {"model": cfg_path, "pretrained": "none", "force_quick_gelu": "true",
                                        "cache_dir": "none"})
    assert a.model_args["force_quick_gelu"] is True and a.model_args["cache_dir"] is None
    with pytest.raises(AdapterError, match="Did you mean 'pretrained'"):
        build_adapter(OpenClipAdapter, {"model": cfg_path, "pretrainde": "none"})


def test_errors(tmp_path, cfg_path):
    with pytest.raises(AdapterError, match="Did you mean 'ViT-B-32'"):
        OpenClipAdapter(model="ViT-B-33")
    with pytest.raises(AdapterError, match="not found"):
        OpenClipAdapter(model=str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"embed_dim": 3}))
    with pytest.raises(AdapterError, match="vision_cfg"):
        OpenClipAdapter(model=str(bad))
    with pytest.raises(AdapterError, match="checkpoint file not found"):
        OpenClipAdapter(model=cfg_path, pretrained=str(tmp_path / "nope.pt"))
    with pytest.raises(AdapterError, match="neither a local checkpoint file nor a known open_clip tag"):
        OpenClipAdapter(model=cfg_path, pretrained="laion2b")
    with pytest.raises(AdapterError, match="precision"):
        OpenClipAdapter(model=cfg_path, precision="fp8")


class NotATensor:
    """A non-tensor object: refused by weights_only loading."""


def test_checkpoint_errors(tmp_path, cfg_path, adapter):
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": adapter.model.state_dict(), "extra": NotATensor()}, unsafe)
    with pytest.raises(AdapterError, match="never unpickled"):
        OpenClipAdapter(model=cfg_path, pretrained=str(unsafe))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TINY, "embed_dim": 16}))
    ckpt = tmp_path / "ckpt.pt"
    _save_state_dict(adapter, ckpt)
    with pytest.raises(AdapterError, match="cannot load checkpoint"):
        OpenClipAdapter(model=str(other), pretrained=str(ckpt))


def test_tag_that_cannot_be_fetched_says_so(monkeypatch):
    import open_clip.factory

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(open_clip.factory, "download_pretrained", offline)
    with pytest.raises(AdapterError, match="could not load pretrained tag 'openai'.*pretrained=/path/to/"):
        OpenClipAdapter(model="ViT-B-32", pretrained="openai")


def test_outputs_are_ordinary_tensors(adapter, images):
    """Callers may modify outputs in place (no inference-mode tensors, no autograd history)."""
    emb = adapter.embed_image(images)
    txt = adapter.embed_text(TEXTS[:1])
    assert not emb.requires_grad and not txt.requires_grad
    emb.mul_(2.0)
    txt.add_(1.0)


def test_to_moves_the_model_and_skips_the_walk_when_it_is_already_there(cfg_path, monkeypatch):
    a = OpenClipAdapter(model=cfg_path)
    moves = []
    real_to = torch.nn.Module.to

    def counting_to(self, *args, **kwargs):
        moves.append(args)
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", counting_to)
    assert a.to("cpu") is a and a.device == "cpu" and moves == []  # already on the CPU: nothing to move
    a.to("meta")  # a device of its own on any machine: really moved, every tensor
    assert moves == [("meta",)] and a.device == "meta"
    assert all(t.device.type == "meta" for t in [*a.model.parameters(), *a.model.buffers()])
    assert a.to("meta") is a and len(moves) == 1
    # one tensor left behind elsewhere is enough to move the model again
    a.model.logit_scale = torch.nn.Parameter(torch.zeros(()))  # on the CPU
    a.to("meta")
    assert len(moves) == 2 and a.model.logit_scale.device.type == "meta"
    a.model.register_buffer("extra", torch.zeros(2))
    a.to("meta")
    assert len(moves) == 3 and a.model.extra.device.type == "meta"
