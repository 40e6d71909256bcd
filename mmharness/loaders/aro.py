"""Readers of the ARO Visual Genome files used by SNARE, and the bbox-cropped image reference.

Official release (Yuksekgonul et al., ICLR 2023, https://github.com/mertyg/vision-language-models-are-bows),
laid out as the SNARE code expects it under ``<root>/prerelease_bow/``:

* ``visual_genome_relation.json`` (23,937 items; Google Drive id ``1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3``):
  a list of dicts with ``image_path`` (relative to ``images/``), ``bbox_x``, ``bbox_y``, ``bbox_w``,
  ``bbox_h`` (pixels), ``relation_name``, ``true_caption``, ``false_caption``.
* ``visual_genome_attribution.json`` (28,748 items; Drive id ``13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw``):
  ``image_path``, ``bbox_*``, ``attributes`` (2 strings), ``obj1_name``, ``obj2_name``,
  ``true_caption``, ``false_caption``.
* ``images/`` (from ``vgr_vga_images.zip``, Drive id ``1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9``).

Every item is validated when read: a missing or mistyped field stops with the file, the item
index and what was expected. Image paths may not leave the image folder (absolute paths and
``..`` segments that climb out are rejected). Images are cropped to ``(x, y, x + w, y + h)`` when
decoded (:class:`CroppedImageFile`, :func:`crop_to_box`), exactly as SNARE's ``__getitem__`` does
with PIL. The per-item checks (:func:`relation_fields`, :func:`attribution_fields`) and the crop are
shared with the Hugging Face mirrors of these files (:mod:`mmharness.loaders.aro_hf`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..requests import MediaDecodeError
from ..task import DataNotFoundError, TaskError

ARO_URL = "https://github.com/mertyg/vision-language-models-are-bows"
VG_DIR = "prerelease_bow"
VG_RELATION_FILE = "visual_genome_relation.json"
VG_ATTRIBUTION_FILE = "visual_genome_attribution.json"
VG_IMAGE_DIR = "images"
DRIVE_IDS = {
    VG_RELATION_FILE: "1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3",
    VG_ATTRIBUTION_FILE: "13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw",
    VG_IMAGE_DIR: "1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9 (vgr_vga_images.zip)",
}
BBOX_FIELDS = ("bbox_x", "bbox_y", "bbox_w", "bbox_h")


class UnsafePathError(TaskError):
    """An annotation's image path points outside its image folder."""


