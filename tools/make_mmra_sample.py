#!/usr/bin/env python
"""Write the bundled MMRA demo sample in the ``m-a-p/MMRA`` parquet layout (generated content).

    python tools/make_mmra_sample.py [--out mmharness/data/samples/mmra]

Writes ``data/train-00000-of-00001.parquet`` with the official columns and Hugging Face features
(``Task``, ``QA_type``, ``question``, ``image1``, ``image2`` as ``Image``, ``options`` as a Python
dict literal string or null, ``answer``): 2 rows for each of the 11 subtasks (22 rows), mixing
4-option, 3-option and Yes/No items. Images are generated 64x64 PNG drawings (coloured shapes on
plain backgrounds); questions and options are written for the demo. Nothing is taken from MMRA.
Deterministic: the same file every run.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.tasks.mmra import SUBTASKS  # noqa: E402

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200), "yellow": (220, 200, 40)}
BACKGROUNDS = {"kitchen": (235, 225, 205), "park": (190, 225, 180), "street": (200, 200, 210),
               "beach": (240, 225, 170)}


def draw(shape: str, colour: str, background: str, offset: int) -> bytes:
    """A 64x64 PNG: one coloured shape on a plain background, shifted by ``offset`` pixels."""
    im = Image.new("RGB", (64, 64), BACKGROUNDS[background])
    d = ImageDraw.Draw(im)
    box = (14 + offset, 14, 50 + offset, 50)
    c = COLOURS[colour]
    if shape == "circle":
        d.ellipse(box, fill=c)
    elif shape == "square":
        d.rectangle(box, fill=c)
    else:
        d.polygon([(32 + offset, 12), (12 + offset, 52), (52 + offset, 52)], fill=c)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def rows() -> list[dict]:
    """22 generated rows: for subtask k, item 0 is multiple choice (4 options for even k, 3 for
    odd k) and item 1 is Yes/No."""
    out = []
    colours = list(COLOURS)
    backgrounds = list(BACKGROUNDS)
    for k, (task, (abbr, level)) in enumerate(SUBTASKS.items()):
        s1, s2 = SHAPES[k % 3], SHAPES[(k + 1) % 3]
        c1, c2 = colours[k % 4], colours[(k + 2) % 4]
        b1, b2 = backgrounds[k % 4], backgrounds[(k + 1) % 4]
        img1 = {"bytes": draw(s1, c1, b1, 0), "path": None}
        img2 = {"bytes": draw(s2, c1 if k % 2 else c2, b2, 6), "path": None}
        letters = ["A", "B", "C", "D"] if k % 2 == 0 else ["A", "B", "C"]
        opts = [f"both images show a {c1} object", f"both images show a {s1}",
                f"both scenes are a {b1}", f"the second object is a {s2}"][: len(letters)]
        gold = letters[(k * 3) % len(letters)]
        opts_dict = {}
        for i, letter in enumerate(letters):
            opts_dict[letter] = opts[i] if letter != gold else f"the relation is '{task}'"
        out.append({"Task": task, "QA_type": "Choice QA",
                    "question": f"[{abbr}] Which relation best links the object in the first image to the "
                                f"object in the second image?",
                    "image1": img1, "image2": img2, "options": repr(opts_dict), "answer": gold})
        same = k % 2 == 1
        out.append({"Task": task, "QA_type": "True or false QA",
                    "question": f"[{abbr}] Do the objects in the two images have the same colour?",
                    "image1": img1, "image2": img2, "options": None, "answer": "Yes" if same else "No"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "mmra")
    args = ap.parse_args()
    import datasets

    feats = datasets.Features({
        "Task": datasets.Value("string"), "QA_type": datasets.Value("string"),
        "question": datasets.Value("string"), "image1": datasets.Image(), "image2": datasets.Image(),
        "options": datasets.Value("string"), "answer": datasets.Value("string")})
    data = rows()
    ds = datasets.Dataset.from_list(data, features=feats)
    dest = args.out / "data" / "train-00000-of-00001.parquet"
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(dest))
    print(f"wrote {len(data)} rows to {dest}")


if __name__ == "__main__":
    main()
