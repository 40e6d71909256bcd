"""Helpers for the ``generate`` capability shared by adapters: decoded messages, stop strings,
prompt recording and prompt hashes. No model code; adapters import what they need.

A :class:`~mmharness.requests.GenerateRequest` carries ``messages`` whose media parts arrive in the
adapter as entries of ``batch.inputs`` named ``m<i>p<j>`` (message i, part j; see
``GenerateRequest.media``), while the request itself holds only light stubs. :func:`decoded_messages`
puts them back together.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from .requests import Batch, Message


def is_media(part: Any) -> bool:
    """Whether a message part is media (anything that is not a ``str``)."""
    return not isinstance(part, str)


def decoded_messages(batch: Batch, i: int) -> list[Message]:
    """The messages of request ``i`` with every media part replaced by its decoded,
    preprocessed value from ``batch.inputs``."""
    req = batch.requests[i]
    out = []
    for mi, m in enumerate(req.messages):
        parts = []
        for pj, p in enumerate(m.parts):
            if is_media(p):
                key = f"m{mi}p{pj}"
                if key not in batch.inputs:
                    raise KeyError(f"batch has no decoded input {key!r} for sample {batch.sample_ids[i]}")
                parts.append(batch.inputs[key][i])
            else:
                parts.append(p)
        out.append(Message(m.role, parts))
    return out


def text_only(messages: Sequence[Message]) -> tuple[list[Message], int]:
    """Messages with media parts removed, and how many were removed."""
    dropped = 0
    out = []
    for m in messages:
        keep = [p for p in m.parts if not is_media(p)]
        dropped += len(m.parts) - len(keep)
        out.append(Message(m.role, keep))
    return out, dropped


def render_plain(messages: Sequence[Message], media_token: str = "<image>") -> str:
    """A readable record of a conversation: ``role: part part ...`` per message, media as
    ``media_token``; used as the recorded prompt by adapters without a chat template."""
    lines = []
    for m in messages:
        parts = [media_token if is_media(p) else p for p in m.parts]
        lines.append(f"{m.role}: " + "\n".join(parts))
    return "\n".join(lines)


def prompt_hash(messages: Sequence[Message]) -> str:
    """Stable hash of a conversation's roles, texts and media positions (not media content).

    The key of the ``scripted`` adapter's answer files: equal for equal prompts whatever the
    sample id, batch or run. 16 hex digits of sha256 over a canonical JSON form.
    """
    canon = [{"role": m.role, "parts": [{"media": getattr(p, "modality", "media")} if is_media(p) else p
                                         for p in m.parts]} for m in messages]
    payload = json.dumps(canon, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def apply_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut before the earliest occurrence of any stop string (unchanged if none occurs)."""
    cut = len(text)
    for s in stop:
        if s:
            k = text.find(s)
            if 0 <= k < cut:
                cut = k
    return text[:cut]


#: lm-evaluation-harness names of generation settings -> GenerationParams fields
GEN_KWARG_ALIASES = {"max_gen_toks": "max_new_tokens", "max_tokens": "max_new_tokens", "until": "stop"}


def parse_gen_kwargs(text: str | dict | None) -> dict:
    """``--gen-kwargs`` (``k=v,...`` or a dict) -> typed overrides of :class:`GenerationParams`
    fields: ``max_new_tokens`` (alias ``max_gen_toks``, ``max_tokens``), ``temperature``, ``top_p``,
    ``stop`` (alias ``until``; a JSON list or one string) and ``do_sample`` (``false`` = greedy,
    temperature 0; ``true`` needs a ``temperature`` above 0). Unknown keys and bad values are errors."""
    import json

    from .adapter import _FALSE, _TRUE, parse_model_args

    raw = dict(text) if isinstance(text, dict) else parse_model_args(text)
    out: dict = {}
    do_sample = None
    for key, value in raw.items():
        name = GEN_KWARG_ALIASES.get(key, key)
        v = value if not isinstance(value, str) else value.strip()
        try:
            if name == "max_new_tokens":
                out[name] = int(v)
                if out[name] < 1:
                    raise ValueError("must be >= 1")
            elif name == "temperature":
                out[name] = float(v)
                if out[name] < 0:
                    raise ValueError("must be >= 0")
            elif name == "top_p":
                out[name] = float(v)
                if not 0 < out[name] <= 1:
                    raise ValueError("must be in (0, 1]")
            elif name == "stop":
                stops = json.loads(v) if isinstance(v, str) and v.startswith("[") else v
                out[name] = tuple(str(x) for x in stops) if isinstance(stops, (list, tuple)) else (str(stops),)
            elif name == "do_sample":
                flag = str(v).lower()
                if flag not in _TRUE | _FALSE:
                    raise ValueError("expected true or false")
                do_sample = flag in _TRUE
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"--gen-kwargs: unknown setting {key!r}; known: max_new_tokens (max_gen_toks), "
                             "temperature, top_p, stop (until), do_sample") from None
        except (ValueError, TypeError) as e:
            raise ValueError(f"--gen-kwargs: {key}={value!r}: {e}") from None
    if do_sample is False:
        if out.get("temperature", 0.0) != 0.0:
            raise ValueError("--gen-kwargs: do_sample=false (greedy) contradicts temperature > 0")
        out["temperature"] = 0.0
    elif do_sample is True and not out.get("temperature"):
        raise ValueError("--gen-kwargs: do_sample=true needs a temperature above 0")
    return out

