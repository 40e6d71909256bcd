"""Lazy, row-indexable access to Hugging Face datasets stored as parquet (or in the HF cache).

A :class:`RowTable` holds the *text* columns of the selected rows in memory and reads binary
columns (images) one row at a time, so a 570 MB (MMRA) or 300 GB (PixelWorld) release is never
decoded as a whole. Sources (the ``location`` string, recorded in results):

* ``parquet:<file>|<file>...`` -- parquet files on disk (a hub snapshot, ``huggingface-cli download``);
  rows are read by row group with a small per-process cache;
* ``disk:<dir>[#split]`` -- a folder written by ``datasets.save_to_disk``;
* ``hub:<id>#<split>`` -- ``datasets.load_dataset(id, split=split)`` (offline: only when cached).

A row filter ``column == value`` (e.g. ``Dataset == "GSM8KDataset"``) selects rows without loading
the others' binary columns. Pickling keeps only the descriptor, so a RowTable travels cheaply to
DataLoader workers, which reopen the source once per process and check its fingerprint.

Images are Hugging Face ``Image`` cells (``{"bytes": ..., "path": ...}``); :func:`decode_image_cell`
turns one into an RGB ``PIL.Image`` or raises :class:`~mmharness.requests.MediaDecodeError` naming
the row, for empty cells, missing bytes, undecodable data or zero-sized images.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..requests import MediaDecodeError
from ..task import DataNotFoundError, TaskError

_FOOTER_BYTES = 1 << 16


def parquet_fingerprint(files: Sequence[Path], extra: str = "") -> str:
    """Cheap content identity of parquet files: names, sizes and footers (row-group metadata)."""
    h = hashlib.sha256(extra.encode())
    for f in files:
        f = Path(f)
        size = f.stat().st_size
        h.update(f"{f.name}:{size};".encode())
        with open(f, "rb") as fh:
            fh.seek(max(0, size - _FOOTER_BYTES))
            h.update(fh.read())
    return h.hexdigest()[:20]


@dataclass
class _Opened:
    """An opened source: text columns of the selected rows, and how to reach a row's cells."""

    text: dict[str, list]
    locator: list[tuple[int, int, int]]  # per selected row: (chunk, row group, row in group)
    chunks: list[Any]  # pq.ParquetFile objects, or one pa.Table for in-memory / mmap sources
    fingerprint: str
    kind: str


_OPEN_CACHE: "OrderedDict[tuple, _Opened]" = OrderedDict()
_GROUP_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_LOCK = threading.Lock()


class RowTable:
    """Rows of one dataset split (optionally filtered), text eager, binary columns lazy.

    ``text_columns`` are loaded for every selected row (``column(name)``); ``cell(i, name)``
    reads any column of row ``i`` lazily. ``describe(i)`` names a row for error messages.
    """

    def __init__(self, location: str, text_columns: Sequence[str], *,
                 row_filter: tuple[str, str] | None = None, required: Sequence[str] = (),
                 label: str = "dataset"):
        self.location = location
        self.text_columns = tuple(text_columns)
        self.row_filter = row_filter
        self.required = tuple(required)
        self.label = label
        self._stat = _stat_signature(location)  # files rewritten at the same path get a new cache key
        self.fingerprint = self._open().fingerprint

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        return {"location": self.location, "text_columns": self.text_columns,
                "row_filter": self.row_filter, "required": self.required, "label": self.label,
                "fingerprint": self.fingerprint, "_stat": self._stat}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _key(self) -> tuple:
        return (self.location, self.text_columns, self.row_filter, getattr(self, "_stat", ()))

    def _open(self) -> _Opened:
        key = self._key()
        with _LOCK:
            got = _OPEN_CACHE.get(key)
        if got is not None:
            fp = getattr(self, "fingerprint", None)
            if fp is not None and got.fingerprint != fp:
                raise TaskError(f"{self.label} at {self.location} changed since it was loaded")
            return got
        opened = _open_source(self.location, self.text_columns, self.row_filter, self.required, self.label)
        fp = getattr(self, "fingerprint", None)
        if fp is not None and opened.fingerprint != fp:
            raise TaskError(f"{self.label} at {self.location} changed since it was loaded "
                            f"(fingerprint {opened.fingerprint} != {fp})")
        with _LOCK:
            _OPEN_CACHE[key] = opened
            while len(_OPEN_CACHE) > 8:
                _OPEN_CACHE.popitem(last=False)
        return opened

    # ------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._open().locator)

    @property
    def kind(self) -> str:
        """``parquet``, ``disk`` or ``hub``."""
        return self._open().kind

    def column(self, name: str) -> list:
        """The values of text column ``name`` for every selected row."""
        return self._open().text[name]

    def cell(self, i: int, name: str) -> Any:
        """The value of column ``name`` in selected row ``i`` (read lazily)."""
        op = self._open()
        if not 0 <= i < len(op.locator):
            raise IndexError(f"row {i} out of range ({len(op.locator)} rows)")
        if name in op.text:
            return op.text[name][i]
        chunk, group, row = op.locator[i]
        table = _row_group(op, chunk, group, name, self._key())
        return table.column(name)[row].as_py()

    def describe(self, i: int) -> str:
        """``row <i> of <label> <location>``."""
        return f"row {i} of {self.label} {self.location}"


