"""MIntRec2.0 (Zhang et al., ICLR 2024) readers: the official TSV layout, the MMLA layouts
(TSV and LLaMA-Factory JSON), Hugging Face snapshots, multi-turn context, media and feature files.

Layouts (detected under ``root``, ``root/MIntRec2.0`` or ``root/mintrec2``; ``source`` forces one):

* ``official`` (https://github.com/thuiar/MIntRec2.0): ``in-scope/{split}.tsv``,
  ``out-of-scope/MIntRec2.0-OOD/{split}.tsv`` (Label = ``UNK``) and ``total/{split}.tsv``
  (multi-turn: in-scope and out-of-scope rows of each dialogue). Tab-separated with one header
  row; the code reads ``Dialogue_id``, ``Utterance_id``, ``Text``, ``Label`` and ``speaker_name``.
  Every row must have as many fields as the header. Labels map by exact string.
* ``mmla_tsv`` (``THUIAR/MMLA-Datasets``, folder ``MIntRec2.0/``): in-scope ``{split}.tsv`` whose
  header names the text (``text``/``utterance``/``Text``), the label (``label``/``intent``/``Label``)
  and the utterance either as ``Dialogue_id`` + ``Utterance_id``, an ``id`` ``"{D}_{U}"`` or a video
  name ``MIntRec2.0_{D}_{U}.mp4``. Labels match case-insensitively (MMLA lower-cases them).
* ``mmla_json``: MMLA's LLaMA-Factory files ``MIntRec2.0_{split}_text_intent_llamafactory.json``
  (records ``id``, ``video``, ``conversations`` = [prompt with the transcript, ``intent: <Label>``]).
* ``hf``: a Hugging Face dataset repository snapshot (``THU-IAR/MIntRec2.0`` or
  ``THUIAR/MMLA-Datasets``) fetched with ``huggingface_hub`` (offline: from the local HF cache),
  then read with one of the layouts above.

Unknown intent strings, rows with the wrong number of fields and missing columns raise
:class:`~mmharness.task.TaskError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..registry import did_you_mean
from ..task import DataNotFoundError, TaskError

# --------------------------------------------------------------------------- label space

#: The 30 intent labels in id order (``benchmarks['MIntRec2.0']['intent_labels']``); UNK = 30.
INTENT_LABELS: tuple[str, ...] = (
    "Acknowledge", "Advise", "Agree", "Apologise", "Arrange", "Ask for help", "Asking for opinions",
    "Care", "Comfort", "Complain", "Confirm", "Criticize", "Doubt", "Emphasize", "Explain", "Flaunt",
    "Greet", "Inform", "Introduce", "Invite", "Joke", "Leave", "Oppose", "Plan", "Praise", "Prevent",
    "Refuse", "Taunt", "Thank", "Warn",
)
NUM_INTENTS = len(INTENT_LABELS)
UNK_LABEL = "UNK"
UNK_ID = NUM_INTENTS
#: Coarse groups of the README.
COARSE_GROUPS: dict[str, tuple[str, ...]] = {
    "Express emotions or attitudes": (
        "Acknowledge", "Agree", "Apologise", "Care", "Complain", "Criticize", "Doubt", "Emphasize",
        "Flaunt", "Joke", "Oppose", "Praise", "Refuse", "Taunt", "Thank", "Warn"),
    "Achieve goals": (
        "Advise", "Arrange", "Ask for help", "Asking for opinions", "Comfort", "Confirm", "Explain",
        "Greet", "Inform", "Introduce", "Invite", "Leave", "Plan", "Prevent"),
}
SPLITS = ("train", "dev", "test")
OOD_DATASET = "MIntRec2.0-OOD"
LAYOUTS = ("official", "mmla_tsv", "mmla_json", "hf")
HF_IDS = {"official": "THU-IAR/MIntRec2.0", "mmla": "THUIAR/MMLA-Datasets"}

_LOWER = {lab.lower(): i for i, lab in enumerate(INTENT_LABELS)}


def label_to_id(label: str, where: str, case_sensitive: bool = True) -> int:
    """Intent string -> id (0..29, ``UNK`` -> 30). Exact match by default (the official mapping);
    ``case_sensitive=False`` for the MMLA files. Raises :class:`TaskError` naming ``where``."""
    s = label.strip()
    if case_sensitive:
        if s == UNK_LABEL:
            return UNK_ID
        if s in INTENT_LABELS:
            return INTENT_LABELS.index(s)
    else:
        if s.lower() == UNK_LABEL.lower():
            return UNK_ID
        if s.lower() in _LOWER:
            return _LOWER[s.lower()]
    raise TaskError(f"{where}: unknown intent {label!r}.{did_you_mean(s, list(INTENT_LABELS))} Expected one "
                    f"of the 30 MIntRec2.0 intents (exact spelling, e.g. 'Apologise', 'Asking for opinions') "
                    f"or {UNK_LABEL!r}.")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Utterance:
    """One utterance: ids, transcript, label id (30 = UNK), split, speaker (None if unknown)."""

    dialogue_id: int
    utterance_id: int
    text: str
    label: int
    split: str
    speaker: str | None = None
    source: str = ""  # file:line it was read from
    video: str | None = None  # MMLA video file name, when given

    @property
    def key(self) -> str:
        """The official sample key ``dia{D}_utt{U}`` (feature pickles use it)."""
        return f"dia{self.dialogue_id}_utt{self.utterance_id}"

    @property
    def in_scope(self) -> bool:
        return self.label != UNK_ID


@dataclass
class MIntRecData:
    """What a layout holds: per split, in-scope rows, out-of-scope rows and (multi-turn) total rows;
    the layout name, the directory read (media and features live there), the files read."""

    layout: str
    directory: Path
    in_scope: dict[str, list[Utterance]] = field(default_factory=dict)
    out_of_scope: dict[str, list[Utterance]] = field(default_factory=dict)
    total: dict[str, list[Utterance]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    oos_directory: Path | None = None
    total_directory: Path | None = None

    def splits(self) -> list[str]:
        """Splits with in-scope rows."""
        return [s for s in SPLITS if s in self.in_scope]


def _int(value: str, where: str, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise TaskError(f"{where}: column {column} holds {value!r}, expected an integer") from None


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) rows of a tab-separated file (no quoting, as the official
    ``_read_tsv``); blank lines are skipped; every row must have as many fields as the header."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TaskError(f"{path}: not UTF-8 text ({e})") from None
    lines = text.splitlines()
    if not lines:
        raise TaskError(f"{path}: empty file (expected a header row)")
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader)
    rows = []
    for lineno, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise TaskError(f"{path}:{lineno}: {len(fields)} tab-separated fields, expected {len(header)} "
                            f"as in the header ({', '.join(header)})")
        rows.append((lineno, fields))
    return header, rows


def _column(header: list[str], names: tuple[str, ...], path: Path, required: bool = True) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n.lower() in lowered:
            return lowered.index(n.lower())
    if required:
        raise TaskError(f"{path}: header has no column {names[0]!r} (columns: {', '.join(header)})")
    return None


def read_official_tsv(path: Path, split: str) -> list[Utterance]:
    """Rows of an official TSV (``in-scope``, ``out-of-scope/MIntRec2.0-OOD`` or ``total``)."""
    header, rows = _read_rows(path)
    c_d = _column(header, ("Dialogue_id",), path)
    c_u = _column(header, ("Utterance_id",), path)
    c_t = _column(header, ("Text",), path)
    c_l = _column(header, ("Label",), path)
    c_s = _column(header, ("speaker_name",), path, required=False)
    out = []
    for lineno, f in rows:
        where = f"{path}:{lineno}"
        out.append(Utterance(_int(f[c_d], where, "Dialogue_id"), _int(f[c_u], where, "Utterance_id"),
                             f[c_t], label_to_id(f[c_l], where), split,
                             f[c_s] if c_s is not None and f[c_s] != "" else None, where))
    _check_unique(out, path)
    return out


_VIDEO_NAME = re.compile(r"MIntRec2\.0_(\d+)_(\d+)\.mp4$")


def read_mmla_tsv(path: Path, split: str) -> list[Utterance]:
    """Rows of an MMLA-style in-scope TSV (see the module docstring for the accepted columns)."""
    header, rows = _read_rows(path)
    c_t = _column(header, ("Text", "text", "utterance"), path)
    c_l = _column(header, ("Label", "label", "intent"), path)
    c_d = _column(header, ("Dialogue_id",), path, required=False)
    c_u = _column(header, ("Utterance_id",), path, required=False)
    c_id = _column(header, ("id",), path, required=False)
    c_v = _column(header, ("video", "video_name"), path, required=False)
    c_s = _column(header, ("speaker_name", "speaker"), path, required=False)
    out = []
    for lineno, f in rows:
        where = f"{path}:{lineno}"
        if c_d is not None and c_u is not None:
            d, u = _int(f[c_d], where, "Dialogue_id"), _int(f[c_u], where, "Utterance_id")
        elif c_v is not None and _VIDEO_NAME.search(f[c_v]):
            m = _VIDEO_NAME.search(f[c_v])
            d, u = int(m.group(1)), int(m.group(2))
        elif c_id is not None and re.fullmatch(r"\d+_\d+", f[c_id].strip()):
            d, u = (int(x) for x in f[c_id].strip().split("_"))
        else:
            raise TaskError(f"{where}: cannot tell the dialogue and utterance ids (expected Dialogue_id and "
                            "Utterance_id columns, an id '<D>_<U>' or a video 'MIntRec2.0_<D>_<U>.mp4')")
        out.append(Utterance(d, u, f[c_t], label_to_id(f[c_l], where, case_sensitive=False), split,
                             f[c_s] if c_s is not None and f[c_s] else None, where,
                             f[c_v] if c_v is not None else None))
    _check_unique(out, path)
    return out


_PROMPT_TEXT = re.compile(r"^The speaker says: (?P<text>.*) Based on the text, what is the intent of this speaker\?",
                          re.DOTALL)
_REPLY = re.compile(r"^\s*intent\s*:\s*(?P<label>.+?)\s*$", re.IGNORECASE | re.DOTALL)


def read_llamafactory_json(path: Path, split: str) -> list[Utterance]:
    """Records of an MMLA LLaMA-Factory JSON file (transcript parsed from the prompt, label from
    the ``intent: <Label>`` reply, ids from the video name)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TaskError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise TaskError(f"{path}: expected a JSON list of records")
    out = []
    for i, rec in enumerate(records):
        where = f"{path} record {i} (id {rec.get('id', '?') if isinstance(rec, dict) else '?'})"
        if not isinstance(rec, dict) or not isinstance(rec.get("conversations"), list) or len(rec["conversations"]) < 2:
            raise TaskError(f"{where}: expected fields 'video' and 'conversations' [prompt, reply]")
        m = _VIDEO_NAME.search(str(rec.get("video", "")))
        if not m:
            raise TaskError(f"{where}: video {rec.get('video')!r} is not 'MIntRec2.0_<D>_<U>.mp4'")
        prompt, reply = rec["conversations"][0].get("value", ""), rec["conversations"][1].get("value", "")
        pm = _PROMPT_TEXT.match(prompt)
        if not pm:
            raise TaskError(f"{where}: the prompt does not start with 'The speaker says: <text> Based on the text, "
                            "what is the intent of this speaker?'")
        rm = _REPLY.match(reply)
        if not rm:
            raise TaskError(f"{where}: the reply {reply!r} is not 'intent: <label>'")
        out.append(Utterance(int(m.group(1)), int(m.group(2)), pm.group("text"),
                             label_to_id(rm.group("label"), where, case_sensitive=False), split,
                             None, where, rec["video"]))
    _check_unique(out, path)
    return out


