"""The ARO Visual Genome files from their Hugging Face mirrors (``--data-source hf``).

SNARE's VG tasks read ARO's ``visual_genome_relation.json`` / ``visual_genome_attribution.json``
plus the VG images, cropped to each item's bbox (:mod:`mmharness.loaders.aro`). The mirrors below
hold the same items as parquet rows with the image embedded. What each carries (checked against
the published dataset cards where they could be read; the loader re-checks the columns of the
files it is given and names any that are missing):

=========================================== ======= =================================================
mirror                                       rows    carries / lacks
=========================================== ======= =================================================
``gowitheflow/ARO-Visual-Relation``          23,937  ``image``, ``true_caption``, ``false_caption``,
(split ``test``, 7 shards                            ``relation_name``, ``bbox`` {x, y, w, h} float32: every
``data/test-0000k-of-00007.parquet``)                field SNARE's relation tasks need. **Supported.** The
                                                     images are taken to be the full VG images, since the
                                                     bbox is carried (765 MB for 23,937 rows is small for
                                                     that, so every row is checked: see "Crop"). No item
                                                     index and no ``image_path``: see "Row order".
``mteb/ARO-Visual-Relation``                 23,937  a duplicate of the above (same card). **Supported.**
``gowitheflow/ARO-Visual-Attribution``       28,748  ``image``, ``true_caption``, ``false_caption`` are
(split ``test``, 8 shards)                           certain (MTEB's ``AROVisualAttribution`` reads them);
                                                     the rest of its card could not be read from here.
                                                     SNARE's attribution tasks also need ``obj1_name``,
                                                     ``obj2_name``, ``attributes`` (2 strings) and
                                                     ``bbox``: the loader uses the files when they carry
                                                     all of them and otherwise stops, naming the missing
                                                     fields and pointing to the official ARO json.
``mteb/ARO-Visual-Attribution``              28,748  a duplicate of the above; same rule.
``yjkimstats/ARO_VG_Relation``               23,937  ``images``, ``Realation_name`` (sic), ``text``,
(split ``train``)                                    ``hard_texts``: **no bbox**, so the official crop
                                                     cannot be made or checked. **Not supported.**
=========================================== ======= =================================================

Reading. ``hf_relation`` / ``hf_attribution`` (task options) name the mirror: a hub id, a local
folder of its parquet files as downloaded (``<dir>/data/test-*.parquet`` or ``<dir>/test-*.parquet``),
a single parquet file, or a ``datasets.save_to_disk`` folder. Default: the ``gowitheflow`` id of the
file. A hub id is first looked for under ``--data-root`` (``<root>/<name>``, ``<root>/<owner>/<name>``,
a hub-cache snapshot ``<root>/datasets--<owner>--<name>/snapshots/*``), then loaded with
``datasets.load_dataset(id, split="test")``, which works offline only when it is cached.

Crop (``hf_crop``, recorded in the task config): ``bbox`` (default) crops every image to
``(x, y, x + w, y + h)`` with the same function as the json path
(:func:`~mmharness.loaders.aro.crop_to_box`), so a mirror image byte-identical to the VG file gives
a pixel-identical crop. A box that does not fit inside its row's image stops with an error naming
the row: it means the mirror's images are not the full VG images (pre-cropped images have the
box's size, which the message points out) or the box overhangs the border, which the official
loader pads with black (``hf_bbox_slack=N`` accepts overhangs of up to N pixels, padded the same
way). ``none`` uses each image as it is, for a mirror whose images are already the crops, and
checks that each image has its box's size (within 1 pixel).

Row order. The mirrors carry no item index, so item ``i`` is row ``i`` in the order of the shards
sorted by name (``test-00000-of-0000N`` first) and of the rows inside them, which is how
``push_to_hub`` writes a dataset; the mirror is assumed to have been built from the json in list
order. When the official json is also under ``--data-root`` (``prerelease_bow/<file>``), every
row is checked against its item (captions, relation or attributes and objects, bbox) and the
run stops at the first difference; the config records ``row_order`` as ``verified against <json>``
or ``assumed``. Sample ids (``NNNNN``) are the row indices, as they are the json indices on the
official path.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..requests import MediaDecodeError
from ..task import DataNotFoundError, TaskError
from .aro import (
    ARO_URL,
    DRIVE_IDS,
    VG_ATTRIBUTION_FILE,
    VG_DIR,
    VG_IMAGE_DIR,
    VG_RELATION_FILE,
    VGItem,
    attribution_fields,
    crop_to_box,
    read_vg_attribution,
    read_vg_relation,
    relation_fields,
)
from .hf_rows import RowTable, decode_image_cell, find_parquet, hub_snapshot_dirs

log = logging.getLogger(__name__)

HF_CROPS = ("bbox", "none")
IMAGE_COLUMN = "image"
BBOX_KEYS = ("x", "y", "w", "h")
#: Columns a mirror of each file must carry (besides the image).
NEEDED = {
    VG_RELATION_FILE: ("bbox", "true_caption", "false_caption", "relation_name"),
    VG_ATTRIBUTION_FILE: ("bbox", "true_caption", "false_caption", "obj1_name", "obj2_name", "attributes"),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class VGMirror:
    """A known Hugging Face mirror of one ARO VG file (see the module table).

    ``lacks``: fields it is known not to carry (non-empty = unsupported, refused before loading).
    """

    hub_id: str
    file: str
    rows: int
    split: str = "test"
    duplicate_of: str | None = None
    lacks: tuple[str, ...] = ()
    note: str = ""


VG_MIRRORS: dict[str, VGMirror] = {m.hub_id: m for m in (
    VGMirror("gowitheflow/ARO-Visual-Relation", VG_RELATION_FILE, 23937,
             note="image (full VG image), true_caption, false_caption, relation_name, bbox{x,y,w,h}"),
    VGMirror("mteb/ARO-Visual-Relation", VG_RELATION_FILE, 23937, duplicate_of="gowitheflow/ARO-Visual-Relation",
             note="duplicate of gowitheflow/ARO-Visual-Relation"),
    VGMirror("gowitheflow/ARO-Visual-Attribution", VG_ATTRIBUTION_FILE, 28748,
             note="image, true_caption, false_caption certain; obj1_name, obj2_name, attributes, bbox checked "
                  "at load"),
    VGMirror("mteb/ARO-Visual-Attribution", VG_ATTRIBUTION_FILE, 28748,
             duplicate_of="gowitheflow/ARO-Visual-Attribution",
             note="duplicate of gowitheflow/ARO-Visual-Attribution"),
    VGMirror("yjkimstats/ARO_VG_Relation", VG_RELATION_FILE, 23937, split="train",
             lacks=("bbox",),
             note="columns images, Realation_name, text, hard_texts: no bbox"),
)}
DEFAULT_MIRRORS = {VG_RELATION_FILE: "gowitheflow/ARO-Visual-Relation",
                   VG_ATTRIBUTION_FILE: "gowitheflow/ARO-Visual-Attribution"}


@dataclass(frozen=True)
class MirrorOptions:
    """How to read one VG file from a mirror: ``dataset`` (hub id or local path; ``None`` = the
    file's default mirror), ``crop`` (``bbox`` or ``none``) and ``bbox_slack`` (pixels a box may
    overhang the image border). Invalid values raise :class:`~mmharness.task.TaskError`."""

    dataset: str | None = None
    crop: str = "bbox"
    bbox_slack: float = 0.0

    def __post_init__(self):
        if self.crop not in HF_CROPS:
            raise TaskError(f"option hf_crop={self.crop!r} is not one of {list(HF_CROPS)} (bbox: crop the full "
                            f"VG images to each item's bbox, as the official loader; none: the mirror's images "
                            f"are already the crops)")
        if not math.isfinite(self.bbox_slack) or self.bbox_slack < 0:
            raise TaskError(f"option hf_bbox_slack must be a number of pixels >= 0, got {self.bbox_slack!r}")


def _official_pointer(file: str) -> str:
    return (f"Use the official ARO files instead (--data-source official): <data-root>/{VG_DIR}/{file} "
            f"(Google Drive id {DRIVE_IDS[file]}) and <data-root>/{VG_DIR}/{VG_IMAGE_DIR}/ (Drive id "
            f"{DRIVE_IDS[VG_IMAGE_DIR]}); see {ARO_URL}.")


def _unsupported(name: str, file: str, missing, have=None) -> TaskError:
    found = f" (it has: {', '.join(have)})" if have is not None else ""
    return TaskError(
        f"Hugging Face mirror {name} cannot stand in for {file}: it lacks the field(s) {', '.join(missing)} that "
        f"the SNARE tasks on this file need{found}. {_official_pointer(file)}")


# --------------------------------------------------------------------------- locating


def local_location(path: Path) -> str | None:
    """A RowTable location for a local parquet file, parquet folder or save_to_disk folder."""
    if path.is_file() and path.suffix == ".parquet":
        return f"parquet:{path}"
    if path.is_dir():
        files = find_parquet([path], ["test-*.parquet"]) or find_parquet([path], ["*.parquet"])
        if files:
            return "parquet:" + "|".join(str(f) for f in files)
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return f"disk:{path}#test"
    return None


def candidate_dirs(root: Path, hub_id: str) -> list[Path]:
    """Folders under ``root`` where a local copy of ``hub_id`` is looked for, in order."""
    owner, name = hub_id.split("/", 1)
    return [root / name, root / owner / name, root / f"{owner}___{name}", *hub_snapshot_dirs(root, hub_id)]


def is_local_path(dataset: str, root: Path | None) -> bool:
    """A path (existing here or under ``root``, or not shaped like ``owner/name``) rather than a hub id."""
    return (Path(dataset).exists() or (root is not None and (Path(root) / dataset).exists())
            or not _HUB_ID.match(dataset))


def resolve_location(root: Path | None, file: str, dataset: str | None) -> tuple[str, str]:
    """``(RowTable location, mirror name)`` of the mirror of ``file`` chosen by ``dataset``.

    Refuses mirrors known to lack needed fields; raises :class:`DataNotFoundError` listing where
    it looked when neither a local copy nor a cached hub copy exists.
    """
    name = dataset or DEFAULT_MIRRORS[file]
    known = VG_MIRRORS.get(name)
    if known is not None and known.file != file:
        raise TaskError(f"Hugging Face mirror {name} holds {known.file}, not {file}: pass it as "
                        f"hf_{'relation' if known.file == VG_RELATION_FILE else 'attribution'}")
    if known is not None and known.lacks:
        raise _unsupported(name, file, known.lacks)
    split = known.split if known is not None else "test"
    return find_mirror(root, name, split, dataset, f"the mirror of {file}")


def find_mirror(root: Path | None, name: str, split: str, spec: str | None, what: str) -> tuple[str, str]:
    """``(RowTable location, label)`` of a mirror: ``spec`` as a local path (absolute, or under
    ``root``) when it is one; else a local copy of hub id ``name`` under ``root``; else the hub
    (offline: only when cached). Raises :class:`DataNotFoundError` naming where it looked."""
    if spec is not None and is_local_path(spec, root):
        p = Path(spec)
        looked = []
        for cand in ([p] if p.is_absolute() or root is None else [p, Path(root) / p]):
            loc = local_location(cand)
            if loc is not None:
                return loc, str(cand)
            looked.append(str(cand))
        raise DataNotFoundError(f"no parquet files (test-*.parquet, or data/test-*.parquet) or save_to_disk "
                                f"folder at {', '.join(looked)} for {what}")
    if root is not None:
        for d in candidate_dirs(Path(root), name):
            loc = local_location(d)
            if loc is not None:
                return loc, name
    return f"hub:{name}#{split}", name


def local_candidates(root: Path | None, name: str) -> str:
    """Where a local copy of hub id ``name`` was looked for (for error messages)."""
    if root is None or not _HUB_ID.match(name):
        return "no --data-root given" if root is None else "nowhere"
    return (f"test-*.parquet in {', '.join(str(d) for d in candidate_dirs(Path(root), name)[:3])} (or their data/) "
            f"and hub-cache snapshots under {root}")


def source_columns(location: str, label: str) -> list[str]:
    """All column names of the source at ``location``."""
    kind, _, where = location.partition(":")
    if kind == "parquet":
        import pyarrow.parquet as pq

        names: list[str] | None = None
        for f in where.split("|"):
            try:
                these = pq.read_schema(f).names
            except Exception as e:
                raise TaskError(f"{label}: cannot read parquet file {f}: {type(e).__name__}: {e}") from e
            if names is not None and these != names:
                raise TaskError(f"{label}: parquet file {f} has columns {these}, unlike the other shards ({names})")
            names = these
        return names or []
    import datasets

    ident, _, split = where.partition("#")
    try:
        if kind == "hub":
            ds = datasets.load_dataset(ident, split=split)
        else:
            obj = datasets.load_from_disk(ident)
            ds = obj[split] if isinstance(obj, datasets.DatasetDict) and split in obj else obj
    except Exception as e:
        raise DataNotFoundError(
            f"could not load Hugging Face dataset {ident!r} (split {split!r}): {type(e).__name__}: {e}. Offline, a hub "
            f"id works only when it is in the datasets cache; or download it (`huggingface-cli download {ident} "
            f"--repo-type dataset --local-dir <data-root>/{ident.split('/')[-1]}`) and pass --data-root") from e
    if isinstance(ds, datasets.DatasetDict):
        raise TaskError(f"{label}: {ident} holds several splits ({list(ds)}); expected split {split!r}")
    return list(ds.column_names)


# --------------------------------------------------------------------------- images


class MirrorImages:
    """Images of a mirror's rows, decoded lazily (in DataLoader workers) and cropped per ``crop``.

    ``ref(row, bbox)`` gives the :class:`MirrorImage` of a row; ``load_crop`` decodes, checks the
    box against the image (see the module docstring) and crops with
    :func:`~mmharness.loaders.aro.crop_to_box`. Errors are :class:`MediaDecodeError` naming the row.
    """

    def __init__(self, table: RowTable, name: str, crop: str | None = "bbox", bbox_slack: float = 0.0):
        self.table = table
        self.name = name
        self.crop = crop
        self.bbox_slack = float(bbox_slack)

    def ref(self, row: int, bbox) -> "MirrorImage":
        """The media reference of ``row`` (``bbox`` = the item's box, or ``None`` for whole images)."""
        return MirrorImage(self, int(row), tuple(bbox) if bbox is not None else None)

    def describe(self, row: int, bbox=None) -> str:
        """``row <i> of <mirror> (<location>)`` plus the box."""
        box = "" if bbox is None else " [bbox x={:g} y={:g} w={:g} h={:g}]".format(*bbox)
        return f"row {row} of Hugging Face mirror {self.name}{box}"

    def decode(self, row: int):
        """The RGB image of ``row``, uncropped."""
        base = None
        if self.table.location.startswith("parquet:"):
            base = Path(self.table.location[len("parquet:"):].split("|")[0]).parent
        try:
            cell = self.table.cell(row, IMAGE_COLUMN)
        except MediaDecodeError:
            raise
        except Exception as e:
            raise MediaDecodeError(f"{self.describe(row)}: cannot read the image cell: {type(e).__name__}: {e}") from e
        return decode_image_cell(cell, self.describe(row), base)

    def load_crop(self, row: int, bbox):
        """Decode ``row``; crop it to ``bbox`` (``crop=bbox``), or check it is the crop (``none``)."""
        img = self.decode(row)
        if bbox is None or self.crop is None:
            return img
        check_box(img.size, bbox, self.crop, self.bbox_slack, self.describe(row, bbox))
        if self.crop == "none":
            return img
        return crop_to_box(img, bbox, self.describe(row, bbox))


def check_box(size: tuple[int, int], bbox, crop: str, slack: float, where: str) -> None:
    """Raise :class:`MediaDecodeError` when ``bbox`` does not fit the image as ``crop`` requires.

    ``bbox``: the box must lie inside the ``W x H`` image (up to ``slack`` pixels of overhang);
    ``none``: the image must have the box's size (within 1 pixel).
    """
    W, H = size
    x, y, w, h = bbox
    if crop == "none":
        if abs(W - w) > 1 or abs(H - h) > 1:
            raise MediaDecodeError(
                f"{where}: hf_crop=none expects the mirror's images to be the bbox crops, but this image is "
                f"{W}x{H} and its box {w:g}x{h:g}: use hf_crop=bbox (crop the full image, as the official loader)")
        return
    if x < -slack or y < -slack or x + w > W + slack or y + h > H + slack:
        hint = ""
        if abs(W - round(w)) <= 1 and abs(H - round(h)) <= 1 and (x > 0 or y > 0):
            hint = (" The image has the box's own size, so this mirror's images look already cropped to their "
                    "boxes: if so, pass --task-args hf_crop=none.")
        raise MediaDecodeError(
            f"{where}: the bbox (x={x:g}, y={y:g}, x+w={x + w:g}, y+h={y + h:g}) does not fit inside the {W}x{H} "
            f"image, which should be the full Visual Genome image that the official loader crops.{hint} If the box "
            f"only overhangs the border (the official crop pads the overhang with black), pass "
            f"--task-args hf_bbox_slack=<pixels>.")


@dataclass(frozen=True)
class MirrorImage:
    """A :class:`~mmharness.requests.MediaRef` to one mirror row's image (cropped to ``bbox``
    per the source's ``crop`` rule; the whole image when ``bbox`` is ``None``)."""

    source: MirrorImages
    row: int
    bbox: tuple[float, float, float, float] | None = None
    modality: str = "image"

    def load(self):
        """The RGB image (crop); :class:`MediaDecodeError` naming the row on failure."""
        return self.source.load_crop(self.row, self.bbox)

    def describe(self) -> str:
        """The mirror, row and box."""
        return self.source.describe(self.row, self.bbox)


# --------------------------------------------------------------------------- items


@dataclass
class MirrorData:
    """Validated items of one VG file read from a mirror, with their image source and provenance."""

    name: str
    location: str
    fingerprint: str
    items: list[VGItem]
    images: MirrorImages
    info: dict = field(default_factory=dict)


def _bbox_fields(cell: Any, where: str) -> dict:
    if cell is None:
        raise TaskError(f"{where}: missing field 'bbox' (a struct x, y, w, h in pixels, needed for the crop)")
    if not isinstance(cell, dict):
        raise TaskError(f"{where}: field 'bbox' must be a struct with x, y, w, h, got {cell!r}")
    missing = [k for k in BBOX_KEYS if cell.get(k) is None]
    if missing:
        raise TaskError(f"{where}: missing bbox field(s) {', '.join(missing)}; 'bbox' needs x, y, w, h (pixels)")
    return {f"bbox_{k}": cell[k] for k in BBOX_KEYS}


def read_mirror_items(table: RowTable, name: str, file: str) -> list[VGItem]:
    """Every row of ``table`` as a validated :class:`VGItem` (``index`` = ``image_row`` = row).

    The same per-item checks as the json readers; errors name the mirror and the row. A field
    that is null in a row counts as missing.
    """
    fields = relation_fields if file == VG_RELATION_FILE else attribution_fields
    cols = {c: table.column(c) for c in NEEDED[file]}
    out = []
    for i in range(len(table)):
        where = f"Hugging Face mirror {name}: row {i}"
        item = {c: v[i] for c, v in cols.items() if c != "bbox" and v[i] is not None}
        item.update(_bbox_fields(cols["bbox"][i], where))
        kw = fields(item, where)
        out.append(VGItem(index=i, image_path=None, image_file=f"{name} row {i}", image_row=i, **kw))
    return out


def _same(a: VGItem, b: VGItem) -> list[str]:
    diffs = [k for k in ("true_caption", "false_caption", "relation_name", "attributes", "obj1_name", "obj2_name")
             if getattr(a, k) != getattr(b, k)]
    if any(abs(p - q) > 1e-3 for p, q in zip(a.bbox, b.bbox)):
        diffs.append("bbox")
    return diffs


def verify_order(items: list[VGItem], json_path: Path, file: str, name: str) -> None:
    """Check row ``i`` of the mirror against item ``i`` of the official json; stop at the first
    difference (count, captions, relation/attributes/objects or bbox) naming both."""
    reader = read_vg_relation if file == VG_RELATION_FILE else read_vg_attribution
    official = reader(json_path, json_path.parent / VG_IMAGE_DIR)
    if len(official) != len(items):
        raise TaskError(f"Hugging Face mirror {name} has {len(items)} rows but {json_path} has {len(official)} items: "
                        f"they are not the same data")
    for a, b in zip(items, official):
        diffs = _same(a, b)
        if diffs:
            k = diffs[0]
            raise TaskError(
                f"Hugging Face mirror {name}: row {a.index} differs from item {b.index} of {json_path} in "
                f"{', '.join(diffs)} ({k}: {getattr(a, k)!r} vs {getattr(b, k)!r}), so the mirror's row order (or "
                f"content) is not the official one; use --data-source official")


def load_vg_mirror(root: Path | None, file: str, opts: MirrorOptions) -> MirrorData:
    """Locate, open, validate and (when the official json is at hand) order-check the mirror of
    ``file``; one row's image (the first whose box is off the top-left corner) is checked against
    its box before any model work, so a mirror of pre-cropped images stops at load."""
    location, name = resolve_location(root, file, opts.dataset)
    label = f"Hugging Face mirror {name}"
    try:
        cols = source_columns(location, label)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"{e}\nLooked locally for: {local_candidates(root, name)}.") from None
    missing = [c for c in (IMAGE_COLUMN, *NEEDED[file]) if c not in cols]
    if missing:
        raise _unsupported(name, file, missing, cols)
    table = RowTable(location, NEEDED[file], required=(IMAGE_COLUMN, *NEEDED[file]), label=label)
    items = read_mirror_items(table, name, file)
    if not items:
        raise TaskError(f"{label} at {location} holds no rows")
    known = VG_MIRRORS.get(name)
    if known is not None and len(items) != known.rows:
        log.warning("%s: %d rows at %s, not the %d of the release", label, len(items), location, known.rows)
    images = MirrorImages(table, name, opts.crop, opts.bbox_slack)
    # Probe one image before any model work: the first row whose box is off the top-left corner,
    # where an already-cropped image cannot hold its own box.
    probe = next((it for it in items[:256] if it.bbox[0] > 0 or it.bbox[1] > 0), items[0])
    try:
        images.load_crop(probe.index, probe.bbox)
    except MediaDecodeError as e:
        raise TaskError(str(e)) from None
    order = "assumed: mirror rows in shard-name order equal the json list order (the mirror has no item index)"
    official = Path(root) / VG_DIR / file if root is not None else None
    if official is not None and official.is_file():
        verify_order(items, official, file, name)
        order = f"verified against {official}"
    info = {"data_source": "hf", "hf_dataset": name, "location": location, "hf_crop": opts.crop,
            "hf_bbox_slack": opts.bbox_slack, "row_order": order, "n_rows": len(items),
            "expected_rows": known.rows if known is not None else None}
    return MirrorData(name, location, table.fingerprint, items, images, info)




