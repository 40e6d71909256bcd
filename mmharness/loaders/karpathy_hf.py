"""Images of the Karpathy COCO / Flickr30k test splits from Hugging Face mirrors (``--data-source hf``).

The semantic-structure perturbations are drawn from one seeded generator in case order, so the
cases must come in the order of the BLIP test files, with their exact captions. No mirror could be
shown to reproduce that order and those captions on its own, so with ``--data-source hf`` the
cases still come from the official BLIP file (``<root>/coco/coco_karpathy_test.json`` or
``<root>/flickr30k/flickr30k_test.json``: a few MB from the BLIP bucket, no registration) and only
the **images** come from a mirror. Each BLIP entry is matched to mirror rows by image file name
(mirrors with a file-name column) or by its exact caption list (mirrors with one row per image
and its captions); when the mirror carries captions they must equal the entry's captions
(whitespace-normalised), so a wrong match stops the run naming the entry. The order of the
mirror's rows does not matter. Mirrors checked:

============================================== ============================================================
mirror                                          carries / lacks
============================================== ============================================================
``royokong/flickr30k_test`` (split ``test``)    ``image``, ``text`` (a list of captions), 1,000 rows, no file
                                                name: matched by caption list, so usable exactly when its
                                                captions are the BLIP file's (checked at load; a mismatch
                                                names the entry). **Supported** (default for Flickr30k).
``bitmind/MS-COCO`` (split ``test``)            ``image``, ``filename``, ``sentences`` {raw, tokens, ...}:
                                                one row per caption (25,010 test rows, as many as the BLIP
                                                file has captions): matched by file name, captions checked.
                                                **Supported** (default for COCO).
``yerevann/coco-karpathy``                      Karpathy's captions and file names without an image column
                                                (images only as COCO URLs). **Not supported.**
``nlphuji/flickr_1k_test_image_text_retrieval`` a loading script over a CSV and a zip of images, gated by an
``nlphuji/mscoco_2014_5k_test_image_text_retrieval`` auth token; ``datasets`` >= 4 no longer runs loading scripts,
                                                there are no parquet files, and the hub's scanner lists
                                                pickle imports in the image zip (the harness does not
                                                unpickle). **Not supported.**
============================================== ============================================================

The mirror's image bytes are used as stored; they equal the official image files only if the
mirror kept the original JPEGs (not checkable offline). Task options ``hf_coco_images`` and
``hf_flickr30k_images`` name a mirror (hub id, local parquet folder, parquet file or
``save_to_disk`` folder); a hub id is looked for under ``--data-root`` first, as for the VG mirrors.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from pathlib import Path

from ..task import DataNotFoundError, TaskError
from .aro_hf import MirrorImages, find_mirror, local_candidates, source_columns
from .hf_rows import RowTable
from .karpathy import BLIP_BUCKET, KARPATHY_DATASETS, KarpathyImage

IMAGE_COLUMN = "image"
FILENAME_COLUMNS = ("filename", "file_name")
CAPTION_COLUMNS = ("caption", "captions", "text", "sentences", "raw")


@dataclass(frozen=True)
class KarpathyMirror:
    """A known image mirror of a Karpathy test split; ``unsupported`` gives the reason it is refused."""

    hub_id: str
    dataset: str
    split: str = "test"
    unsupported: str = ""


KARPATHY_MIRRORS: dict[str, KarpathyMirror] = {m.hub_id: m for m in (
    KarpathyMirror("royokong/flickr30k_test", "flickr30k"),
    KarpathyMirror("bitmind/MS-COCO", "coco"),
    KarpathyMirror("yerevann/coco-karpathy", "coco",
                   unsupported="it has no image column (Karpathy's captions and file names, images only as COCO "
                               "URLs)"),
    KarpathyMirror("nlphuji/flickr_1k_test_image_text_retrieval", "flickr30k",
                   unsupported="it is a loading script over a CSV and a zip of images (gated by an auth token); "
                               "datasets >= 4 no longer runs loading scripts, it has no parquet files, and the hub "
                               "lists pickle imports in its image zip, which the harness does not unpickle"),
    KarpathyMirror("nlphuji/mscoco_2014_5k_test_image_text_retrieval", "coco",
                   unsupported="it is a loading script over a CSV and a zip of images (gated by an auth token); "
                               "datasets >= 4 no longer runs loading scripts, it has no parquet files, and the hub "
                               "lists pickle imports in its image zip, which the harness does not unpickle"),
)}
DEFAULT_IMAGE_MIRRORS = {"coco": "bitmind/MS-COCO", "flickr30k": "royokong/flickr30k_test"}


def _norm(text: str) -> str:
    return " ".join(str(text).split())


def _captions(cell, where: str) -> list[str]:
    """Caption strings of one cell: a list of strings, one string, or a struct with ``raw``."""
    if cell is None:
        return []
    if isinstance(cell, str):
        return [cell]
    if isinstance(cell, dict):
        raw = cell.get("raw")
        if isinstance(raw, list):
            return [str(r) for r in raw]
        return [str(raw)] if raw is not None else []
    if isinstance(cell, (list, tuple)):
        out = []
        for c in cell:
            out += _captions(c, where)
        return out
    raise TaskError(f"{where}: caption cell of unexpected type {type(cell).__name__}")


@dataclass
class ImageMatch:
    """Where each BLIP entry's image is in the mirror, and how that was established."""

    name: str
    location: str
    fingerprint: str
    rows: list[int]  # mirror row per BLIP entry
    images: MirrorImages
    info: dict = field(default_factory=dict)


