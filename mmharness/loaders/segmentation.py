"""Readers of semantic-segmentation releases: FMB (RGB + infrared), MFNet / MSRS (RGB-T), and
generic image/label folders (ADE20K, Pascal VOC / Context, Cityscapes style).

Layouts (``docs/protocols/segmentation.md`` section 2):

* **FMB** release: ``FMB/{train,test}/{Visible,Infrared,Label,color}/<name>.png``; a pair is the same
  file name in every folder. The flat re-organisation ``FMB/{Visible,Infrared,Label}/`` + ``train.txt`` /
  ``test.txt`` (not the release) is read too. ``Infrared`` is read as grayscale and replicated to 3
  channels; ``Label`` is a uint8 index PNG (0..14, 255 ignored); ``color`` is the same labels rendered
  with :data:`FMB_PALETTE` (decoded with black -> ignore).
* **MFNet** (RTFNet layout): ``images/<name>.png`` (4 channels: RGB + thermal), ``labels/<name>.png``,
  split files ``train.txt``, ``val.txt``, ``test.txt``, ``test_day.txt``, ``test_night.txt``.
* **MSRS** (MFNet-derived): ``{train,test}/{vi,ir,Segmentation_labels}/<name>.png``.
* **generic**: an image folder and a label folder matched by relative path after removing the image
  and label suffixes (mmseg ``img_suffix`` / ``seg_map_suffix``), optionally restricted by a split file.

Label maps are read with :func:`read_label_map` (index / grayscale PNGs only; an RGB label file is an
error naming the file, with the palette decoder as the fix).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..requests import MediaDecodeError
from ..task import DataNotFoundError

FMB_SOURCE = "https://github.com/JinyuanLiu-CV/SegMiF (Google Drive / Baidu links in its README)"
MFNET_SOURCE = "https://www.mi.t.u-tokyo.ac.jp/static/projects/mil_multispectral/ (RTFNet layout: github.com/yuxiangsun/RTFNet)"
MSRS_SOURCE = "https://github.com/Linfeng-Tang/MSRS"

#: FMB classes (id order) and palette of the ``color`` folder.
FMB_CLASSES = ("background", "Road", "Sidewalk", "Building", "Lamp", "Sign", "Vegetation", "Sky", "Person",
               "Car", "Truck", "Bus", "Motorcycle", "Bicycle", "Pole")
FMB_PROMPT_NAMES = ("background", "road", "sidewalk", "building", "lamp", "sign", "vegetation", "sky", "person",
                    "car", "truck", "bus", "motorcycle", "bicycle", "pole")
FMB_PALETTE = ((0, 0, 0), (228, 228, 179), (133, 57, 181), (177, 162, 67), (50, 178, 200), (199, 45, 132),
               (84, 172, 66), (79, 73, 179), (166, 99, 76), (253, 121, 66), (91, 165, 137), (152, 97, 155),
               (140, 153, 105), (158, 215, 222), (90, 113, 135))

#: MFNet classes (id order; 0 = unlabeled, included in the 9-class mean).
MFNET_CLASSES = ("unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
MFNET_SPLITS = ("train", "val", "test", "test_day", "test_night")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class LabelMapError(MediaDecodeError):
    """A label map that cannot be used: unreadable, wrong mode, wrong size, or bad values (names the file)."""


# --------------------------------------------------------------------------- reading label maps


def read_label_map(path: str | Path) -> np.ndarray:
    """An (H, W) integer label map from an index / grayscale PNG (``P``, ``L``, ``I;16``, ``I``).

    Palette PNGs give their indices (not colours). Raises :class:`LabelMapError` naming the file for
    missing files, decode failures and colour (RGB/RGBA) label files.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
                arr = np.asarray(im)
            else:
                raise LabelMapError(
                    f"label map {path} has mode {mode}: label files must be single-channel index PNGs "
                    "(values = class ids). Colour-rendered labels need the palette decoder (e.g. FMB label_source=color).")
    except LabelMapError:
        raise
    except FileNotFoundError as e:
        raise LabelMapError(f"label map not found: {path}") from e
    except Exception as e:
        raise LabelMapError(f"cannot decode label map {path}: {type(e).__name__}: {e}") from e
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr


