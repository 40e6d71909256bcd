#!/usr/bin/env python
"""Write the bundled semantic-segmentation samples (generated scenes in the official layouts).

    python tools/make_segmentation_sample.py [--out mmharness/data/samples/segmentation]

* ``FMB/test/{Visible,Infrared,Label,color}/<name>.png``: 6 generated 80x60 road scenes (the FMB
  release layout; real FMB images are 800x600): RGB visible image, grayscale infrared (warm people and
  cars bright), uint8 index label (FMB ids 0..14, a few 255 = ignored pixels), and the label rendered
  with the FMB palette in ``color/``.
* ``MFNet/``: RTFNet layout, ``images/<name>.png`` 4-channel (RGB + thermal) 80x60, ``labels/<name>.png``
  (ids 0..8), split files ``train.txt`` ``val.txt`` ``test.txt`` ``test_day.txt`` ``test_night.txt``.
* ``VOCstyle/``: ``JPEGImages/<name>.jpg``, ``SegmentationClass/<name>.png`` (palette PNG, VOC ids with
  255 object boundaries), ``val.txt``: 5 generated 64x48 scenes with the 21 VOC classes.

Everything is deterministic and generated; nothing comes from the real datasets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.loaders.segmentation import FMB_PALETTE  # noqa: E402

W, H = 80, 60


def _scene(rng: np.random.Generator, w: int, h: int, layers: list[tuple[int, str]]) -> np.ndarray:
    """A label map from simple layered regions: bands (sky, road) and boxes (objects)."""
    lab = np.zeros((h, w), dtype=np.uint8)
    for cls, kind in layers:
        if kind == "top":
            lab[: int(h * rng.uniform(0.25, 0.4))] = cls
        elif kind == "bottom":
            lab[int(h * rng.uniform(0.6, 0.75)):] = cls
        elif kind == "strip":
            y = int(h * rng.uniform(0.5, 0.62))
            lab[y: y + max(2, h // 12)] = cls
        elif kind == "pole":
            x = int(rng.integers(2, w - 3))
            lab[int(h * 0.2): int(h * 0.75), x: x + 2] = cls
        else:  # box
            bw, bh = int(rng.integers(w // 10, w // 4)), int(rng.integers(h // 8, h // 3))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(h // 4, h - bh))
            lab[y: y + bh, x: x + bw] = cls
    return lab


def _render(rng: np.random.Generator, lab: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> np.ndarray:
    rgb = np.zeros(lab.shape + (3,), dtype=np.float64)
    for c in np.unique(lab):
        rgb[lab == c] = colours.get(int(c), (30, 30, 30))
    return np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)


def fmb(out: Path, rng: np.random.Generator) -> None:
    base = out / "FMB" / "test"
    for f in ("Visible", "Infrared", "Label", "color"):
        (base / f).mkdir(parents=True, exist_ok=True)
    colours = {0: (40, 40, 40), 1: (110, 110, 110), 2: (150, 140, 120), 3: (150, 90, 70), 5: (220, 30, 40),
               6: (50, 140, 50), 7: (120, 170, 230), 8: (200, 150, 120), 9: (30, 60, 160), 10: (160, 160, 30),
               11: (200, 120, 20), 14: (90, 90, 90)}
    heat = {8: 230, 9: 200, 10: 190, 11: 190, 1: 90, 2: 80}
    for i in range(6):
        objs = [(7, "top"), (3, "box"), (1, "bottom"), (2, "strip"), (6, "box"), (14, "pole")]
        objs += [(8, "box"), (9, "box")] if i % 2 == 0 else [(11, "box"), (5, "box"), (10, "box")]
        lab = _scene(rng, W, H, objs)
        lab[0:2, 0:3] = 255  # unlabelled corner: ignored
        name = f"{i:05d}.png"
        Image.fromarray(_render(rng, lab, colours)).save(base / "Visible" / name)
        ir = np.full(lab.shape, 60.0)
        for c, v in heat.items():
            ir[lab == c] = v
        ir = np.clip(ir + rng.normal(0, 6, ir.shape), 0, 255).astype(np.uint8)
        Image.fromarray(ir, mode="L").save(base / "Infrared" / name)
        Image.fromarray(lab, mode="L").save(base / "Label" / name)
        col = np.zeros(lab.shape + (3,), dtype=np.uint8)
        for c in np.unique(lab):
            if c != 255:
                col[lab == c] = FMB_PALETTE[int(c)]
        Image.fromarray(col).save(base / "color" / name)


def mfnet(out: Path, rng: np.random.Generator) -> None:
    base = out / "MFNet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "labels").mkdir(parents=True, exist_ok=True)
    colours = {0: (60, 60, 60), 1: (30, 60, 160), 2: (200, 150, 120), 3: (40, 160, 60), 4: (170, 170, 170),
               5: (140, 100, 60), 6: (200, 200, 200), 7: (240, 120, 20), 8: (120, 90, 50)}
    heat = {1: 200, 2: 235, 3: 150, 7: 120}
    splits = {"train": ["00001D"], "val": ["00002N"], "test_day": ["00003D", "00005D"],
              "test_night": ["00004N", "00006N"]}
    splits["test"] = sorted(splits["test_day"] + splits["test_night"])
    for name in sorted({n for v in splits.values() for n in v}):
        night = name.endswith("N")
        lab = _scene(rng, W, H, [(4, "bottom"), (6, "strip"), (1, "box"), (2, "box"), (3, "box"), (7, "box"),
                                 (5, "box"), (8, "box")])
        rgb = _render(rng, lab, colours)
        if night:
            rgb = (rgb * 0.35).astype(np.uint8)
        th = np.full(lab.shape, 50.0)
        for c, v in heat.items():
            th[lab == c] = v
        th = np.clip(th + rng.normal(0, 5, th.shape), 0, 255).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, th]), mode="RGBA").save(base / "images" / f"{name}.png")
        Image.fromarray(lab, mode="L").save(base / "labels" / f"{name}.png")
    for split, names in splits.items():
        (base / f"{split}.txt").write_text("".join(n + "\n" for n in names))


def voc(out: Path, rng: np.random.Generator) -> None:
    base = out / "VOCstyle"
    (base / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (base / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    w, h = 64, 48
    palette = []
    for k in range(256):  # the standard VOC colour map
        r = g = b = 0
        c = k
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    colours = {k: tuple(palette[3 * k: 3 * k + 3]) for k in range(21)}
    names = []
    for i in range(5):
        lab = np.zeros((h, w), dtype=np.uint8)
        for _ in range(2):
            cls = int(rng.integers(1, 21))
            bw, bh = int(rng.integers(10, 28)), int(rng.integers(8, 22))
            x, y = int(rng.integers(1, w - bw - 1)), int(rng.integers(1, h - bh - 1))
            lab[y: y + bh, x: x + bw] = cls
            lab[y, x: x + bw] = 255  # boundary pixels (ignored), as in VOC
            lab[y + bh - 1, x: x + bw] = 255
        name = f"2007_{i:06d}"
        names.append(name)
        img = _render(rng, np.where(lab == 255, 0, lab), {**colours, 0: (120, 110, 100)})
        Image.fromarray(img).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
        p = Image.fromarray(lab, mode="P")
        p.putpalette(palette)
        p.save(base / "SegmentationClass" / f"{name}.png")
    (base / "val.txt").write_text("".join(n + "\n" for n in names))


def main(out: Path) -> None:
    rng = np.random.default_rng(800600)
    fmb(out, rng)
    mfnet(out, rng)
    voc(out, rng)
    print(f"wrote FMB, MFNet and VOC-style samples to {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "segmentation")
    main(ap.parse_args().out)
