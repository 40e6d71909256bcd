"""TorchvisionClassifier: random and file weights, label-set checks, name suggestions."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from PIL import Image

from mmharness.adapter import AdapterError, build_adapter
from mmharness.adapters.torchvision_classifier import TorchvisionClassifier, parse_channel_values
from mmharness.registry import ADAPTERS
from mmharness.requests import Batch, ClassifyRequest, LabelSet

TEN = LabelSet("cifar10", tuple(f"c{i}" for i in range(10)))


def _batch(images: torch.Tensor, labels: LabelSet = TEN) -> Batch:
    n = len(images)
    reqs = [ClassifyRequest(inputs={}, labels=labels, reference=0) for _ in range(n)]
    return Batch(sample_ids=[f"s{i}" for i in range(n)], inputs={"image": images}, requests=reqs,
                 references=[0] * n)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 32, 32, generator=g)


@pytest.fixture(scope="module")
def adapter():
    return TorchvisionClassifier(model="resnet18", num_classes=10)


def test_registered_and_capabilities(adapter):
    assert ADAPTERS.get("torchvision") is TorchvisionClassifier
    assert {c.value for c in TorchvisionClassifier.capabilities()} == {"classify"}
    assert not adapter.model.training
    assert adapter.weights_identity() == "random:seed=0"


def test_classify_shape_and_determinism(adapter, images):
    out = adapter.classify(_batch(images))
    assert out.logits.shape == (2, 10) and out.logits.dtype == torch.float32
    again = TorchvisionClassifier(model="resnet18", num_classes=10)
    assert torch.equal(again.classify(_batch(images)).logits, out.logits)
    assert again.fingerprint() == adapter.fingerprint()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_state_dict_file_roundtrip(tmp_path, adapter, images, suffix):
    path = tmp_path / f"resnet18{suffix}"
    sd = adapter.model.state_dict()
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)  # wrapped + DataParallel
    loaded = TorchvisionClassifier(model="resnet18", weights=str(path), num_classes=10)
    assert torch.equal(loaded.classify(_batch(images)).logits, adapter.classify(_batch(images)).logits)
    assert loaded.weights_identity().startswith("sha256:")
    assert loaded.fingerprint() != adapter.fingerprint()


def test_fingerprint_follows_file_content(tmp_path, adapter):
    path = tmp_path / "w.pt"
    sd = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    torch.save(sd, path)
    first = TorchvisionClassifier(model="resnet18", weights=str(path), num_classes=10)
    sd["fc.bias"] += 1.0
    torch.save(sd, path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = TorchvisionClassifier(model="resnet18", weights=str(path), num_classes=10)
    assert first.fingerprint() != second.fingerprint()


def test_label_set_size_mismatch(adapter, images):
    three = LabelSet("tiny3", ("a", "b", "c"))
    with pytest.raises(AdapterError, match=r"has 10 outputs but the task's label set 'tiny3' has 3 classes; "
                                           r"pass num_classes=3"):
        adapter.classify(_batch(images, three))


def test_wrong_head_in_file_suggests_num_classes(tmp_path, adapter):
    path = tmp_path / "w.pt"
    torch.save(adapter.model.state_dict(), path)
    with pytest.raises(AdapterError, match="head has 10 outputs"):
        TorchvisionClassifier(model="resnet18", weights=str(path))  # default 1000 outputs


def test_unknown_model_suggests_close_names():
    with pytest.raises(AdapterError, match="Did you mean 'resnet18'"):
        TorchvisionClassifier(model="resnet19")
    with pytest.raises(AdapterError, match="not an image classifier"):
        TorchvisionClassifier(model="fasterrcnn_resnet50_fpn")


def test_bad_weights_values(tmp_path):
    with pytest.raises(AdapterError, match="IMAGENET1K_V1"):  # listed as a known name; nothing downloaded
        TorchvisionClassifier(model="resnet18", weights="imagenet")
    with pytest.raises(AdapterError, match="weights file not found"):
        TorchvisionClassifier(model="resnet18", weights=str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    torch.save({"not": "tensors"}, junk)
    with pytest.raises(AdapterError, match="state_dict of tensors"):
        TorchvisionClassifier(model="resnet18", weights=str(junk))


def test_preprocess_is_picklable_and_normalises():
    a = TorchvisionClassifier(model="resnet18", num_classes=10, resize=40, crop=32,
                              mean="0.4914;0.4822;0.4465", std="0.5")
    tf = pickle.loads(pickle.dumps(a.preprocess("image")))
    out = tf(Image.new("L", (64, 48), 255))  # grayscale -> 3 channels
    assert out.shape == (3, 32, 32)
    expected = (1.0 - torch.tensor([0.4914, 0.4822, 0.4465])) / 0.5
    torch.testing.assert_close(out[:, 0, 0], expected)
    plain = TorchvisionClassifier(model="resnet18", num_classes=10).preprocess("image")
    assert plain(Image.new("RGB", (20, 10))).shape == (3, 10, 20)  # no resize/crop by default


def test_channel_values():
    assert parse_channel_values("imagenet", "std") == (0.229, 0.224, 0.225)
    assert parse_channel_values("0.1 0.2 0.3", "mean") == (0.1, 0.2, 0.3)
    with pytest.raises(AdapterError, match="Did you mean 'imagenet'"):
        parse_channel_values("imagent", "mean")
    with pytest.raises(AdapterError, match="1 or 3 numbers"):
        parse_channel_values("0.1;0.2", "mean")


def test_build_adapter_converts_strings():
    a = build_adapter(TorchvisionClassifier, {"model": "resnet18", "num_classes": "10", "resize": "none"})
    assert a.num_outputs == 10 and a.model_args["resize"] is None
    with pytest.raises(AdapterError, match="not a valid int"):
        build_adapter(TorchvisionClassifier, {"model": "resnet18", "num_classes": "ten"})
    with pytest.raises(AdapterError, match="Did you mean 'num_classes'"):
        build_adapter(TorchvisionClassifier, {"model": "resnet18", "num_class": "10"})


def test_logits_are_ordinary_tensors(adapter, images):
    """Callers may modify logits in place (no inference-mode tensors, no autograd history)."""
    logits = adapter.classify(_batch(images)).logits
    assert not logits.requires_grad
    logits.add_(1.0)