def mirror_options(task: str, relation: str | None, attribution: str | None, crop: str,
                   bbox_slack: float) -> dict[str, MirrorOptions]:
    """The task options ``hf_relation``, ``hf_attribution``, ``hf_crop``, ``hf_bbox_slack`` as
    ``{file: MirrorOptions}`` (each VG task reads the entry of its file); errors name the task."""
    try:
        return {VG_RELATION_FILE: MirrorOptions(relation, crop, float(bbox_slack)),
                VG_ATTRIBUTION_FILE: MirrorOptions(attribution, crop, float(bbox_slack))}
    except (TaskError, TypeError, ValueError) as e:
        raise TaskError(f"task {task!r}: {e}") from None


def options_config(opts: dict[str, MirrorOptions]) -> dict:
    """The mirror options as recorded in a task config."""
    rel, att = opts[VG_RELATION_FILE], opts[VG_ATTRIBUTION_FILE]
    return {"hf_relation": rel.dataset, "hf_attribution": att.dataset, "hf_crop": rel.crop,
            "hf_bbox_slack": rel.bbox_slack}


__all__ = ["HF_CROPS", "VG_MIRRORS", "DEFAULT_MIRRORS", "VGMirror", "MirrorOptions", "MirrorImages", "MirrorImage",
           "MirrorData", "check_box", "candidate_dirs", "local_candidates", "local_location",
           "is_local_path", "source_columns", "resolve_location", "read_mirror_items", "verify_order", "load_vg_mirror",
           "mirror_options", "options_config"]
