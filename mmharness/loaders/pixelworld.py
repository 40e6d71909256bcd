"""Reader of the PixelWorld release (Hugging Face ``TIGER-Lab/PixelWorld``), one dataset class at a time.

Columns (``docs/protocols/pixelworld.md`` section 2): ``ID``, ``Dataset`` (wrapper class name, e.g.
``GSM8KDataset``), ``Subset``, ``Text_Prompt`` (the full token-mode prompt), ``Img_Prompt`` (the
text beside the image in pixel mode), ``Image_Pathes`` (sic), ``Images`` (list of ``Image``),
``Answer`` (string). Both published layouts are read:

* **per-dataset splits** (current card): files ``<Class>-*.parquet`` (e.g.
  ``data/GSM8KDataset-00000-of-00001.parquet``), split name = class name;
* **single ``train`` split** (first upload, 103,638 rows): files ``train-*.parquet``, rows selected
  with ``Dataset == <Class>``, reading only that column for the others.

Looked for in ``<root>``, ``<root>/PixelWorld``, ``<root>/pixelworld``, ``<root>/TIGER-Lab___PixelWorld``,
``<root>/TIGER-Lab/PixelWorld`` and hub-cache snapshots (each with an optional ``data/``), then a
``save_to_disk`` folder there, then the hub (``datasets.load_dataset("TIGER-Lab/PixelWorld",
split=<Class>)``, else ``split="train"`` filtered). The class is always chosen explicitly (the
official loader's ``"MMLU-ProDataset"`` filter matches nothing). Optional non-official columns are
read when present: ``Code`` (a gold MBPP solution) and ``chart_type`` (the TableBench chart type of a
Visualization question, from the TableBench release); the bundled sample has both.
"""

from __future__ import annotations

from pathlib import Path

from ..task import DataNotFoundError, TaskError
from .hf_rows import RowTable, decode_image_cell, find_parquet, hub_snapshot_dirs

HUB_ID = "TIGER-Lab/PixelWorld"
OFFICIAL_URL = "https://huggingface.co/datasets/TIGER-Lab/PixelWorld (code: https://github.com/TIGER-AI-Lab/PixelWorld)"
TEXT_COLUMNS = ("ID", "Dataset", "Subset", "Text_Prompt", "Img_Prompt", "Image_Pathes", "Answer", "Code",
                "chart_type")
REQUIRED = ("Dataset", "Subset", "Text_Prompt", "Img_Prompt", "Images", "Answer")
SOURCES = ("parquet", "disk", "hub")
#: images per row that :class:`PixelWorldImages` can address
MAX_IMAGES = 64


def candidate_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` where the PixelWorld files are looked for, in order."""
    return [root, root / "PixelWorld", root / "pixelworld", root / "TIGER-Lab___PixelWorld",
            root / "TIGER-Lab" / "PixelWorld", *hub_snapshot_dirs(root, HUB_ID)]


def open_pixelworld(location: str, dataset_cls: str) -> RowTable:
    """Open the rows of ``dataset_cls`` at ``location`` (``parquet:...``, ``disk:...``, ``hub:...``)."""
    return RowTable(location, TEXT_COLUMNS, row_filter=("Dataset", dataset_cls), required=REQUIRED,
                    label=f"PixelWorld {dataset_cls}")


def find_pixelworld(root: Path | None, dataset_cls: str, source: str | None = None,
                    allow_hub: bool = True) -> RowTable:
    """Locate and open the rows of one dataset class (see the module docstring)."""
    if source is not None and source not in SOURCES:
        raise TaskError(f"PixelWorld: unknown data source {source!r}; expected one of {list(SOURCES)}")
    looked = []
    if root is not None:
        dirs = candidate_dirs(Path(root))
        if source in (None, "parquet"):
            files = find_parquet(dirs, [f"{dataset_cls}-*.parquet"])
            if not files:
                files = find_parquet(dirs, ["train-*.parquet"])
            if files:
                table = open_pixelworld("parquet:" + "|".join(str(f) for f in files), dataset_cls)
                if len(table):
                    return table
                looked.append(f"rows with Dataset == {dataset_cls!r} in {files[0].parent} (the files have none)")
            else:
                looked.append(f"{dataset_cls}-*.parquet or train-*.parquet in "
                              f"{', '.join(str(d) for d in dirs[:5])} (or their data/)")
        if source in (None, "disk"):
            for d in dirs:
                if (d / "dataset_dict.json").is_file() or (d / "state.json").is_file():
                    for split in (dataset_cls, "train"):
                        try:
                            table = open_pixelworld(f"disk:{d}#{split}", dataset_cls)
                        except (TaskError, DataNotFoundError):
                            continue
                        if len(table):
                            return table
            looked.append("a datasets.save_to_disk folder (dataset_dict.json / state.json) there")
    if source == "hub" or (source is None and allow_hub):
        errors = []
        for split in (dataset_cls, "train"):
            try:
                table = open_pixelworld(f"hub:{HUB_ID}#{split}", dataset_cls)
            except DataNotFoundError as e:
                errors.append(str(e))
                continue
            if len(table):
                return table
        looked.append(f"Hugging Face hub id {HUB_ID}, split {dataset_cls} or train ({'; '.join(errors)[:300]})")
    where = f"under {root}" if root is not None else "(no --data-root given)"
    raise DataNotFoundError(
        f"PixelWorld {dataset_cls} not found {where}. Looked for:\n  - " + "\n  - ".join(looked or ["nothing"])
        + f"\nOfficial source: {OFFICIAL_URL}; the full release is ~313 GB, download one split, e.g. "
          f"`huggingface-cli download {HUB_ID} --repo-type dataset --include 'data/{dataset_cls}-*' "
          f"--local-dir <root>/PixelWorld`.")


class PixelWorldImages:
    """Image source for :class:`~mmharness.requests.ImageArray`: index ``row * 64 + k`` is image k
    of ``row``'s ``Images`` list, decoded lazily."""

    def __init__(self, table: RowTable):
        self.table = table

    def image(self, index: int):
        row, k = divmod(int(index), MAX_IMAGES)
        cells = self.table.cell(row, "Images")
        if not cells or k >= len(cells):
            raise_missing(self.describe(index), 0 if not cells else len(cells))
        return decode_image_cell(cells[k], self.describe(index))

    def describe(self, index: int) -> str:
        row, k = divmod(int(index), MAX_IMAGES)
        return f"PixelWorld image {k} of {self.table.describe(row)}"


def raise_missing(where: str, n: int) -> None:
    """Raise the decode error for a row without the requested image."""
    from ..requests import MediaDecodeError

    raise MediaDecodeError(f"{where}: the row has {n} image(s)")