def decode_color_label(path: str | Path, palette: Sequence[tuple[int, int, int]], black: int = 255) -> np.ndarray:
    """Palette-rendered RGB label -> (H, W) uint8 ids; black -> ``black`` (ignore by default).

    Any colour not in ``palette`` raises :class:`LabelMapError` listing the colours found.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
    except FileNotFoundError as e:
        raise LabelMapError(f"colour label not found: {path}") from e
    except Exception as e:
        raise LabelMapError(f"cannot decode colour label {path}: {type(e).__name__}: {e}") from e
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lut = {(r << 16) | (g << 8) | b: k for k, (r, g, b) in enumerate(palette)}
    lut[0] = black
    out = np.full(code.shape, 255, dtype=np.uint8)
    uniq = np.unique(code)
    unknown = [int(u) for u in uniq if int(u) not in lut]
    if unknown:
        shown = ", ".join(f"({u >> 16}, {(u >> 8) & 255}, {u & 255})" for u in unknown[:5])
        raise LabelMapError(f"colour label {path} has colours not in the palette: {shown}"
                            f"{' ...' if len(unknown) > 5 else ''}")
    for u in uniq:
        out[code == u] = lut[int(u)]
    return out


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from an image header (no pixel decoding); errors name the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError as e:
        raise MediaDecodeError(f"image file not found: {path}") from e
    except Exception as e:
        raise MediaDecodeError(f"cannot read image {path}: {type(e).__name__}: {e}") from e
    return h, w


# --------------------------------------------------------------------------- media


@dataclass(frozen=True)
class RGBTChannels:
    """One modality of a 4-channel RGB-T PNG (MFNet): ``part="rgb"`` (channels 0-2) or ``"thermal"``
    (channel 3, replicated to 3 channels). A picklable :class:`~mmharness.requests.MediaRef`."""

    path: str
    part: str = "rgb"
    modality: str = "image"

    def load(self):
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                im.load()
                if im.mode != "RGBA":
                    raise MediaDecodeError(f"{self.path}: MFNet images are 4-channel PNGs (RGB + thermal), "
                                           f"got mode {im.mode}")
                if self.part == "rgb":
                    return im.convert("RGB")
                return im.getchannel("A").convert("RGB")
        except MediaDecodeError:
            raise
        except FileNotFoundError as e:
            raise MediaDecodeError(f"image file not found: {self.path}") from e
        except Exception as e:
            raise MediaDecodeError(f"cannot decode image {self.path}: {type(e).__name__}: {e}") from e

    def describe(self) -> str:
        return f"{self.path} [{self.part}]"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SegRecord:
    """One scene: its id, image paths by input name, label path (and how to read it)."""

    id: str
    images: tuple[tuple[str, str], ...]  # (input name, path); MFNet paths carry '#rgb' / '#thermal'
    label: str
    label_kind: str = "index"  # "index" or "fmb_color"


def _first_dir(base: Path, name: str) -> Path | None:
    p = base / name
    if p.is_dir():
        return p
    if base.is_dir():
        for child in base.iterdir():
            if child.is_dir() and child.name.lower() == name.lower():
                return child
    return None


def _stems(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def _read_split_file(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            names.append(Path(line.split()[0]).stem if Path(line.split()[0]).suffix.lower() in IMAGE_SUFFIXES
                         else line.split()[0])
    return names


def find_fmb(root: Path | None, split: str = "test", labels: str = "index") -> tuple[list[SegRecord], str]:
    """FMB pairs of ``split`` (``train`` / ``test``) under ``root`` (the FMB folder or its parent).

    Returns the records (sorted by name) and a description of the source. Every name must exist in
    Visible, Infrared and Label (or color, with ``labels="color"``): a missing file is an error
    naming it. Raises :class:`DataNotFoundError` naming the expected paths and the official source.
    """
    if split not in ("train", "test"):
        raise ValueError(f"FMB split must be 'train' or 'test', got {split!r}")
    if labels not in ("index", "color"):
        raise ValueError(f"FMB labels must be 'index' (Label/) or 'color' (color/), got {labels!r}")
    if root is None:
        raise DataNotFoundError(f"FMB needs --data-root pointing at the FMB folder (FMB/{split}/Visible, Infrared, "
                                f"Label); official source: {FMB_SOURCE}")
    label_folder = "Label" if labels == "index" else "color"
    for base in (Path(root), Path(root) / "FMB"):
        sp = _first_dir(base, split)
        if sp is not None and _first_dir(sp, "Visible") is not None:
            folders = {f: _first_dir(sp, f) for f in ("Visible", "Infrared", label_folder)}
            missing = [f for f, p in folders.items() if p is None]
            if missing:
                raise DataNotFoundError(f"FMB {split} at {sp} lacks folder(s) {', '.join(missing)} "
                                        f"(expected {split}/{{Visible,Infrared,Label,color}}; source: {FMB_SOURCE})")
            names = {f: _stems(p) for f, p in folders.items()}
            order = sorted(names["Visible"])
            source = f"fmb:{sp}"
            break
        flat_vis = _first_dir(base, "Visible")
        split_file = base / f"{split}.txt"
        if flat_vis is not None and split_file.is_file():
            folders = {f: _first_dir(base, f) for f in ("Visible", "Infrared", label_folder)}
            missing = [f for f, p in folders.items() if p is None]
            if missing:
                raise DataNotFoundError(f"flat FMB layout at {base} lacks folder(s) {', '.join(missing)}")
            names = {f: _stems(p) for f, p in folders.items()}
            order = _read_split_file(split_file)
            source = f"fmb-flat:{base} ({split_file.name})"
            break
    else:
        raise DataNotFoundError(f"FMB {split} split not found under {root} (looked for {root}/{split}/Visible and "
                                f"{root}/FMB/{split}/Visible, and the flat Visible/ + {split}.txt layout); "
                                f"official source: {FMB_SOURCE}")
    problems = []
    for f in ("Visible", "Infrared", label_folder):
        absent = [n for n in order if n not in names[f]]
        if absent:
            problems.append(f"{len(absent)} name(s) missing from {folders[f]} (e.g. {', '.join(absent[:3])})")
    if problems:
        raise DataNotFoundError(f"FMB {split}: pairs are incomplete: " + "; ".join(problems))
    if not order:
        raise DataNotFoundError(f"FMB {split}: no images in {folders['Visible']}")
    kind = "index" if labels == "index" else "fmb_color"
    recs = [SegRecord(n, (("rgb", str(names["Visible"][n])), ("infrared", str(names["Infrared"][n]))),
                      str(names[label_folder][n]), kind) for n in order]
    return recs, source


def find_mfnet(root: Path | None, split: str = "test") -> tuple[list[SegRecord], str]:
    """MFNet (RTFNet layout) records of ``split`` under ``root`` (or ``root/MFNet``, ``root/ir_seg_dataset``).

    Image paths are the 4-channel PNGs; the task turns them into RGB and thermal inputs.
    """
    if split not in MFNET_SPLITS:
        raise ValueError(f"MFNet split must be one of {MFNET_SPLITS}, got {split!r}")
    if root is None:
        raise DataNotFoundError(f"MFNet needs --data-root pointing at the dataset folder (images/, labels/, "
                                f"{split}.txt); official source: {MFNET_SOURCE}")
    for base in (Path(root), Path(root) / "MFNet", Path(root) / "ir_seg_dataset"):
        if (base / "images").is_dir() and (base / "labels").is_dir():
            split_file = base / f"{split}.txt"
            if not split_file.is_file():
                raise DataNotFoundError(f"MFNet split file not found: {split_file} (RTFNet layout ships "
                                        f"{', '.join(s + '.txt' for s in MFNET_SPLITS)})")
            names = _read_split_file(split_file)
            recs, missing = [], []
            for n in names:
                img, lab = base / "images" / f"{n}.png", base / "labels" / f"{n}.png"
                if not img.is_file() or not lab.is_file():
                    missing.append(n)
                    continue
                recs.append(SegRecord(n, (("rgb", f"{img}#rgb"), ("infrared", f"{img}#thermal")), str(lab)))
            if missing:
                raise DataNotFoundError(f"MFNet {split}: {len(missing)} name(s) of {split_file} have no "
                                        f"images/<name>.png or labels/<name>.png (e.g. {', '.join(missing[:3])})")
            if not recs:
                raise DataNotFoundError(f"MFNet {split}: {split_file} lists no images")
            return recs, f"mfnet:{base} ({split_file.name})"
    raise DataNotFoundError(f"MFNet not found under {root}: expected images/, labels/ and {split}.txt "
                            f"(RTFNet layout); official source: {MFNET_SOURCE}")


def find_msrs(root: Path | None, split: str = "test") -> tuple[list[SegRecord], str]:
    """MSRS records (``{split}/vi``, ``{split}/ir``, ``{split}/Segmentation_labels``) under ``root``."""
    if split not in ("train", "test"):
        raise ValueError(f"MSRS split must be 'train' or 'test', got {split!r}")
    if root is None:
        raise DataNotFoundError(f"MSRS needs --data-root (train|test/{{vi,ir,Segmentation_labels}}); source: {MSRS_SOURCE}")
    for base in (Path(root), Path(root) / "MSRS"):
        sp = base / split
        if (sp / "vi").is_dir():
            folders = {"vi": sp / "vi", "ir": sp / "ir", "Segmentation_labels": sp / "Segmentation_labels"}
            lacking = [k for k, p in folders.items() if not p.is_dir()]
            if lacking:
                raise DataNotFoundError(f"MSRS {split} at {sp} lacks folder(s) {', '.join(lacking)}")
            names = {k: _stems(p) for k, p in folders.items()}
            order = sorted(names["vi"])
            absent = [n for n in order if n not in names["ir"] or n not in names["Segmentation_labels"]]
            if absent:
                raise DataNotFoundError(f"MSRS {split}: {len(absent)} visible image(s) lack an ir/ or "
                                        f"Segmentation_labels/ file (e.g. {', '.join(absent[:3])})")
            return [SegRecord(n, (("rgb", str(names["vi"][n])), ("infrared", str(names["ir"][n]))),
                              str(names["Segmentation_labels"][n])) for n in order], f"msrs:{sp}"
    raise DataNotFoundError(f"MSRS {split} not found under {root} (expected {split}/vi, {split}/ir, "
                            f"{split}/Segmentation_labels); source: {MSRS_SOURCE}")


def pair_files(a_dir: Path, b_dir: Path, a_suffix: str, b_suffix: str,
               names: Sequence[str] | None = None) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Match files of two folders by relative path minus suffix (searched recursively).

    Returns ``(pairs, only_in_a, only_in_b)`` with pairs sorted by key. ``names`` (a split list of
    keys or base names) restricts the keys kept.
    """
    def index(folder: Path, suffix: str) -> dict[str, Path]:
        out = {}
        for dirpath, _, files in os.walk(folder):
            for f in files:
                if f.endswith(suffix):
                    rel = os.path.relpath(os.path.join(dirpath, f), folder)
                    out[rel[: -len(suffix)].replace(os.sep, "/")] = Path(dirpath) / f
        return out

    a, b = index(Path(a_dir), a_suffix), index(Path(b_dir), b_suffix)
    keys_a, keys_b = set(a), set(b)
    if names is not None:
        wanted = set(names)
        keys_a = {k for k in keys_a if k in wanted or k.rsplit("/", 1)[-1] in wanted}
        keys_b = {k for k in keys_b if k in wanted or k.rsplit("/", 1)[-1] in wanted}
    pairs = [(k, a[k], b[k]) for k in sorted(keys_a & keys_b)]
    return pairs, sorted(keys_a - keys_b), sorted(keys_b - keys_a)


