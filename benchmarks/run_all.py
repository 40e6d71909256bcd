"""Run every speed benchmark and print its ratio (``make bench``). Reports: benchmarks/out/*.json.

Each comparison runs twice: with the tiny config (data loading dominates; fast) and with a real
architecture, ViT-B-32 with random weights (model compute dominates, as in real use; a few minutes
on 2 CPU cores).
"""

from __future__ import annotations

import subprocess
import sys

from . import bench_clip_benchmark, bench_coco, bench_overhead, bench_segmentation, bench_serving

VIT = ["--model", "ViT-B-32", "--batch-size", "64", "--repeats", "3"]


def main() -> None:
    bench_clip_benchmark.main([])
    bench_clip_benchmark.main([*VIT, "--n", "500", "--warmup", "0"])
    bench_overhead.main([])
    bench_overhead.main([*VIT, "--n", "513"])
    for args in ([], ["--model", "ViT-B-32", "--n", "256", "--batch-size", "64"]):
        fresh_process("bench_cache", args)  # its first run must be the process's first, like mmh run's
    bench_coco.main([])
    bench_segmentation.main([])
    bench_serving.main(["--small"])


def fresh_process(module: str, args: list[str]) -> None:
    """Run ``benchmarks.<module>`` in a new Python process (it prints its own line)."""
    subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], check=True)


if __name__ == "__main__":
    main()
