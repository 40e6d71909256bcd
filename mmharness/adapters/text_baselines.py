"""Generation baselines that need no multimodal model: ``text-only`` and ``scripted``.

``text-only`` answers from the **text** of each request only; every image is dropped before
anything else happens (the leakage / question-only check of MMRA's QO setting, and the "no pixels"
floor of PixelWorld). What answers:

* with ``model=<local path or hub id>``: a Hugging Face model through its chat template (greedy,
  via the same code as the ``hf`` adapter): a causal LM, or a VLM that is simply never shown an image;
* without ``model``: a deterministic constant answerer that returns ``answer`` (default ``"A"``)
  for every request -- a reproducible floor (it never looks at the question either).

``scripted`` answers from a JSONL file, one object per line with an ``answer`` and either the
sample ``id`` or the ``prompt_hash`` of the request (:func:`mmharness.generation.prompt_hash`):
``{"id": "0007", "answer": "B"}`` or ``{"prompt_hash": "3f2a...", "answer": "Answer: 366"}``.
Ids are tried first, then hashes. A request the file does not cover is an error naming the
sample and its hash (``missing=empty`` answers ``""`` and records a warning instead).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..adapter import Adapter, AdapterError, file_identity
from ..generation import apply_stop, prompt_hash, render_plain, text_only
from ..registry import register_adapter
from ..requests import Batch, TextResponse


#: marks a prompt hash that maps to several different answers (only ids can resolve it)
AMBIGUOUS = object()


def _drop(x: Any) -> None:
    """Preprocessing that discards a decoded input (these adapters never look at media)."""
    return None


@register_adapter("text-only")
class TextOnlyAdapter(Adapter):
    """Generation from the text parts only (images dropped); a causal LM or a constant answer."""

    version = "1"
    description = "text-only baseline: images dropped; a HF causal LM (model=...) or a constant answer"
    runtime_args = frozenset({"local_files_only"})

    def __init__(self, model: str | None = None, answer: str = "A", revision: str | None = None,
                 dtype: str = "auto", trust_remote_code: bool = False, max_context: int | None = None,
                 truncation: str = "left", local_files_only: bool = False):
        super().__init__()
        self.answer = answer
        self.model_name = model
        self._lm = None
        if model is not None:
            from .transformers_vlm import TransformersVLM

            self._lm = TransformersVLM(model=model, revision=revision, model_class="auto", dtype=dtype,
                                       trust_remote_code=trust_remote_code, max_context=max_context,
                                       truncation=truncation, local_files_only=local_files_only)

    def weights_identity(self) -> str:
        """The wrapped LM's identity, or ``constant:<answer>``."""
        return self._lm.weights_identity() if self._lm is not None else f"constant:{self.answer!r}"

    def to(self, device: str) -> "TextOnlyAdapter":
        if self._lm is not None:
            self._lm.to(device)
        self.device = device
        return self

    def preprocess(self, modality: str):
        """Media are discarded (never decoded further, never sent)."""
        return _drop

    def generate(self, batch: Batch) -> list[TextResponse]:
        """Drop media, then answer with the LM (or the constant); the recorded prompt is text only."""
        stripped = []
        dropped = []
        for req in batch.requests:
            msgs, n = text_only(req.messages)
            stripped.append(msgs)
            dropped.append(n)
        if self._lm is not None:
            outs = self._lm.generate_messages(stripped, batch.requests[0].params, batch.sample_ids)
        else:
            outs = [TextResponse(apply_stop(self.answer, req.params.stop), prompt=render_plain(m))
                    for req, m in zip(batch.requests, stripped)]
        for o, n in zip(outs, dropped):
            if n:
                o.warnings.append(f"{n} media part(s) dropped (text-only adapter)")
        return outs


