"""Precompute SNARE's part-of-speech tags with spaCy, for runs on machines without spaCy.

    python tools/snare_pos_tags.py --karpathy DATA/coco/coco_karpathy_test.json --out coco_tags.json [--model en_core_web_sm]

Tags every distinct caption of a BLIP-format Karpathy test file with the official tagger (spaCy
``en_core_web_sm`` unless ``--model`` says otherwise) and writes a tags file that the
semantic-structure tasks read with ``--task-args pos_tagger=file,pos_tags=coco_tags.json``. The
file records the spaCy and pipeline versions; the results of a run record the file's hash.
Needs ``pip install spacy && python -m spacy download en_core_web_sm`` on the machine running it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmharness.loaders.pos_taggers import DEFAULT_SPACY_MODEL, SpacyTagger, Tagger, write_tag_file  # noqa: E402
from mmharness.task import TaskError  # noqa: E402


def main(argv: list[str] | None = None, tagger: Tagger | None = None) -> int:
    """Command-line entry point; ``tagger`` replaces spaCy (for tests)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--karpathy", required=True, help="coco_karpathy_test.json or flickr30k_test.json")
    ap.add_argument("--out", required=True, help="tags JSON file to write")
    ap.add_argument("--model", default=DEFAULT_SPACY_MODEL, help="spaCy pipeline (official: en_core_web_sm)")
    args = ap.parse_args(argv)
    try:
        entries = json.loads(Path(args.karpathy).read_text(encoding="utf-8"))
        captions = [c for e in entries for c in e["caption"]]
        n = write_tag_file(captions, tagger or SpacyTagger(args.model), args.out)
    except (OSError, ValueError, KeyError, TypeError, TaskError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"tagged {n} distinct captions of {args.karpathy} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
