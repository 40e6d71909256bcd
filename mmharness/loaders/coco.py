"""COCO-format detection datasets: the official annotation JSON plus an image folder.

Official layout (``docs/protocols/detection.md`` section 2): ``<root>/annotations/instances_<split>.json``
and ``<root>/<split>/<file_name>`` (e.g. ``val2017/000000000139.jpg``); any other COCO-format
dataset is an annotation JSON and an image folder. The ground truth is validated on load (required
fields, unique ids, known image and category ids) and indexed per image, so that a request can carry
its image's gold boxes, labels and masks for the ``oracle`` baseline.

Label space: a dataset's categories, **sorted by id**, are the label set the model predicts over;
label index k <-> ``category_ids[k]``. Models with another label space map into it by class name
(see the torchvision detector adapter).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.detection import CocoFormatError, ann_to_rle, load_json, validate_ground_truth
from ..task import DataNotFoundError
from .aro import safe_image_path

COCO_SOURCE = "https://cocodataset.org/#download (annotations_trainval2017.zip and val2017.zip)"
DEFAULT_SPLIT = "val2017"


def find_coco(root: Path | None, split: str = DEFAULT_SPLIT) -> tuple[Path, Path]:
    """``(annotation JSON, image folder)`` of ``split`` under ``root`` (or ``root/coco``).

    Raises :class:`DataNotFoundError` naming the expected paths and the official source.
    """
    if root is None:
        raise DataNotFoundError(
            f"COCO {split} needs --data-root pointing at a folder with annotations/instances_{split}.json and "
            f"{split}/ (official source: {COCO_SOURCE}); or use the task coco_format with "
            "annotations=PATH,images=DIR, or --sample for the bundled sample")
    tried = []
    for base in (Path(root), Path(root) / "coco"):
        ann = base / "annotations" / f"instances_{split}.json"
        img = base / split
        tried.append(str(ann))
        if ann.is_file():
            if not img.is_dir():
                raise DataNotFoundError(f"found {ann} but not the image folder {img} (official source: {COCO_SOURCE})")
            return ann, img
    raise DataNotFoundError(f"COCO {split} annotations not found; looked for {' and '.join(tried)} "
                            f"(official source: {COCO_SOURCE})")


@dataclass
class CocoDataset:
    """A validated COCO ground truth with its image folder.

    ``gt`` is the full JSON dict (what COCOeval needs); ``category_ids`` / ``category_names`` are
    the label space in sorted-id order; ``images`` keeps the file's image order.
    """

    annotation_path: Path
    image_dir: Path
    gt: dict
    category_ids: list[int]
    category_names: list[str]
    images: list[dict]
    anns_by_image: dict[int, list[dict]] = field(repr=False, default_factory=dict)

    @property
    def has_masks(self) -> bool:
        """Whether every non-crowd annotation has a ``segmentation`` (segm evaluation possible)."""
        return all("segmentation" in a for a in self.gt["annotations"])

    def label_index(self) -> dict[int, int]:
        """Category id -> label index."""
        return {c: k for k, c in enumerate(self.category_ids)}

    def image_path(self, image: dict) -> Path:
        """Path of one image record's file."""
        return self.image_dir / image["file_name"]

    def reference(self, image_id: int, with_masks: bool) -> dict:
        """Gold detections of one image for the oracle: non-crowd ``boxes`` (N, 4) xyxy float32,
        ``labels`` (N,) label indices, and (``with_masks``) ``masks`` as compressed RLE dicts."""
        index = self.label_index()
        anns = [a for a in self.anns_by_image.get(image_id, []) if not a["iscrowd"]]
        boxes = np.asarray([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                            for a in anns], dtype=np.float32).reshape(-1, 4)
        labels = np.asarray([index[a["category_id"]] for a in anns], dtype=np.int64)
        ref: dict[str, Any] = {"boxes": boxes, "labels": labels}
        if with_masks:
            im = self._image(image_id)
            ref["masks"] = [ann_to_rle(a["segmentation"], im["height"], im["width"]) for a in anns]
        return ref

    def _image(self, image_id: int) -> dict:
        if not hasattr(self, "_by_id"):
            self._by_id = {im["id"]: im for im in self.images}
        return self._by_id[image_id]

    def fingerprint(self) -> str:
        """sha256 of the annotation file and of the image folder's file names and sizes."""
        h = hashlib.sha256(self.annotation_path.read_bytes())
        for im in self.images:
            p = self.image_path(im)
            try:
                size = os.stat(p).st_size
            except OSError:
                size = -1
            h.update(f"{im['file_name']}:{size};".encode())
        return h.hexdigest()[:20]


def load_coco_dataset(annotation_path: str | Path, image_dir: str | Path, iou_type: str = "bbox") -> CocoDataset:
    """Read and validate a COCO ground-truth file; index annotations per image.

    Raises :class:`DataNotFoundError` for missing paths and :class:`CocoFormatError` (naming the file,
    record and field) for malformed ground truth, including images without ``file_name``.
    """
    ann = Path(annotation_path)
    img_dir = Path(image_dir)
    if not ann.is_file():
        raise DataNotFoundError(f"COCO annotation file not found: {ann}")
    if not img_dir.is_dir():
        raise DataNotFoundError(f"COCO image folder not found: {img_dir}")
    gt = load_json(ann, "COCO annotation")
    validate_ground_truth(gt, str(ann), iou_type)
    for i, im in enumerate(gt["images"]):
        if not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise CocoFormatError(f"{ann}: images[{i}] (id {im['id']}): missing 'file_name' (needed to find the image)")
        safe_image_path(img_dir, im["file_name"], f"{ann}: images[{i}] (id {im['id']})")  # stays in the folder
        if not (isinstance(im.get("height"), int) and isinstance(im.get("width"), int)):
            raise CocoFormatError(f"{ann}: images[{i}] (id {im['id']}): missing integer 'height'/'width'")
    if not gt["categories"]:
        raise CocoFormatError(f"{ann}: 'categories' is empty; a detection dataset needs at least one category")
    cats = sorted(gt["categories"], key=lambda c: c["id"])
    by_image: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(
            {k: a[k] for k in ("bbox", "category_id", "iscrowd", "segmentation") if k in a})
    return CocoDataset(ann, img_dir, gt, [c["id"] for c in cats], [c["name"] for c in cats],
                       list(gt["images"]), by_image)
