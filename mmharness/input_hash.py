"""Per-sample input hashes: one running hash over everything a request feeds the model (decoded
media and text), written beside each cached response and into the per-sample log, so that two
runs can tell whether they saw the same test items (``mmh compare``).

The hash is XXH3-128, prefixed with its scheme (``"xxh3_128:<32 hex>"``). It is not a
cryptographic hash: it detects changed inputs, not forged ones, at memory speed (about 50x faster
than BLAKE2b on a decoded 224x224 float image, which matters when hashing runs beside the model).
Hashes without a prefix were written by earlier versions (BLAKE2b-128);
:func:`input_hash_scheme` tells them apart and hashes of different schemes are never compared.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import xxhash

INPUT_HASH_SCHEME = "xxh3_128:"
"""Prefix of every input hash this version writes."""


def new_input_hash() -> Any:
    """A fresh running hash; feed it with :func:`hash_content` / :func:`hash_text`."""
    return xxhash.xxh3_128()


def input_hash_digest(h: Any) -> str:
    """The final, scheme-prefixed input hash string."""
    return INPUT_HASH_SCHEME + h.hexdigest()


def input_hash_scheme(value: str) -> str:
    """The scheme of an input hash: its prefix before ':' (``"xxh3_128"``), or ``"blake2b_128"``
    for the unprefixed hashes of earlier versions."""
    head, sep, _ = value.partition(":")
    return head if sep else "blake2b_128"


def hash_content(h: Any, raw: Any) -> None:
    """Feed one decoded input to the running input hash: a PIL image's mode, size and pixels; a
    tensor's or an array's dtype, shape and bytes; raw bytes; otherwise its repr.

    The description strings (``tensor:<dtype>:<shape>`` ...) are memoised per distinct dtype and
    shape, and a contiguous CPU tensor or array is hashed straight from its buffer: the bytes fed
    to the hash are exactly those of the plain spelling kept in :func:`_hash_content_plain`."""
    torch = sys.modules.get("torch")  # a tensor implies torch is imported: no import per call
    if torch is not None and isinstance(raw, torch.Tensor):
        key = (raw.dtype, raw.shape)
        head = _HEADS.get(key)
        if head is None:
            head = _remember(key, f"tensor:{raw.dtype}:{tuple(raw.shape)}".encode())
        h.update(head)
        try:  # the tensor's own bytes, in place (an empty buffer adds nothing, as before)
            h.update(raw.numpy())  # numpy() raises off the CPU, with grad, for bfloat16, conj/neg bits;
            return  # update() raises for a buffer numpy does not hold C-contiguous: then nothing was hashed
        except (TypeError, RuntimeError, ValueError, BufferError):
            pass
        t = raw.detach().cpu().contiguous()
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif type(raw) is np.ndarray:  # (a plain array has no ``mode``: not mistaken for an image)
        key = (raw.dtype, raw.shape)
        head = _HEADS.get(key) if raw.dtype.isbuiltin == 1 else None  # equal builtin dtypes print alike
        if head is None:
            head = f"array:{raw.dtype}:{raw.shape}".encode()
            if raw.dtype.isbuiltin == 1:
                _remember(key, head)
        h.update(head)
        h.update(np.ascontiguousarray(raw).reshape(-1).view(np.uint8))  # hashed in place, no copy
    elif hasattr(raw, "tobytes") and hasattr(raw, "mode"):  # PIL image
        key = ("PIL", raw.mode, raw.size)
        head = _HEADS.get(key)
        if head is None:
            head = _remember(key, f"PIL:{raw.mode}:{raw.size}".encode())
        h.update(head)
        h.update(raw.tobytes())
    else:
        _hash_content_plain(h, raw)


_HEADS: dict[tuple, bytes] = {}
"""Description bytes of :func:`hash_content` by (dtype, shape) or ("PIL", mode, size)."""
_HEADS_MAX = 4096


def _remember(key: tuple, head: bytes) -> bytes:
    if len(_HEADS) < _HEADS_MAX:
        _HEADS[key] = head
    return head


def _hash_content_plain(h: Any, raw: Any) -> None:
    """:func:`hash_content` spelled out without memos or fast paths (the reference its fast
    paths are tested against, and the path for everything but tensors, arrays and images)."""
    import torch

    if isinstance(raw, torch.Tensor):  # its repr elides the middle of large tensors: hash the bytes
        t = raw.detach().cpu().contiguous()
        h.update(f"tensor:{t.dtype}:{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())  # hashed in place, no copy
    elif hasattr(raw, "tobytes") and hasattr(raw, "mode"):  # PIL image
        h.update(f"PIL:{raw.mode}:{raw.size}".encode())
        h.update(raw.tobytes())
    elif isinstance(raw, np.ndarray):
        h.update(f"array:{raw.dtype}:{raw.shape}".encode())
        h.update(np.ascontiguousarray(raw).reshape(-1).view(np.uint8))  # hashed in place, no copy
    elif hasattr(raw, "tobytes"):
        h.update(f"array:{getattr(raw, 'dtype', '')}:{tuple(getattr(raw, 'shape', ()))}".encode())
        h.update(raw.tobytes())
    elif isinstance(raw, (bytes, bytearray)):
        h.update(b"bytes:")
        h.update(bytes(raw))
    else:
        h.update(repr(raw).encode())


def hash_text(h: Any, req: Any) -> None:
    """Feed a request's text parts to the running input hash: its text, its candidate texts, and
    (generation) the role and text of each message part."""
    h.update(text_bytes(req))


_NO_TEXT = b"\x1ftext:"


def text_bytes(req: Any) -> bytes:
    """The bytes :func:`hash_text` feeds for ``req``, joined: ``\\x1ftext:`` and its text, then
    ``\\x1f`` and each candidate text, then ``\\x1f<role>:<part>`` for each message part
    (``<media>`` for a media part)."""
    text = getattr(req, "text", None)
    head = _NO_TEXT + text.encode() if text else _NO_TEXT
    texts = getattr(req, "texts", None)
    messages = getattr(req, "messages", None)
    if not texts and not messages:
        return head
    parts = [head]
    for t in texts or ():
        parts.append(b"\x1f" + t.encode())
    for m in messages or ():
        for p in m.parts:
            parts.append(f"\x1f{m.role}:{p if isinstance(p, str) else '<media>'}".encode())
    return b"".join(parts)


def sample_input_hash(raws: Any, req: Any) -> str:
    """The input hash of one sample: for each ``(name, decoded input)`` of ``raws`` (in the
    request's media order) the name's bytes and :func:`hash_content` of the input, then
    :func:`hash_text` of ``req``, as a scheme-prefixed digest.

    The same hash as feeding those pieces one by one to :func:`new_input_hash`, in fewer calls:
    the name and description bytes of a tensor, an array or a PIL image are memoised per
    (name, dtype, shape) or (name, mode, size) and fed in one update, its buffer in another."""
    h = xxhash.xxh3_128()
    torch = sys.modules.get("torch")  # a tensor implies torch is imported: no import per call
    for name, raw in raws:
        buf = None
        if torch is not None and isinstance(raw, torch.Tensor):
            key = (name, "tensor", raw.dtype, raw.shape)
            try:  # numpy() raises off the CPU, with grad, for bfloat16, conj/neg bits
                buf = raw.numpy()
            except (TypeError, RuntimeError, ValueError):
                pass
            else:
                if not buf.flags.c_contiguous:
                    buf = None
        elif type(raw) is np.ndarray:
            if raw.dtype.isbuiltin == 1 and raw.flags.c_contiguous:  # equal builtin dtypes print alike
                key, buf = (name, "array", raw.dtype, raw.shape), raw
        elif hasattr(raw, "tobytes") and hasattr(raw, "mode"):  # PIL image
            key, buf = (name, "PIL", raw.mode, raw.size), raw.tobytes()
        if buf is None:  # anything else, spelled out
            h.update(name.encode())
            hash_content(h, raw)
            continue
        prefix = _PREFIXES.get(key)
        if prefix is None:
            kind, a, b = key[1:]
            prefix = f"{name}{kind}:{a}:{tuple(b) if kind == 'tensor' else b}".encode()
            if len(_PREFIXES) < _HEADS_MAX:
                _PREFIXES[key] = prefix
        h.update(prefix)
        h.update(buf)
    h.update(text_bytes(req))
    return INPUT_HASH_SCHEME + h.hexdigest()


_PREFIXES: dict[tuple, bytes] = {}
"""Name and description bytes of :func:`sample_input_hash` by (name, kind, dtype, shape) or
(name, "PIL", mode, size)."""