def _check_unique(rows: list[Utterance], path: Path) -> None:
    seen: dict[str, str] = {}
    for r in rows:
        if r.key in seen:
            raise TaskError(f"{r.source}: utterance {r.key} appears twice in {path} (also at {seen[r.key]})")
        seen[r.key] = r.source


# --------------------------------------------------------------------------- layouts


def candidate_dirs(root: Path) -> list[Path]:
    """Directories searched for a layout under a data root."""
    return [root, root / "MIntRec2.0", root / "mintrec2"]


def _official_dir(d: Path) -> bool:
    return any((d / "in-scope" / f"{s}.tsv").is_file() for s in SPLITS)


def _mmla_tsv_dir(d: Path) -> bool:
    return any((d / f"{s}.tsv").is_file() for s in SPLITS)


def _json_name(split: str) -> str:
    return f"MIntRec2.0_{split}_text_intent_llamafactory.json"


def _mmla_json_dir(d: Path) -> bool:
    return any((d / _json_name(s)).is_file() for s in SPLITS)


_DETECT = {"official": _official_dir, "mmla_tsv": _mmla_tsv_dir, "mmla_json": _mmla_json_dir}


def read_layout(directory: Path, layout: str) -> MIntRecData:
    """Read every split present in ``directory`` with ``layout`` (official, mmla_tsv, mmla_json)."""
    data = MIntRecData(layout=layout, directory=directory)
    if layout == "official":
        for s in SPLITS:
            p = directory / "in-scope" / f"{s}.tsv"
            if p.is_file():
                data.in_scope[s] = read_official_tsv(p, s)
                data.files.append(p)
            q = directory / "out-of-scope" / OOD_DATASET / f"{s}.tsv"
            if q.is_file():
                rows = read_official_tsv(q, s)
                bad = [r for r in rows if r.in_scope]
                if bad:
                    raise TaskError(f"{bad[0].source}: an out-of-scope file holds label "
                                    f"{INTENT_LABELS[bad[0].label]!r}; expected {UNK_LABEL!r}")
                data.out_of_scope[s] = rows
                data.files.append(q)
                data.oos_directory = directory / "out-of-scope" / OOD_DATASET
            t = directory / "total" / f"{s}.tsv"
            if t.is_file():
                data.total[s] = read_official_tsv(t, s)
                data.files.append(t)
                data.total_directory = directory / "total"
    elif layout == "mmla_tsv":
        for s in SPLITS:
            p = directory / f"{s}.tsv"
            if p.is_file():
                rows = read_mmla_tsv(p, s)
                data.in_scope[s] = [r for r in rows if r.in_scope]
                if len(data.in_scope[s]) != len(rows):
                    data.out_of_scope[s] = [r for r in rows if not r.in_scope]
                data.files.append(p)
    elif layout == "mmla_json":
        for s in SPLITS:
            p = directory / _json_name(s)
            if p.is_file():
                data.in_scope[s] = read_llamafactory_json(p, s)
                data.files.append(p)
    else:
        raise TaskError(f"unknown MIntRec2.0 layout {layout!r}; choose one of {list(LAYOUTS)}")
    if not data.in_scope:
        raise DataNotFoundError(f"{directory}: no MIntRec2.0 {layout} split found")
    return data


