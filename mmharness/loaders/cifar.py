"""Readers of the CIFAR-10 / CIFAR-100 **test** sets in their common release layouts.

Every reader returns a :class:`CifarTestSet`: the test images in their **stored order** (the order
of the official ``test_batch`` / ``test`` files, which torchvision and the Hugging Face datasets
keep), their labels, and for each image its CIFAR-B annotation key ``'%04d.png' % k`` where k is
the 1-based rank of the image among the test images of its class (``docs/protocols/cifar_b.md`` §2).

Layouts (``<root>`` is the data root):

* ``torchvision`` -- the python version: ``<root>/cifar-10-batches-py/test_batch`` (+ ``batches.meta``)
  or ``<root>/cifar-100-python/test`` (+ ``meta``; labels from ``fine_labels``). These files are
  pickles; they are read with a restricted unpickler that can only rebuild numpy arrays and plain
  containers, so a tampered file cannot run code (:class:`UnsafePickleError`).
* ``binary`` -- the binary version: ``<root>/cifar-10-batches-bin/test_batch.bin`` (rows of 1 label
  byte + 3072 pixel bytes) or ``<root>/cifar-100-binary/test.bin`` (coarse byte, fine byte, 3072).
* ``png`` -- the cifar2png tree ``<root>/test/<class_name>/<NNNN>.png`` (also looked for at
  ``<root>/<dataset>/test``). The file name *is* the annotation key; samples are ordered by class
  index, then file name, so the "test index" of a PNG tree is that order, not the original one.
* ``hf`` -- Hugging Face ``uoft-cs/cifar10`` (columns ``img``, ``label``) or ``uoft-cs/cifar100``
  (``img``, ``fine_label``): a local directory written by ``save_to_disk`` or holding the parquet
  files (``test-*.parquet``), or the hub id through ``datasets.load_dataset(id, split="test")``
  (offline this works only when the dataset is in the local HF cache). Rows stay lazy.

:func:`detect_cifar_source` tries them in the order of :data:`SOURCE_ORDER`. Loaded contents are
kept in a small per-process cache: the torchvision and binary readers return what this process
already read from the same files while their fingerprint (memoised by file stat) is unchanged.

The CIFAR-B subgroup annotations are read from the JSON files bundled in
``mmharness/data/annotations`` (converted once from the official ``.npy`` pickles by
``tools/convert_cifar_b_annotations.py``); nothing is unpickled from them at run time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..requests import ImageFile, MediaDecodeError
from ..task import DataNotFoundError, TaskError, sha256_files
from .safe_pickle import UnsafePickleError, restricted_loads

# --------------------------------------------------------------------------- constants

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup",
    "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house",
    "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
    "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

CLASSES: dict[str, tuple[str, ...]] = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES}
PRETTY = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
TEST_SIZE = 10_000
IMAGE_BYTES = 3 * 32 * 32

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
HF_IDS = {"cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100"}
HF_LABEL_COLUMN = {"cifar10": "label", "cifar100": "fine_label"}
HF_IMAGE_COLUMNS = ("img", "image")

#: The order in which :func:`detect_cifar_source` tries the layouts.
SOURCE_ORDER: tuple[str, ...] = ("torchvision", "binary", "png", "hf")

_TORCHVISION = {
    "cifar10": ("cifar-10-batches-py", "test_batch", "batches.meta", "labels", "label_names"),
    "cifar100": ("cifar-100-python", "test", "meta", "fine_labels", "fine_label_names"),
}
_BINARY = {
    "cifar10": ("cifar-10-batches-bin", "test_batch.bin", "batches.meta.txt", 1),
    "cifar100": ("cifar-100-binary", "test.bin", "fine_label_names.txt", 2),
}

_NAME_RE = re.compile(r"^(\d{4,})\.png$")


def _check_dataset(dataset: str) -> str:
    if dataset not in CLASSES:
        raise TaskError(f"unknown CIFAR dataset {dataset!r}; expected 'cifar10' or 'cifar100'")
    return dataset


# --------------------------------------------------------------------------- restricted unpickling


_CIFAR_HINT = ("A CIFAR batch file may only contain numpy arrays, lists, dicts, numbers and strings: the file is "
               "not a genuine CIFAR release file (or it is corrupt); re-download it from " + OFFICIAL_URL)


def restricted_pickle_load(path: str | Path) -> Any:
    """Load a CIFAR python-version pickle from ``path`` without the possibility of running code.

    Read with the harness's one restricted unpickler (:mod:`mmharness.loaders.safe_pickle`: numpy
    array reconstruction with numeric dtypes and plain containers only; ``_codecs.encode``,
    object dtypes and every other global raise :class:`UnsafePickleError`). Strings are decoded as
    latin-1, as torchvision does for these Python-2 pickles.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return restricted_loads(data, str(path), _CIFAR_HINT, encoding="latin1")
    except UnsafePickleError:
        raise
    except Exception as e:
        raise TaskError(f"cannot read CIFAR pickle {path}: {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- rank-within-class


def rank_within_class(labels: np.ndarray) -> np.ndarray:
    """1-based rank of each sample among the samples of its class, in the given (stored) order.

    ``rank_within_class([3, 8, 3, 0]) == [1, 1, 2, 1]``. Vectorised (stable sort); int64.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("labels must be 1-D")
    n = labels.shape[0]
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    first = np.searchsorted(sorted_labels, sorted_labels, side="left")
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n, dtype=np.int64) - first + 1
    return ranks


def annotation_names(labels: np.ndarray) -> list[str]:
    """CIFAR-B annotation key of each sample: ``'%04d.png' % rank_within_class``.

    ``annotation_names([3, 8, 3, 0]) == ['0001.png', '0001.png', '0002.png', '0001.png']``.
    """
    return ["%04d.png" % r for r in rank_within_class(labels).tolist()]  # Python ints format faster


# --------------------------------------------------------------------------- the test set object


@dataclass
class _Store:
    """The loaded contents behind a :class:`CifarTestSet` (kept in a per-process cache)."""

    labels: np.ndarray
    classes: tuple[str, ...]
    fingerprint: str
    images: Any  # (N, 3072) uint8 array, a HF Dataset, or a list of PNG paths
    image_column: str | None = None
    names: list[str] | None = None  # PNG file names (the annotation keys)
    _ranks: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _keys: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def ranks(self) -> np.ndarray:
        """1-based rank of each image within its class (from the PNG name for the png layout);
        computed once per store (read-only: every test set of this store shares it)."""
        if self._ranks is None:
            if self.names is not None:
                ranks = np.asarray([int(_NAME_RE.match(n).group(1)) if _NAME_RE.match(n) else -1
                                    for n in self.names], dtype=np.int64)
            else:
                ranks = rank_within_class(self.labels)
            ranks.setflags(write=False)
            self._ranks = ranks
        return self._ranks

    def annotation_keys(self) -> tuple[str, ...]:
        """Annotation key of each image (the file name for PNGs), computed once per store."""
        if self._keys is None:
            self._keys = tuple(self.names) if self.names is not None else tuple(annotation_names(self.labels))
        return self._keys


_STORE_CACHE: "OrderedDict[tuple, _Store]" = OrderedDict()
_STORE_LOCK = threading.Lock()
_STORE_CACHE_SIZE = 4


def _cache_put(key: tuple, store: _Store) -> None:
    with _STORE_LOCK:
        _STORE_CACHE[key] = store
        _STORE_CACHE.move_to_end(key)
        while len(_STORE_CACHE) > _STORE_CACHE_SIZE:
            _STORE_CACHE.popitem(last=False)


def _cache_get(key: tuple) -> _Store | None:
    with _STORE_LOCK:
        store = _STORE_CACHE.get(key)
        if store is not None:
            _STORE_CACHE.move_to_end(key)
        return store


class CifarTestSet:
    """One CIFAR test set in stored order, row-indexable for :class:`~mmharness.requests.ImageArray`.

    Attributes: ``dataset`` (``"cifar10"``/``"cifar100"``), ``kind`` (the layout), ``source``
    (``"<kind>:<location>"``), ``fingerprint`` (content hash of the data files), and the lazily
    loaded ``labels`` (int64, stored order), ``classes`` (standard label order), ``image_names``
    (annotation key of each sample) and ``ranks``. ``image(i)`` returns sample i as an RGB
    ``PIL.Image``; ``describe(i)`` names it for error messages.

    Pickling keeps only the descriptor (kind, location, fingerprint), so passing the object to
    DataLoader workers or inside every request is cheap; a process that unpickles it reloads the
    data once (per-process cache) and checks that the fingerprint is unchanged.
    """

    def __init__(self, kind: str, dataset: str, location: str, fingerprint: str,
                 store: _Store | None = None):
        self.kind = kind
        self.dataset = _check_dataset(dataset)
        self.location = location
        self.fingerprint = fingerprint
        self._store = store
        self._names: list[str] | None = None
        self._ranks: np.ndarray | None = None
        if store is not None:
            _cache_put(self._key(), store)

    # -------------------------------------------------------------- identity and pickling
    @property
    def source(self) -> str:
        """``"<kind>:<location>"``, e.g. ``"torchvision:/data/cifar-10-batches-py/test_batch"``."""
        return f"{self.kind}:{self.location}"

    def _key(self) -> tuple:
        return (self.kind, self.dataset, self.location, self.fingerprint)

    def __getstate__(self):
        return {"kind": self.kind, "dataset": self.dataset, "location": self.location,
                "fingerprint": self.fingerprint}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._store = None
        self._names = None
        self._ranks = None

    def __repr__(self) -> str:
        return f"CifarTestSet({self.dataset}, {self.source})"

    def _get_store(self) -> _Store:
        if self._store is None:
            store = _cache_get(self._key())
            if store is None:
                store = _READERS[self.kind](self.location, self.dataset)
                if store.fingerprint != self.fingerprint:
                    raise TaskError(
                        f"the CIFAR data at {self.source} changed since it was loaded "
                        f"(fingerprint {store.fingerprint} != {self.fingerprint})"
                    )
                _cache_put(self._key(), store)
            self._store = store
        return self._store

    # -------------------------------------------------------------- contents
    @property
    def labels(self) -> np.ndarray:
        """Class index of each test image, int64, in stored test order."""
        return self._get_store().labels

    @property
    def classes(self) -> list[str]:
        """Class names in standard label order (CIFAR-100: alphabetical fine labels)."""
        return list(self._get_store().classes)

    @property
    def ranks(self) -> np.ndarray:
        """1-based rank of each image within its class (from the PNG name for the png layout);
        a read-only array shared by every test set of the same data."""
        if self._ranks is None:
            self._ranks = self._get_store().ranks()
        return self._ranks

    @property
    def image_names(self) -> list[str]:
        """Annotation key of each image: ``'%04d.png' % rank_within_class`` (the file name for PNGs)."""
        if self._names is None:
            self._names = list(self._get_store().annotation_keys())
        return self._names

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def file_path(self, index: int) -> str | None:
        """The image file of sample ``index`` for the png layout; ``None`` for array layouts."""
        store = self._get_store()
        return store.images[index] if self.kind == "png" else None

    def image(self, index: int):
        """Sample ``index`` as a 32x32 RGB ``PIL.Image``; raises ``MediaDecodeError`` naming it."""
        from PIL import Image

        store = self._get_store()
        n = store.labels.shape[0]
        if not 0 <= index < n:
            raise MediaDecodeError(f"{self.describe(index)}: index out of range (test set has {n} images)")
        if self.kind in ("torchvision", "binary"):
            row = np.asarray(store.images[index], dtype=np.uint8)
            return Image.fromarray(np.ascontiguousarray(row.reshape(3, 32, 32).transpose(1, 2, 0)), "RGB")
        if self.kind == "png":
            return ImageFile(store.images[index]).load()
        try:
            img = store.images[int(index)][store.image_column]
            if img is None:
                raise ValueError("empty image cell")
            return img.convert("RGB")
        except Exception as e:
            raise MediaDecodeError(f"cannot decode image {self.describe(index)}: {type(e).__name__}: {e}") from e

    def describe(self, index: int) -> str:
        """Where sample ``index`` lives: the PNG path, or the file / dataset and the row index."""
        if self.kind == "png":
            store = self._get_store()
            if 0 <= index < len(store.images):
                return store.images[index]
        if self.kind == "hf":
            return f"{PRETTY[self.dataset]} test image {index} of Hugging Face {self.location}"
        return f"{PRETTY[self.dataset]} test image {index} of {self.location}"


# --------------------------------------------------------------------------- readers


def _check_classes(found, dataset: str, where: str) -> tuple[str, ...]:
    expected = CLASSES[dataset]
    found = tuple(str(c) for c in found)
    if found != expected:
        raise TaskError(
            f"{where}: class names {list(found)[:5]}... do not match the standard {PRETTY[dataset]} "
            f"label order {list(expected)[:5]}..."
        )
    return expected


def _check_labels(labels: np.ndarray, dataset: str, where: str) -> np.ndarray:
    labels = np.asarray(labels).astype(np.int64)
    c = len(CLASSES[dataset])
    if labels.ndim != 1:
        raise TaskError(f"{where}: labels must be 1-D")
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise TaskError(f"{where}: labels outside [0, {c}) (is this the right dataset?)")
    return labels


def _cached_store(kind: str, dataset: str, location: str, files: list[Path], extra: str) -> _Store | None:
    """The store this process already read from ``files`` (the data files hashed into its
    fingerprint, with ``extra``) if their fingerprint is unchanged, else None (nothing cached, or
    a file is gone: the reader then reports it). The fingerprint is memoised by each file's stat
    (:func:`~mmharness.task.sha256_files`), so this costs a few ``stat`` calls, not a read."""
    try:
        fingerprint = sha256_files(files, extra=extra)
    except OSError:
        return None
    return _cache_get((kind, dataset, location, fingerprint))


def _torchvision_paths(root: Path, dataset: str) -> tuple[Path, Path]:
    folder, test, meta, _, _ = _TORCHVISION[dataset]
    return root / folder / test, root / folder / meta


def _read_torchvision_store(location: str, dataset: str) -> _Store:
    test_path = Path(location)
    _, _, meta_name, label_key, names_key = _TORCHVISION[dataset]
    meta_path = test_path.parent / meta_name
    has_meta = meta_path.is_file()
    cached = _cached_store("torchvision", dataset, location, [test_path, meta_path] if has_meta else [test_path],
                           f"torchvision:{dataset}")
    if cached is not None:
        return cached
    entry = restricted_pickle_load(test_path)
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise TaskError(f"{test_path}: not a {PRETTY[dataset]} python batch (needs 'data' and '{label_key}')")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise TaskError(f"{test_path}: 'data' must be a uint8 array of shape (N, {IMAGE_BYTES})")
    labels = _check_labels(entry[label_key], dataset, str(test_path))
    if labels.shape[0] != data.shape[0]:
        raise TaskError(f"{test_path}: {labels.shape[0]} labels for {data.shape[0]} images")
    files = [test_path]
    classes = CLASSES[dataset]
    if has_meta:
        meta = restricted_pickle_load(meta_path)
        if isinstance(meta, dict) and names_key in meta:
            classes = _check_classes(meta[names_key], dataset, str(meta_path))
        files.append(meta_path)
    return _Store(labels=labels, classes=classes, images=data,
                  fingerprint=sha256_files(files, extra=f"torchvision:{dataset}"))


def read_torchvision(root: str | Path, dataset: str) -> CifarTestSet:
    """Read the torchvision / python-version test batch under ``root`` (restricted unpickling).

    Raises :class:`DataNotFoundError` if the file is absent, :class:`UnsafePickleError` if it
    references anything but numpy array reconstruction, :class:`TaskError` if it is malformed.
    """
    _check_dataset(dataset)
    test_path, _ = _torchvision_paths(Path(root), dataset)
    if not test_path.is_file():
        raise DataNotFoundError(_not_found_message(Path(root), dataset, only="torchvision"))
    store = _read_torchvision_store(str(test_path), dataset)
    return CifarTestSet("torchvision", dataset, str(test_path), store.fingerprint, store)


def _binary_paths(root: Path, dataset: str) -> tuple[Path, Path]:
    folder, test, names, _ = _BINARY[dataset]
    return root / folder / test, root / folder / names


def _read_binary_store(location: str, dataset: str) -> _Store:
    test_path = Path(location)
    _, _, names_file, label_bytes = _BINARY[dataset]
    row = label_bytes + IMAGE_BYTES
    names_path = test_path.parent / names_file
    has_names = names_path.is_file()
    cached = _cached_store("binary", dataset, location, [test_path, names_path] if has_names else [test_path],
                           f"binary:{dataset}")
    if cached is not None:
        return cached
    raw = np.fromfile(test_path, dtype=np.uint8)
    if raw.size == 0 or raw.size % row:
        raise TaskError(f"{test_path}: size {raw.size} B is not a multiple of the {row}-byte record "
                        f"of the {PRETTY[dataset]} binary version")
    rows = raw.reshape(-1, row)
    labels = _check_labels(rows[:, label_bytes - 1], dataset, str(test_path))
    files = [test_path]
    classes = CLASSES[dataset]
    if has_names:
        names = [ln.strip() for ln in names_path.read_text(encoding="latin1").splitlines() if ln.strip()]
        classes = _check_classes(names, dataset, str(names_path))
        files.append(names_path)
    return _Store(labels=labels, classes=classes, images=rows[:, label_bytes:],
                  fingerprint=sha256_files(files, extra=f"binary:{dataset}"))


def read_binary(root: str | Path, dataset: str) -> CifarTestSet:
    """Read the binary-version test file under ``root`` (``test_batch.bin`` / ``test.bin``)."""
    _check_dataset(dataset)
    test_path, _ = _binary_paths(Path(root), dataset)
    if not test_path.is_file():
        raise DataNotFoundError(_not_found_message(Path(root), dataset, only="binary"))
    store = _read_binary_store(str(test_path), dataset)
    return CifarTestSet("binary", dataset, str(test_path), store.fingerprint, store)


def _png_candidates(root: Path, dataset: str) -> list[Path]:
    return [root / "test", root / dataset / "test"]


def _png_tree_matches(test_dir: Path, dataset: str) -> bool:
    if not test_dir.is_dir():
        return False
    subdirs = {p.name for p in test_dir.iterdir() if p.is_dir()}
    return bool(subdirs) and subdirs <= set(CLASSES[dataset])


def _read_png_store(location: str, dataset: str) -> _Store:
    test_dir = Path(location)
    classes = CLASSES[dataset]
    subdirs = sorted(p.name for p in test_dir.iterdir() if p.is_dir())
    unknown = [d for d in subdirs if d not in classes]
    if unknown:
        raise TaskError(f"{test_dir}: folders {unknown[:5]} are not {PRETTY[dataset]} class names")
    paths: list[str] = []
    names: list[str] = []
    labels: list[int] = []
    h = hashlib.sha256(f"png:{dataset}".encode())
    for ci, cname in enumerate(classes):
        cdir = test_dir / cname
        if not cdir.is_dir():
            continue
        files = sorted(p for p in cdir.iterdir() if p.is_file() and p.suffix.lower() == ".png")
        for p in files:
            paths.append(str(p))
            names.append(p.name)
            labels.append(ci)
            h.update(f"{cname}/{p.name}\0".encode())
            h.update(p.read_bytes())
            h.update(b"\0")
    if not paths:
        raise DataNotFoundError(f"no PNG images under {test_dir}/<class>/ (cifar2png layout)")
    return _Store(labels=np.asarray(labels, dtype=np.int64), classes=classes, images=paths,
                  names=names, fingerprint=h.hexdigest()[:20])


def read_png(root: str | Path, dataset: str) -> CifarTestSet:
    """Read a cifar2png tree ``<root>/test/<class>/<NNNN>.png`` (or ``<root>/<dataset>/test/...``).

    Samples are ordered by class index, then file name; the file name is the annotation key.
    """
    _check_dataset(dataset)
    for cand in _png_candidates(Path(root), dataset):
        if _png_tree_matches(cand, dataset):
            store = _read_png_store(str(cand), dataset)
            return CifarTestSet("png", dataset, str(cand), store.fingerprint, store)
    raise DataNotFoundError(_not_found_message(Path(root), dataset, only="png"))


def _hf_local_candidates(root: Path, dataset: str) -> list[Path]:
    return [root, root / dataset, root / HF_IDS[dataset].replace("/", "___"), root / HF_IDS[dataset]]


def _hf_local_kind(path: Path, shallow: bool = False) -> str | None:
    if not path.is_dir():
        return None
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return "disk"
    if _hf_parquet_files(path, shallow):
        return "parquet"
    return None


def _hf_parquet_files(path: Path, shallow: bool = False) -> list[Path]:
    """``test*.parquet`` in ``path`` or one folder down (``plain_text/``, ``cifar100/``, ``data/``).

    ``shallow`` (used for the bare data root, which may hold other datasets) looks only in ``path``
    and ``path/data``. Never a recursive walk of a large data root.
    """
    patterns = ["test*.parquet", "data/test*.parquet"] if shallow else ["test*.parquet", "*/test*.parquet"]
    found = {p for pat in patterns for p in path.glob(pat) if p.is_file()}
    return sorted(found)


def _hf_open(location: str, dataset: str):
    """Open the HF test split named by ``location``.

    ``hub:<id>``; ``disk:<dir>`` (``save_to_disk``); ``parquet:<dir>`` (``test*.parquet`` in the dir
    or one folder down); ``parquet-root:<dir>`` (the bare data root: only ``<dir>`` and ``<dir>/data``).
    """
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise TaskError("reading CIFAR from Hugging Face needs the `datasets` package") from e
    mode, _, where = location.partition(":")
    mode_shallow = mode == "parquet-root"
    if mode_shallow:
        mode = "parquet"
    if mode == "hub":
        ds = datasets.load_dataset(where, split="test")
        files = [Path(f["filename"]) for f in (ds.cache_files or []) if Path(f["filename"]).is_file()]
    elif mode == "disk":
        obj = datasets.load_from_disk(where)
        if isinstance(obj, datasets.DatasetDict):
            if "test" not in obj:
                raise TaskError(f"{where}: the saved DatasetDict has no 'test' split (has {list(obj)})")
            obj = obj["test"]
        ds = obj
        files = [Path(f["filename"]) for f in (ds.cache_files or [])]
    elif mode == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = _hf_parquet_files(Path(where), shallow=mode_shallow)
        if not files:
            raise DataNotFoundError(f"no test-*.parquet files under {where}")
        table = pa.concat_tables([pq.read_table(f, memory_map=True) for f in files])
        ds = datasets.Dataset(table)
    else:
        raise TaskError(f"bad Hugging Face location {location!r}")
    image_col = next((c for c in HF_IMAGE_COLUMNS if c in ds.column_names), None)
    label_col = HF_LABEL_COLUMN[dataset]
    if image_col is None or label_col not in ds.column_names:
        raise TaskError(f"Hugging Face {location}: expected columns 'img' and '{label_col}', "
                        f"found {ds.column_names}")
    if not isinstance(ds.features[image_col], datasets.Image):
        ds = ds.cast_column(image_col, datasets.Image())
    return ds, image_col, label_col, files


def _read_hf_store(location: str, dataset: str) -> _Store:
    ds, image_col, label_col, files = _hf_open(location, dataset)
    feature = ds.features[label_col]
    classes = CLASSES[dataset]
    if hasattr(feature, "names") and feature.names:
        classes = _check_classes(feature.names, dataset, f"Hugging Face {location}")
    labels = _check_labels(np.asarray(ds[label_col]), dataset, f"Hugging Face {location}")
    if files:
        fp = sha256_files(files, extra=f"hf:{dataset}:{len(ds)}")
    else:  # pragma: no cover - hub datasets always have cache files
        fp = hashlib.sha256(f"hf:{location}:{getattr(ds, '_fingerprint', '')}".encode()).hexdigest()[:20]
    return _Store(labels=labels, classes=classes, images=ds, image_column=image_col, fingerprint=fp)


def read_hf(location: str | Path, dataset: str) -> CifarTestSet:
    """Read the HF CIFAR test split from a local dir (``save_to_disk`` or parquet) or a hub id.

    ``location`` is a directory (searched as ``<dir>``, ``<dir>/<dataset>``, ...) or a hub id such
    as ``"uoft-cs/cifar10"`` (``datasets.load_dataset(id, split="test")``; offline only if cached).
    """
    _check_dataset(dataset)
    loc = str(location)
    path = Path(loc)
    if path.is_dir():
        for cand in _hf_local_candidates(path, dataset):
            shallow = cand == path
            kind = _hf_local_kind(cand, shallow)
            if kind is not None:
                spec = f"{'parquet-root' if (kind == 'parquet' and shallow) else kind}:{cand}"
                store = _read_hf_store(spec, dataset)
                return CifarTestSet("hf", dataset, spec, store.fingerprint, store)
        raise DataNotFoundError(_not_found_message(path, dataset, only="hf"))
    spec = f"hub:{loc}"
    try:
        store = _read_hf_store(spec, dataset)
    except TaskError:
        raise
    except Exception as e:
        raise DataNotFoundError(
            f"could not load Hugging Face dataset {loc!r} (split 'test'): {type(e).__name__}: {e}. "
            f"Offline, it must already be in the local HF cache. Official source: {OFFICIAL_URL}"
        ) from e
    return CifarTestSet("hf", dataset, spec, store.fingerprint, store)


_READERS = {
    "torchvision": _read_torchvision_store,
    "binary": _read_binary_store,
    "png": _read_png_store,
    "hf": _read_hf_store,
}


# --------------------------------------------------------------------------- detection


def _not_found_message(root: Path | None, dataset: str, only: str | None = None,
                       hub_error: str | None = None) -> str:
    pretty = PRETTY[dataset]
    lines = []
    if root is None:
        lines.append(f"{pretty} test set not found: no data root was given (--data-root / MMH_DATA_ROOT).")
    else:
        head = f"{pretty} test set not found under {root}"
        if not root.exists():
            head += f" (the directory {root} does not exist)"
        lines.append(head + ". Looked for:")
        tv_test, tv_meta = _torchvision_paths(root, dataset)
        bin_test, _ = _binary_paths(root, dataset)
        if only in (None, "torchvision"):
            lines.append(f"  - {tv_test} (+ {tv_meta.name}): torchvision / python version")
        if only in (None, "binary"):
            lines.append(f"  - {bin_test}: binary version")
        if only in (None, "png"):
            cands = " or ".join(f"{c}/<class_name>/<NNNN>.png" for c in _png_candidates(root, dataset))
            lines.append(f"  - {cands}: cifar2png layout")
        if only in (None, "hf"):
            cands = ", ".join(str(c) for c in _hf_local_candidates(root, dataset))
            lines.append(f"  - a Hugging Face save_to_disk folder (dataset_dict.json / state.json) or "
                         f"test-*.parquet files in {cands}")
    if hub_error is not None:
        lines.append(f"  - Hugging Face hub id {HF_IDS[dataset]}: {hub_error}")
    lines.append(
        f"Official sources: {OFFICIAL_URL} (e.g. torchvision.datasets."
        f"{'CIFAR10' if dataset == 'cifar10' else 'CIFAR100'}(root, train=False, download=True)), "
        f"or the Hugging Face dataset {HF_IDS[dataset]}."
    )
    return "\n".join(lines)


def detect_cifar_source(root: str | Path | None, dataset: str, source: str | None = None,
                        allow_hub: bool = True) -> CifarTestSet:
    """Find and read the CIFAR test set of ``dataset`` (``"cifar10"`` or ``"cifar100"``).

    Order tried under ``root`` (see :data:`SOURCE_ORDER`): torchvision python version, binary
    version, cifar2png PNG tree, local Hugging Face folder (``save_to_disk`` or parquet); finally,
    when ``allow_hub``, the hub id ``uoft-cs/cifar10`` / ``uoft-cs/cifar100`` via
    ``datasets.load_dataset`` (offline only if cached). ``source`` forces one layout
    (``"torchvision"``, ``"binary"``, ``"png"``, ``"hf"``). When nothing is found, raises
    :class:`~mmharness.task.DataNotFoundError` naming every expected path and the official sources.
    """
    _check_dataset(dataset)
    if source is not None and source not in SOURCE_ORDER:
        raise TaskError(f"unknown CIFAR source {source!r}; choose one of {list(SOURCE_ORDER)}")
    root_path = Path(root).expanduser() if root is not None else None
    order = (source,) if source else SOURCE_ORDER
    if root_path is not None and not root_path.is_dir():
        # an explicit root that does not exist is a mistake to report, not a cue to use the hub
        raise DataNotFoundError(_not_found_message(root_path, dataset, only=source))
    if root_path is not None and root_path.is_dir():
        for kind in order:
            if kind == "torchvision" and _torchvision_paths(root_path, dataset)[0].is_file():
                return read_torchvision(root_path, dataset)
            if kind == "binary" and _binary_paths(root_path, dataset)[0].is_file():
                return read_binary(root_path, dataset)
            if kind == "png" and any(_png_tree_matches(c, dataset) for c in _png_candidates(root_path, dataset)):
                return read_png(root_path, dataset)
            if kind == "hf" and any(_hf_local_kind(c, c == root_path)
                                    for c in _hf_local_candidates(root_path, dataset)):
                return read_hf(root_path, dataset)
    hub_error = None
    if allow_hub and "hf" in order:
        spec = f"hub:{HF_IDS[dataset]}"
        try:
            store = _read_hf_store(spec, dataset)
        except TaskError:
            raise
        except Exception as e:  # offline and not cached, no network, ...
            reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            hub_error = (f"could not be loaded with datasets.load_dataset(split='test') "
                         f"({type(e).__name__}: {reason}); offline it must be in the local HF cache")
        else:
            return CifarTestSet("hf", dataset, spec, store.fingerprint, store)
    only = source if source else None
    raise DataNotFoundError(_not_found_message(root_path, dataset, only=only, hub_error=hub_error))


# --------------------------------------------------------------------------- CIFAR-B annotations


ANNOTATION_DIR = Path(__file__).resolve().parent.parent / "data" / "annotations"


@dataclass(frozen=True)
class CifarBAnnotations:
    """The CIFAR-B subgroup annotations of one dataset, read from the bundled JSON.

    ``table[c, r]`` is the subgroup id of the test image of class c with rank r (1-based), or -1
    when there is no such annotation. ``path`` is the JSON file; ``sha256`` the hex sha256 of the
    bytes read from it (hashed into data fingerprints).
    """

    dataset: str
    classes: tuple[str, ...]
    subgroups: dict
    table: np.ndarray
    path: Path
    source: str
    sha256: str

    def lookup(self, labels: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Subgroup id per sample from its class index and rank; ``TaskError`` naming any missing key."""
        labels = np.asarray(labels, dtype=np.int64)
        ranks = np.asarray(ranks, dtype=np.int64)
        ok = (ranks >= 1) & (ranks < self.table.shape[1])
        out = np.full(labels.shape, -1, dtype=np.int64)
        out[ok] = self.table[labels[ok], ranks[ok]]
        bad = np.flatnonzero(out < 0)
        if bad.size:
            i = int(bad[0])
            key = "%04d.png" % ranks[i] if ranks[i] >= 1 else "(not a NNNN.png name)"
            raise TaskError(
                f"{bad.size} test image(s) have no CIFAR-B annotation; first: sample {i}, class "
                f"{self.classes[labels[i]]!r}, key {key} ({self.path.name} has "
                f"{int((self.table[labels[i]] >= 0).sum())} images for that class). Is this the "
                f"{PRETTY[self.dataset]} *test* set in its stored order?"
            )
        return out


@functools.lru_cache(maxsize=4)
def load_cifar_b_annotations(dataset: str) -> CifarBAnnotations:
    """Read ``mmharness/data/annotations/<dataset>_b_subgroups.json`` (plain JSON, never a pickle)."""
    _check_dataset(dataset)
    path = ANNOTATION_DIR / f"{dataset}_b_subgroups.json"
    if not path.is_file():
        raise TaskError(f"bundled annotation file missing: {path} (run tools/convert_cifar_b_annotations.py)")
    raw = path.read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    classes = _check_classes(doc["classes"], dataset, str(path))
    subgroups = doc["subgroups"]
    max_rank = 0
    for cname in classes:
        for name in subgroups[cname]:
            m = _NAME_RE.match(name)
            if not m:
                raise TaskError(f"{path}: bad image name {name!r} for class {cname!r}")
            max_rank = max(max_rank, int(m.group(1)))
    table = np.full((len(classes), max_rank + 1), -1, dtype=np.int64)
    for ci, cname in enumerate(classes):
        for name, g in subgroups[cname].items():
            table[ci, int(_NAME_RE.match(name).group(1))] = int(g)
    return CifarBAnnotations(dataset=dataset, classes=classes, subgroups=subgroups, table=table,
                             path=path, source=str(doc.get("source", "")), sha256=hashlib.sha256(raw).hexdigest())
