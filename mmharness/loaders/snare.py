"""SNARE test cases from the official files (shared by the matching tasks and the MLLM variants).

Each builder returns :class:`SnareCase` records in the official dataset-construction order, with
the caption options in the official order (positive first). ``load_*`` functions find the files
under a data root (official layout) or in the bundled sample, and raise
:class:`~mmharness.task.DataNotFoundError` naming the expected paths and the official sources.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .aro import (
    VG_ATTRIBUTION_FILE,
    VG_RELATION_FILE,
    CroppedImageFile,
    VGItem,
    read_vg_attribution,
    read_vg_relation,
    vg_paths,
)
from .karpathy import KARPATHY_DATASETS, karpathy_paths, read_karpathy
from .pos_taggers import Tagger
from .snare_captions import MAX_WORDS, semantic_structure_options
from ..requests import ImageFile, MediaRef
from ..task import DataConfig, DataNotFoundError, TaskError

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "snare"
#: The bundled sample's precomputed tags (hand-written; see the sample README).
SAMPLE_POS_TAGS = {"coco": SAMPLE_ROOT / "coco" / "coco_karpathy_test.pos_tags.json",
                   "flickr30k": SAMPLE_ROOT / "flickr30k" / "flickr30k_test.pos_tags.json"}
SOURCES = ("official",)


@dataclass(frozen=True)
class SnareCase:
    """One SNARE test case: the item it came from, its image and its caption options.

    ``item`` is the index of the source entry in the annotation file (for Karpathy files: the image
    entry, with ``caption_index`` the caption within it); ``group`` is the official subgroup label
    (relation name, or ``"{a0}_{a1}"``); ``vg`` keeps the validated VG item for the MLLM prompts.
    """

    id: str
    file: str
    item: int
    image_file: str
    bbox: tuple[float, float, float, float] | None
    options: tuple[str, ...]
    gold: int = 0
    group: str | None = None
    caption_index: int | None = None
    vg: VGItem | None = field(default=None, compare=False)

    def image(self) -> MediaRef:
        """The image reference: bbox-cropped for VG items, the whole file otherwise."""
        return image_ref(self.image_file, self.bbox)

    def meta(self) -> dict:
        """Light per-sample metadata kept in :class:`~mmharness.task.Sample` (JSON-able)."""
        m = {"file": self.file, "item": self.item, "image": self.image_file,
             "bbox": list(self.bbox) if self.bbox is not None else None,
             "options": list(self.options), "group": self.group}
        if self.caption_index is not None:
            m["caption_index"] = self.caption_index
        return m


def image_ref(image_file: str, bbox) -> MediaRef:
    """:class:`~mmharness.loaders.aro.CroppedImageFile` when a bbox is given, else the whole file."""
    return CroppedImageFile(image_file, tuple(bbox)) if bbox is not None else ImageFile(image_file)


def data_root(data: DataConfig, task: str) -> Path:
    """The root holding ``prerelease_bow/``, ``coco/`` and ``flickr30k/`` (or the bundled sample)."""
    if data.source not in (None, *SOURCES):
        raise TaskError(f"task {task!r}: data source {data.source!r} is not supported; SNARE reads the "
                        f"official files ({', '.join(SOURCES)})")
    if data.sample:
        return SAMPLE_ROOT
    if data.root is None:
        raise DataNotFoundError(
            f"task {task!r} needs --data-root DIR with the official SNARE layout: DIR/prerelease_bow/"
            f"{{{VG_RELATION_FILE}, {VG_ATTRIBUTION_FILE}, images/}}, DIR/coco/{{coco_karpathy_test.json, "
            f"val2014/}}, DIR/flickr30k/{{flickr30k_test.json, flickr30k-images/}} (or --sample)")
    return Path(data.root)


def fingerprint(annotation: Path, cases: list[SnareCase], extra: dict | None = None) -> str:
    """Content hash of the annotation file, the built options (ids, images, boxes, captions) and
    ``extra`` (seed, tagger identity): anything that changes a request changes it."""
    h = hashlib.sha256(annotation.read_bytes())
    h.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for c in cases:
        h.update(json.dumps([c.id, Path(c.image_file).name, c.bbox, c.options, c.gold]).encode())
    return h.hexdigest()[:20]


# --------------------------------------------------------------------------- VG


def load_vg(data: DataConfig, task: str, filename: str) -> tuple[Path, list[VGItem]]:
    """Validated items of one VG file (``visual_genome_relation.json`` or ``..._attribution.json``)."""
    ann, images = vg_paths(data_root(data, task), filename)
    reader = read_vg_relation if filename == VG_RELATION_FILE else read_vg_attribution
    return ann, reader(ann, images)


def vg_case(ann: Path, item: VGItem, options: list[str], gold: int, group: str) -> SnareCase:
    """A case for a VG item (id = 5-digit index of the item in the file)."""
    return SnareCase(id=f"{item.index:05d}", file=ann.name, item=item.index, image_file=item.image_file,
                     bbox=item.bbox, options=tuple(options), gold=gold, group=group, vg=item)


def attribute_group(item: VGItem) -> str:
    """The official VG-Attribution subgroup label ``"{a0}_{a1}"``."""
    return f"{item.attributes[0]}_{item.attributes[1]}"


# --------------------------------------------------------------------------- semantic structure


def resolve_tagger(pos_tagger: str | None, pos_tags: str | None, dataset: str,
                   data: DataConfig) -> tuple[str, str | None]:
    """The tagger actually used: the option if given; else ``file`` with the bundled tags for the
    bundled sample and ``spacy`` (official) for real data."""
    if pos_tagger is None:
        pos_tagger = "file" if data.sample else "spacy"
    if pos_tagger == "file" and pos_tags is None and data.sample:
        pos_tags = str(SAMPLE_POS_TAGS[dataset])
    return pos_tagger, pos_tags


def load_semantic(data: DataConfig, task: str, dataset: str, make_tagger: Callable[[], Tagger], seed: int,
                  max_words: int = MAX_WORDS) -> tuple[Path, list[SnareCase], Tagger]:
    """One case per (image, caption) of a Karpathy test file, perturbations drawn in file order
    from ``numpy.random.RandomState(seed)`` (ids ``"{image index:05d}_{caption index}"``).

    ``make_tagger`` is called once the files are found and read (loading spaCy is slow); the
    tagger is returned with the cases so that its identity can be recorded.
    """
    if dataset not in KARPATHY_DATASETS:
        raise TaskError(f"unknown Karpathy dataset {dataset!r}")
    ann, base = karpathy_paths(data_root(data, task), dataset)
    entries = read_karpathy(ann, base)
    tagger = make_tagger()
    rng = np.random.RandomState(seed)
    cases = []
    for entry in entries:
        for j, caption in enumerate(entry.captions):
            opts = semantic_structure_options(caption, tagger, rng, max_words)
            cases.append(SnareCase(id=f"{entry.index:05d}_{j}", file=ann.name, item=entry.index,
                                   image_file=entry.image_file, bbox=None, options=tuple(opts),
                                   caption_index=j))
    return ann, cases, tagger


__all__ = ["SnareCase", "image_ref", "data_root", "fingerprint", "load_vg", "vg_case", "attribute_group",
           "resolve_tagger", "load_semantic", "SAMPLE_ROOT"]
