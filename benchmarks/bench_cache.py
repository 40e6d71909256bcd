"""Cached rerun time / first run time (target <= 0.05): tiny open_clip, zero-shot CIFAR-10-B on
N generated images in the official binary format."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mmharness.evaluate import evaluate

from .common import TINY_CLIP, Timer, write_cifar10_binary, write_report

N = 2000


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_cifar10_binary(Path(tmp) / "data", N)
        kw = dict(model_args=f"model={TINY_CLIP},pretrained=none", data_root=root,
                  cache_dir=Path(tmp) / "cache", progress=False, bootstrap=0, batch_size=128)
        with Timer() as first:
            a = evaluate("open_clip", "cifar10_b", **kw)
        with Timer() as second:
            b = evaluate("open_clip", "cifar10_b", **kw)
    assert b.doc["tasks"]["cifar10_b"]["cache"]["computed"] == 0
    assert a.doc["tasks"]["cifar10_b"]["metrics"] == b.doc["tasks"]["cifar10_b"]["metrics"]
    ratio = second.seconds / first.seconds
    report = {"n_images": N, "first_run_s": first.seconds, "cached_rerun_s": second.seconds,
              "ratio": ratio, "target": "<= 0.05", "meets_target": ratio <= 0.05}
    write_report("cache_rerun", report)
    print(f"cache rerun: first {first.seconds:.2f}s, cached {second.seconds:.2f}s, ratio {ratio:.3f} (target <= 0.05)")
    return report


if __name__ == "__main__":
    main()
