"""torchvision image classifiers (``torchvision.models``) as ``classify`` adapters.

Any classifier that ``torchvision.models.get_model`` builds, with random weights (seeded), a
local state_dict file, or a torchvision weights name from the local torch hub cache. torch and
torchvision are imported lazily (in the constructor).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..adapter import Adapter, AdapterError, file_identity
from ..registry import did_you_mean, register_adapter
from ..requests import Batch, ClassifyOutput

_RANDOM_SEED = 0
_NO_WEIGHTS = ("none", "random", "")

#: Named mean/std presets for the ``mean``/``std`` model arguments.
NORMALIZATION_PRESETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def parse_channel_values(value: str, which: str) -> tuple[float, float, float]:
    """``"imagenet"`` / ``"clip"`` / ``"half"`` or ``"a;b;c"`` (or one number for all channels) -> 3 floats.

    ``which`` is ``"mean"`` or ``"std"`` (selects the preset half). Separators ``;``, ``:``,
    ``/`` and spaces are accepted (commas cannot appear inside ``--model-args``).
    """
    text = str(value).strip()
    preset = NORMALIZATION_PRESETS.get(text.lower())
    if preset is not None:
        return preset[0] if which == "mean" else preset[1]
    parts = [p for p in text.replace(":", ";").replace("/", ";").replace(" ", ";").split(";") if p]
    try:
        nums = tuple(float(p) for p in parts)
    except ValueError:
        raise AdapterError(
            f"adapter 'torchvision': {which}={value!r} is neither a preset "
            f"({', '.join(NORMALIZATION_PRESETS)}) nor numbers like 0.4914;0.4822;0.4465"
            f"{did_you_mean(text.lower(), list(NORMALIZATION_PRESETS))}"
        ) from None
    if len(nums) == 1:
        nums = nums * 3
    if len(nums) != 3:
        raise AdapterError(f"adapter 'torchvision': {which}={value!r} must give 1 or 3 numbers, got {len(nums)}")
    if which == "std" and any(n <= 0 for n in nums):
        raise AdapterError(f"adapter 'torchvision': std={value!r} must be positive")
    return nums  # type: ignore[return-value]


def to_rgb(image):
    """PIL image -> RGB PIL image (module-level so transforms stay picklable)."""
    return image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image


def load_state_dict_file(path: str) -> dict:
    """Read a state_dict saved with ``torch.save`` (``weights_only=True``) or a ``.safetensors`` file.

    Never unpickles arbitrary objects. Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` and a
    ``module.`` (DataParallel) prefix. Raises :class:`AdapterError` naming the file on failure.
    """
    import torch

    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            obj: Any = load_file(path, device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        hint = ""
        if "weights_only" in str(e) or "npickl" in f"{type(e).__name__} {e}":
            hint = (" The file holds objects other than tensors, which are never unpickled; re-save it "
                    "with torch.save(model.state_dict(), path) or as .safetensors.")
        raise AdapterError(f"adapter 'torchvision': cannot read weights {path}: {type(e).__name__}: {e}.{hint}") from e
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AdapterError(f"adapter 'torchvision': weights file {path} does not hold a state_dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def resolve_model_name(model: str | None, name: str | None, adapter: str) -> str:
    """The builder name from ``model`` or its alias ``name`` (exactly one, or both equal)."""
    if model and name and model != name:
        raise AdapterError(f"adapter {adapter!r}: model={model!r} and name={name!r} disagree; give one of them")
    arch = model or name
    if not arch:
        raise AdapterError(f"adapter {adapter!r} needs argument model=<builder name> (alias name=)")
    return arch


def load_weights_into(net, path: str, arch: str, drop_prefixes: tuple[str, ...] = ()) -> None:
    """Load a state_dict file (see :func:`load_state_dict_file`) into ``net`` strictly.

    Keys starting with ``drop_prefixes`` that the model lacks (training-only heads such as
    ``aux_classifier.``) are dropped. Any other mismatch raises :class:`AdapterError` listing
    shape mismatches, missing and unexpected keys (with a ``num_classes`` hint for a resized head).
    """
    sd = load_state_dict_file(path)
    own = net.state_dict()
    if drop_prefixes:
        sd = {k: v for k, v in sd.items() if k in own or not k.startswith(drop_prefixes)}
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in sd.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if mismatched or missing or unexpected:
        parts = []
        if mismatched:
            parts.append("shape mismatch: " + "; ".join(f"{k} file {a} vs model {b}" for k, a, b in mismatched[:5]))
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {', '.join(unexpected[:3])}")
        hint = ""
        heads = {a[0] for k, a, b in mismatched if len(a) in (1, 2) and a[1:] == b[1:] and a[0] != b[0]}
        if len(heads) == 1:
            hint = f" The checkpoint's head has {heads.pop()} outputs: pass num_classes accordingly."
        raise AdapterError(
            f"adapter 'torchvision': weights {path} do not fit {arch!r}: {'; '.join(parts)}.{hint}"
        )
    net.load_state_dict(sd, strict=True)


@register_adapter("torchvision")
class TorchvisionClassifier(Adapter):
    """A ``torchvision.models`` image classifier answering ``classify`` requests.

    Model arguments:

    * ``model`` (alias ``name``): the builder name (``resnet18``, ``vit_b_16``, ...;
      ``torchvision.models.list_models``). A detection or segmentation builder
      (``fasterrcnn_resnet50_fpn``, ``deeplabv3_resnet50``, ...) makes ``torchvision`` resolve to the
      ``torchvision-detection`` / ``torchvision-segmentation`` adapter (see :meth:`resolve_class`).
    * ``weights``: ``none`` (random init after ``torch.manual_seed(0)``: equal arguments give equal
      weights), a local state_dict file (``torch.save`` output read with ``weights_only=True``, or
      ``.safetensors``), or a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``,
      ``ResNet18_Weights.IMAGENET1K_V1``) loaded from the torch hub cache or the network.
    * ``num_classes``: width of the classifier head (default: 1000, or the weights' categories).
    * ``resize`` / ``crop``: optional shorter-side resize and center crop (defaults: none, or the
      torchvision weights' own eval sizes).
    * ``mean`` / ``std``: normalisation, a preset (``imagenet``, ``clip``, ``half``) or
      ``0.4914;0.4822;0.4465`` style numbers.

    Promises: the model is in eval mode; ``classify`` returns float32 CPU logits (B, C) and
    raises :class:`AdapterError` when C differs from the request's label-set size;
    ``preprocess("image")`` is a picklable torchvision ``Compose``.
    """

    aliases = {"name": "model"}

    version = "1"
    description = ("torchvision image classifiers (random, local state_dict, or torchvision weights); detection and "
                   "segmentation builders resolve to torchvision-detection / torchvision-segmentation")

    @classmethod
    def resolve_class(cls, args: dict[str, Any]) -> type[Adapter]:
        """``torchvision`` serves three families: a detection builder resolves to
        :class:`~mmharness.adapters.torchvision_dense.TorchvisionDetector`, a segmentation builder to
        :class:`~mmharness.adapters.torchvision_dense.TorchvisionSegmenter`, anything else to this class."""
        arch = args.get("model") or args.get("name")
        if not isinstance(arch, str) or not arch:
            return cls
        from .torchvision_dense import family_class

        return family_class(arch) or cls

    def __init__(
        self,
        model: str | None = None,
        weights: str = "none",
        num_classes: int | None = None,
        resize: int | None = None,
        crop: int | None = None,
        mean: str = "imagenet",
        std: str = "imagenet",
        name: str | None = None,
    ):
        super().__init__()
        import torch
        import torchvision

        model = resolve_model_name(model, name, "torchvision")

        classifiers = torchvision.models.list_models(module=torchvision.models)
        if model not in classifiers:
            other = ""
            if model in torchvision.models.list_models():
                other = (f" {model!r} is a torchvision model but not an image classifier (detectors and "
                         "segmenters are served by the torchvision-detection / torchvision-segmentation adapters, "
                         "which `--model torchvision` resolves to; video and optical-flow models are not served).")
            raise AdapterError(
                f"adapter 'torchvision': unknown classifier {model!r}.{other}"
                f"{did_you_mean(model, classifiers)} Known classifiers: see "
                "torchvision.models.list_models(module=torchvision.models)."
            )
        if num_classes is not None and num_classes < 1:
            raise AdapterError(f"adapter 'torchvision': num_classes must be positive, got {num_classes}")
        for key, val in (("resize", resize), ("crop", crop)):
            if val is not None and val < 1:
                raise AdapterError(f"adapter 'torchvision': {key} must be positive, got {val}")
        self.mean = parse_channel_values(mean, "mean")
        self.std = parse_channel_values(std, "std")
        self.arch = model

        kwargs: dict[str, Any] = {}
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        self._weights_enum = None
        self._weights_path: str | None = None
        interpolation = None
        if weights.strip().lower() in _NO_WEIGHTS:
            self._weights_kind = "random"
        elif os.path.isfile(weights):
            self._weights_kind = "file"
            self._weights_path = weights
        else:
            self._weights_kind = "torchvision"
            self._weights_enum = self._resolve_weights_enum(model, weights)
            meta_classes = len(self._weights_enum.meta.get("categories") or [])
            if num_classes is not None and meta_classes and num_classes != meta_classes:
                raise AdapterError(
                    f"adapter 'torchvision': weights {self._weights_enum} have {meta_classes} classes "
                    f"but num_classes={num_classes}; drop num_classes or use a matching state_dict file"
                )
            kwargs.pop("num_classes", None)
            tf = self._weights_enum.transforms()
            resize = resize if resize is not None else _first(getattr(tf, "resize_size", None))
            crop = crop if crop is not None else _first(getattr(tf, "crop_size", None))
            interpolation = getattr(tf, "interpolation", None)

        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_RANDOM_SEED)
                net = torchvision.models.get_model(model, weights=self._weights_enum, **kwargs)
        except Exception as e:
            if self._weights_kind == "torchvision":
                raise AdapterError(
                    f"adapter 'torchvision': could not load weights {self._weights_enum} for {model!r} "
                    f"({type(e).__name__}: {e}). Offline, torchvision weights load only from the torch hub "
                    "cache; otherwise pass weights=/path/to/state_dict.pt (or .safetensors)."
                ) from e
            raise AdapterError(f"adapter 'torchvision': cannot build {model!r}: {type(e).__name__}: {e}") from e

        self._file_identity: str | None = None
        if self._weights_path is not None:
            # hashed when loaded, so the identity describes the weights in memory even if the file changes later
            self._file_identity = file_identity(self._weights_path)
            self._load_file(net, self._weights_path)
        net.eval()
        net.requires_grad_(False)
        self.model = net
        if num_classes is not None:
            self.num_outputs = num_classes
        elif self._weights_enum is not None and self._weights_enum.meta.get("categories"):
            self.num_outputs = len(self._weights_enum.meta["categories"])
        else:
            self.num_outputs = 1000  # every torchvision classifier builder's default
        self.num_classes = self.num_outputs  # the Adapter contract's closed-set size
        self._resize, self._crop, self._interpolation = resize, crop, interpolation

    # ------------------------------------------------------------------ weights
    @staticmethod
    def _resolve_weights_enum(model: str, weights: str):
        import torchvision

        try:
            enum_cls = torchvision.models.get_model_weights(model)
        except Exception:
            enum_cls = None
        members = list(enum_cls.__members__) if enum_cls is not None else []
        name = weights.strip()
        if "." in name and enum_cls is not None and name.split(".", 1)[0] == enum_cls.__name__:
            name = name.split(".", 1)[1]
        if name in members:
            return enum_cls[name]
        looks_like_path = os.sep in weights or weights.startswith(".") or weights.lower().endswith(
            (".pt", ".pth", ".bin", ".safetensors", ".ckpt"))
        if looks_like_path:
            raise AdapterError(f"adapter 'torchvision': weights file not found: {weights}")
        known = f" Known weights for {model!r}: {', '.join(members)}." if members else ""
        raise AdapterError(
            f"adapter 'torchvision': weights={weights!r} is neither a local state_dict file nor a "
            f"torchvision weights name.{did_you_mean(name, members)}{known} Use weights=none for random init."
        )

    def _load_file(self, net, path: str) -> None:
        load_weights_into(net, path, self.arch)

    def weights_identity(self) -> str:
        """``sha256:<hex>`` of the state_dict file (hashed at load), ``torchvision:<Enum.MEMBER>``, or ``random:seed=0``."""
        if self._weights_kind == "file":
            return self._file_identity
        if self._weights_kind == "torchvision":
            return f"torchvision:{self._weights_enum}"
        return f"random:seed={_RANDOM_SEED}"

    # ------------------------------------------------------------------ runtime
    def to(self, device: str) -> "TorchvisionClassifier":
        """Move the model to ``device``."""
        self.model.to(device)
        self.device = device
        return self

    def optimize(self, *, channels_last: bool = False, compile: bool = False) -> None:
        """channels-last memory format and/or ``torch.compile`` of the network."""
        super().optimize(channels_last=channels_last, compile=False)
        if compile:
            self.model.compile()

    def preprocess(self, modality: str) -> Callable[[Any], Any]:
        """Optional resize and center crop, then RGB, ``ToTensor`` and ``Normalize`` (picklable)."""
        if modality != "image":
            return super().preprocess(modality)
        from torchvision import transforms as T

        steps: list[Any] = [to_rgb]
        if self._resize is not None:
            if self._interpolation is not None:
                steps.append(T.Resize(self._resize, interpolation=self._interpolation))
            else:
                steps.append(T.Resize(self._resize))
        if self._crop is not None:
            steps.append(T.CenterCrop(self._crop))
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)

    # ------------------------------------------------------------------ capabilities
    def classify(self, batch: Batch) -> ClassifyOutput:
        """Logits (B, C) float32 on CPU for ``batch.inputs["image"]`` (B, 3, H, W).

        Raises :class:`AdapterError` when the model's output width differs from the size of the
        request's label set, or when images of different sizes arrive unstacked.
        """
        import torch

        if not batch.requests:
            return ClassifyOutput(logits=torch.zeros((0, self.num_outputs)))
        labels = batch.requests[0].labels
        if len(labels) != self.num_outputs:
            raise AdapterError(
                f"model {self.arch!r} has {self.num_outputs} outputs but the task's label set "
                f"{labels.name!r} has {len(labels)} classes; pass num_classes={len(labels)} and "
                "weights trained for it"
            )
        images = batch.inputs.get("image")
        if images is None:
            raise AdapterError(f"torchvision classifier needs an 'image' input; got {sorted(batch.inputs)}")
        if not isinstance(images, torch.Tensor):
            shapes = {tuple(getattr(im, "shape", ())) for im in images}
            if len(shapes) > 1:
                raise AdapterError(
                    f"images of different sizes {sorted(shapes)[:3]} reached the classifier; pass "
                    "resize=N,crop=N so that preprocessing gives equal sizes"
                )
            images = torch.stack(list(images))
        with torch.no_grad():
            out = self.model(images.to(self.device, dtype=torch.float32))
        if not isinstance(out, torch.Tensor):  # e.g. InceptionOutputs in odd modes
            out = getattr(out, "logits", out[0])
        logits = out.float().cpu()
        if logits.shape != (len(batch), len(labels)):
            raise AdapterError(
                f"model {self.arch!r} returned logits of shape {tuple(logits.shape)} for a batch of "
                f"{len(batch)} with {len(labels)} classes"
            )
        return ClassifyOutput(logits=logits)


def _first(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else None
    return int(value)
