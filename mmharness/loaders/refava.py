"""RefAVA (RAVAR, ECCV 2024) annotations: the official pickle triplets, the harness's JSON export,
the 80 AVA v2.2 action classes, and where a key's frames or video live.

Official release (``docs/protocols/refava.md`` section 2): per split, three pickled dicts sharing string keys
``"{video_id}___{timestamp}___{person_id}"``:

* ``{split}_set_keyframe_crr_final.pkl``: list, element 0 = target box ``[x1, y1, x2, y2]``;
* ``{split}_set_label_crr_final.pkl``: list of AVA action ids in 1..80 (multi-label);
* ``{split}_set_description_crr_final.pkl``: list of str, element 0 is the referring text.

(RefAVA++ names them ``{split}_{keyframe,label,description}.pkl``.) The official loader zips
``list(d.values())`` of the three dicts and so silently relies on equal insertion order; this
module joins on keys and counts order mismatches instead.

**Pickles are read only from files a user names explicitly** (``mmh data convert refava
--pickles ...``), and even then through a restricted unpickler that accepts only plain containers,
numbers, strings and numpy arrays (``allow_any_pickle=True`` lifts that, for files the user
trusts). The conversion writes a JSON export (:data:`EXPORT_FORMAT`) that the task reads.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..task import DataNotFoundError, TaskError, sha256_file
from .safe_pickle import read_pickle

# --------------------------------------------------------------------------- label space

#: The 80 AVA v2.2 action names; the name of AVA id ``i`` is ``AVA_ACTIONS[i - 1]`` and multi-hot
#: column j is AVA id j + 1 (the official ``MultiLabelBinarizer`` fitted with a dummy row 1..80).
AVA_ACTIONS: tuple[str, ...] = (
    "bend/bow (at the waist)", "crawl", "crouch/kneel", "dance", "fall down", "get up", "jump/leap",
    "lie/sleep", "martial art", "run/jog", "sit", "stand", "swim", "walk", "answer phone",
    "brush teeth", "carry/hold (an object)", "catch (an object)", "chop", "climb (e.g., a mountain)",
    "clink glass", "close (e.g., a door, a box)", "cook", "cut", "dig", "dress/put on clothing",
    "drink", "drive (e.g., a car, a truck)", "eat", "enter", "exit", "extract", "fishing",
    "hit (an object)", "kick (an object)", "lift/pick up", "listen (e.g., to music)",
    "open (e.g., a window, a car door)", "paint", "play board game", "play musical instrument",
    "play with pets", "point to (an object)", "press", "pull (an object)", "push (an object)",
    "put down", "read", "ride (e.g., a bike, a car, a horse)", "row boat", "sail boat", "shoot",
    "shovel", "smoke", "stir", "take a photo", "text on/look at a cellphone", "throw",
    "touch (an object)", "turn (e.g., a screwdriver)", "watch (e.g., TV)", "work on a computer",
    "write", "fight/hit (a person)", "give/serve (an object) to (a person)", "grab (a person)",
    "hand clap", "hand shake", "hand wave", "hug (a person)", "kick (a person)", "kiss (a person)",
    "lift (a person)", "listen to (a person)", "play with kids", "push (another person)",
    "sing to (e.g., self, a person, a group)", "take (an object) from (a person)",
    "talk to (e.g., self, a person, a group)", "watch (a person)",
)
NUM_CLASSES = len(AVA_ACTIONS)

#: AVA label types by id range: 1-14 person movement, 15-63 object manipulation, 64-80 interaction.
LABEL_TYPES: tuple[tuple[str, int, int], ...] = (
    ("PERSON_MOVEMENT", 1, 14), ("OBJECT_MANIPULATION", 15, 63), ("PERSON_INTERACTION", 64, 80))

#: Training-label count per AVA id (index i -> id i + 1), from the official ``label_num.npy``
#: (RAVAR commit 7f230c5; sum 58,953; zero for ids 16, 23, 32, 35, 39, 52, 53).
REFAVA_TRAIN_COUNTS: tuple[int, ...] = (
    694, 2, 267, 111, 16, 64, 15, 395, 221, 185, 6061, 11264, 8, 2600, 97, 0, 5214, 1, 1, 5, 4, 39, 0,
    14, 1, 12, 267, 1, 394, 6, 5, 0, 4, 11, 0, 32, 67, 67, 0, 7, 153, 4, 4, 5, 15, 16, 38, 215, 196,
    2, 8, 0, 0, 136, 7, 28, 14, 23, 1495, 21, 198, 4, 33, 242, 80, 224, 29, 64, 25, 45, 6, 52, 10,
    7978, 3, 31, 90, 45, 7132, 12130,
)


def label_type(ava_id: int) -> str:
    """The AVA label type of action id ``ava_id`` (1..80)."""
    for name, lo, hi in LABEL_TYPES:
        if lo <= ava_id <= hi:
            return name
    raise ValueError(f"AVA action id {ava_id} outside 1..{NUM_CLASSES}")


# --------------------------------------------------------------------------- keys and records

KEY_SEPARATOR = "___"
ROLES = ("keyframe", "label", "description")
SPLITS = ("train", "val", "test")
EXPORT_FORMAT = "mmharness.refava-annotations"
EXPORT_VERSION = 1
#: Default export file name, looked for under the data root by the task.
EXPORT_NAME = "refava_annotations.json"


@dataclass(frozen=True)
class RefAvaKey:
    """A parsed key: ``video_id``, ``timestamp`` (AVA keyframe second) and ``person_id``."""

    video_id: str
    timestamp: int
    person_id: str


def parse_key(key: str, where: str = "") -> RefAvaKey:
    """Split ``"{video_id}___{timestamp}___{person_id}"``; raise :class:`TaskError` naming ``where``
    and the key when it does not have three parts or the timestamp is not an integer."""
    if not isinstance(key, str):
        raise TaskError(f"{where}: key {key!r} is not a string (expected 'video___timestamp___person')")
    parts = key.split(KEY_SEPARATOR)
    if len(parts) != 3 or not all(parts):
        raise TaskError(f"{where}: key {key!r} is not of the form '<video_id>___<timestamp>___<person_id>'")
    try:
        ts = int(parts[1])
    except ValueError:
        raise TaskError(f"{where}: key {key!r} has a non-integer timestamp {parts[1]!r}") from None
    if parts[0] in (".", "..") or any(c in parts[0] for c in "/\\\x00"):
        raise TaskError(f"{where}: key {key!r} has video id {parts[0]!r}, which is not a plain name (it names "
                        "the folder frames/<video_id> or the file videos/<video_id>.<ext> under the data root)")
    return RefAvaKey(parts[0], ts, parts[2])


def _box(value: Any, where: str, key: str) -> list[float]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise TaskError(f"{where}: key {key!r}: keyframe entry must be a non-empty list whose element 0 "
                        f"is the box [x1, y1, x2, y2], got {type(value).__name__}")
    box = value[0]
    if hasattr(box, "tolist"):
        box = box.tolist()
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise TaskError(f"{where}: key {key!r}: box (keyframe element 0) must have 4 numbers "
                        f"[x1, y1, x2, y2], got {box!r}")
    try:
        out = [float(v) for v in box]
    except (TypeError, ValueError):
        raise TaskError(f"{where}: key {key!r}: box {box!r} holds non-numbers") from None
    if not all(math.isfinite(v) for v in out):
        raise TaskError(f"{where}: key {key!r}: box {box!r} holds NaN or infinite values")
    if out[2] < out[0] or out[3] < out[1]:
        raise TaskError(f"{where}: key {key!r}: box {out} has x2 < x1 or y2 < y1 (expected [x1, y1, x2, y2])")
    return out


def _labels(value: Any, where: str, key: str) -> list[int]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        value = [value]
    out = []
    for v in value:
        try:
            i = int(v)
        except (TypeError, ValueError):
            raise TaskError(f"{where}: key {key!r}: label {v!r} is not an integer AVA action id") from None
        if i != v or not 1 <= i <= NUM_CLASSES:
            raise TaskError(f"{where}: key {key!r}: label {v!r} is outside the AVA action ids 1..{NUM_CLASSES}")
        out.append(i)
    if not out:
        raise TaskError(f"{where}: key {key!r}: the label list is empty (every instance has at least one action)")
    return sorted(set(out))


def _description(value: Any, where: str, key: str) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        text = value[0]
    else:
        raise TaskError(f"{where}: key {key!r}: description entry must be a list whose element 0 is a "
                        f"string, got {value!r:.80}")
    if not text.strip():
        raise TaskError(f"{where}: key {key!r}: the description (element 0) is empty")
    return text


def validate_record(rec: dict, where: str) -> dict:
    """Check one export record (``key``, ``box``, ``labels``, ``description``) and return it
    normalised; raise :class:`TaskError` naming ``where`` and the key on any problem."""
    if not isinstance(rec, dict):
        raise TaskError(f"{where}: record {rec!r:.80} is not an object")
    missing = [f for f in ("key", "box", "labels", "description") if f not in rec]
    if missing:
        raise TaskError(f"{where}: record {rec.get('key', '?')!r} lacks field(s) {missing}")
    key = rec["key"]
    k = parse_key(key, where)
    return {"key": key, "video_id": k.video_id, "timestamp": k.timestamp, "person_id": k.person_id,
            "box": _box([rec["box"]], where, key), "labels": _labels(rec["labels"], where, key),
            "description": _description(rec["description"], where, key)}


# --------------------------------------------------------------------------- pickles (explicit opt-in)

_NAME_PATTERNS = (
    re.compile(r"^(?P<split>train|val|test)_set_(?P<role>keyframe|label|description)_crr_final\.pkl$"),
    re.compile(r"^(?P<split>train|val|test)_(?P<role>keyframe|label|description)\.pkl$"),
)


def identify_pickle(path: str | Path) -> tuple[str, str]:
    """``(split, role)`` from an official file name (``{split}_set_{role}_crr_final.pkl`` or the
    RefAVA++ ``{split}_{role}.pkl``); :class:`TaskError` for any other name."""
    name = Path(path).name
    for pat in _NAME_PATTERNS:
        m = pat.match(name)
        if m:
            return m.group("split"), m.group("role")
    raise TaskError(f"{path}: cannot tell split and role from the file name; expected "
                    "'{split}_set_{keyframe|label|description}_crr_final.pkl' or '{split}_{role}.pkl' "
                    "(split = train, val or test)")


def join_triplet(keyframe: Any, label: Any, description: Any, paths: dict[str, str]) -> tuple[list[dict], int]:
    """Join the three official dicts on their keys.

    Returns ``(records, order_mismatches)``: records in the key order of the label file (the
    official ``self.keys``), and the number of positions at which the three files' key orders
    differ (the official loader would silently mis-pair those). A key missing from any file, a
    label outside 1..80, a malformed box or description raise :class:`TaskError` naming the file and key.
    """
    dicts = {"keyframe": keyframe, "label": label, "description": description}
    for role, d in dicts.items():
        if not isinstance(d, dict):
            raise TaskError(f"{paths[role]}: expected a dict keyed by 'video___timestamp___person', "
                            f"got {type(d).__name__}")
    keysets = {role: set(d) for role, d in dicts.items()}
    union = set().union(*keysets.values())
    for role in ROLES:
        missing = sorted(union - keysets[role], key=str)
        if missing:
            others = [r for r in ROLES if missing[0] in keysets[r]]
            raise TaskError(f"{paths[role]}: key {missing[0]!r} is missing (it is in "
                            f"{', '.join(paths[r] for r in others)}); {len(missing)} key(s) missing in all. "
                            "The three files of a split must hold the same keys.")
    orders = [list(d) for d in dicts.values()]
    mismatches = sum(1 for a, b, c in zip(*orders) if not (a == b == c))
    records = []
    for key in dicts["label"]:
        parse_key(key, paths["label"])
        records.append({
            "key": key,
            "box": _box(keyframe[key], paths["keyframe"], key),
            "labels": _labels(label[key], paths["label"], key),
            "description": _description(description[key], paths["description"], key),
        })
    return records, mismatches


def convert_pickles(files: Iterable[str | Path], allow_any_pickle: bool = False) -> dict:
    """Read the named official pickles (roles and splits from their names; three per split) and
    return the JSON export document. Raises :class:`TaskError` naming the file on any problem."""
    from .. import __version__

    by_split: dict[str, dict[str, str]] = {}
    for f in files:
        split, role = identify_pickle(f)
        roles = by_split.setdefault(split, {})
        if role in roles:
            raise TaskError(f"two {split} {role} files given: {roles[role]} and {f}")
        roles[role] = str(f)
    if not by_split:
        raise TaskError("no pickle file given")
    doc: dict = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
                 "source": {"converted_by": f"mmh data convert refava (mmharness {__version__})", "files": []},
                 "splits": {}}
    for split in sorted(by_split, key=SPLITS.index):
        roles = by_split[split]
        lacking = [r for r in ROLES if r not in roles]
        if lacking:
            raise TaskError(f"split {split!r}: the {', '.join(lacking)} file(s) are missing; give all three "
                            f"({', '.join(f'{split}_set_{r}_crr_final.pkl' for r in ROLES)})")
        loaded = {r: read_pickle(roles[r], allow_any_pickle) for r in ROLES}
        records, mismatches = join_triplet(loaded["keyframe"], loaded["label"], loaded["description"], roles)
        doc["splits"][split] = {"n": len(records), "key_order_mismatches": mismatches, "records": records}
        for r in ROLES:
            doc["source"]["files"].append({"split": split, "role": r, "name": Path(roles[r]).name,
                                           "sha256": sha256_file(roles[r])})
    return doc


def write_export(doc: dict, path: str | Path) -> Path:
    """Write the export document as JSON (atomically: temp file then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


def read_export(path: str | Path) -> dict:
    """Read and validate a JSON export: ``{split: {"records": [...], "key_order_mismatches": k}}``
    with every record normalised by :func:`validate_record`. Errors name the file and key."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"RefAVA annotation export not found: {p}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TaskError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise TaskError(f"{p}: not a RefAVA export (expected \"format\": \"{EXPORT_FORMAT}\"); create it with "
                        "`mmh data convert refava --pickles ...`")
    if doc.get("version") != EXPORT_VERSION:
        raise TaskError(f"{p}: export version {doc.get('version')!r} is not supported (expected {EXPORT_VERSION})")
    splits = doc.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise TaskError(f"{p}: the export holds no split")
    out = {}
    for split, body in splits.items():
        where = f"{p} (split {split})"
        recs = body.get("records") if isinstance(body, dict) else None
        if not isinstance(recs, list):
            raise TaskError(f"{where}: 'records' must be a list")
        seen = set()
        norm = []
        for rec in recs:
            r = validate_record(rec, where)
            if r["key"] in seen:
                raise TaskError(f"{where}: key {r['key']!r} appears twice")
            seen.add(r["key"])
            norm.append(r)
        out[split] = {"records": norm, "key_order_mismatches": int(body.get("key_order_mismatches", 0))}
    return out


# --------------------------------------------------------------------------- media location

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")


def find_media(root: Path, video_id: str) -> tuple[str, Path] | None:
    """Where the frames of ``video_id`` are: ``("frames", root/frames/<id>)`` (AVA extracted JPEGs)
    or ``("video", root/videos/<id>.<ext>)``; None when neither exists."""
    d = root / "frames" / video_id
    if d.is_dir():
        return "frames", d
    for ext in VIDEO_EXTENSIONS:
        v = root / "videos" / f"{video_id}{ext}"
        if v.is_file():
            return "video", v
    return None


def candidate_roots(root: Path) -> list[Path]:
    """Directories searched for the RefAVA layout under a data root."""
    return [root, root / "refava", root / "RefAVA"]
