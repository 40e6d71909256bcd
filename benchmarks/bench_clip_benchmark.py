"""Zero-shot classification speed: mmharness vs CLIP_benchmark (PyPI ``clip-benchmark``), side by side.

Same open_clip model (random weights saved once to a local checkpoint and loaded by both), the same
generated image folder (cifar2png layout, which is also torchvision's ImageFolder layout), the same
batch size and number of workers, the same 18 CLIP CIFAR prompts. Prints samples/s of each, the
ratio, and checks that both predict the same classes (same accuracy).

    python -m benchmarks.bench_clip_benchmark [--model tiny|ViT-B-32] [--n 2000] [--batch-size 128] [--workers 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from .common import CIFAR10_CLASSES, TINY_CLIP, Timer, write_report


def write_png_tree(root: Path, n: int, seed: int = 0) -> Path:
    """``root/test/<class>/NNNN.png``: n random 32x32 images, balanced over the 10 classes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    per = n // 10
    for c in CIFAR10_CLASSES:
        d = root / "test" / c
        d.mkdir(parents=True, exist_ok=True)
        for k in range(1, per + 1):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{k:04d}.png")
    return root


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="'tiny' (examples/tiny_clip.json) or an open_clip architecture")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5, help="alternating runs; the best of each is kept")
    ap.add_argument("--warmup", type=int, default=1, help="untimed alternating runs first (process warm-up)")
    args = ap.parse_args(argv)

    import open_clip
    import torch
    from clip_benchmark.metrics import zeroshot_classification as cb

    from mmharness.evaluate import evaluate
    from mmharness.tasks.cifar_b import CLIP_CIFAR_TEMPLATES

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_png_tree(tmp / "data", args.n)
        if args.model == "tiny":
            open_clip.add_model_config(TINY_CLIP)
            arch, mmh_model = Path(TINY_CLIP).stem, TINY_CLIP
        else:
            arch = mmh_model = args.model
        torch.manual_seed(0)
        model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=None)
        ckpt = tmp / "weights.pt"
        torch.save(model.state_dict(), ckpt)

        # --- CLIP_benchmark: its own zero-shot classifier + classification loop (library calls)
        from torchvision.datasets import ImageFolder

        model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=str(ckpt))
        model.eval()
        tokenizer = open_clip.get_tokenizer(arch)
        ds = ImageFolder(str(data / "test"), transform=transform)
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=False,
                                             num_workers=args.workers)
        def run_clip_benchmark():
            with Timer() as t:
                classifier = cb.zero_shot_classifier(model, tokenizer, CIFAR10_CLASSES,
                                                     [t_.replace("{}", "{c}") for t_ in CLIP_CIFAR_TEMPLATES],
                                                     "cpu", amp=False)
                logits, target = cb.run_classification(model, classifier, loader, "cpu", amp=False)
            return t.seconds, float((logits.argmax(1).numpy() == target.numpy()).mean())

        from mmharness.adapters.open_clip import OpenClipAdapter

        adapter = OpenClipAdapter(model=mmh_model, pretrained=str(ckpt))  # built outside the timer, like CB's model

        mmh_threads: list[dict] = []

        def run_mmharness():
            with Timer() as t:
                res = evaluate(adapter, "cifar10_b", data_root=data, data_source="png", use_cache=False, progress=False,
                               bootstrap=0, batch_size=args.batch_size, num_workers=args.workers)
            mmh_threads.append(res.doc["tasks"]["cifar10_b"]["timing"]["cpu_threads"])
            return t.seconds, res.doc["tasks"]["cifar10_b"]["metrics"]["accuracy"]["value"]

        for _ in range(args.warmup):
            run_clip_benchmark()
            run_mmharness()
        mmh_threads.clear()
        # alternate the two and keep each one's best of `repeats` (the machine may be shared)
        cb_times, mmh_times = [], []
        for _ in range(args.repeats):
            s_cb, cb_acc = run_clip_benchmark()
            s_mmh, mmh_acc = run_mmharness()
            cb_times.append(s_cb)
            mmh_times.append(s_mmh)

    t_cb, t_mmh = min(cb_times), min(mmh_times)
    paired = sorted(c / m for c, m in zip(cb_times, mmh_times))  # per alternating pair: robust to drift
    median_paired = statistics.median(paired)
    cb_sps, mmh_sps = args.n / t_cb, args.n / t_mmh
    report = {"model": args.model, "n_images": args.n, "batch_size": args.batch_size, "workers": args.workers,
              "clip_benchmark_samples_per_s": cb_sps, "mmharness_samples_per_s": mmh_sps,
              "ratio_mmharness_over_clip_benchmark": mmh_sps / cb_sps, "target": ">= 1.0",
              "ratio_median_of_pairs": median_paired, "ratio_per_pair": paired,
              "clip_benchmark_accuracy": cb_acc, "mmharness_accuracy": mmh_acc,
              "same_accuracy": abs(cb_acc - mmh_acc) < 1e-12, "repeats": args.repeats, "warmup": args.warmup,
              "all_seconds": {"clip_benchmark": cb_times, "mmharness": mmh_times},
              "mmharness_cpu_threads": mmh_threads,
              "note": "both models are built before timing; mmharness time is the whole evaluate() call (data "
                      "discovery and fingerprint, zero-shot classifier, inference, scoring, results); CLIP_benchmark "
                      "time is its classifier + classification loop"}
    write_report(f"zeroshot_vs_clip_benchmark_{args.model}", report)
    print(f"zero-shot vs CLIP_benchmark ({args.model}, n={args.n}, bs={args.batch_size}, workers={args.workers}): "
          f"CLIP_benchmark {cb_sps:.0f}/s, mmharness {mmh_sps:.0f}/s, ratio {mmh_sps / cb_sps:.2f} "
          f"(median of pairs {median_paired:.2f}; target >= 1.0); accuracy {cb_acc:.4f} vs {mmh_acc:.4f}")
    if not report["same_accuracy"]:
        raise SystemExit("accuracy differs between CLIP_benchmark and mmharness")
    return report


if __name__ == "__main__":
    main()