def find_folder_pairs(images_dir: Path, labels_dir: Path, img_suffix: str = ".jpg", label_suffix: str = ".png",
                      split_file: Path | None = None) -> tuple[list[SegRecord], str]:
    """Generic image/label folders: one record per image; every image must have a label.

    Raises :class:`DataNotFoundError` for missing folders, images without labels (listing some) or an
    empty match (naming the suffixes used).
    """
    for what, p in (("image", images_dir), ("label", labels_dir)):
        if not Path(p).is_dir():
            raise DataNotFoundError(f"{what} folder not found: {p}")
    names = None
    if split_file is not None:
        if not Path(split_file).is_file():
            raise DataNotFoundError(f"split file not found: {split_file}")
        names = _read_split_file(Path(split_file))
    pairs, only_img, _ = pair_files(Path(images_dir), Path(labels_dir), img_suffix, label_suffix, names)
    if only_img:
        raise DataNotFoundError(f"{len(only_img)} image(s) in {images_dir} have no label '<name>{label_suffix}' in "
                                f"{labels_dir} (e.g. {', '.join(only_img[:3])}); fix the folders or the suffixes "
                                "(img_suffix / label_suffix)")
    if not pairs:
        raise DataNotFoundError(f"no '<name>{img_suffix}' image in {images_dir} has a '<name>{label_suffix}' label "
                                f"in {labels_dir}{' among the names of ' + str(split_file) if split_file else ''}")
    recs = [SegRecord(k, (("image", str(ip)),), str(lp)) for k, ip, lp in pairs]
    return recs, f"folders:{images_dir}|{labels_dir}"