def safe_image_path(root: str | Path, relative: Any, where: str) -> str:
    """``root / relative`` as a string, refusing paths that leave ``root``.

    ``relative`` must be a non-empty relative path whose normalised form stays inside ``root``
    (no absolute path, drive, NUL byte, or ``..`` climbing out); otherwise :class:`UnsafePathError`
    names ``where`` (file and item). The check is lexical: files reached through symbolic links
    placed inside the folder by its owner are allowed.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise TaskError(f"{where}: image path must be a non-empty string, got {relative!r}")
    if "\x00" in relative:
        raise UnsafePathError(f"{where}: image path {relative!r} contains a NUL byte")
    if os.path.isabs(relative) or Path(relative).drive or relative.startswith(("/", "\\")):
        raise UnsafePathError(f"{where}: image path {relative!r} is absolute; it must be relative "
                              f"to the image folder {root}")
    norm = os.path.normpath(relative.replace("\\", "/"))
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise UnsafePathError(f"{where}: image path {relative!r} escapes the image folder {root}")
    return str(Path(root) / norm)


def crop_to_box(rgb, box: tuple[float, float, float, float], where: str):
    """``rgb.crop((x, y, x + w, y + h))`` for ``box = (x, y, w, h)``: the official SNARE/ARO crop.

    PIL rounds the float corners and pads any part of the box outside the image with black.
    Shared by the ARO-json path (:class:`CroppedImageFile`) and the Hugging Face mirrors
    (:mod:`mmharness.loaders.aro_hf`), so both give pixel-identical crops of the same image.
    Raises :class:`~mmharness.requests.MediaDecodeError` naming ``where`` for an empty crop.
    """
    x, y, w, h = box
    crop = rgb.crop((x, y, x + w, y + h))
    if crop.size[0] < 1 or crop.size[1] < 1:
        raise MediaDecodeError(f"{where}: the crop is empty ({crop.size[0]}x{crop.size[1]})")
    return crop


@dataclass(frozen=True)
class CroppedImageFile:
    """An image file cropped to a box ``(x, y, w, h)`` in pixels when loaded.

    ``load()`` opens the file, converts it to RGB and returns ``image.crop((x, y, x + w, y + h))``
    (PIL rounds the float corners), as SNARE and ARO do before scoring; ``describe()`` names the
    file and the box for error messages.
    """

    path: str
    box: tuple[float, float, float, float]
    modality: str = "image"

    def load(self):
        """The RGB crop; :class:`MediaDecodeError` naming the file when it cannot be read or is empty."""
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                im.load()
                rgb = im.convert("RGB")
        except FileNotFoundError as e:
            raise MediaDecodeError(f"image file not found: {self.path}") from e
        except Exception as e:  # PIL raises many types for corrupt data
            raise MediaDecodeError(f"cannot decode image {self.path}: {type(e).__name__}: {e}") from e
        return crop_to_box(rgb, self.box, self.describe())

    def describe(self) -> str:
        """``<path> [crop x=.. y=.. w=.. h=..]``."""
        x, y, w, h = self.box
        return f"{self.path} [crop x={x:g} y={y:g} w={w:g} h={h:g}]"


@dataclass(frozen=True)
class VGItem:
    """One validated VG-Relation or VG-Attribution item (``index`` = position in the JSON list, or
    the row of a Hugging Face mirror).

    Relation items have ``relation_name``; attribution items ``attributes``, ``obj1_name`` and
    ``obj2_name`` (the other fields are ``None``). Items read from a mirror have no ``image_path``;
    their ``image_file`` names the mirror row and ``image_row`` is that row.
    """

    index: int
    image_path: str  # as written in the file (relative to images/)
    image_file: str  # joined with the image folder
    bbox: tuple[float, float, float, float]
    true_caption: str
    false_caption: str
    relation_name: str | None = None
    attributes: tuple[str, str] | None = None
    obj1_name: str | None = None
    obj2_name: str | None = None
    image_row: int | None = None  # row of a Hugging Face mirror holding the image (None: image_file is a file)


def read_json_list(path: Path, what: str = "items") -> list:
    """The JSON list in ``path``; clear errors for a missing file, invalid JSON, or another type
    (``what`` names the expected entries in that message)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DataNotFoundError(f"annotation file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise TaskError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
    if not isinstance(data, list):
        raise TaskError(f"{path}: expected a JSON list of {what}, got {type(data).__name__}")
    return data


def _where(path: Path, i: int, item: Any) -> str:
    ip = item.get("image_path") if isinstance(item, dict) else None
    return f"{path}: item {i}" + (f" (image_path={ip!r})" if ip else "")


def _str_field(item: dict, key: str, where: str) -> str:
    if key not in item:
        raise TaskError(f"{where}: missing field {key!r}")
    v = item[key]
    if not isinstance(v, str) or not v:
        raise TaskError(f"{where}: field {key!r} must be a non-empty string, got {v!r}")
    return v


def _bbox(item: dict, where: str) -> tuple[float, float, float, float]:
    missing = [k for k in BBOX_FIELDS if k not in item]
    if missing:
        raise TaskError(f"{where}: missing bbox field(s) {', '.join(missing)}; every item needs "
                        f"{', '.join(BBOX_FIELDS)} (pixels) for the crop")
    out = []
    for k in BBOX_FIELDS:
        v = item[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TaskError(f"{where}: bbox field {k!r} must be a finite number, got {v!r}")
        out.append(float(v))
    if out[2] <= 0 or out[3] <= 0:
        raise TaskError(f"{where}: bbox width and height must be positive, got w={out[2]:g} h={out[3]:g}")
    return out[0], out[1], out[2], out[3]


def relation_fields(item: dict, where: str) -> dict:
    """The validated VG-Relation fields of one item (a dict in the JSON layout) as
    :class:`VGItem` keyword arguments (``bbox``, captions, ``relation_name``).

    ``relation_name`` must be a non-empty string occurring in ``true_caption`` (an item whose
    relation does not appear in its caption cannot produce SNARE's caption options). Errors name
    ``where`` (file or mirror, and item).
    """
    if not isinstance(item, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(item).__name__}")
    rel = item.get("relation_name")
    if "relation_name" not in item:
        raise TaskError(f"{where}: missing field 'relation_name'")
    if not isinstance(rel, str) or not rel.strip():
        raise TaskError(f"{where}: unknown relation name {rel!r}: relation_name must be a non-empty string")
    true_caption = _str_field(item, "true_caption", where)
    if rel not in true_caption:
        raise TaskError(f"{where}: unknown relation name {rel!r}: it does not occur in true_caption "
                        f"{true_caption!r}, so the SNARE caption options cannot be built")
    return {"bbox": _bbox(item, where), "true_caption": true_caption,
            "false_caption": _str_field(item, "false_caption", where), "relation_name": rel}


def attribution_fields(item: dict, where: str) -> dict:
    """The validated VG-Attribution fields of one item as :class:`VGItem` keyword arguments
    (``bbox``, captions, ``attributes`` = 2 strings, ``obj1_name``, ``obj2_name``)."""
    if not isinstance(item, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(item).__name__}")
    if "attributes" not in item:
        raise TaskError(f"{where}: missing field 'attributes' (a list of 2 attribute strings)")
    attrs = item["attributes"]
    if (not isinstance(attrs, (list, tuple)) or len(attrs) != 2
            or not all(isinstance(a, str) and a for a in attrs)):
        raise TaskError(f"{where}: field 'attributes' must be a list of 2 non-empty strings, got {attrs!r}")
    return {"bbox": _bbox(item, where), "true_caption": _str_field(item, "true_caption", where),
            "false_caption": _str_field(item, "false_caption", where), "attributes": (attrs[0], attrs[1]),
            "obj1_name": _str_field(item, "obj1_name", where), "obj2_name": _str_field(item, "obj2_name", where)}


def _read_vg(path: str | Path, image_dir: str | Path, fields) -> list[VGItem]:
    path = Path(path)
    out = []
    for i, item in enumerate(read_json_list(path)):
        where = _where(path, i, item)
        kw = fields(item, where)
        out.append(VGItem(index=i, image_path=item.get("image_path"),
                          image_file=safe_image_path(image_dir, item.get("image_path"), where), **kw))
    return out


def read_vg_relation(path: str | Path, image_dir: str | Path) -> list[VGItem]:
    """Read and validate ``visual_genome_relation.json`` (see :func:`relation_fields`); image
    paths are joined with ``image_dir`` and may not leave it."""
    return _read_vg(path, image_dir, relation_fields)


def read_vg_attribution(path: str | Path, image_dir: str | Path) -> list[VGItem]:
    """Read and validate ``visual_genome_attribution.json`` (see :func:`attribution_fields`)."""
    return _read_vg(path, image_dir, attribution_fields)


def vg_paths(root: Path, filename: str) -> tuple[Path, Path]:
    """``(<root>/prerelease_bow/<filename>, <root>/prerelease_bow/images)``; raises
    :class:`DataNotFoundError` naming the expected paths and the official sources when missing."""
    base = Path(root) / VG_DIR
    ann, images = base / filename, base / VG_IMAGE_DIR
    missing = [p for p in (ann, images) if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"SNARE needs the ARO Visual Genome files at {base}: missing {', '.join(map(str, missing))}. "
            f"Download {filename} (Google Drive id {DRIVE_IDS[filename]}) and the images "
            f"(Drive id {DRIVE_IDS[VG_IMAGE_DIR]}, unzip into {images}); see {ARO_URL}.")
    return ann, images
