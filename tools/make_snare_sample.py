"""Generate the bundled SNARE sample (``mmharness/data/samples/snare``) in the official layouts.

    python tools/make_snare_sample.py [--out mmharness/data/samples/snare]

Writes ``prerelease_bow/{visual_genome_relation.json, visual_genome_attribution.json, images/}``,
``coco/{coco_karpathy_test.json, val2014/}`` and ``flickr30k/{flickr30k_test.json,
flickr30k-images/}``, plus a precomputed part-of-speech tags file per Karpathy file. Images are
generated (seeded coloured shapes); the figure captions of the official SNARE repository are
included verbatim, the other captions are written for this sample; tags come from the hand-written
lexicon below (PTB tags as a careful annotator would assign them, not spaCy output). Deterministic:
running it twice gives identical files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmharness.loaders.pos_taggers import write_tag_file  # noqa: E402

# --------------------------------------------------------------------------- Visual Genome items

#: (subject, relation, object); the first relation items reproduce the official figure.
RELATIONS = [
    ("woman", "wearing", "shirt"),
    ("zebra", "on", "road"),
    ("cup", "on", "table"), ("cat", "on", "sofa"), ("book", "on", "shelf"), ("plate", "on", "counter"),
    ("lamp", "on", "desk"), ("bird", "on", "fence"), ("clock", "on", "wall"), ("pillow", "on", "bed"),
    ("vase", "on", "floor"), ("sign", "on", "pole"), ("lion", "on", "rock"), ("phone", "on", "chair"),
    ("apple", "on", "plate"), ("hat", "on", "head"), ("boat", "on", "water"), ("snow", "on", "roof"),
    ("car", "on", "street"), ("dog", "on", "grass"), ("bag", "on", "bench"), ("towel", "on", "rack"),
    ("leaf", "on", "tree"), ("flag", "on", "building"), ("laptop", "on", "bed"), ("cake", "on", "plate"),
    ("man", "on", "horse"),
    ("tree", "to the left of", "house"), ("bike", "to the left of", "car"), ("chair", "to the left of", "table"),
    ("dog", "to the right of", "man"), ("window", "to the right of", "door"), ("cup", "to the right of", "bowl"),
    ("rug", "below", "table"), ("shadow", "below", "bench"),
    ("car", "near", "tree"), ("man", "near", "bus"),
    ("boy", "next to", "girl"), ("man", "with", "umbrella"), ("woman", "holding", "umbrella"),
]
#: A plural subject: the official "and" option leaves such captions unchanged ("is eating" is absent).
PLURAL_RELATIONS = [("horses", "eating", "grass")]

#: (obj1, obj2, attribute of obj1, attribute of obj2); the first two reproduce the official figure.
ATTRIBUTIONS = [
    ("sky", "building", "blue", "large"),
    ("bus", "road", "white", "black"),
    ("cat", "dog", "white", "black"), ("shirt", "pants", "white", "black"), ("plate", "table", "white", "black"),
    ("cloud", "sky", "white", "black"), ("car", "tire", "white", "black"), ("sign", "pole", "white", "black"),
    ("horse", "saddle", "white", "black"), ("cup", "saucer", "white", "black"), ("boat", "water", "white", "black"),
    ("house", "roof", "white", "black"), ("shoe", "sock", "white", "black"), ("bird", "branch", "white", "black"),
    ("toilet", "floor", "white", "black"), ("phone", "case", "white", "black"), ("sheep", "fence", "white", "black"),
    ("towel", "rack", "white", "black"), ("snow", "rock", "white", "black"), ("plane", "runway", "white", "black"),
    ("door", "handle", "white", "black"), ("keyboard", "desk", "white", "black"), ("pillow", "couch", "white", "black"),
    ("shirt", "tie", "white", "black"), ("bowl", "spoon", "white", "black"), ("piano", "bench", "white", "black"),
    ("grass", "fence", "green", "wooden"), ("banana", "plate", "yellow", "round"), ("truck", "road", "red", "wet"),
]

# --------------------------------------------------------------------------- Karpathy captions

#: COCO-style entries; the first caption is the official figure's example (with the capital letter and
#: final period of raw COCO captions, so that pre_caption has work to do).
COCO = [
    ("val2014/COCO_val2014_000000900001.jpg", [
        "A girl sits on a decorated bike with a younger boy while another girl takes a picture.",
        "two girls and a boy play with a bike on the street",
        "A young girl riding a bike with a small boy.",
        "children posing with a decorated bicycle",
        "a girl taking a picture of two kids on a bike"]),
    ("val2014/COCO_val2014_000000900002.jpg", [
        "A black dog runs across a green field.",
        "a dog is running on the grass",
        "The small dog chases a red ball in the park.",
        "a happy dog playing outside",
        "a black and white dog jumps over a wooden fence"]),
    ("val2014/COCO_val2014_000000900003.jpg", [
        "a man holding an umbrella stands next to a red bus",
        "A bus parked on a wet street.",
        "people wait at a bus stop in the rain",
        "a large red bus drives down the road",
        "a man with a black umbrella near a bus"]),
    ("val2014/COCO_val2014_000000900004.jpg", [
        "A plate of food sits on a wooden table.",
        "a white plate with a sandwich and fries",
        "a table with a plate and a cup of coffee",
        "the sandwich is cut in half on a plate",
        "a meal served on a white plate"]),
]
FLICKR = [
    ("flickr30k-images/9000000001.jpg", [
        "Two young men are playing soccer on a field.",
        "a man in a blue shirt kicks a ball",
        "boys play soccer outside",
        "two players run after the ball on green grass",
        "a soccer game in a park"]),
    ("flickr30k-images/9000000002.jpg", [
        "A woman in a red dress walks down a busy street.",
        "a woman is walking in the city",
        "a lady crosses the street near a shop",
        "people walk on a crowded sidewalk",
        "a woman wearing red carries a bag"]),
]

#: Hand-written PTB tags for the sample vocabulary (lower-cased lookup; "." and "," are tokens).
LEXICON = {
    **{w: "DT" for w in ("a", "an", "the", "another")},
    **{w: "IN" for w in ("on", "with", "while", "across", "in", "of", "over", "at", "near", "down", "after", "to")},
    **{w: "NN" for w in ("girl", "bike", "boy", "picture", "street", "bicycle", "dog", "field", "grass", "ball",
                         "park", "fence", "man", "umbrella", "bus", "stop", "rain", "road", "plate", "food",
                         "table", "sandwich", "cup", "coffee", "half", "meal", "soccer", "shirt", "game",
                         "woman", "dress", "city", "lady", "shop", "sidewalk", "bag")},
    **{w: "NNS" for w in ("girls", "kids", "children", "people", "fries", "men", "boys", "players")},
    **{w: "JJ" for w in ("decorated", "young", "small", "green", "red", "happy", "black", "white", "wooden",
                         "wet", "large", "blue", "busy", "crowded")},
    "younger": "JJR", "two": "CD",
    **{w: "VBZ" for w in ("sits", "takes", "runs", "chases", "jumps", "stands", "drives", "is", "kicks",
                          "crosses", "carries", "walks")},
    **{w: "VBP" for w in ("play", "wait", "walk", "run", "are")},
    **{w: "VBG" for w in ("riding", "posing", "taking", "running", "playing", "holding", "walking", "wearing")},
    **{w: "VBN" for w in ("parked", "cut", "served")},
    "and": "CC", "next": "JJ", ".": ".", ",": ",", "outside": "RB",
}


def _tokens(caption: str) -> list[str]:
    out = []
    for w in caption.split(" "):
        if w.endswith((".", ",")) and len(w) > 1:
            out += [w[:-1], w[-1]]
        elif w:
            out.append(w)
    return out


class LexiconTagger:
    """The sample's hand-written tags (not spaCy; declared in the tags file's provenance)."""

    def tag(self, text: str) -> list[tuple[str, str]]:
        pairs = []
        for tok in _tokens(text):
            tag = LEXICON.get(tok.lower())
            if tag is None:
                raise KeyError(f"no hand-written tag for {tok!r} in {text!r}: extend LEXICON")
            pairs.append((tok, tag))
        return pairs

    def identity(self) -> dict:
        return {"pos_tagger": "hand-written lexicon (tools/make_snare_sample.py)",
                "note": "demo tags written by hand, not spaCy en_core_web_sm output; real runs use pos_tagger=spacy"}


# --------------------------------------------------------------------------- images


def _image(rng: np.random.Generator, w: int, h: int):
    from PIL import Image, ImageDraw

    bg = tuple(int(x) for x in rng.integers(40, 215, 3))
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        x1, y1 = x0 + int(rng.integers(12, w // 2)), y0 + int(rng.integers(12, h // 2))
        col = tuple(int(x) for x in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
    return im


def _vg_items(rng: np.random.Generator, n_images: int) -> tuple[list[dict], list[dict]]:
    def box() -> dict:
        x, y = int(rng.integers(0, 60)), int(rng.integers(0, 40))
        return {"bbox_x": x, "bbox_y": y, "bbox_w": int(rng.integers(50, 160 - x)),
                "bbox_h": int(rng.integers(40, 120 - y))}

    rel = []
    for k, (s, r, o) in enumerate(RELATIONS):
        rel.append({"image_id": 2400001 + k % n_images, "image_path": f"{2400001 + k % n_images}.jpg", **box(),
                    "relation_name": r, "true_caption": f"the {s} is {r} the {o}",
                    "false_caption": f"the {o} is {r} the {s}"})
    for k, (s, r, o) in enumerate(PLURAL_RELATIONS):
        rel.append({"image_id": 2400001 + k % n_images, "image_path": f"{2400001 + k % n_images}.jpg", **box(),
                    "relation_name": r, "true_caption": f"the {s} are {r} the {o}",
                    "false_caption": f"the {o} are {r} the {s}"})
    att = []
    for k, (o1, o2, a0, a1) in enumerate(ATTRIBUTIONS):
        att.append({"image_id": 2400001 + (k + 3) % n_images, "image_path": f"{2400001 + (k + 3) % n_images}.jpg",
                    **box(), "attributes": [a0, a1], "obj1_name": o1, "obj2_name": o2,
                    "true_caption": f"the {a0} {o1} and the {a1} {o2}",
                    "false_caption": f"the {a1} {o1} and the {a0} {o2}"})
    return rel, att


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "mmharness" / "data" / "samples" / "snare"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    rng = np.random.default_rng(20230823)
    vg = out / "prerelease_bow"
    (vg / "images").mkdir(parents=True, exist_ok=True)
    n_images = 8
    for k in range(n_images):
        _image(rng, 160, 120).save(vg / "images" / f"{2400001 + k}.jpg", quality=90)
    rel, att = _vg_items(rng, n_images)
    (vg / "visual_genome_relation.json").write_text(json.dumps(rel, indent=1) + "\n")
    (vg / "visual_genome_attribution.json").write_text(json.dumps(att, indent=1) + "\n")
    for folder, name, entries in (("coco", "coco_karpathy_test", COCO), ("flickr30k", "flickr30k_test", FLICKR)):
        base = out / folder
        ann = [{"image": img, "caption": caps, "image_id": Path(img).stem} for img, caps in entries]
        for img, _ in entries:
            (base / img).parent.mkdir(parents=True, exist_ok=True)
            _image(rng, 96, 72).save(base / img, quality=90)
        (base / f"{name}.json").write_text(json.dumps(ann, indent=1) + "\n")
        write_tag_file([c for _, caps in entries for c in caps], LexiconTagger(), base / f"{name}.pos_tags.json")
    print(f"wrote the SNARE sample to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
