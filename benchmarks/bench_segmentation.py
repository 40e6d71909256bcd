"""Segmentation metric: streaming confusion-matrix throughput (label maps/s) and peak memory as the
number of images grows 10x (it must stay flat: the state is one C x (C+1) matrix).

Each size runs in a fresh subprocess so its peak RSS is its own.

    python -m benchmarks.bench_segmentation [--size 480x640] [--classes 15] [--n 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from .common import write_report

CHILD = r"""
import json, resource, sys, time
import numpy as np
from mmharness.metrics.segmentation import ConfusionMatrix
n, h, w, c = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
label = rng.integers(0, c, (h, w)).astype(np.int64)
label[:8] = 255  # some ignore pixels
cm = ConfusionMatrix(c, ignore_index=255)
t0 = time.perf_counter()
for i in range(n):
    pred = np.roll(label, i % 7, axis=1) % c  # a new prediction per image, generated on the fly
    cm.update(pred, label)
dt = time.perf_counter() - t0
scores = cm.compute()
print(json.dumps({"n": n, "seconds": dt, "maps_per_s": n / dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="480x640", help="HxW of each label map (FMB is 600x800)")
    ap.add_argument("--classes", type=int, default=15)
    ap.add_argument("--n", type=int, default=50, help="images in the small run; the large one has 10x")
    args = ap.parse_args(argv)
    h, w = map(int, args.size.lower().split("x"))
    runs = []
    for n in (args.n, 10 * args.n):
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(h), str(w), str(args.classes)],
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    small, large = runs
    growth = large["peak_rss_mb"] / small["peak_rss_mb"]
    report = {"size": [h, w], "classes": args.classes, "runs": runs,
              "peak_memory_ratio_10x_images": growth, "flat": growth < 1.1,
              "maps_per_s": large["maps_per_s"]}
    write_report("segmentation_metric", report)
    print(f"segmentation metric ({h}x{w}, {args.classes} classes): {large['maps_per_s']:.0f} label maps/s; "
          f"peak RSS {small['peak_rss_mb']:.0f} MB for {small['n']} images vs {large['peak_rss_mb']:.0f} MB "
          f"for {large['n']} (ratio {growth:.3f})")
    return report


if __name__ == "__main__":
    main()
