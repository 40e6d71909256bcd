"""The Adapter base class: how a model offers capabilities to the harness.

A model is one subclass. Its capabilities are exactly the capability methods it overrides
(``embed_image``, ``embed_text``, ``match``, ``classify``, ``generate``, ``segment``, ``detect``).
Constructor keyword arguments are the model arguments (``--model-args k=v,...``): annotate them and
the harness converts the command-line strings to those types and rejects unknown names.

Adapters never know which benchmark they serve: they receive batches and return batches.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from typing import Any, Callable, ClassVar

from .requests import Batch, Capability, ClassifyOutput, Detections

_CAPABILITY_METHODS = {c: c.value for c in Capability}


class AdapterError(RuntimeError):
    """An adapter misbehaved (wrong shape, NaN, wrong count) or was misconfigured."""


class SampleRequestError(AdapterError):
    """One sample's request was answered with an error of its own (an HTTP 4xx such as a bad
    request or a content-policy refusal, a malformed answer). It is that sample's error, never an
    empty answer: the run stops, or with ``--on-error skip`` the sample is skipped and counted.
    ``sample_id`` names the sample."""

    def __init__(self, message: str, sample_id: str | None = None):
        super().__init__(message)
        self.sample_id = sample_id


class Adapter:
    """Base class of every model adapter.

    Subclasses set ``name`` (done by ``@register_adapter``), optionally ``version`` (bump it when a
    code change alters outputs, so caches are not reused), override the capability methods they
    support, and may override :meth:`preprocess` and :meth:`weights_identity`.

    The cache key cannot go stale: every constructor argument, as bound (defaults included), is
    recorded when the adapter is built (:attr:`model_args`) and enters :meth:`fingerprint`, except
    those the class lists in :attr:`runtime_args` (concurrency, timeouts, offline switches: what
    cannot change an answer). A new argument changes the fingerprint without any other edit.
    """

    name: ClassVar[str] = "unnamed"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: For closed-set classifiers: the fixed size of the label set the model predicts over
    #: (``classify`` must be given label sets of this size). None = any label set.
    num_classes: int | None = None
    #: True for models behind a server or a hosted API: building the adapter is cheap and checks the
    #: server, so the harness builds it before any data work; tasks may apply the papers' API
    #: settings to such models (``Task.resolve_profile``).
    served: ClassVar[bool] = False
    #: constructor arguments that cannot change an answer (left out of the cache key)
    runtime_args: ClassVar[frozenset[str]] = frozenset()
    #: argument aliases (``{"name": "model"}``): an alias given for its canonical argument is recorded
    #: under the canonical name, so both spellings share one cache key
    aliases: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        """Wrap each subclass's own ``__init__`` so that its bound arguments are recorded."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_records_arguments", False):
            cls.__init__ = _recording(init)

    def __init__(self, **model_args: Any):
        if model_args:
            raise AdapterError(f"adapter {self.name!r} takes no model arguments, got {sorted(model_args)}")
        self.device = "cpu"

    @property
    def model_args(self) -> dict[str, Any]:
        """Every constructor argument as bound when the adapter was built (defaults included)."""
        return dict(self.__dict__.get("_bound_args", {}))

    @model_args.setter
    def model_args(self, value: dict[str, Any]) -> None:
        raise AttributeError("model_args is recorded from the constructor's arguments; an adapter no longer "
                             "assigns it (list arguments that cannot change an answer in runtime_args)")

    # ------------------------------------------------------------------ identity
    @classmethod
    def resolve_class(cls, args: dict[str, Any]) -> "type[Adapter]":
        """The class that serves these model arguments (default: ``cls``).

        An adapter name that covers several model families (``torchvision``: classifiers,
        detectors, segmenters) overrides this to pick the family's class, whose capabilities then
        decide which tasks it can run. Called before capabilities are checked and by
        :func:`build_adapter`.
        """
        return cls

    @classmethod
    def capabilities(cls) -> frozenset[Capability]:
        """The capabilities this class implements (the capability methods it overrides)."""
        return frozenset(c for c, m in _CAPABILITY_METHODS.items() if getattr(cls, m) is not getattr(Adapter, m))

    def weights_identity(self) -> str:
        """A string identifying the weights (a checkpoint hash, a hub revision, 'random:seed=0').

        The default says nothing beyond the arguments; adapters that load files should hash them.
        """
        return ""

    def fingerprint(self) -> str:
        """Identity of code version + arguments + weights. Keys the response cache."""
        payload = json.dumps(
            {
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "name": self.name,
                "version": self.version,
                "args": {k: str(v) for k, v in sorted(self.model_args.items()) if k not in self.runtime_args},
                "weights": self.weights_identity(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    # ------------------------------------------------------------------ runtime
    def to(self, device: str) -> "Adapter":
        """Move the model to ``device`` ("cpu", "cuda:0", "mps"). Subclasses with modules extend this."""
        self.device = device
        return self

    def optimize(self, *, channels_last: bool = False, compile: bool = False) -> None:
        """Apply the runner's speed options (``--channels-last``, ``--compile``) to the model.

        Default: ``channels_last`` converts every ``torch.nn.Module`` attribute to the channels-last
        memory format (safe for any module); ``compile`` raises, because only the adapter knows
        which modules its capability methods call: adapters that support it override this.
        """
        if channels_last:
            import torch

            for v in vars(self).values():
                if isinstance(v, torch.nn.Module):
                    v.to(memory_format=torch.channels_last)
        if compile:
            raise AdapterError(f"adapter {self.name!r} does not support --compile")

    def max_in_flight(self) -> int:
        """How many requests this adapter answers at once.

        0 (the default): an in-process model; the runner calls each capability method with full
        batches, one call at a time. N >= 1: the adapter answers requests *concurrently* (a served
        model); its capability methods must be thread-safe, and the runner calls them with
        one-request batches from up to N threads, keeping N requests in flight across batch
        boundaries and caching each response as it completes (:mod:`mmharness.streaming`).
        """
        return 0

    def cancel(self) -> None:
        """Stop waiting: called when a run stops early, so that in-flight requests give up their
        retries and backoff sleeps at once. Default: nothing to cancel."""

    def request_counters(self) -> dict[str, int]:
        """Monotonic counters of the requests this adapter sent (``sent``, ``retries``, ``errors``,
        and per retry reason ``retry:<reason>``); the runner records each task's difference.
        Default: none (in-process models)."""
        return {}

    def preprocess(self, modality: str) -> Callable[[Any], Any]:
        """A picklable function run in DataLoader workers on each decoded input of ``modality``.

        The default turns a PIL image into a float CHW tensor in [0, 1] (no resizing) and passes
        other modalities through unchanged.
        """
        if modality == "image":
            return pil_to_float_tensor
        return _identity

    # ------------------------------------------------------------------ capabilities
    def embed_image(self, images) -> Any:
        """(B, C, H, W) preprocessed images -> (B, D) embeddings."""
        raise NotImplementedError

    def embed_text(self, texts: list[str]) -> Any:
        """B texts -> (B, D) embeddings."""
        raise NotImplementedError

    def match(self, batch: Batch) -> Any:
        """Image-text scores: (B, L) tensor, or B 1-D tensors when L differs per request."""
        raise NotImplementedError

    def classify(self, batch: Batch) -> ClassifyOutput:
        """Logits (B, C) over ``batch.requests[0].labels`` (one label set per batch)."""
        raise NotImplementedError

    def generate(self, batch: Batch) -> list[str]:
        """B generated texts for ``req.messages`` with ``req.params`` (one params value per batch)."""
        raise NotImplementedError

    def segment(self, batch: Batch) -> Any:
        """(B, H, W) integer label maps, or a list of B (H, W) maps when sizes differ."""
        raise NotImplementedError

    def detect(self, batch: Batch) -> list[Detections]:
        """B detections (boxes xyxy in pixels, scores, labels as indices of the request's label set)."""
        raise NotImplementedError


def _recording(init: Callable) -> Callable:
    """``init`` that first records its bound arguments on the instance (the most derived class's
    call only: a subclass's ``super().__init__(...)`` does not overwrite them)."""
    sig = inspect.signature(init)

    @functools.wraps(init)
    def recording_init(self, *args: Any, **kwargs: Any) -> None:
        if "_bound_args" not in self.__dict__:
            try:
                bound = sig.bind(self, *args, **kwargs)
            except TypeError:
                pass  # the call itself raises the right error below
            else:
                bound.apply_defaults()
                recorded: dict[str, Any] = {}
                for name, value in list(bound.arguments.items())[1:]:
                    kind = sig.parameters[name].kind
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        recorded.update(value)
                    elif kind is inspect.Parameter.VAR_POSITIONAL:
                        recorded[name] = list(value)
                    else:
                        recorded[name] = value
                for alias, canonical in type(self).aliases.items():
                    if recorded.get(alias) is not None and recorded.get(canonical) in (None, recorded[alias]):
                        recorded[canonical] = recorded.pop(alias)
                    elif recorded.get(alias) is None:
                        recorded.pop(alias, None)
                self.__dict__["_bound_args"] = recorded
        init(self, *args, **kwargs)

    recording_init._records_arguments = True  # type: ignore[attr-defined]
    return recording_init


def pil_to_float_tensor(image):
    """PIL image -> float32 CHW tensor in [0, 1]."""
    import numpy as np
    import torch

    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def _identity(x):
    return x


# --------------------------------------------------------------------------- argument parsing


def parse_model_args(text: str | None) -> dict[str, str]:
    """Parse ``"k=v,k2=v2"`` into a dict of strings. Values may contain '='; they may contain ','
    only inside brackets or quotes, so a JSON value needs no escaping:
    ``extra_body={"top_k":1,"repetition_penalty":1.05},seed=0``."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in _split_top_level(text):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise AdapterError(f"model argument {part!r} is not of the form key=value")
        k, v = part.split("=", 1)
        k = k.strip()
        if k in out:
            raise AdapterError(f"model argument {k!r} given twice")
        out[k] = v.strip()
    return out


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are outside ``{}``, ``[]`` and double quotes (a single quote is an
    ordinary character: ``answer=don't`` stays one value)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch == '"':
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise AdapterError(f"model arguments {text!r}: unbalanced brackets or quotes")
    parts.append(text[start:])
    return parts


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(value: Any, annotation: Any, adapter: str, key: str) -> Any:
    if not isinstance(value, str):
        return value
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    ann = ann.replace(" ", "")
    optional = "None" in ann
    if optional and value.lower() in ("none", "null", ""):
        return None
    base = ann.replace("|None", "").replace("None|", "").replace("Optional[", "").rstrip("]")
    try:
        if base == "int":
            return int(value)
        if base == "float":
            return float(value)
        if base == "bool":
            lv = value.lower()
            if lv in _TRUE:
                return True
            if lv in _FALSE:
                return False
            raise ValueError("expected true/false")
    except ValueError as e:
        raise AdapterError(f"adapter {adapter!r}: argument {key}={value!r} is not a valid {base}: {e}") from None
    return value


def build_adapter(cls: type[Adapter], args: dict[str, Any]) -> Adapter:
    """Instantiate ``cls`` from string arguments, converting by annotation; unknown keys are an error."""
    from .registry import did_you_mean

    if hasattr(cls, "resolve_class"):  # tasks are built here too; they have no families
        cls = cls.resolve_class(args)
    sig = inspect.signature(cls.__init__)
    params = {n: p for n, p in sig.parameters.items() if n != "self" and p.kind is p.KEYWORD_ONLY or
              (n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD)}
    accepts_var = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    kwargs = {}
    for k, v in args.items():
        if k not in params:
            if accepts_var and cls.__init__ is not Adapter.__init__:
                kwargs[k] = v
                continue
            known = sorted(params)
            hint = did_you_mean(k, known)
            raise AdapterError(
                f"adapter {cls.name!r} has no argument {k!r}.{hint} Known arguments: "
                f"{', '.join(known) if known else '(none)'}"
            )
        kwargs[k] = _convert(v, params[k].annotation, cls.name, k)
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise AdapterError(f"adapter {cls.name!r} needs argument(s): {', '.join(missing)}")
    return cls(**kwargs)


def adapter_arguments(cls: type[Adapter]) -> list[tuple[str, str, Any]]:
    """(name, type, default) of each constructor argument, for ``mmh adapters`` and docs."""
    out = []
    for n, p in inspect.signature(cls.__init__).parameters.items():
        if n == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        out.append((n, str(ann), None if p.default is inspect.Parameter.empty else p.default))
    return out


def file_identity(path: str) -> str:
    """sha256 of a weights file (memoised on path, size and mtime)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _FILE_HASHES[key] = "sha256:" + h.hexdigest()
    return _FILE_HASHES[key]


_FILE_HASHES: dict[tuple, str] = {}
