#!/usr/bin/env python
"""Write the bundled COCO-format detection sample (generated images and annotations, real categories).

    python tools/make_coco_sample.py [--out mmharness/data/samples/coco]

Writes ``annotations/instances_val2017.json`` and ``val2017/<12-digit id>.jpg`` in the official
COCO val2017 layout: 8 generated 320x240 JPEG images, each with 1-5 filled polygons (rectangles,
triangles, octagon "ellipses") of small, medium and large size, plus one crowd region given as
uncompressed RLE. Category ids, names and supercategories are the real 80 COCO categories (taken
from ``tests/fixtures/coco/instances_val2014_100.json``); ``area`` is the mask area and ``bbox`` the
mask's tight box, computed with pycocotools as in the official files. Deterministic.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
CATEGORY_SOURCE = REPO_ROOT / "tests" / "fixtures" / "coco" / "instances_val2014_100.json"
W, H = 320, 240
N_IMAGES = 8
# (category name, colour) pairs used for the shapes
USED = [("person", (220, 60, 60)), ("car", (60, 60, 220)), ("dog", (200, 160, 40)), ("bicycle", (40, 180, 80)),
        ("stop sign", (230, 30, 30)), ("traffic light", (240, 220, 30)), ("cup", (150, 80, 200))]


def polygon(kind: str, cx: float, cy: float, rx: float, ry: float) -> list[float]:
    """Flat [x1, y1, ...] polygon of a shape centred at (cx, cy) with radii (rx, ry)."""
    if kind == "rect":
        pts = [(cx - rx, cy - ry), (cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    elif kind == "tri":
        pts = [(cx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    else:
        pts = [(cx + rx * math.cos(2 * math.pi * k / 8), cy + ry * math.sin(2 * math.pi * k / 8)) for k in range(8)]
    return [round(float(v), 2) for p in pts for v in p]


def main(out: Path) -> None:
    from pycocotools import mask as mask_utils

    src = json.loads(CATEGORY_SOURCE.read_text())
    categories = [{"supercategory": c["supercategory"], "id": c["id"], "name": c["name"]} for c in src["categories"]]
    by_name = {c["name"]: c["id"] for c in categories}
    rng = np.random.default_rng(2017)
    img_dir = out / "val2017"
    img_dir.mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(N_IMAGES):
        image_id = 1000 + 37 * i
        file_name = f"{image_id:012d}.jpg"
        base = rng.integers(90, 170, size=3)
        arr = np.clip(base + rng.normal(0, 12, size=(H, W, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr)
        draw = ImageDraw.Draw(im)
        n_obj = 1 + i % 5
        for j in range(n_obj):
            name, colour = USED[(i + 2 * j) % len(USED)]
            size_class = (i + j) % 3  # 0 small, 1 medium, 2 large
            r = {0: rng.uniform(6, 12), 1: rng.uniform(20, 34), 2: rng.uniform(55, 75)}[size_class]
            rx, ry = r * rng.uniform(0.8, 1.2), r * rng.uniform(0.8, 1.2)
            cx, cy = rng.uniform(rx + 2, W - rx - 2), rng.uniform(ry + 2, H - ry - 2)
            kind = ("rect", "tri", "oct")[(i + j) % 3]
            poly = polygon(kind, cx, cy, rx, ry)
            draw.polygon(list(zip(poly[0::2], poly[1::2])), fill=colour)
            rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
            annotations.append({"segmentation": [poly], "area": float(mask_utils.area(rle)), "iscrowd": 0,
                                "image_id": image_id, "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                                "category_id": by_name[name], "id": ann_id})
            ann_id += 1
        if i == 3:  # one crowd region (people far away), uncompressed RLE as in the official files
            crowd = np.zeros((H, W), dtype=np.uint8)
            crowd[170:225, 200:300] = 1
            draw.rectangle([200, 170, 299, 224], fill=(200, 90, 90))
            enc = mask_utils.encode(np.asfortranarray(crowd))
            fortran = crowd.flatten(order="F")
            counts, cur, run = [], 0, 0
            for v in fortran:
                if v != cur:
                    counts.append(run)
                    cur, run = v, 0
                run += 1
            counts.append(run)
            annotations.append({"segmentation": {"counts": [int(c) for c in counts], "size": [H, W]},
                                "area": float(mask_utils.area(enc)), "iscrowd": 1, "image_id": image_id,
                                "bbox": [float(v) for v in mask_utils.toBbox(enc)], "category_id": by_name["person"],
                                "id": 900000000000 + ann_id})
            ann_id += 1
        im.save(img_dir / file_name, quality=92)
        images.append({"license": 0, "file_name": file_name, "coco_url": "", "height": H, "width": W,
                       "date_captured": "2026-01-01 00:00:00", "flickr_url": "", "id": image_id})
    doc = {"info": {"description": "mmharness bundled sample: GENERATED images and annotations in the COCO "
                                   "val2017 layout (real COCO category list)", "version": "1.0", "year": 2026},
           "licenses": [{"id": 0, "name": "generated; free to use", "url": ""}],
           "images": images, "annotations": annotations, "categories": categories}
    (out / "annotations" / "instances_val2017.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {len(images)} images and {len(annotations)} annotations to {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "coco")
    main(ap.parse_args().out)