def records_fingerprint(records: Sequence[SegRecord], extra: str = "") -> str:
    """Hash of the label files' contents plus every image file's name and size (images are large;
    the per-sample input hash covers their pixels)."""
    h = hashlib.sha256(extra.encode())
    for r in records:
        h.update(r.id.encode())
        for _, p in r.images:
            path = p.split("#", 1)[0]
            try:
                size = os.stat(path).st_size
            except OSError:
                size = -1
            h.update(f"{Path(path).name}:{size};".encode())
        with open(r.label, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:20]


def load_label(record: SegRecord) -> np.ndarray:
    """The record's gold label map (index PNG, or FMB colour PNG decoded with black -> 255)."""
    if record.label_kind == "fmb_color":
        return decode_color_label(record.label, FMB_PALETTE)
    return read_label_map(record.label)


def image_ref(name: str, path: str):
    """The MediaRef of one input: an :class:`~mmharness.requests.ImageFile`, or a channel of an
    RGB-T PNG when ``path`` ends with ``#rgb`` / ``#thermal``."""
    from ..requests import ImageFile

    if "#" in path:
        file, part = path.rsplit("#", 1)
        return RGBTChannels(file, part)
    return ImageFile(path)


# --------------------------------------------------------------------------- class lists of the presets

#: Class names (id order) of the single-modality presets, as used by mmsegmentation / torchvision.
CLASS_LISTS: dict[str, tuple[str, ...]] = {
    "voc21": ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
              "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
              "tvmonitor"),
    "cityscapes19": ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                     "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                     "motorcycle", "bicycle"),
    "pcontext59": ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "table",
                   "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
                   "bag", "bed", "bench", "book", "building", "cabinet", "ceiling", "cloth", "computer", "cup",
                   "door", "fence", "floor", "flower", "food", "grass", "ground", "keyboard", "light", "mountain",
                   "mouse", "curtain", "platform", "sign", "plate", "road", "rock", "shelves", "sidewalk", "sky",
                   "snow", "bedclothes", "track", "tree", "truck", "wall", "water", "window", "wood"),
    "ade150": ("wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
               "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
               "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair",
               "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box",
               "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
               "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow",
               "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
               "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair",
               "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
               "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole",
               "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship",
               "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel",
               "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
               "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket",
               "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
               "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag"),
    "fmb15": FMB_PROMPT_NAMES,
    "mfnet9": MFNET_CLASSES,
}


def read_class_list(spec: str) -> tuple[str, ...]:
    """Class names from a built-in list name (:data:`CLASS_LISTS`), a text file (one name per line;
    blank lines and ``#`` comments skipped), or ``;``-separated names."""
    if spec in CLASS_LISTS:
        return CLASS_LISTS[spec]
    p = Path(spec).expanduser()
    if p.is_file():
        names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
        if not names:
            raise ValueError(f"class list file {p} holds no class names")
        return tuple(names)
    if ";" in spec:
        names = [n.strip() for n in spec.split(";") if n.strip()]
        if names:
            return tuple(names)
    raise ValueError(f"classes={spec!r} is neither a built-in list ({', '.join(CLASS_LISTS)}), an existing text "
                     "file (one class name per line), nor ';'-separated names")
