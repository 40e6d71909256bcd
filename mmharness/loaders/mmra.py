"""Reader of the MMRA release (Hugging Face ``m-a-p/MMRA``, one ``train`` split of 1,024 rows).

Columns (``docs/protocols/mmra.md`` section 2): ``Task``, ``QA_type``, ``question``, ``image1``, ``image2``
(HF ``Image``), ``options`` (a Python dict literal or null), ``answer``. Sources, tried in this
order by :func:`find_mmra` (``source`` forces one):

* ``parquet`` -- ``train-*.parquet`` (the hub layout ``data/train-0000X-of-00002.parquet``) in
  ``<root>``, ``<root>/MMRA``, ``<root>/mmra``, ``<root>/m-a-p___MMRA``, ``<root>/m-a-p/MMRA``, or a hub
  cache snapshot ``<root>/datasets--m-a-p--MMRA/snapshots/*`` (each with an optional ``data/``);
* ``disk`` -- a ``datasets.save_to_disk`` folder at one of those places;
* ``hub`` -- ``datasets.load_dataset("m-a-p/MMRA", split="train")`` (offline: only when cached).

Images stay in the files until a DataLoader worker decodes them (:class:`MMRAImages`), and are
handed to the model as decoded, never re-encoded.
"""

from __future__ import annotations

from pathlib import Path

from ..task import DataNotFoundError, TaskError
from .hf_rows import RowTable, decode_image_cell, find_parquet, hub_snapshot_dirs

HUB_ID = "m-a-p/MMRA"
OFFICIAL_URL = "https://huggingface.co/datasets/m-a-p/MMRA (code: https://github.com/Wusiwei0410/MMRA)"
TEXT_COLUMNS = ("Task", "QA_type", "question", "options", "answer")
IMAGE_COLUMNS = ("image1", "image2")
REQUIRED = TEXT_COLUMNS + IMAGE_COLUMNS
SOURCES = ("parquet", "disk", "hub")
EXPECTED_ROWS = 1024


def candidate_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` where the MMRA files are looked for, in order."""
    return [root, root / "MMRA", root / "mmra", root / "m-a-p___MMRA", root / "m-a-p" / "MMRA",
            *hub_snapshot_dirs(root, HUB_ID)]


def _is_saved_dataset(d: Path) -> bool:
    return (d / "dataset_dict.json").is_file() or (d / "state.json").is_file()


def open_mmra(location: str) -> RowTable:
    """Open MMRA at ``location`` (``parquet:f1|f2``, ``disk:<dir>``, ``hub:<id>#train``)."""
    return RowTable(location, TEXT_COLUMNS, required=REQUIRED, label="MMRA")


def find_mmra(root: Path | None, source: str | None = None, allow_hub: bool = True) -> RowTable:
    """Locate and open MMRA (see the module docstring); ``DataNotFoundError`` lists where it looked."""
    if source is not None and source not in SOURCES:
        raise TaskError(f"MMRA: unknown data source {source!r}; expected one of {list(SOURCES)}")
    looked = []
    if root is not None:
        dirs = candidate_dirs(Path(root))
        if source in (None, "parquet"):
            files = find_parquet(dirs, ["train-*.parquet"])
            if files:
                return open_mmra("parquet:" + "|".join(str(f) for f in files))
            looked.append(f"train-*.parquet in {', '.join(str(d) for d in dirs[:5])} (or their data/)")
        if source in (None, "disk"):
            for d in dirs:
                if _is_saved_dataset(d):
                    return open_mmra(f"disk:{d}#train")
            looked.append("a datasets.save_to_disk folder (dataset_dict.json / state.json) there")
    if source == "hub" or (source is None and allow_hub):
        try:
            return open_mmra(f"hub:{HUB_ID}#train")
        except DataNotFoundError as e:
            looked.append(f"Hugging Face hub id {HUB_ID} ({e})")
    where = f"under {root}" if root is not None else "(no --data-root given)"
    raise DataNotFoundError(f"MMRA not found {where}. Looked for:\n  - " + "\n  - ".join(looked or ["nothing"])
                            + f"\nOfficial source: {OFFICIAL_URL}; e.g. `huggingface-cli download m-a-p/MMRA "
                              f"--repo-type dataset --local-dir <root>/MMRA`.")


class MMRAImages:
    """Image source for :class:`~mmharness.requests.ImageArray`: index ``2 * row + k`` is image k+1
    of ``row`` (image1, image2), decoded lazily from the table."""

    def __init__(self, table: RowTable):
        self.table = table

    def image(self, index: int):
        row, k = divmod(int(index), 2)
        cell = self.table.cell(row, IMAGE_COLUMNS[k])
        base = None
        if self.table.location.startswith("parquet:"):
            base = Path(self.table.location[len("parquet:"):].split("|")[0]).parent
        return decode_image_cell(cell, self.describe(index), base)

    def describe(self, index: int) -> str:
        row, k = divmod(int(index), 2)
        return f"MMRA {IMAGE_COLUMNS[k]} of {self.table.describe(row)}"

