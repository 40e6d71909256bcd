"""The fused ToTensor + Normalize step equals torchvision's two steps bit for bit, on every uint8
value in every channel, through open_clip's whole eval transform, and falls back for other inputs."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from mmharness.fast_preprocess import ToNormalizedTensor, fuse_to_tensor_normalize

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def reference():
    return T.Compose([T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])


def every_value_image() -> Image.Image:
    """16x16 RGB image in which each channel takes all 256 values (in a different order)."""
    v = np.arange(256, dtype=np.uint8)
    return Image.fromarray(np.stack([v, v[::-1], np.roll(v, 100)], axis=1).reshape(16, 16, 3))


def test_every_uint8_value_in_every_channel_is_bit_identical():
    ref = reference()
    fused = fuse_to_tensor_normalize(ref)
    assert isinstance(fused.transforms[-1], ToNormalizedTensor)
    im = every_value_image()
    a, b = ref(im), fused(im)
    assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape == (3, 16, 16)
    assert b.is_contiguous() and torch.equal(a, b)
    # and the values are the normalised ones, not merely equal to each other
    assert b[0, 0, 0].item() == pytest.approx((0 / 255 - CLIP_MEAN[0]) / CLIP_STD[0], abs=1e-6)
    assert b[1, 0, 0].item() == pytest.approx((255 / 255 - CLIP_MEAN[1]) / CLIP_STD[1], abs=1e-6)


@pytest.fixture(scope="module")
def open_clip_transform(tmp_path_factory):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(size=(32, 32)), is_train=False)


@pytest.mark.parametrize("size", [(32, 32), (57, 41), (20, 90), (300, 200)])
def test_open_clip_eval_transform_fused_is_bit_identical(open_clip_transform, size):
    fused = fuse_to_tensor_normalize(open_clip_transform)
    assert [type(t).__name__ for t in fused.transforms[:-1]] == \
        [type(t).__name__ for t in open_clip_transform.transforms[:-2]]  # resize/crop/convert untouched
    rng = np.random.default_rng(sum(size))
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    assert torch.equal(open_clip_transform(im), fused(im))


def test_other_inputs_take_the_original_steps(open_clip_transform):
    fused = fuse_to_tensor_normalize(open_clip_transform)
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (30, 30, 4), dtype=np.uint8), mode="RGBA")
    gray = Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8), mode="L")
    for im in (rgba, gray):  # open_clip converts these to RGB first; both paths agree
        assert torch.equal(open_clip_transform(im), fused(im))
    tail = fused.transforms[-1]
    t = torch.rand(3, 8, 8)  # open_clip's MaybeToTensor passes tensors through: so does the fallback
    assert torch.equal(tail(t), T.Normalize(CLIP_MEAN, CLIP_STD)(t))
    one_channel = ToNormalizedTensor([0.5], [0.25], (T.ToTensor(), T.Normalize([0.5], [0.25])))
    assert torch.equal(one_channel(gray), (T.ToTensor()(gray) - 0.5) / 0.25)


def test_transforms_that_do_not_end_in_to_tensor_normalize_are_returned_as_they_are():
    for tf in (T.Compose([T.ToTensor()]), T.Compose([T.Normalize(CLIP_MEAN, CLIP_STD), T.ToTensor()]),
               T.ToTensor(), T.Compose([T.ToTensor(), T.Normalize([0.5, 0.5, 0.5], [1.0, 0.0, 1.0])])):
        assert fuse_to_tensor_normalize(tf) is tf


def test_fused_transform_pickles_for_dataloader_workers(open_clip_transform):
    fused = pickle.loads(pickle.dumps(fuse_to_tensor_normalize(open_clip_transform)))
    im = every_value_image()
    assert torch.equal(fused(im), open_clip_transform(im))


def test_open_clip_adapter_uses_the_fused_step(tmp_path):
    from mmharness.adapters.open_clip import OpenClipAdapter

    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path / "fp-tiny.json"
    path.write_text(json.dumps(cfg))
    tf = OpenClipAdapter(model=str(path)).preprocess("image")
    assert isinstance(tf.transforms[-1], ToNormalizedTensor)
    assert "MaybeToTensor" in repr(tf.transforms[-1])
