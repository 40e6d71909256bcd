"""Shared helpers for the speed benchmarks: generated CIFAR-format data, timing, JSON output."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "out"
TINY_CLIP = str(Path(__file__).resolve().parent.parent / "examples" / "tiny_clip.json")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10_binary(root: Path, n: int, seed: int = 0) -> Path:
    """A CIFAR-10 binary-format test file of n random images (official row layout)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True, exist_ok=True)
    (d / "test_batch.bin").write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    (d / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")
    return root


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def write_report(name: str, report: dict) -> Path:
    """Write ``benchmarks/out/<name>.json`` with machine facts added; print a one-line summary."""
    import torch

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": name, "machine": {"platform": platform.platform(), "torch": torch.__version__,
                                             "threads": torch.get_num_threads()}, **report}
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