def _stat_signature(location: str) -> tuple:
    """(name, size, mtime) of the local files behind ``location`` (``parquet:`` files, or the
    ``disk:`` folder searched recursively); empty for ``hub:`` ids. Part of the per-process cache
    key, so files rewritten at the same path are read again."""
    kind, _, where = location.partition(":")
    if kind == "parquet":
        files = [Path(f) for f in where.split("|")]
    elif kind == "disk":
        root = Path(where.split("#", 1)[0])
        files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else []
    else:
        return ()
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


def _row_group(op: _Opened, chunk: int, group: int, column: str, key: tuple):
    src = op.chunks[chunk]
    if not hasattr(src, "read_row_group"):
        return src  # a pa.Table (memory-mapped); rows index it directly
    gkey = (key, chunk, group, column)
    with _LOCK:
        got = _GROUP_CACHE.get(gkey)
        if got is not None:
            _GROUP_CACHE.move_to_end(gkey)
            return got
    table = src.read_row_group(group, columns=[column])
    with _LOCK:
        _GROUP_CACHE[gkey] = table
        while len(_GROUP_CACHE) > 3:
            _GROUP_CACHE.popitem(last=False)
    return table


def _check_columns(names: Sequence[str], required: Sequence[str], where: str, label: str) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise TaskError(f"{label} at {where}: missing column(s) {missing}; found {list(names)}. "
                        f"Is this the official release?")


def _open_source(location: str, text_columns, row_filter, required, label) -> _Opened:
    kind, _, where = location.partition(":")
    if kind == "parquet":
        return _open_parquet([Path(p) for p in where.split("|")], text_columns, row_filter, required, label)
    if kind in ("disk", "hub"):
        return _open_datasets(kind, where, text_columns, row_filter, required, label)
    raise TaskError(f"bad data location {location!r}")


def _open_parquet(files: list[Path], text_columns, row_filter, required, label) -> _Opened:
    import pyarrow.parquet as pq

    chunks, locator = [], []
    text: dict[str, list] = {c: [] for c in text_columns}
    for fi, f in enumerate(files):
        try:
            pf = pq.ParquetFile(f, memory_map=True)
        except Exception as e:
            raise TaskError(f"{label}: cannot read parquet file {f}: {type(e).__name__}: {e}") from e
        names = pf.schema_arrow.names
        _check_columns(names, required, str(f), label)
        wanted = [c for c in text_columns if c in names]
        if row_filter is not None and row_filter[0] not in wanted:
            wanted.append(row_filter[0])
        tbl = pf.read(columns=wanted)
        keep = list(range(tbl.num_rows))
        if row_filter is not None:
            col = tbl.column(row_filter[0]).to_pylist()
            keep = [r for r in keep if col[r] == row_filter[1]]
        starts, total = [], 0
        for g in range(pf.metadata.num_row_groups):
            starts.append(total)
            total += pf.metadata.row_group(g).num_rows
        import bisect

        for r in keep:
            g = bisect.bisect_right(starts, r) - 1
            locator.append((fi, g, r - starts[g]))
        for c in text_columns:
            vals = tbl.column(c).to_pylist() if c in names else [None] * tbl.num_rows
            text[c].extend(vals[r] for r in keep)
        chunks.append(pf)
    extra = f"{label}:{text_columns}:{row_filter}"
    return _Opened(text, locator, chunks, parquet_fingerprint(files, extra), "parquet")


