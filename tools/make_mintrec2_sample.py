#!/usr/bin/env python
"""Write the bundled MIntRec2.0 demo sample in the official layout.

    python tools/make_mintrec2_sample.py [--out mmharness/data/samples/mintrec2]

In-scope rows are **real**: the transcripts and intent labels of six dialogues of the official
in-scope dev split (``tests/fixtures/mintrec2/in_scope_dev_from_MMLA.tsv``, from the MMLA
repository), re-assigned to train (3 dialogues), dev (1) and test (2) by this tool. Everything else
is generated: out-of-scope rows (Label ``UNK``) at the utterance ids the in-scope file skips, with
invented texts; speaker names, timestamps and the ``Source`` column; and one small video file per
utterance (``video/dia{D}_utt{U}.mp4``: 64x48, 1 s, 10 fps, with a 16 kHz tone).

Writes ``in-scope/{split}.tsv``, ``out-of-scope/MIntRec2.0-OOD/{split}.tsv`` and
``total/{split}.tsv`` with the 8-column header of the release, plus the videos.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "mintrec2" / "in_scope_dev_from_MMLA.tsv"
HEADER = ["Dialogue_id", "Utterance_id", "Text", "Label", "Start_timestamp", "End_timestamp", "Source",
          "speaker_name"]
SPLIT_OF_DIALOGUE = {2: "train", 33: "train", 44: "train", 66: "dev", 87: "test", 92: "test"}
SPEAKERS = ("Speaker A", "Speaker B", "Speaker C")
OOS_TEXTS = (
    "(generated) hang on, my phone is buzzing.",
    "(generated) is it raining outside again?",
    "(generated) the printer in the back is jammed.",
    "(generated) i think that was the delivery truck.",
    "(generated) did anyone see my blue folder?",
    "(generated) that song is stuck in my head.",
    "(generated) the coffee machine is making that noise.",
)


def _read_fixture() -> dict[int, list[tuple[int, str, str]]]:
    rows: dict[int, list[tuple[int, str, str]]] = {}
    with open(FIXTURE, encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(r)
        for d, u, text, label, _video in r:
            if int(d) in SPLIT_OF_DIALOGUE:
                rows.setdefault(int(d), []).append((int(u), text, label))
    return rows


def _video(path: Path, seed: int) -> None:
    import av

    rng = np.random.default_rng(seed)
    colour = rng.integers(40, 220, 3)
    c = av.open(str(path), "w")
    vs = c.add_stream("mpeg4", rate=10)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    au = c.add_stream("aac", rate=16000)
    au.bit_rate = 16000
    for i in range(10):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:] = colour
        img[10:38, 5 + 4 * i: 20 + 4 * i] = 255 - colour
        for pk in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(pk)
    for pk in vs.encode():
        c.mux(pk)
    sr, freq = 16000, 200 + 40 * (seed % 10)
    wave = (0.3 * np.sin(2 * np.pi * freq * np.arange(sr) / sr)).astype(np.float32)
    for i in range(0, sr, 1024):
        fr = av.AudioFrame.from_ndarray(wave[None, i:i + 1024], format="flt", layout="mono")
        fr.sample_rate, fr.pts = sr, i
        for pk in au.encode(fr):
            c.mux(pk)
    for pk in au.encode():
        c.mux(pk)
    c.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "mintrec2")
    args = ap.parse_args(argv)
    out: Path = args.out
    for sub in ("in-scope", "out-of-scope", "total", "video"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    fixture = _read_fixture()
    tables: dict[str, dict[str, list[list[str]]]] = {s: {"is": [], "oos": [], "total": []}
                                                     for s in ("train", "dev", "test")}
    n_oos = 0
    (out / "video").mkdir(parents=True, exist_ok=True)
    for d, utts in sorted(fixture.items()):
        split = SPLIT_OF_DIALOGUE[d]
        by_id = {u: (t, lab) for u, t, lab in utts}
        for u in range(0, max(by_id) + 1):
            if u in by_id:
                text, label = by_id[u]
            else:
                text, label = OOS_TEXTS[n_oos % len(OOS_TEXTS)], "UNK"
                n_oos += 1
            speaker = SPEAKERS[(u * 7 + d) % 3 if u % 4 else (d % 2)]
            row = [str(d), str(u), text, label, f"0:00:{2 * u:02d}.00", f"0:00:{2 * u + 1:02d}.50",
                   "generated", speaker]
            tables[split]["is" if label != "UNK" else "oos"].append(row)
            tables[split]["total"].append(row)
            _video(out / "video" / f"dia{d}_utt{u}.mp4", seed=d * 100 + u)
    for split, t in tables.items():
        for kind, sub in (("is", Path("in-scope")), ("oos", Path("out-of-scope") / "MIntRec2.0-OOD"),
                          ("total", Path("total"))):
            p = out / sub / f"{split}.tsv"
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
                w.writerow(HEADER)
                w.writerows(t[kind])
    counts = {s: (len(t["is"]), len(t["oos"])) for s, t in tables.items()}
    print(f"wrote {out}: (in-scope, out-of-scope) rows per split {counts}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