def _hf_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=repo_id, repo_type="dataset",
                                  allow_patterns=["*.tsv", "*.json", "**/*.tsv", "**/*.json"]))


def detect(root: Path | None, source: str | None = None) -> MIntRecData:
    """Find and read a layout (see the module docstring); ``source`` forces one. Raises
    :class:`DataNotFoundError` naming the paths tried and the official sources."""
    if source is not None and source not in LAYOUTS:
        raise TaskError(f"unknown MIntRec2.0 source {source!r}; choose one of {list(LAYOUTS)}")
    order = [source] if source else ["official", "mmla_tsv", "mmla_json"]
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataNotFoundError(f"MIntRec2.0 data root {root} does not exist")
        for layout in order:
            if layout == "hf":
                continue
            for d in candidate_dirs(root):
                if d.is_dir() and _DETECT[layout](d):
                    return read_layout(d, layout)
    hub_error = ""
    if source == "hf":
        for kind, repo in HF_IDS.items():
            try:
                snap = _hf_snapshot(repo)
            except Exception as e:  # offline and not cached, no network, not installed
                hub_error += f" {repo}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''};"
                continue
            for d in [snap, snap / "MIntRec2.0", snap / "data", snap / "data01"]:
                for layout in ("official", "mmla_tsv"):
                    if d.is_dir() and _DETECT[layout](d):
                        out = read_layout(d, layout)
                        out.layout = f"hf:{repo}:{layout}"
                        return out
            hub_error += f" {repo}: snapshot {snap} holds no known layout;"
    tried = [] if root is None else [str(d) for d in candidate_dirs(root)]
    raise DataNotFoundError(
        "MIntRec2.0 data not found" + (f" under {', '.join(tried)}" if tried else " (no --data-root given)")
        + ". Expected the official layout (in-scope/{train,dev,test}.tsv, out-of-scope/MIntRec2.0-OOD/, "
        "total/), MMLA TSVs ({train,dev,test}.tsv) or MMLA JSON (MIntRec2.0_{split}_text_intent_llamafactory.json). "
        "Sources: https://github.com/thuiar/MIntRec2.0 (Google Drive folder 1W-z8kMOA1TaB3pE4rk4ZpkBQLvODMQ_Y), "
        "Hugging Face THU-IAR/MIntRec2.0 or THUIAR/MMLA-Datasets (--data-source hf)."
        + (f" Hub:{hub_error}" if hub_error else ""))