def _open_datasets(kind: str, where: str, text_columns, row_filter, required, label) -> _Opened:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise TaskError("reading Hugging Face datasets needs the `datasets` package") from e
    ident, _, split = where.partition("#")
    try:
        if kind == "hub":
            ds = datasets.load_dataset(ident, split=split or "train")
        else:
            obj = datasets.load_from_disk(ident)
            if isinstance(obj, datasets.DatasetDict):
                if (split or "train") not in obj:
                    raise TaskError(f"{label}: {ident} has no split {split or 'train'!r} (has {list(obj)})")
                obj = obj[split or "train"]
            ds = obj
    except TaskError:
        raise
    except Exception as e:
        raise DataNotFoundError(f"could not load {label} {ident!r} (split {split or 'train'!r}): "
                                f"{type(e).__name__}: {e}") from e
    _check_columns(ds.column_names, required, f"{kind}:{where}", label)
    table = ds.data.table if hasattr(ds.data, "table") else ds.data
    if ds._indices is not None:  # a filtered/shuffled view: materialise its rows
        table = ds.flatten_indices().data.table
    n = table.num_rows
    keep = list(range(n))
    if row_filter is not None:
        col = table.column(row_filter[0]).to_pylist()
        keep = [r for r in keep if col[r] == row_filter[1]]
    text = {}
    for c in text_columns:
        vals = table.column(c).to_pylist() if c in table.column_names else [None] * n
        text[c] = [vals[r] for r in keep]
    files = sorted(Path(f["filename"]) for f in (ds.cache_files or []) if Path(f["filename"]).is_file())
    extra = f"{label}:{kind}:{where}:{text_columns}:{row_filter}:{n}"
    fp = parquet_fingerprint(files, extra) if files else hashlib.sha256(
        (extra + str(getattr(ds, "_fingerprint", ""))).encode()).hexdigest()[:20]
    return _Opened(text, [(0, 0, r) for r in keep], [table], fp, kind)


def decode_image_cell(cell: Any, where: str, base_dir: Path | None = None):
    """An HF ``Image`` cell (``{"bytes", "path"}``, raw bytes, or a PIL image) -> RGB ``PIL.Image``.

    Raises :class:`~mmharness.requests.MediaDecodeError` naming ``where`` when the cell is empty,
    has neither bytes nor a readable path, cannot be decoded, or has zero width or height.
    """
    from PIL import Image

    if cell is None:
        raise MediaDecodeError(f"{where}: the image cell is empty (null)")
    if hasattr(cell, "convert") and hasattr(cell, "size"):
        img = cell
    else:
        data, path = (cell.get("bytes"), cell.get("path")) if isinstance(cell, dict) else (cell, None)
        if not data:
            if path:
                p = Path(path)
                if not p.is_absolute() and base_dir is not None:
                    p = base_dir / p
                if p.is_file():
                    data = p.read_bytes()
            if not data:
                raise MediaDecodeError(f"{where}: the image cell has no bytes"
                                       + (f" and its path {path!r} is not readable" if path else ""))
        try:
            img = Image.open(io.BytesIO(bytes(data)))
            img.load()
        except Exception as e:
            raise MediaDecodeError(f"{where}: cannot decode image: {type(e).__name__}: {e}") from e
    if img.size[0] <= 0 or img.size[1] <= 0:
        raise MediaDecodeError(f"{where}: the image is empty ({img.size[0]}x{img.size[1]})")
    return img.convert("RGB")


def find_parquet(dirs: Sequence[Path], patterns: Sequence[str]) -> list[Path]:
    """Parquet files matching ``patterns`` in the first directory of ``dirs`` that has any
    (each directory and its ``data/`` subfolder are searched; never recursively)."""
    for d in dirs:
        if not d.is_dir():
            continue
        found = sorted({p for pat in patterns for base in (d, d / "data") for p in base.glob(pat) if p.is_file()})
        if found:
            return found
    return []


def hub_snapshot_dirs(root: Path, hub_id: str) -> list[Path]:
    """Snapshot folders of ``hub_id`` in a Hugging Face hub cache under ``root`` (newest first)."""
    base = root / ("datasets--" + hub_id.replace("/", "--")) / "snapshots"
    if not base.is_dir():
        return []
    return sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
