"""Part-of-speech taggers for SNARE's semantic-structure perturbations.

A tagger maps a raw caption to ``[(token_text, ptb_tag), ...]`` exactly as the perturbation code
consumes a spaCy ``Doc`` (``token.text``, ``token.tag_``). Two are offered, chosen explicitly
with the task option ``pos_tagger`` and recorded in the results (:meth:`identity`):

* ``spacy`` -- the official tagger: ``spacy.load("en_core_web_sm")`` (any installed pipeline name
  can be given). spaCy and the model are *not* dependencies of mmharness; without them the task
  stops with the install commands. Different spaCy or model versions can tag differently and so
  change the negatives: the versions are recorded.
* ``file`` -- precomputed tags in a JSON file ``{"tagger": {...provenance...}, "tags": {caption:
  [[token, tag], ...]}}`` (write one with :func:`write_tag_file` / ``tools/snare_pos_tags.py`` on a
  machine that has spaCy). The run is then byte-for-byte reproducible without spaCy. The bundled
  sample ships such a file (hand-written tags, see its README).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable, Protocol

from ..task import TaskError

DEFAULT_SPACY_MODEL = "en_core_web_sm"
INSTALL_HINT = ("install the official tagger with `pip install spacy && python -m spacy download "
                f"{DEFAULT_SPACY_MODEL}`, or precompute the tags on a machine that has it "
                "(`python tools/snare_pos_tags.py --karpathy <file> --out tags.json`) and run with "
                "the task options pos_tagger=file,pos_tags=tags.json")


class Tagger(Protocol):
    """What the perturbation functions need: ``tag(text) -> [(token, PTB tag), ...]``."""

    def tag(self, text: str) -> list[tuple[str, str]]:
        """Tokens of ``text`` with their fine-grained PTB tags, in order."""
        ...

    def identity(self) -> dict:
        """What produced the tags (recorded in the results)."""
        ...


class SpacyTagger:
    """spaCy tokens and fine-grained (PTB) tags from an installed pipeline (official: en_core_web_sm)."""

    def __init__(self, model: str = DEFAULT_SPACY_MODEL):
        try:
            import spacy
        except ImportError:
            raise TaskError(f"pos_tagger=spacy needs spaCy, which is not installed: {INSTALL_HINT}") from None
        try:
            self._nlp = spacy.load(model)
        except OSError as e:
            raise TaskError(f"pos_tagger=spacy: the spaCy pipeline {model!r} is not installed ({e}); "
                            f"{INSTALL_HINT}") from None
        self._spacy_version = spacy.__version__
        self.model = model

    def tag(self, text: str) -> list[tuple[str, str]]:
        """``[(token.text, token.tag_) for token in nlp(text)]``."""
        return [(t.text, t.tag_) for t in self._nlp(text)]

    def identity(self) -> dict:
        """spaCy version, pipeline name and pipeline version."""
        meta = getattr(self._nlp, "meta", {}) or {}
        return {"pos_tagger": "spacy", "spacy_version": self._spacy_version, "model": self.model,
                "model_version": meta.get("version")}


class TagFileTagger:
    """Tags looked up, per exact caption string, in a precomputed JSON file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            raw = self.path.read_bytes()
            data = json.loads(raw)
        except FileNotFoundError:
            raise TaskError(f"pos_tags file not found: {self.path}") from None
        except (OSError, ValueError) as e:
            raise TaskError(f"cannot read pos_tags file {self.path}: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("tags"), dict):
            raise TaskError(f"pos_tags file {self.path}: expected {{\"tagger\": {{...}}, \"tags\": "
                            f"{{caption: [[token, tag], ...]}}}}")
        self._tags: dict[str, list[tuple[str, str]]] = {}
        for cap, pairs in data["tags"].items():
            if (not isinstance(pairs, list)
                    or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                               for p in pairs)):
                raise TaskError(f"pos_tags file {self.path}: the tags of caption {cap!r} must be a list "
                                f"of [token, tag] string pairs")
            self._tags[cap] = [(t, g) for t, g in pairs]
        self.provenance = data.get("tagger", {})
        self.sha256 = hashlib.sha256(raw).hexdigest()[:20]

    def tag(self, text: str) -> list[tuple[str, str]]:
        """The stored tags of ``text``; :class:`TaskError` when the caption is not in the file."""
        try:
            return list(self._tags[text])
        except KeyError:
            raise TaskError(f"pos_tags file {self.path} has no tags for caption {text!r}; regenerate it "
                            f"for this annotation file with tools/snare_pos_tags.py") from None

    def identity(self) -> dict:
        """The file, its content hash and the provenance it declares."""
        return {"pos_tagger": "file", "pos_tags": str(self.path), "sha256": self.sha256,
                "provenance": self.provenance}


def build_tagger(kind: str, pos_tags: str | None = None, spacy_model: str = DEFAULT_SPACY_MODEL) -> Tagger:
    """The tagger named by the task option ``pos_tagger`` (``spacy`` or ``file``)."""
    factories: dict[str, Callable[[], Tagger]] = {
        "spacy": lambda: SpacyTagger(spacy_model),
        "file": lambda: _file_tagger(pos_tags),
    }
    if kind not in factories:
        raise TaskError(f"pos_tagger={kind!r}: expected one of {sorted(factories)}")
    return factories[kind]()


def _file_tagger(pos_tags: str | None) -> TagFileTagger:
    if not pos_tags:
        raise TaskError("pos_tagger=file needs the task option pos_tags=<path to a tags JSON file>")
    return TagFileTagger(pos_tags)


def write_tag_file(captions: Iterable[str], tagger: Tagger, path: str | Path) -> int:
    """Tag every distinct caption with ``tagger`` and write a tags file for :class:`TagFileTagger`.

    Returns the number of distinct captions. The file records ``tagger.identity()`` as provenance.
    """
    tags: dict[str, list[list[str]]] = {}
    for cap in captions:
        if cap not in tags:
            tags[cap] = [[t, g] for t, g in tagger.tag(cap)]
    lines = [f" {json.dumps(cap, ensure_ascii=False)}: {json.dumps(pairs, ensure_ascii=False)}"
             for cap, pairs in tags.items()]
    text = ('{"tagger": ' + json.dumps(tagger.identity(), ensure_ascii=False) + ',\n"tags": {\n'
            + ",\n".join(lines) + "\n}}\n")
    Path(path).write_text(text, encoding="utf-8")
    return len(tags)
