"""Run every speed benchmark and print its ratio (``make bench``). Reports: benchmarks/out/*.json."""

from __future__ import annotations

from . import bench_cache, bench_clip_benchmark, bench_coco, bench_overhead, bench_segmentation


def main() -> None:
    bench_clip_benchmark.main([])
    bench_overhead.main([])
    bench_cache.main()
    bench_coco.main([])
    bench_segmentation.main([])


if __name__ == "__main__":
    main()