# --------------------------------------------------------------------------- multi-turn context


def dialogues(rows: list[Utterance]) -> dict[int, list[Utterance]]:
    """Rows grouped by dialogue, each sorted by utterance id (the official ``dialogue_merge``)."""
    out: dict[int, list[Utterance]] = {}
    for r in rows:
        out.setdefault(r.dialogue_id, []).append(r)
    return {d: sorted(v, key=lambda r: r.utterance_id) for d, v in out.items()}


def same_speaker_context(rows: list[Utterance]) -> dict[str, tuple[str, ...]]:
    """For each utterance key, the earlier utterances of the same speaker in its dialogue, **most
    recent first** (the official ``generate_context``: the current utterance is followed by the
    accumulated history of its speaker, newest first). Rows need speaker names."""
    out: dict[str, tuple[str, ...]] = {}
    for d, utts in dialogues(rows).items():
        history: dict[str, tuple[str, ...]] = {}
        for r in utts:
            if r.speaker is None:
                raise TaskError(f"{r.source}: multi-turn context needs the speaker_name column "
                                "(total/{split}.tsv of the official release)")
            prev = history.get(r.speaker, ())
            out[r.key] = prev
            history[r.speaker] = (r.text,) + prev
    return out


# --------------------------------------------------------------------------- media and features

