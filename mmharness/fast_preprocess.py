"""Faster, bit-identical replacements for common torchvision preprocessing steps.

Decoding and preprocessing run once per sample in the DataLoader workers, and for a small model
on a CPU they, not the model, set the pace. The usual eval transform ends with ``ToTensor()``
then ``Normalize(mean, std)``: eight small tensor operations plus torchvision's per-call Python
checks. :class:`ToNormalizedTensor` does the same arithmetic in four operations (same float32
division by 255, same subtraction and division, in the same order), so its output equals the
original's bit for bit; ``tests/test_fast_preprocess.py`` checks every uint8 value in every
channel. Inputs it does not handle (anything but an 8-bit RGB PIL image, or a tensor) go through
the original two transforms unchanged.

:func:`fuse_to_tensor_normalize` rewrites a ``Compose`` whose last two steps are those transforms;
any other transform is returned as it is.
"""

from __future__ import annotations

from typing import Any, Sequence


class ToNormalizedTensor:
    """``Normalize(mean, std)(ToTensor()(pic))`` for 8-bit RGB PIL images, in fewer operations.

    ``fallback`` is the original ``(to_tensor, normalize)`` pair, used for every other input.
    Picklable, so it can run in DataLoader workers.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], fallback: tuple[Any, Any]):
        import torch

        self.mean = torch.as_tensor(list(mean), dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(list(std), dtype=torch.float32).view(-1, 1, 1)
        self.fallback = fallback

    def __call__(self, pic: Any):
        import numpy as np
        import torch

        if getattr(pic, "mode", None) != "RGB" or self.mean.shape[0] != 3:
            to_tensor, normalize = self.fallback
            return normalize(to_tensor(pic))
        x = torch.from_numpy(np.array(pic, dtype=np.uint8))  # (H, W, 3), a writable copy
        x = x.permute(2, 0, 1).to(torch.float32, memory_format=torch.contiguous_format)
        return x.div_(255).sub_(self.mean).div_(self.std)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}; "
                f"= {self.fallback[0]!r} then {self.fallback[1]!r})")


def fuse_to_tensor_normalize(transform: Any) -> Any:
    """``transform`` with a trailing ``ToTensor()`` (or a subclass, such as open_clip's
    ``MaybeToTensor``), ``Normalize(mean, std)`` pair replaced by :class:`ToNormalizedTensor`;
    ``transform`` itself when it does not end that way."""
    from torchvision import transforms as T

    steps = getattr(transform, "transforms", None)
    if not isinstance(transform, T.Compose) or not steps or len(steps) < 2:
        return transform
    to_tensor, normalize = steps[-2], steps[-1]
    if not (isinstance(to_tensor, T.ToTensor) and type(normalize) is T.Normalize):
        return transform
    std = list(normalize.std) if isinstance(normalize.std, (list, tuple)) else [normalize.std]
    mean = list(normalize.mean) if isinstance(normalize.mean, (list, tuple)) else [normalize.mean]
    if len(mean) != len(std) or any(s == 0 for s in std):
        return transform
    return T.Compose([*steps[:-2], ToNormalizedTensor(mean, std, (to_tensor, normalize))])
