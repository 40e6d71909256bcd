#!/usr/bin/env python
"""Write the bundled CIFAR-B demo samples (generated images, real annotation keys).

    python tools/make_cifar_b_sample.py [--out mmharness/data/samples]

Writes ``cifar10_b/test/<class>/<NNNN>.png`` (ranks 0001..0005 of every class) and
``cifar100_b/test/<class>/<NNNN>.png`` (ranks 0001..0002) in the cifar2png layout, plus a README in
each folder. Images are 32x32 RGB, fully deterministic: the background colour is keyed to the real
CIFAR-B subgroup id of that (class, image name) in the bundled annotations, and a class-dependent
shape (5 shapes x a 20-colour palette, distinct for all 100 classes) sits in the middle. They are
not CIFAR images.
"""

from __future__ import annotations

import argparse
import colorsys
import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.loaders.cifar import CLASSES, load_cifar_b_annotations  # noqa: E402

PER_CLASS = {"cifar10": 5, "cifar100": 2}

#: Background colour per subgroup id (after the tentative, unverified colours of spec section 2).
SUBGROUP_COLOURS = {
    0: (70, 150, 60),    # green
    1: (128, 128, 128),  # grey
    2: (60, 110, 210),   # blue
    3: (240, 240, 240),  # white
    4: (20, 20, 20),     # black
    5: (135, 90, 50),    # brown
    6: (210, 180, 60),   # unclear -> yellow here
    7: (40, 85, 55),     # unclear -> dark green here
}


def _shape_colour(k: int) -> tuple[int, int, int]:
    h = (k * 0.61803398875) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def make_image(class_idx: int, subgroup: int) -> Image.Image:
    """The 32x32 RGB image for a class index and subgroup id (deterministic)."""
    im = Image.new("RGB", (32, 32), SUBGROUP_COLOURS[subgroup])
    d = ImageDraw.Draw(im)
    fill = _shape_colour(class_idx // 5)
    outline = (0, 0, 0) if subgroup != 4 else (255, 255, 255)
    shape = class_idx % 5
    box = (8, 8, 23, 23)
    if shape == 0:
        d.rectangle(box, fill=fill, outline=outline)
    elif shape == 1:
        d.ellipse(box, fill=fill, outline=outline)
    elif shape == 2:
        d.polygon([(16, 7), (24, 23), (8, 23)], fill=fill, outline=outline)
    elif shape == 3:
        d.rectangle((13, 7, 18, 24), fill=fill, outline=outline)
        d.rectangle((7, 13, 24, 18), fill=fill, outline=outline)
    else:
        d.polygon([(16, 6), (25, 16), (16, 25), (7, 16)], fill=fill, outline=outline)
    return im


def write_sample(out_root: Path, dataset: str) -> int:
    """Write one dataset's sample tree and README under ``out_root``; returns the image count."""
    ann = load_cifar_b_annotations(dataset)
    folder = out_root / f"{dataset}_b"
    count = 0
    for ci, cname in enumerate(CLASSES[dataset]):
        cdir = folder / "test" / cname
        cdir.mkdir(parents=True, exist_ok=True)
        for rank in range(1, PER_CLASS[dataset] + 1):
            name = "%04d.png" % rank
            g = int(ann.subgroups[cname][name])
            make_image(ci, g).save(cdir / name, format="PNG")
            count += 1
    pretty = "CIFAR-10-B" if dataset == "cifar10" else "CIFAR-100-B"
    (folder / "README.md").write_text(
        f"# {pretty} bundled sample\n\n"
        f"{count} **generated** 32x32 PNG images in the cifar2png layout `test/<class>/<NNNN>.png`, "
        f"{PER_CLASS[dataset]} per class (names `0001.png`..`{PER_CLASS[dataset]:04d}.png`). They are not "
        "CIFAR images: each has a background colour keyed to the real CIFAR-B subgroup id of that "
        "(class, image name) in `mmharness/data/annotations/`, and a class-dependent shape in the middle.\n\n"
        "Written by `tools/make_cifar_b_sample.py`; used by `mmh run --sample` as a demo and in tests. "
        "Results on it are flagged `\"data\": \"sample\"` and mean nothing about a model.\n",
        encoding="utf-8",
    )
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: write both samples; returns the exit status."""
    ap = argparse.ArgumentParser(description="Write the bundled CIFAR-B demo samples.")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples")
    args = ap.parse_args(argv)
    for dataset in ("cifar10", "cifar100"):
        n = write_sample(args.out, dataset)
        print(f"wrote {n} images under {args.out / (dataset + '_b')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