VIDEO_DIRS = ("video", "videos", "raw_video", "raw_videos", "raw_data")
AUDIO_DIRS = ("audio", "audios", "raw_audio", "wav")


def media_names(u: Utterance, ext: str) -> list[str]:
    """File names an utterance's media may have: official ``dia{D}_utt{U}`` and MMLA ``MIntRec2.0_{D}_{U}``."""
    return [f"{u.key}{ext}", f"MIntRec2.0_{u.dialogue_id}_{u.utterance_id}{ext}"]


def find_media_file(dirs: list[Path], u: Utterance, exts: tuple[str, ...]) -> Path | None:
    """The first existing ``dir/name`` for the utterance's media names and extensions."""
    for d in dirs:
        for ext in exts:
            for name in media_names(u, ext):
                p = d / name
                if p.is_file():
                    return p
    return None


class FeatureStore:
    """A feature pickle (``dict "dia{D}_utt{U}" -> array (T, D)``) read once per process, through
    the restricted unpickler (numpy arrays only). Only created when the user opted in."""

    _loaded: dict[str, dict] = {}

    def __init__(self, path: Path):
        self.path = str(path)

    def _data(self) -> dict:
        import os

        st = os.stat(self.path)
        ident = f"{os.path.abspath(self.path)}:{st.st_size}:{st.st_mtime_ns}"  # a rewritten file is re-read
        if ident not in FeatureStore._loaded:
            from .safe_pickle import read_pickle

            obj = read_pickle(self.path, hint="Feature pickles may hold only numpy arrays.")
            if not isinstance(obj, dict):
                raise TaskError(f"{self.path}: expected a dict keyed 'dia<D>_utt<U>', got {type(obj).__name__}")
            FeatureStore._loaded = {ident: obj}  # keep one file per process: they can be large
        return FeatureStore._loaded[ident]

    def keys(self) -> set:
        """The keys in the pickle."""
        return set(self._data())

    def get(self, key: str):
        """The (T, D) float32 array of ``key`` (a (T, 1, D) array is squeezed, as officially)."""
        import numpy as np

        d = self._data()
        if key not in d:
            from ..requests import MediaDecodeError

            raise MediaDecodeError(f"{self.path}: no features for key {key}")
        a = np.asarray(d[key], dtype=np.float32)
        return a.squeeze(1) if a.ndim == 3 else a


