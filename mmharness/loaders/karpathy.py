"""Readers of the BLIP-format Karpathy test splits of COCO and Flickr30k (used by SNARE).

Official files (Salesforce BLIP bucket, the downloads of SNARE's loaders):

* COCO: ``<root>/coco/coco_karpathy_test.json`` and the images ``<root>/coco/val2014/``
  (``http://images.cocodataset.org/zips/val2014.zip``); 5,000 images, 25,010 captions.
* Flickr30k: ``<root>/flickr30k/flickr30k_test.json`` and ``<root>/flickr30k/flickr30k-images/``
  (images by registration at https://forms.illinois.edu/sec/229675); 1,000 images, 5,000 captions.

Each file is a list of ``{"image": "<path relative to the dataset folder>", "caption": [str, ...]}``
(other keys are ignored). Every (image, caption) pair is one SNARE test case, in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..task import DataNotFoundError, TaskError
from .aro import read_json_list, safe_image_path

BLIP_BUCKET = "https://storage.googleapis.com/sfr-vision-language-research/datasets"


@dataclass(frozen=True)
class KarpathyDataset:
    """Where one Karpathy-format dataset lives and how to obtain it."""

    name: str  # "coco" or "flickr30k"
    folder: str
    annotation: str
    image_folder: str
    image_source: str


KARPATHY_DATASETS: dict[str, KarpathyDataset] = {
    "coco": KarpathyDataset("coco", "coco", "coco_karpathy_test.json", "val2014",
                            "http://images.cocodataset.org/zips/val2014.zip"),
    "flickr30k": KarpathyDataset("flickr30k", "flickr30k", "flickr30k_test.json", "flickr30k-images",
                                 "https://forms.illinois.edu/sec/229675 (registration required)"),
}


@dataclass(frozen=True)
class KarpathyImage:
    """One image entry: its index in the file, relative path, absolute path and captions."""

    index: int
    image: str
    image_file: str
    captions: tuple[str, ...]


def karpathy_paths(root: Path, dataset: str) -> tuple[Path, Path]:
    """``(annotation file, dataset folder)`` under ``root``; :class:`DataNotFoundError` names the
    expected paths and the official sources when they are missing."""
    d = KARPATHY_DATASETS[dataset]
    base = Path(root) / d.folder
    ann, images = base / d.annotation, base / d.image_folder
    missing = [p for p in (ann, images) if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"SNARE {dataset} needs {', '.join(map(str, missing))}. Get {d.annotation} from "
            f"{BLIP_BUCKET}/{d.annotation} and the images from {d.image_source} into {images}.")
    return ann, base


def read_karpathy(path: str | Path, image_root: str | Path) -> list[KarpathyImage]:
    """Read and validate a BLIP-format Karpathy file; image paths are joined with ``image_root``.

    Raises :class:`~mmharness.task.TaskError` naming the file and entry for a non-list file, an
    entry without ``image`` or ``caption``, a ``caption`` that is not a non-empty list of strings
    (the BLIP *train* files have one string per entry: they are not test files), or an image path
    that leaves ``image_root``.
    """
    path = Path(path)
    data = read_json_list(path, "{image, caption} entries")
    out = []
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict):
            raise TaskError(f"{where}: expected a JSON object, got {type(entry).__name__}")
        for key in ("image", "caption"):
            if key not in entry:
                raise TaskError(f"{where}: missing field {key!r}")
        caps = entry["caption"]
        if isinstance(caps, str):
            raise TaskError(f"{where}: 'caption' is a single string; a Karpathy *test* file holds a list "
                            f"of captions per image (is this the train split?)")
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise TaskError(f"{where}: 'caption' must be a non-empty list of strings, got {caps!r}")
        out.append(KarpathyImage(i, entry["image"], safe_image_path(image_root, entry["image"], where),
                                 tuple(caps)))
    return out