def refuse_unsupported(dataset: str, mirror: str | None) -> KarpathyMirror | None:
    """The known entry of the chosen mirror (``None`` for others); raises
    :class:`~mmharness.task.TaskError` with the reason for a mirror known not to work."""
    name = mirror or DEFAULT_IMAGE_MIRRORS[dataset]
    known = KARPATHY_MIRRORS.get(name)
    if known is not None and known.dataset != dataset:
        raise TaskError(f"Hugging Face mirror {name} holds {known.dataset} images, not {dataset}")
    if known is not None and known.unsupported:
        raise TaskError(f"Hugging Face mirror {name} cannot supply the {dataset} Karpathy test images: "
                        f"{known.unsupported}. Use the official images (--data-source official) or another mirror.")
    return known


def resolve_image_mirror(root: Path | None, dataset: str, mirror: str | None) -> tuple[str, str]:
    """``(RowTable location, mirror name)`` of the image mirror for Karpathy ``dataset``."""
    name = mirror or DEFAULT_IMAGE_MIRRORS[dataset]
    known = refuse_unsupported(dataset, mirror)
    split = known.split if known is not None else "test"
    return find_mirror(root, name, split, mirror, f"the {dataset} image mirror")


def match_images(entries: list[KarpathyImage], root: Path | None, dataset: str, mirror: str | None,
                 annotation: Path) -> ImageMatch:
    """Find every BLIP entry's image in the mirror (see the module docstring); raises
    :class:`~mmharness.task.TaskError` naming the first entry without a match or with captions
    that differ from the mirror's."""
    location, name = resolve_image_mirror(root, dataset, mirror)
    label = f"Hugging Face mirror {name}"
    try:
        cols = source_columns(location, label)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"{e}\nLooked locally for: {local_candidates(root, name)}.") from None
    if IMAGE_COLUMN not in cols:
        raise TaskError(f"{label} has no {IMAGE_COLUMN!r} column (it has: {', '.join(cols)}), so it cannot supply "
                        f"the {dataset} images")
    fcol = next((c for c in FILENAME_COLUMNS if c in cols), None)
    ccol = next((c for c in CAPTION_COLUMNS if c in cols), None)
    if fcol is None and ccol is None:
        raise TaskError(f"{label} has neither a file-name column ({', '.join(FILENAME_COLUMNS)}) nor a caption column "
                        f"({', '.join(CAPTION_COLUMNS)}) (it has: {', '.join(cols)}), so its images cannot be matched "
                        f"to the entries of {annotation.name}")
    table = RowTable(location, tuple(c for c in (fcol, ccol) if c), required=(IMAGE_COLUMN,), label=label)
    n = len(table)
    fnames = table.column(fcol) if fcol else [None] * n
    caps = table.column(ccol) if ccol else [None] * n
    groups: "OrderedDict[object, list[int]]" = OrderedDict()
    for r in range(n):
        if fcol:
            if not fnames[r]:
                raise TaskError(f"{label}: row {r} has an empty {fcol!r}")
            key: object = PurePosixPath(str(fnames[r]).replace("\\", "/")).name
        else:
            key = tuple(_norm(c) for c in _captions(caps[r], f"{label}: row {r}"))
            if key in groups:
                raise TaskError(f"{label}: rows {groups[key][0]} and {r} have the same captions, so they cannot be "
                                f"told apart")
        groups.setdefault(key, []).append(r)
    rows = []
    for e in entries:
        where = f"{annotation}: entry {e.index} (image {e.image!r})"
        key = PurePosixPath(e.image.replace("\\", "/")).name if fcol else tuple(_norm(c) for c in e.captions)
        hit = groups.get(key)
        if hit is None:
            by = "file name" if fcol else "caption list"
            raise TaskError(f"{where}: no row of {label} has this {by}; the mirror does not hold this split's "
                            f"images (or not with these captions)")
        if ccol:
            got = [_norm(c) for r in hit for c in _captions(caps[r], f"{label}: row {r}")]
            if got != [_norm(c) for c in e.captions]:
                raise TaskError(f"{where}: the captions of {label} row(s) {hit} differ from the entry's "
                                f"({got[:2]}... vs {list(e.captions)[:2]}...), so the image match is not certain")
        rows.append(hit[0])
    how = (f"by file name ({fcol!r})" + (f", captions checked ({ccol!r})" if ccol else "")) if fcol \
        else f"by exact caption list ({ccol!r})"
    info = {"data_source": "hf", "cases_from": str(annotation), "hf_images": name, "location": location,
            "image_match": how, "row_order": "from the BLIP file (the mirror supplies images only)"}
    return ImageMatch(name, location, table.fingerprint, rows, MirrorImages(table, name, crop=None), info)


def blip_file(root: Path | None, dataset: str, task: str) -> Path:
    """The official BLIP test file under ``root`` (needed for the case order and captions)."""
    d = KARPATHY_DATASETS[dataset]
    if root is None:
        raise DataNotFoundError(f"task {task!r} with --data-source hf needs --data-root DIR holding "
                                f"DIR/{d.folder}/{d.annotation} (from {BLIP_BUCKET}/{d.annotation}): the case order "
                                f"and captions come from it, the images from the mirror")
    ann = Path(root) / d.folder / d.annotation
    if not ann.is_file():
        raise DataNotFoundError(f"task {task!r} with --data-source hf needs {ann} (from {BLIP_BUCKET}/{d.annotation}, "
                                f"no registration): the case order and captions come from it; only the images come "
                                f"from the Hugging Face mirror, because no mirror reproduces the BLIP order by itself")
    return ann


__all__ = ["KARPATHY_MIRRORS", "DEFAULT_IMAGE_MIRRORS", "KarpathyMirror", "ImageMatch", "refuse_unsupported",
           "resolve_image_mirror",
           "match_images", "blip_file"]