@dataclass(frozen=True)
class FeatureRef:
    """Pre-extracted features of one utterance from a :class:`FeatureStore` (modality ``features``)."""

    path: str
    key: str
    modality: str = "features"

    def load(self):
        return FeatureStore(Path(self.path)).get(self.key)

    def describe(self) -> str:
        return f"{self.path}[{self.key}]"


@dataclass(frozen=True)
class TextContext:
    """Dialogue context passed as an input (modality ``text``): earlier utterances, newest first."""

    utterances: tuple[str, ...]
    modality: str = "text"

    def load(self) -> list[str]:
        return list(self.utterances)

    def describe(self) -> str:
        return f"context of {len(self.utterances)} utterance(s)"


def mmla_prompt(text: str) -> str:
    """The MMLA text-only intent prompt, verbatim (the 30 labels in id order)."""
    return (f"The speaker says: {text} Based on the text, what is the intent of this speaker?\n"
            f"The candidate labels for intent are: [{', '.join(INTENT_LABELS)}]. "
            "Respond in the format: 'intent: [label]'. Only one label should be provided.")


_OOS_WORDS = {"unk", "out of scope", "out-of-scope", "oos", "none of the above", "none"}


def parse_intent(answer: str) -> int | None:
    """A generated answer -> intent id (0..29), UNK_ID for an out-of-scope answer (``UNK``,
    "out of scope", ...), or None when nothing matches. Case-insensitive; takes the text after the
    first ``intent:`` (else the whole answer), its first line, without brackets, quotes or a
    trailing period; then tries an exact label, then a label at the start of the answer."""
    if answer is None:
        return None
    s = answer.strip()
    m = re.search(r"intent\s*:\s*(.*)", s, re.IGNORECASE | re.DOTALL)
    if m:
        s = m.group(1)
    s = s.strip().splitlines()[0] if s.strip() else ""
    s = s.strip().strip("[]'\"`*").strip().rstrip(".").strip().strip("[]'\"`*").strip().lower()
    if s in _LOWER:
        return _LOWER[s]
    if s in _OOS_WORDS:
        return UNK_ID
    for lab in sorted(_LOWER, key=len, reverse=True):  # longest first: "asking for opinions" before "ask..."
        if s.startswith(lab) and (len(s) == len(lab) or not s[len(lab)].isalnum()):
            return _LOWER[lab]
    return None
