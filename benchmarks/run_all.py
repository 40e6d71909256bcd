"""Run every speed benchmark and print its ratio (``make bench``). Reports: benchmarks/out/*.json."""

from __future__ import annotations

from . import bench_cache, bench_overhead


def main() -> None:
    for mod in (bench_cache, bench_overhead):
        mod.main()


if __name__ == "__main__":
    main()
