"""open_clip models (CLIP, SigLIP, EVA-CLIP, ... as built by ``open_clip``) as embedding adapters.

The adapter offers ``embed_image`` and ``embed_text``; the harness derives zero-shot
classification and image-text matching from them (using :attr:`OpenClipAdapter.logit_scale`).

``open_clip`` is imported lazily (in the constructor), so listing adapters stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..adapter import Adapter, AdapterError, file_identity
from ..registry import did_you_mean, register_adapter

_PRECISIONS = ("fp32", "fp16", "bf16", "pure_fp16", "pure_bf16")
_NO_WEIGHTS = ("none", "random", "")
_RANDOM_SEED = 0
_TEXT_CHUNK = 256  # texts tokenised and encoded per forward pass inside embed_text

# Config files registered in this process: resolved name -> normalised config (see _register_config_file).
_REGISTERED_CONFIGS: dict[str, dict] = {}


def _all_on(module: Any, device: str) -> bool:
    """Whether every parameter (and its gradient) and buffer of ``module`` lives on ``device``
    (exactly: ``"cuda"`` is not ``"cuda:0"``, so an unindexed device name never matches)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        return False  # Module.to reports it
    for p in module.parameters():
        if p.device != dev or (p.grad is not None and p.grad.device != dev):
            return False
    return all(b.device == dev for b in module.buffers())


