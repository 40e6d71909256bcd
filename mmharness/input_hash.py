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
    tensor's or an array's dtype, shape and bytes; raw bytes; otherwise its repr."""
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
    h.update(b"\x1ftext:")
    h.update((getattr(req, "text", None) or "").encode())
    for t in getattr(req, "texts", ()) or ():
        h.update(b"\x1f")
        h.update(t.encode())
    for m in getattr(req, "messages", ()) or ():
        for p in m.parts:
            h.update(f"\x1f{m.role}:{p if isinstance(p, str) else '<media>'}".encode())
