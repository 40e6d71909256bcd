"""COCO evaluation: pycocotools vs faster-coco-eval backends on the official val2014 100-image fixture
(real ground truth + the cocoapi fake results): identical 12 stats, and the speed ratio.

    python -m benchmarks.bench_coco [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import Timer, write_report

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "coco"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from mmharness.metrics.detection import evaluate_coco

    gt = json.loads((FIXTURE / "instances_val2014_100.json").read_text())
    report: dict = {"fixture": "COCO val2014 100 images, cocoapi fake results", "repeats": args.repeats}
    for iou_type, res_file in (("bbox", "instances_val2014_fakebbox100_results.json"),
                               ("segm", "instances_val2014_fakesegm100_results.json")):
        results = json.loads((FIXTURE / res_file).read_text())
        times, stats = {}, {}
        for backend in ("pycocotools", "faster-coco-eval"):
            best = float("inf")
            for _ in range(args.repeats):  # evaluation only: inputs validated once outside the timer
                with Timer() as t:
                    r = evaluate_coco(gt, results, iou_type, backend=backend, validate=False)
                best = min(best, t.seconds)
            times[backend], stats[backend] = best, r.stats
        max_diff = max(abs(stats["pycocotools"][k] - stats["faster-coco-eval"][k]) for k in stats["pycocotools"])
        report[iou_type] = {"pycocotools_s": times["pycocotools"], "faster_coco_eval_s": times["faster-coco-eval"],
                            "speedup_faster_over_pycocotools": times["pycocotools"] / times["faster-coco-eval"],
                            "max_abs_stat_difference": max_diff, "identical": max_diff <= 1e-12,
                            "stats": stats["pycocotools"]}
        print(f"COCO {iou_type}: pycocotools {times['pycocotools'] * 1000:.0f} ms, faster-coco-eval "
              f"{times['faster-coco-eval'] * 1000:.0f} ms, speed-up {report[iou_type]['speedup_faster_over_pycocotools']:.2f}x, "
              f"max stat difference {max_diff:.1e}")
    write_report("coco_backends", report)
    return report


if __name__ == "__main__":
    main()
