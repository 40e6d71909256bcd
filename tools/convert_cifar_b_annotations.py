#!/usr/bin/env python
"""Convert the official CIFAR-B annotation pickles (.npy) into the JSON files the harness reads.

Run once, on a TRUSTED copy of the official files (loading them unpickles, which can run code):

    python tools/convert_cifar_b_annotations.py [--npy-dir tests/fixtures/cifar_b] \
        [--out-dir mmharness/data/annotations]

Source: https://github.com/charismaticchiu/Better-May-Not-Be-Fairer-A-Study-Study-on-Subgroup-Discrepancy-in-Image-Classification
(commit 22201ae), files ``cifar10_bgd_cl2img_gp_fine.npy`` and ``cifar100_bgd_cl2img_gp_fine.npy``
(BSD-3-Clause, (c) 2023 Ming-Chang Chiu). Output: ``cifar10_b_subgroups.json`` and
``cifar100_b_subgroups.json`` with ``{"source", "classes" (standard label order), "subgroups"
{class_name: {"0001.png": id, ...}}}``, keys sorted, one entry per line. The content is checked to
be exactly the official dict (same classes, same image names, same integer ids).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.loaders.cifar import CLASSES  # noqa: E402

SOURCE_REPO = ("https://github.com/charismaticchiu/"
               "Better-May-Not-Be-Fairer-A-Study-Study-on-Subgroup-Discrepancy-in-Image-Classification")
COMMIT = "22201ae"
FILES = {"cifar10": "cifar10_bgd_cl2img_gp_fine.npy", "cifar100": "cifar100_bgd_cl2img_gp_fine.npy"}


def convert(npy_path: Path, dataset: str) -> dict:
    """Load one official .npy (trusted copy; allow_pickle=True) and return the JSON document."""
    raw = npy_path.read_bytes()
    d = np.load(npy_path, allow_pickle=True).item()
    classes = list(CLASSES[dataset])
    if sorted(d) != sorted(classes):
        raise SystemExit(f"{npy_path}: classes {sorted(d)[:5]}... are not the {dataset} classes")
    subgroups = {}
    for c in classes:
        inner = {}
        for name, g in d[c].items():
            if not isinstance(name, str) or not isinstance(g, (int, np.integer)):
                raise SystemExit(f"{npy_path}: unexpected entry {name!r}: {g!r} in class {c!r}")
            inner[name] = int(g)
        subgroups[c] = dict(sorted(inner.items()))
    doc = {
        "source": (f"{SOURCE_REPO} (commit {COMMIT}), file {npy_path.name} "
                   f"(sha256 {hashlib.sha256(raw).hexdigest()}), BSD-3-Clause (c) 2023 Ming-Chang Chiu; "
                   "converted by tools/convert_cifar_b_annotations.py"),
        "classes": classes,
        "subgroups": subgroups,
    }
    # round trip: exactly the official content
    back = json.loads(json.dumps(doc))
    assert back["subgroups"] == {c: {k: int(v) for k, v in d[c].items()} for c in classes}
    return doc


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: convert both files; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npy-dir", type=Path, default=REPO_ROOT / "tests" / "fixtures" / "cifar_b")
    ap.add_argument("--out-dir", type=Path, default=REPO_ROOT / "mmharness" / "data" / "annotations")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for dataset, fname in FILES.items():
        doc = convert(args.npy_dir / fname, dataset)
        out = args.out_dir / f"{dataset}_b_subgroups.json"
        text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
        out.write_text(text, encoding="utf-8")
        n = sum(len(v) for v in doc["subgroups"].values())
        print(f"wrote {out} ({len(doc['classes'])} classes, {n} images, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
