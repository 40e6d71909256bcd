"""SNARE test cases from the official files (shared by the matching tasks and the MLLM variants).

Each builder returns :class:`SnareCase` records in the official dataset-construction order, with
the caption options in the official order (positive first). ``load_*`` functions find the files
under a data root (official layout) or in the bundled sample, and raise
:class:`~mmharness.task.DataNotFoundError` naming the expected paths and the official sources.

Data sources (``--data-source``): ``official`` (default) reads the ARO json and BLIP files with
their image folders; ``hf`` reads the ARO VG files from their Hugging Face mirrors
(:mod:`mmharness.loaders.aro_hf`) and, for the Karpathy splits, the cases from the BLIP file with
the images from a mirror (:mod:`mmharness.loaders.karpathy_hf`). Either way the loaders return a
:class:`CaseSource` saying where the cases came from (recorded in the results) and, for mirror
rows, the image source that :func:`case_image` resolves a sample's image with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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
from .aro_hf import MirrorOptions, load_vg_mirror
from .karpathy import KARPATHY_DATASETS, karpathy_paths, read_karpathy
from .pos_taggers import Tagger
from .snare_captions import MAX_WORDS, semantic_structure_options
from ..requests import ImageFile, MediaRef
from ..task import DataConfig, DataNotFoundError, TaskError

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "snare"
#: The bundled sample's precomputed tags (hand-written; see the sample README).
SAMPLE_POS_TAGS = {"coco": SAMPLE_ROOT / "coco" / "coco_karpathy_test.pos_tags.json",
                   "flickr30k": SAMPLE_ROOT / "flickr30k" / "flickr30k_test.pos_tags.json"}
SOURCES = ("official", "hf")


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
    image_row: int | None = None  # row of a Hugging Face mirror holding the image (None: a file)

    def meta(self) -> dict:
        """Light per-sample metadata kept in :class:`~mmharness.task.Sample` (JSON-able); ``row``
        is present when the image is a mirror row (see :func:`case_image`)."""
        m = {"file": self.file, "item": self.item, "image": self.image_file,
             "bbox": list(self.bbox) if self.bbox is not None else None,
             "options": list(self.options), "group": self.group}
        if self.caption_index is not None:
            m["caption_index"] = self.caption_index
        if self.image_row is not None:
            m["row"] = self.image_row
        return m


@dataclass(frozen=True)
class CaseSource:
    """Where a task's cases came from.

    ``name``: the annotation file name or the mirror id (in sample metadata and messages);
    ``location``: what :class:`~mmharness.task.TaskData` records as its source; ``content``: a
    content identity for the fingerprint (hash of the annotation file, or the mirror's parquet
    fingerprint); ``info``: provenance recorded in the task config (data source, mirror, crop
    rule, row order); ``images``: the image source of mirror rows (``None``: image files).
    """

    name: str
    location: str
    content: str
    info: dict = field(default_factory=dict)
    images: Any = None


def case_image(meta: dict, images: Any = None) -> MediaRef:
    """The image reference of a sample from its metadata: a mirror row (``meta["row"]``, read
    from ``images``, the :class:`CaseSource` image source) or an image file; cropped to
    ``meta["bbox"]`` when there is one."""
    row = meta.get("row")
    if row is None:
        return image_ref(meta["image"], meta["bbox"])
    if images is None:
        raise TaskError(f"sample image {meta.get('image')!r} is a Hugging Face mirror row: load() the task first")
    return images.ref(row, meta.get("bbox"))


def image_ref(image_file: str, bbox) -> MediaRef:
    """:class:`~mmharness.loaders.aro.CroppedImageFile` when a bbox is given, else the whole file."""
    return CroppedImageFile(image_file, tuple(bbox)) if bbox is not None else ImageFile(image_file)


def source_kind(data: DataConfig, task: str) -> str:
    """``official`` or ``hf`` (``--data-source``; default official). The bundled sample is in the
    official format only."""
    if data.source not in (None, *SOURCES):
        raise TaskError(f"task {task!r}: data source {data.source!r} is not supported; SNARE reads "
                        f"{' or '.join(SOURCES)} (official: the ARO json and BLIP files; hf: the Hugging Face "
                        f"mirrors, see mmharness.loaders.aro_hf)")
    kind = data.source or "official"
    if kind == "hf" and data.sample:
        raise TaskError(f"task {task!r}: the bundled sample is in the official format; drop --data-source hf "
                        f"(or use --data-root with a mirror instead of --sample)")
    return kind


def data_root(data: DataConfig, task: str) -> Path:
    """The root holding ``prerelease_bow/``, ``coco/`` and ``flickr30k/`` (or the bundled sample)."""
    source_kind(data, task)
    if data.sample:
        return SAMPLE_ROOT
    if data.root is None:
        raise DataNotFoundError(
            f"task {task!r} needs --data-root DIR with the official SNARE layout: DIR/prerelease_bow/"
            f"{{{VG_RELATION_FILE}, {VG_ATTRIBUTION_FILE}, images/}}, DIR/coco/{{coco_karpathy_test.json, "
            f"val2014/}}, DIR/flickr30k/{{flickr30k_test.json, flickr30k-images/}} (or --sample)")
    return Path(data.root)


def file_source(ann: Path, data: DataConfig) -> CaseSource:
    """The :class:`CaseSource` of an official annotation file."""
    return CaseSource(ann.name, "sample" if data.sample else f"official:{ann}",
                      hashlib.sha256(ann.read_bytes()).hexdigest(),
                      {"data_source": "sample" if data.sample else "official", "annotation": str(ann)})


def fingerprint(source: CaseSource, cases: list[SnareCase], extra: dict | None = None) -> str:
    """Content hash of the source (annotation file or mirror), the built options (ids, images,
    boxes, captions) and ``extra`` (seed, tagger identity): anything that changes a request
    changes it."""
    h = hashlib.sha256(source.content.encode())
    h.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for c in cases:
        h.update(json.dumps([c.id, Path(c.image_file).name, c.bbox, c.options, c.gold]).encode())
    return h.hexdigest()[:20]


# --------------------------------------------------------------------------- VG


def load_vg(data: DataConfig, task: str, filename: str,
            hf: MirrorOptions | None = None) -> tuple[CaseSource, list[VGItem]]:
    """Validated items of one VG file (``visual_genome_relation.json`` or ``..._attribution.json``),
    from the official json (default) or, with ``--data-source hf``, its Hugging Face mirror read
    with ``hf`` (:class:`~mmharness.loaders.aro_hf.MirrorOptions`: mirror, crop rule)."""
    if source_kind(data, task) == "hf":
        m = load_vg_mirror(Path(data.root) if data.root is not None else None, filename, hf or MirrorOptions())
        return CaseSource(m.name, f"hf:{m.location}", m.fingerprint, m.info, m.images), m.items
    ann, images = vg_paths(data_root(data, task), filename)
    reader = read_vg_relation if filename == VG_RELATION_FILE else read_vg_attribution
    return file_source(ann, data), reader(ann, images)


def vg_case(source: CaseSource, item: VGItem, options: list[str], gold: int, group: str) -> SnareCase:
    """A case for a VG item (id = 5-digit index of the item in the file, or row of the mirror)."""
    return SnareCase(id=f"{item.index:05d}", file=source.name, item=item.index, image_file=item.image_file,
                     bbox=item.bbox, options=tuple(options), gold=gold, group=group, vg=item,
                     image_row=item.image_row)


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
                  max_words: int = MAX_WORDS,
                  hf_images: str | None = None) -> tuple[CaseSource, list[SnareCase], Tagger]:
    """One case per (image, caption) of a Karpathy test file, perturbations drawn in file order
    from ``numpy.random.RandomState(seed)`` (ids ``"{image index:05d}_{caption index}"``).

    With ``--data-source hf`` the cases still come from the BLIP file and only the images from
    the mirror ``hf_images`` (default per dataset; see :mod:`mmharness.loaders.karpathy_hf`).
    ``make_tagger`` is called once the files are found and read (loading spaCy is slow); the
    tagger is returned with the cases so that its identity can be recorded.
    """
    if dataset not in KARPATHY_DATASETS:
        raise TaskError(f"unknown Karpathy dataset {dataset!r}")
    rows: list[int | None]
    if source_kind(data, task) == "hf":
        from .karpathy_hf import blip_file, match_images, refuse_unsupported

        root = Path(data.root) if data.root is not None else None
        refuse_unsupported(dataset, hf_images)
        ann = blip_file(root, dataset, task)
        entries = read_karpathy(ann, ann.parent)
        match = match_images(entries, root, dataset, hf_images, ann)
        source = CaseSource(ann.name, f"hf:{match.location}",
                            hashlib.sha256(ann.read_bytes()).hexdigest() + ":" + match.fingerprint,
                            match.info, match.images)
        rows = list(match.rows)
    else:
        ann, base = karpathy_paths(data_root(data, task), dataset)
        entries = read_karpathy(ann, base)
        source, rows = file_source(ann, data), [None] * len(entries)
    tagger = make_tagger()
    rng = np.random.RandomState(seed)
    cases = []
    for entry, row in zip(entries, rows):
        image = entry.image_file if row is None else f"{source.info.get('hf_images')} row {row} ({entry.image})"
        for j, caption in enumerate(entry.captions):
            opts = semantic_structure_options(caption, tagger, rng, max_words)
            cases.append(SnareCase(id=f"{entry.index:05d}_{j}", file=ann.name, item=entry.index,
                                   image_file=image, bbox=None, options=tuple(opts),
                                   caption_index=j, image_row=row))
    return source, cases, tagger


__all__ = ["SnareCase", "CaseSource", "image_ref", "case_image", "source_kind", "data_root", "file_source",
           "fingerprint", "load_vg", "vg_case", "attribute_group", "resolve_tagger", "load_semantic", "SAMPLE_ROOT"]