def _canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_model_config(path: str) -> tuple[dict, dict]:
    """Read an open_clip model-config JSON file; return ``(model_cfg, preprocess_cfg)``.

    Accepts the plain form of open_clip's ``model_configs/*.json`` (``{"embed_dim", "vision_cfg",
    "text_cfg", ...}``) and the hub form ``{"model_cfg": {...}, "preprocess_cfg": {...}}``.
    Raises :class:`AdapterError` naming the file when it is missing or malformed.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise AdapterError(f"open_clip model config file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise AdapterError(f"cannot read open_clip model config {path}: {e}") from None
    if not isinstance(data, dict):
        raise AdapterError(f"open_clip model config {path} is not a JSON object")
    model_cfg = data.get("model_cfg", data)
    preprocess_cfg = data.get("preprocess_cfg", {}) if "model_cfg" in data else {}
    if not isinstance(model_cfg, dict):
        raise AdapterError(f"open_clip model config {path}: 'model_cfg' is not a JSON object")
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in model_cfg]
    if missing:
        raise AdapterError(
            f"open_clip model config {path} lacks {', '.join(missing)}; expected the form of "
            "open_clip's model_configs/*.json ({\"embed_dim\": ..., \"vision_cfg\": {...}, "
            "\"text_cfg\": {...}}) or {\"model_cfg\": {...}}"
        )
    return model_cfg, dict(preprocess_cfg or {})


def _register_config_file(path: str) -> tuple[str, dict, str]:
    """Register a model-config file with open_clip under ``<stem>-<hash12>``.

    The name carries the content hash, so an edited file never reuses a stale registration and a
    file named like a built-in (``ViT-B-32.json``) never shadows it. ``open_clip.add_model_config``
    reads configs only from files, so the normalised config is written to a temporary directory
    that is removed as soon as open_clip has read it: open_clip keeps what it read in memory and
    its later rescans skip paths that are gone (the user's file is not re-read either). Nothing is
    left on disk. Returns ``(name, preprocess_cfg, config_hash)``.
    """
    import open_clip

    model_cfg, preprocess_cfg = read_model_config(path)
    digest = _canonical_hash(model_cfg)
    stem = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in Path(path).stem) or "config"
    name = f"mmh-{stem}-{digest[:12]}"
    if name not in _REGISTERED_CONFIGS or name not in open_clip.list_models():
        with tempfile.TemporaryDirectory(prefix="mmh-open_clip-configs-") as tmp:
            target = Path(tmp) / f"{name}.json"
            target.write_text(json.dumps(model_cfg, sort_keys=True))
            open_clip.add_model_config(target)
        if name not in open_clip.list_models():  # pragma: no cover - open_clip changed its registry
            raise AdapterError(f"open_clip did not accept the model config {path}")
        _REGISTERED_CONFIGS[name] = model_cfg
    return name, preprocess_cfg, digest


def _looks_like_path(value: str) -> bool:
    return (
        os.sep in value
        or (os.altsep is not None and os.altsep in value)
        or value.startswith(".")
        or value.lower().endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz"))
    )


@register_adapter("open_clip")
class OpenClipAdapter(Adapter):
    """Any open_clip architecture as an ``embed_image`` / ``embed_text`` adapter.

    Model arguments:

    * ``model``: an open_clip architecture name (``ViT-B-32``; see ``open_clip.list_models()``) or
      the path of a model-config JSON file (open_clip's ``model_configs`` form, or a hub
      ``open_clip_config.json`` with ``model_cfg``/``preprocess_cfg``).
    * ``pretrained``: ``none`` (random weights built after ``torch.manual_seed(0)``, so equal
      arguments give equal weights), a local checkpoint file (``.pt``/``.bin``/``.safetensors``;
      loaded by open_clip with ``weights_only=True`` or safetensors, never by unrestricted
      unpickling), or an open_clip pretrained tag (needs network or a populated cache).
    * ``precision``: ``fp32`` (default), ``fp16``, ``bf16``, ``pure_fp16``, ``pure_bf16``.
    * ``cache_dir``: open_clip's download cache, for tags.
    * ``force_quick_gelu``: use QuickGELU (needed for OpenAI-trained weights).

    Promises: embeddings are float32 CPU tensors of unit L2 norm; the model is in eval mode;
    ``logit_scale`` is the model's exponentiated temperature as a float (``logit_bias`` the SigLIP
    bias or ``None``); ``preprocess("image")`` is open_clip's picklable eval transform.
    """

    version = "1"
    description = "open_clip image/text embedding models (CLIP, SigLIP, ...); zero-shot via prompts"

    def __init__(
        self,
        model: str,
        pretrained: str = "none",
        precision: str = "fp32",
        cache_dir: str | None = None,
        force_quick_gelu: bool = False,
    ):
        super().__init__()
        import torch
        import open_clip

        if precision not in _PRECISIONS:
            raise AdapterError(
                f"adapter 'open_clip': precision={precision!r} is not one of {', '.join(_PRECISIONS)}."
                f"{did_you_mean(precision, list(_PRECISIONS))}"
            )
        self.precision = precision

        # ---- architecture
        preprocess_override: dict = {}
        if model.lower().endswith(".json") or os.path.isfile(model):
            arch, preprocess_override, self._config_hash = _register_config_file(model)
        else:
            arch = model.replace("/", "-")
            known = open_clip.list_models()
            if arch not in known:
                raise AdapterError(
                    f"unknown open_clip architecture {model!r}.{did_you_mean(arch, known)} "
                    "Pass an open_clip model name (see open_clip.list_models()) or the path of a "
                    "model-config JSON file."
                )
            self._config_hash = _canonical_hash(open_clip.get_model_config(arch))
        self.arch = arch
        self.embed_dim: int = int(open_clip.get_model_config(arch)["embed_dim"])

        # ---- weights
        kind, source = self._resolve_pretrained(arch, pretrained)
        self._weights_kind = kind
        self._weights_source = source
        # hashed when loaded, so the identity describes the weights in memory even if the file changes later
        self._file_identity = file_identity(source) if kind == "file" else None
        build_kwargs = dict(
            precision=precision,
            device="cpu",
            force_quick_gelu=force_quick_gelu,
            force_preprocess_cfg=preprocess_override or None,
            pretrained_image=False,
            pretrained_text=False,
            cache_dir=cache_dir,
            weights_only=True,
        )
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_RANDOM_SEED)
                net = open_clip.create_model(arch, pretrained=source if kind != "random" else None,
                                             **build_kwargs)
        except AdapterError:
            raise
        except Exception as e:
            raise self._weights_error(model, pretrained, kind, e) from e
        net.eval()
        net.requires_grad_(False)
        self.model = net

        with torch.no_grad():
            self.logit_scale: float = float(net.logit_scale.exp().reshape(-1)[0].item())
            bias = getattr(net, "logit_bias", None)
            self.logit_bias: float | None = None if bias is None else float(bias.reshape(-1)[0].item())

        from open_clip.transform import PreprocessCfg, image_transform_v2

        from ..fast_preprocess import fuse_to_tensor_normalize

        # open_clip's own eval transform; its ToTensor + Normalize tail runs as one bit-identical step
        self._image_transform = fuse_to_tensor_normalize(
            image_transform_v2(PreprocessCfg(**net.visual.preprocess_cfg), is_train=False))
        try:
            self.tokenizer = open_clip.get_tokenizer(arch, cache_dir=cache_dir)
        except Exception as e:
            raise AdapterError(f"adapter 'open_clip': cannot build the tokenizer of {model!r}: {e}") from e
        from open_clip.model import get_input_dtype

        self._input_dtype = get_input_dtype(precision) or torch.float32

    # ------------------------------------------------------------------ weights
    @staticmethod
    def _resolve_pretrained(arch: str, pretrained: str) -> tuple[str, str | None]:
        """``("random", None)``, ``("file", path)`` or ``("tag", tag)``; errors name the fix."""
        import open_clip

        if pretrained.strip().lower() in _NO_WEIGHTS:
            return "random", None
        if os.path.isfile(pretrained):
            return "file", pretrained
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if open_clip.is_pretrained_cfg(arch, pretrained):
            return "tag", pretrained
        if _looks_like_path(pretrained):
            raise AdapterError(f"adapter 'open_clip': checkpoint file not found: {pretrained}")
        hint = did_you_mean(pretrained, tags) if tags else ""
        known = f" Known tags for {arch!r}: {', '.join(tags)}." if tags else f" {arch!r} has no pretrained tags."
        raise AdapterError(
            f"adapter 'open_clip': pretrained={pretrained!r} is neither a local checkpoint file nor a "
            f"known open_clip tag.{hint}{known} Use pretrained=none for random weights."
        )

    @staticmethod
    def _weights_error(model: str, pretrained: str, kind: str, err: Exception) -> AdapterError:
        text = f"{type(err).__name__}: {err}"
        if len(text) > 800:
            text = text[:800] + " ..."
        if kind == "tag":
            return AdapterError(
                f"adapter 'open_clip': could not load pretrained tag {pretrained!r} for {model!r} "
                f"({text}). Offline, a tag loads only from the download cache (see cache_dir); "
                "otherwise download the checkpoint on a connected machine and pass "
                "pretrained=/path/to/open_clip_model.safetensors (or .bin/.pt)."
            )
        if kind == "file":
            hint = ""
            if "weights_only" in text or "Unpickl" in type(err).__name__ or "unpickl" in text.lower():
                hint = (" The file holds objects other than tensors, which are never unpickled; "
                        "re-save its state_dict (torch.save(model.state_dict(), ...)) or use safetensors.")
            return AdapterError(
                f"adapter 'open_clip': cannot load checkpoint {pretrained} into {model!r} ({text}).{hint}"
            )
        return AdapterError(f"adapter 'open_clip': cannot build {model!r}: {text}")

    def weights_identity(self) -> str:
        """``sha256:<hex>`` of the checkpoint file (hashed at load), ``random:seed=0``, or ``tag:<tag>``."""
        if self._weights_kind == "file":
            return self._file_identity
        if self._weights_kind == "tag":
            return f"tag:{self._weights_source.lower().replace('-', '_')}"
        return f"random:seed={_RANDOM_SEED}"

    def fingerprint(self) -> str:
        """The base fingerprint plus the hash of the resolved architecture config.

        So editing a config JSON (or open_clip changing a built-in config) changes the fingerprint
        even when the path and the weights stay the same.
        """
        base = super().fingerprint()
        return hashlib.sha256(f"{base}|arch={self._config_hash}".encode()).hexdigest()[:20]

    # ------------------------------------------------------------------ runtime
    def to(self, device: str) -> "OpenClipAdapter":
        """Move the model to ``device``. Skipped when every parameter, gradient and buffer is
        already there (what ``Module.to`` would then leave unchanged): checking is cheaper than
        ``Module.to``'s walk, and :func:`~mmharness.evaluate.evaluate` calls this on every run."""
        if not _all_on(self.model, device):
            self.model.to(device)
        self.device = device
        return self

    def optimize(self, *, channels_last: bool = False, compile: bool = False) -> None:
        """channels-last memory format and/or ``torch.compile`` of both towers (``visual``, the text
        transformer), which is what ``embed_image`` / ``embed_text`` run."""
        super().optimize(channels_last=channels_last, compile=False)
        if compile:
            self.model.visual.compile()
            if getattr(self.model, "transformer", None) is not None:
                self.model.transformer.compile()
            elif getattr(self.model, "text", None) is not None:
                self.model.text.compile()

    def preprocess(self, modality: str) -> Callable[[Any], Any]:
        """open_clip's eval transform for images (a picklable torchvision ``Compose``; its
        ToTensor + Normalize tail fused, bit-identical, see :mod:`mmharness.fast_preprocess`)."""
        if modality == "image":
            return self._image_transform
        return super().preprocess(modality)

    # ------------------------------------------------------------------ capabilities
    def embed_image(self, images):
        """(B, 3, H, W) preprocessed images -> (B, D) float32 CPU tensor, unit L2 norm per row."""
        import torch
        import torch.nn.functional as F

        if not isinstance(images, torch.Tensor):
            images = torch.stack(list(images))
        if images.ndim != 4:
            raise AdapterError(f"open_clip embed_image expects (B, 3, H, W) images, got shape {tuple(images.shape)}")
        with torch.no_grad():
            x = images.to(device=self.device, dtype=self._input_dtype)
            feats = self.model.encode_image(x)
            return F.normalize(feats.float(), dim=-1).cpu()

    def embed_text(self, texts: list[str]):
        """B texts -> (B, D) float32 CPU tensor, unit L2 norm per row (model's own tokenizer)."""
        import torch
        import torch.nn.functional as F

        texts = [texts] if isinstance(texts, str) else list(texts)
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), _TEXT_CHUNK):
                tokens = self.tokenizer(texts[start : start + _TEXT_CHUNK]).to(self.device)
                feats = self.model.encode_text(tokens)
                out.append(F.normalize(feats.float(), dim=-1).cpu())
        if not out:
            return torch.zeros((0, self.embed_dim), dtype=torch.float32)
        return torch.cat(out)
