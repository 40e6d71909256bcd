"""torchvision detectors and semantic segmenters as ``detect`` / ``segment`` adapters.

* ``torchvision-detection``: Faster R-CNN, Mask R-CNN, RetinaNet, FCOS, SSD / SSDlite builders of
  ``torchvision.models.detection``. Boxes come back xyxy in original-image pixels (the model's own
  transform resizes and maps back), Mask R-CNN masks are thresholded at ``mask_thresh`` at the original
  image size. The model's label ids are mapped into the request's label set **by class name**
  (torchvision's 91-slot COCO list by default; ``categories=FILE`` for other heads) or, with
  ``label_map=index``, model label k -> label-set index k-1 (contiguous heads with background 0).
* ``torchvision-segmentation``: DeepLabV3, FCN, LR-ASPP builders of ``torchvision.models.segmentation``.
  Logits are upsampled bilinearly (``align_corners=False``) to the input image size before the argmax.
  RGB-T scenes arrive as two images (``rgb``, ``infrared``); ``modality`` says which one the model uses.

Weights: ``none`` (random init with ``torch.manual_seed(0)``, built with ``weights=None,
weights_backbone=None`` so nothing is downloaded), a local state_dict file (``torch.save`` read
with ``weights_only=True``, or ``.safetensors``), or a torchvision weights name from the local torch
hub cache. ``--model torchvision --model-args model=<builder>`` (alias ``name=``) resolves here for
detection and segmentation builders. torch/torchvision are imported lazily.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from ..adapter import Adapter, AdapterError, file_identity
from ..registry import did_you_mean, register_adapter
from ..requests import Batch, Detections, LabelSet
from .torchvision_classifier import (
    _NO_WEIGHTS,
    _RANDOM_SEED,
    TorchvisionClassifier,
    load_weights_into,
    parse_channel_values,
    resolve_model_name,
    to_rgb,
)

#: Detection builder prefix -> (score-threshold kwarg, detections-per-image kwarg, accepts min/max size).
DETECTION_FAMILIES: dict[str, tuple[str, str, bool]] = {
    "fasterrcnn": ("box_score_thresh", "box_detections_per_img", True),
    "maskrcnn": ("box_score_thresh", "box_detections_per_img", True),
    "retinanet": ("score_thresh", "detections_per_img", True),
    "fcos": ("score_thresh", "detections_per_img", True),
    "ssd": ("score_thresh", "detections_per_img", False),
    "ssdlite": ("score_thresh", "detections_per_img", False),
}
UNSERVED_DETECTORS = {"keypointrcnn": "keypoint detection is not served (the detect capability carries boxes and masks)"}
LABEL_MAPS = ("name", "index")
_NON_CLASSES = {"__background__", "n/a", "background"}


def _detection_builders() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models.detection)


def _segmentation_builders() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models.segmentation)


def family_class(arch: str) -> type[Adapter] | None:
    """The adapter class for a torchvision builder name: detector, segmenter, or None (other)."""
    if arch in _detection_builders():
        return TorchvisionDetector
    if arch in _segmentation_builders():
        return TorchvisionSegmenter
    return None


def _family(arch: str) -> str:
    """The builder family (``fasterrcnn``, ``ssdlite``, ...): the longest known prefix of the name."""
    for fam in sorted({*DETECTION_FAMILIES, *UNSERVED_DETECTORS}, key=len, reverse=True):
        if arch.startswith(fam):
            return fam
    return arch.split("_", 1)[0]


def _weights_spec(weights: str, arch: str) -> tuple[str, Any, str | None]:
    """(kind, torchvision weights enum or None, file path or None) for a ``weights`` argument."""
    if weights.strip().lower() in _NO_WEIGHTS:
        return "random", None, None
    if os.path.isfile(weights):
        return "file", None, weights
    return "torchvision", TorchvisionClassifier._resolve_weights_enum(arch, weights), None


def _build(arch: str, kind: str, enum: Any, kwargs: dict) -> Any:
    import torch
    import torchvision

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RANDOM_SEED)
            if kind == "torchvision":
                return torchvision.models.get_model(arch, weights=enum, **kwargs)
            return torchvision.models.get_model(arch, weights=None, weights_backbone=None, **kwargs)
    except Exception as e:
        if kind == "torchvision":
            raise AdapterError(
                f"adapter 'torchvision': could not load weights {enum} for {arch!r} ({type(e).__name__}: {e}). "
                "Offline, torchvision weights load only from the torch hub cache; otherwise pass "
                "weights=/path/to/state_dict.pt (or .safetensors).") from e
        raise AdapterError(f"adapter 'torchvision': cannot build {arch!r}: {type(e).__name__}: {e}") from e


class _TorchvisionDense(Adapter):
    """Weights handling shared by the detector and the segmenter."""

    aliases = {"name": "model"}

    def _init_weights(self, arch: str, weights: str) -> None:
        self.arch = arch
        self._weights_kind, self._weights_enum, self._weights_path = _weights_spec(weights, arch)
        self._file_identity: str | None = None

    def _finish(self, net, drop_prefixes: tuple[str, ...] = ()) -> None:
        if self._weights_path is not None:
            self._file_identity = file_identity(self._weights_path)
            load_weights_into(net, self._weights_path, self.arch, drop_prefixes)
        net.eval()
        net.requires_grad_(False)
        self.model = net

    def weights_identity(self) -> str:
        """``sha256:<hex>`` of the state_dict file, ``torchvision:<Enum.MEMBER>``, or ``random:seed=0``."""
        if self._weights_kind == "file":
            return str(self._file_identity)
        if self._weights_kind == "torchvision":
            return f"torchvision:{self._weights_enum}"
        return f"random:seed={_RANDOM_SEED}"

    def to(self, device: str) -> "_TorchvisionDense":
        """Move the model to ``device``."""
        self.model.to(device)
        self.device = device
        return self


# --------------------------------------------------------------------------- detection


def _read_categories(spec: str) -> list[str]:
    if spec == "coco91":
        from torchvision.models._meta import _COCO_CATEGORIES

        return list(_COCO_CATEGORIES)
    if not os.path.isfile(spec):
        raise AdapterError(f"adapter 'torchvision-detection': categories={spec!r} is neither 'coco91' nor a file "
                           "(one class name per line, line k = model label k, background included)")
    with open(spec, encoding="utf-8") as f:
        names = [ln.rstrip("\n").strip() for ln in f]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise AdapterError(f"adapter 'torchvision-detection': categories file {spec} is empty")
    return names


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


@register_adapter("torchvision-detection")
class TorchvisionDetector(_TorchvisionDense):
    """A ``torchvision.models.detection`` model answering ``detect`` requests.

    Model arguments: ``model`` (alias ``name``; e.g. ``fasterrcnn_mobilenet_v3_large_fpn``,
    ``maskrcnn_resnet50_fpn``, ``retinanet_resnet50_fpn``, ``fcos_resnet50_fpn``,
    ``ssdlite320_mobilenet_v3_large``), ``weights`` (``none`` | file | torchvision name),
    ``num_classes`` (head size incl. background; default 91), ``categories`` (``coco91`` or a file of
    names, line k = model label k; default: the weights' categories, or coco91 for a 91-way head),
    ``label_map`` (``name``: map by class name; ``index``: model label k -> label-set index k-1),
    ``score_thresh`` / ``detections_per_img`` (default: the builder's), ``min_size`` / ``max_size``
    (R-CNN / RetinaNet / FCOS input resizing; default: the builder's), ``mask_thresh`` (0.5).

    Promises: eval mode; deterministic; boxes xyxy in original pixels; labels are indices into the
    request's label set (detections of classes the label set lacks are dropped; no overlap at all is
    an :class:`AdapterError`); Mask R-CNN adds (N, H, W) binary masks.
    """

    version = "1"
    description = "torchvision detectors: Faster/Mask R-CNN, RetinaNet, FCOS, SSD (random, local file, torchvision weights)"

    def __init__(self, model: str | None = None, weights: str = "none", num_classes: int | None = None,
                 categories: str | None = None, label_map: str = "name", score_thresh: float | None = None,
                 detections_per_img: int | None = None, min_size: int | None = None, max_size: int | None = None,
                 mask_thresh: float = 0.5, name: str | None = None):
        super().__init__()
        arch = resolve_model_name(model, name, "torchvision-detection")
        builders = _detection_builders()
        fam = _family(arch)
        if fam in UNSERVED_DETECTORS:
            raise AdapterError(f"adapter 'torchvision-detection': {arch!r}: {UNSERVED_DETECTORS[fam]}")
        if arch not in builders or fam not in DETECTION_FAMILIES:
            raise AdapterError(f"adapter 'torchvision-detection': unknown detector {arch!r}.{did_you_mean(arch, builders)} "
                               f"Known: {', '.join(b for b in builders if _family(b) in DETECTION_FAMILIES)}")
        if label_map not in LABEL_MAPS:
            raise AdapterError(f"adapter 'torchvision-detection': label_map={label_map!r} is not one of {LABEL_MAPS}")
        if num_classes is not None and num_classes < 2:
            raise AdapterError(f"adapter 'torchvision-detection': num_classes must be >= 2 (background included), got {num_classes}")
        if not 0.0 <= mask_thresh <= 1.0:
            raise AdapterError(f"adapter 'torchvision-detection': mask_thresh must be in [0, 1], got {mask_thresh}")
        self._init_weights(arch, weights)
        thresh_kw, dets_kw, sizes_ok = DETECTION_FAMILIES[fam]
        kwargs: dict[str, Any] = {}
        if score_thresh is not None:
            kwargs[thresh_kw] = float(score_thresh)
        if detections_per_img is not None:
            kwargs[dets_kw] = int(detections_per_img)
        for key, val in (("min_size", min_size), ("max_size", max_size)):
            if val is not None:
                if not sizes_ok:
                    raise AdapterError(f"adapter 'torchvision-detection': {arch!r} has a fixed input size; "
                                       f"{key} is not accepted")
                kwargs[key] = int(val)
        meta_cats = list(self._weights_enum.meta.get("categories") or []) if self._weights_enum is not None else []
        if self._weights_kind != "torchvision":
            kwargs["num_classes"] = num_classes or 91
        elif num_classes is not None and meta_cats and num_classes != len(meta_cats):
            raise AdapterError(f"adapter 'torchvision-detection': weights {self._weights_enum} have {len(meta_cats)} "
                               f"classes but num_classes={num_classes}")
        net = _build(arch, self._weights_kind, self._weights_enum, kwargs)
        self._finish(net)
        n_out = len(meta_cats) if self._weights_kind == "torchvision" and meta_cats else (num_classes or 91)
        if categories is not None:
            cats = _read_categories(categories)
        elif meta_cats:
            cats = meta_cats
        elif n_out == 91:
            cats = _read_categories("coco91")
        elif label_map == "name":
            raise AdapterError(f"adapter 'torchvision-detection': a {n_out}-way head needs categories=FILE naming "
                               "each model label (line k = label k, background first), or label_map=index")
        else:
            cats = [str(k) for k in range(n_out)]
        if len(cats) != n_out:
            raise AdapterError(f"adapter 'torchvision-detection': {len(cats)} category names for a {n_out}-way head")
        self.categories = cats
        self.label_map = label_map
        self.mask_thresh = float(mask_thresh)
        self._maps: dict[str, np.ndarray] = {}

    def _label_map(self, labels: LabelSet) -> np.ndarray:
        """model label -> label-set index (-1 = not in the label set), cached per label set."""
        key = labels.key()
        if key not in self._maps:
            out = np.full(len(self.categories), -1, dtype=np.int64)
            if self.label_map == "index":
                for k in range(1, len(self.categories)):
                    if k - 1 < len(labels):
                        out[k] = k - 1
            else:
                wanted: dict[str, int] = {}
                for i, c in enumerate(labels.classes):
                    wanted.setdefault(_norm(c), i)
                for i, c in enumerate(labels.class_prompt_names or ()):
                    wanted.setdefault(_norm(c), i)
                for k, c in enumerate(self.categories):
                    if _norm(c) not in _NON_CLASSES and _norm(c) in wanted:
                        out[k] = wanted[_norm(c)]
                if (out < 0).all():
                    raise AdapterError(
                        f"adapter 'torchvision-detection': none of the model's {len(self.categories)} classes "
                        f"(e.g. {', '.join(self.categories[1:4])}) is in the task's label set {labels.name!r} "
                        f"(e.g. {', '.join(labels.classes[:3])}); pass categories=FILE with the model's class names "
                        "or label_map=index for a head trained on this label set")
            self._maps[key] = out
        return self._maps[key]

    def detect(self, batch: Batch) -> list[Detections]:
        """Run the detector on each image (a list or a (B, 3, H, W) stack of [0, 1] tensors) and return
        boxes xyxy, scores and label-set indices (plus masks for Mask R-CNN)."""
        import torch

        images = batch.inputs.get("image")
        if images is None:
            raise AdapterError(f"torchvision detector needs an 'image' input; got {sorted(batch.inputs)}")
        imgs = [im.to(self.device, dtype=torch.float32) for im in images]
        out = self.model(imgs)
        result = []
        for req, o in zip(batch.requests, out):
            if req.labels is None:
                raise AdapterError("torchvision detector: the detect request carries no label set")
            mapping = self._label_map(req.labels)
            raw = o["labels"].detach().cpu().numpy().astype(np.int64)
            lab = mapping[np.clip(raw, 0, len(mapping) - 1)]
            keep = (raw >= 0) & (raw < len(mapping)) & (lab >= 0)
            idx = torch.as_tensor(np.flatnonzero(keep), dtype=torch.long)
            boxes = o["boxes"].detach().float().cpu()[idx]
            scores = o["scores"].detach().float().cpu()[idx]
            masks = None
            if "masks" in o:
                masks = (o["masks"].detach().cpu()[idx][:, 0] > self.mask_thresh).to(torch.uint8)
            result.append(Detections(boxes=boxes, scores=scores, labels=torch.as_tensor(lab[keep]), masks=masks))
        return result


# --------------------------------------------------------------------------- segmentation


@register_adapter("torchvision-segmentation")
class TorchvisionSegmenter(_TorchvisionDense):
    """A ``torchvision.models.segmentation`` model answering ``segment`` requests.

    Model arguments: ``model`` (alias ``name``; ``deeplabv3_resnet50``, ``deeplabv3_resnet101``,
    ``deeplabv3_mobilenet_v3_large``, ``fcn_resnet50``, ``fcn_resnet101``, ``lraspp_mobilenet_v3_large``),
    ``weights`` (``none`` | file | torchvision name), ``num_classes`` (default 21, or the weights'),
    ``modality`` (``rgb`` or ``infrared``: which image of an RGB-T scene the model sees; single-image
    tasks send ``image``), ``resize`` (optional shorter side fed to the model; logits are resized back),
    ``mean`` / ``std`` (normalisation preset or numbers; default ImageNet).

    Promises: eval mode; (H, W) int64 label maps at each input image's size; the request's
    ``num_classes`` must equal the model's (else :class:`AdapterError`). Training-only
    ``aux_classifier.*`` weights in a file are dropped when the model has no auxiliary head.
    """

    version = "1"
    description = "torchvision segmenters: DeepLabV3, FCN, LR-ASPP (random, local file, torchvision weights)"

    def __init__(self, model: str | None = None, weights: str = "none", num_classes: int | None = None,
                 modality: str = "rgb", resize: int | None = None, mean: str = "imagenet", std: str = "imagenet",
                 name: str | None = None):
        super().__init__()
        arch = resolve_model_name(model, name, "torchvision-segmentation")
        builders = _segmentation_builders()
        if arch not in builders:
            raise AdapterError(f"adapter 'torchvision-segmentation': unknown segmenter {arch!r}."
                               f"{did_you_mean(arch, builders)} Known: {', '.join(builders)}")
        if modality not in ("rgb", "infrared"):
            raise AdapterError(f"adapter 'torchvision-segmentation': modality must be 'rgb' or 'infrared', got {modality!r}")
        if resize is not None and resize < 8:
            raise AdapterError(f"adapter 'torchvision-segmentation': resize must be >= 8, got {resize}")
        self.mean = parse_channel_values(mean, "mean")
        self.std = parse_channel_values(std, "std")
        self.modality = modality
        self.resize = resize
        self._init_weights(arch, weights)
        meta_cats = list(self._weights_enum.meta.get("categories") or []) if self._weights_enum is not None else []
        kwargs: dict[str, Any] = {}
        if self._weights_kind != "torchvision":
            kwargs["num_classes"] = num_classes or 21
        elif num_classes is not None and meta_cats and num_classes != len(meta_cats):
            raise AdapterError(f"adapter 'torchvision-segmentation': weights {self._weights_enum} have "
                               f"{len(meta_cats)} classes but num_classes={num_classes}")
        net = _build(arch, self._weights_kind, self._weights_enum, kwargs)
        self._finish(net, drop_prefixes=("aux_classifier.",))
        self.num_classes = len(meta_cats) if self._weights_kind == "torchvision" and meta_cats else (num_classes or 21)

    def preprocess(self, modality: str) -> Callable[[Any], Any]:
        """RGB, ``ToTensor`` and ``Normalize`` (no resizing here; picklable)."""
        if modality != "image":
            return super().preprocess(modality)
        from torchvision import transforms as T

        return T.Compose([to_rgb, T.ToTensor(), T.Normalize(self.mean, self.std)])

    def _input_name(self, batch: Batch) -> str:
        names = set(batch.inputs)
        if self.modality in names:
            return self.modality
        if names == {"image"} and self.modality == "rgb":
            return "image"
        raise AdapterError(f"torchvision segmenter (modality={self.modality}) got inputs {sorted(names)}; "
                           f"pass modality= one of {sorted(names)} (rgb for single-image tasks)")

    def segment(self, batch: Batch):
        """(H, W) int64 label maps: logits upsampled bilinearly to each image's size, then argmax."""
        import torch
        import torch.nn.functional as F

        for req in batch.requests:
            if req.num_classes != self.num_classes:
                raise AdapterError(f"model {self.arch!r} predicts {self.num_classes} classes but the task asks for "
                                   f"{req.num_classes}; pass num_classes={req.num_classes} and weights trained for it")
        images = batch.inputs[self._input_name(batch)]
        out = []
        for im in images:
            x = im.to(self.device, dtype=torch.float32)[None]
            h, w = x.shape[-2:]
            if self.resize is not None:
                scale = self.resize / min(h, w)
                size = (max(1, round(h * scale)), max(1, round(w * scale)))
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            logits = self.model(x)["out"]
            if logits.shape[-2:] != (h, w):
                logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
            out.append(logits.argmax(dim=1)[0].to(torch.int64).cpu())
        return out
