#!/usr/bin/env python
"""Write the bundled RefAVA demo sample (official formats, generated content).

    python tools/make_refava_sample.py [--out mmharness/data/samples/refava]

Writes, all generated and deterministic (nothing comes from AVA or RefAVA):

* ``pickles/{val,test}_set_{keyframe,label,description}_crr_final.pkl``: the official pickle
  triplets (dicts keyed ``video___timestamp___person``); the test description file stores its keys
  in a different order than the other two (the harness must join on keys);
* ``refava_annotations.json``: the export ``mmh data convert refava`` writes from those pickles;
* ``frames/<video_id>/image_%06d.jpg``: 64x48 JPEG frames covering every key's 90-frame window
  (30 fps, frame 0 at 900 s), each person drawn as a coloured rectangle at its box.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.loaders.refava import convert_pickles, write_export  # noqa: E402
from mmharness.loaders.video import WINDOW_FRAMES, ava_window_start  # noqa: E402

W, H = 64, 48
#: (video id, split, keyframe seconds); persons: (person id, box, AVA ids, description)
VIDEOS = {
    "GenVideoA01": {"test": (902, 903), "val": (904,)},
    "GenVideoB02": {"test": (1000,), "val": (1001,)},
}
PERSONS = [
    ("0", [0.05, 0.20, 0.35, 0.95], [12, 17, 79], "The man wearing a red shirt on the left."),
    ("1", [0.40, 0.15, 0.62, 0.90], [11, 80], "The woman in the blue dress in the middle."),
    ("2", [0.68, 0.25, 0.95, 0.98], [12, 14], "The tall person with a green jacket on the right."),
]
#: Per (video, timestamp) which persons appear and how their labels change (adds variety so that no
#: class is positive for every instance and some of the 80 classes are absent from each split).
EXTRA_LABELS = {
    ("GenVideoA01", 902): {"0": [74], "1": [59], "2": [8]},
    ("GenVideoA01", 903): {"0": [27], "1": [], "2": [1]},
    ("GenVideoA01", 904): {"0": [], "1": [17]},
    ("GenVideoB02", 1000): {"0": [37], "2": [64, 80]},
    ("GenVideoB02", 1001): {"1": [14], "2": []},
}
COLOURS = {"0": (200, 40, 40), "1": (40, 60, 200), "2": (40, 160, 60)}


def _frames(out: Path) -> None:
    for vid, splits in VIDEOS.items():
        needed = set()
        for ts_list in splits.values():
            for ts in ts_list:
                s = ava_window_start(ts)
                needed.update(range(s, s + WINDOW_FRAMES))
        d = out / "frames" / vid
        d.mkdir(parents=True, exist_ok=True)
        for n in sorted(needed):
            shade = 60 + (n * 7) % 120
            im = Image.new("RGB", (W, H), (shade, shade, 90))
            draw = ImageDraw.Draw(im)
            for pid, box, _, _ in PERSONS:
                dx = ((n % 30) - 15) / 15 * 0.02  # a little motion
                x1, y1, x2, y2 = box
                draw.rectangle([(x1 + dx) * W, y1 * H, (x2 + dx) * W - 1, y2 * H - 1], fill=COLOURS[pid])
            im.save(d / f"image_{n:06d}.jpg", quality=85)


def _pickles(out: Path) -> list[Path]:
    d = out / "pickles"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in ("val", "test"):
        keyframe, label, description = {}, {}, {}
        for vid, splits in VIDEOS.items():
            for ts in splits.get(split, ()):
                extra = EXTRA_LABELS[(vid, ts)]
                for pid, box, labels, text in PERSONS:
                    if pid not in extra:
                        continue
                    key = f"{vid}___{ts}___{pid}"
                    b = np.asarray(box, dtype=np.float32) if split == "test" else list(box)
                    keyframe[key] = [b]
                    label[key] = sorted(set(labels) | set(extra[pid]))
                    description[key] = [text]
        if split == "test":  # the description file lists its keys in another order
            description = dict(reversed(list(description.items())))
        for role, obj in (("keyframe", keyframe), ("label", label), ("description", description)):
            p = d / f"{split}_set_{role}_crr_final.pkl"
            p.write_bytes(pickle.dumps(obj, protocol=4))
            paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "refava")
    args = ap.parse_args(argv)
    out: Path = args.out
    for sub in ("frames", "pickles"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    _frames(out)
    paths = _pickles(out)
    doc = convert_pickles(paths)
    doc["source"]["converted_by"] = "mmh data convert refava (bundled sample)"
    write_export(doc, out / "refava_annotations.json")
    print(f"wrote {out}: " + ", ".join(f"{s} {b['n']} instances" for s, b in doc["splits"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