@register_adapter("scripted")
class ScriptedAdapter(Adapter):
    """Answers ``generate`` requests from a JSONL file keyed by sample id or prompt hash."""

    version = "1"
    description = "scripted answers from a JSONL file (keys: id or prompt_hash; value: answer)"

    def __init__(self, path: str, missing: str = "error"):
        super().__init__()
        if missing not in ("error", "empty"):
            raise AdapterError(f"adapter 'scripted': missing={missing!r}; expected 'error' or 'empty'")
        self.path = Path(path)
        self.missing = missing
        self.by_id, self.by_hash = load_script(self.path)

    def weights_identity(self) -> str:
        """sha256 of the answer file: a changed file never reuses cached answers."""
        return file_identity(str(self.path))

    def preprocess(self, modality: str):
        """Media are discarded."""
        return _drop

    def generate(self, batch: Batch) -> list[TextResponse]:
        """The scripted answer of each request (by id, else by prompt hash)."""
        out = []
        for sid, req in zip(batch.sample_ids, batch.requests):
            h = prompt_hash(req.messages)
            if sid in self.by_id:
                text = self.by_id[sid]
            elif h in self.by_hash and self.by_hash[h] is not AMBIGUOUS:
                text = self.by_hash[h]
            elif self.missing == "empty":
                out.append(TextResponse("", prompt=render_plain(req.messages),
                                        warnings=[f"no scripted answer for id {sid} / prompt_hash {h}"]))
                continue
            else:
                why = " (its prompt hash has several answers in the file)" if h in self.by_hash else ""
                raise AdapterError(f"scripted: {self.path} has no answer for sample {sid!r} "
                                   f"(prompt_hash {h}){why}; add a line {{\"id\": \"{sid}\", \"answer\": ...}} "
                                   f"or pass missing=empty")
            out.append(TextResponse(apply_stop(text, req.params.stop), prompt=render_plain(req.messages)))
        return out


def load_script(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Read a scripted-answer JSONL file into (answers by id, answers by prompt hash).

    Raises :class:`AdapterError` naming the file and line for unreadable JSON, a line without
    ``answer`` or without ``id``/``prompt_hash``, a non-string answer, or an id given twice with
    different answers. A prompt hash given twice with different answers (equal prompt texts beside
    different images) is kept as :data:`AMBIGUOUS`: requests must then be matched by id.
    """
    if not path.is_file():
        raise AdapterError(f"scripted: answer file {path} not found")
    by_id: dict[str, str] = {}
    by_hash: dict[str, str] = {}
    ambiguous: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise AdapterError(f"scripted: {path}, line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or "answer" not in obj:
                raise AdapterError(f"scripted: {path}, line {n}: expected an object with an 'answer' key")
            if not isinstance(obj["answer"], str):
                raise AdapterError(f"scripted: {path}, line {n}: 'answer' must be a string, "
                                   f"got {type(obj['answer']).__name__}")
            if "id" not in obj and "prompt_hash" not in obj:
                raise AdapterError(f"scripted: {path}, line {n}: needs an 'id' or a 'prompt_hash'")
            if "id" in obj:
                key = str(obj["id"])
                if key in by_id and by_id[key] != obj["answer"]:
                    raise AdapterError(f"scripted: {path}, line {n}: id {key!r} already has a different answer "
                                       f"(ids must be unique; for several tasks whose ids collide, key by "
                                       f"prompt_hash)")
                by_id[key] = obj["answer"]
            if "prompt_hash" in obj:
                key = str(obj["prompt_hash"])
                if key in by_hash and by_hash[key] != obj["answer"]:
                    ambiguous.add(key)  # equal prompts (e.g. same text beside different images)
                by_hash[key] = obj["answer"]
    for key in ambiguous:
        by_hash[key] = AMBIGUOUS
    return by_id, by_hash


def script_line(sample_id: str | None, answer: str, messages=None) -> str:
    """One JSONL line for a scripted answer file (by id, plus the prompt hash when messages are given)."""
    obj: dict[str, str] = {"answer": answer}
    if sample_id is not None:
        obj["id"] = sample_id
    if messages is not None:
        obj["prompt_hash"] = prompt_hash(messages)
    return json.dumps(obj, ensure_ascii=False)

