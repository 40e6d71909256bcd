"""The capability contract: what a task may ask of a model, and what it gets back.

Seven capabilities exist. A *request* is one sample's question, built by a task from light
references to media (decoded later, in DataLoader workers). A *batch* is what an adapter method
receives after decoding and collation. A *response* is one sample's answer; responses are what the
runner caches and what a task scores. Tasks and metrics depend on this module only, never on models.

Every request may carry a ``reference``: the gold answer expressed in the capability's own terms
(a label index, the index of the positive caption, a gold text, a label map, gold boxes). Ordinary
adapters ignore it; the ``oracle`` baseline answers from it, which proves the wiring end to end.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from itertools import repeat
from operator import is_, methodcaller
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


class Capability(str, enum.Enum):
    """The request kinds an adapter can answer."""

    EMBED_IMAGE = "embed_image"
    EMBED_TEXT = "embed_text"
    MATCH = "match"
    CLASSIFY = "classify"
    GENERATE = "generate"
    SEGMENT = "segment"
    DETECT = "detect"

    def __str__(self) -> str:  # "classify", not "Capability.CLASSIFY", in messages
        return self.value


# --------------------------------------------------------------------------- media references


@runtime_checkable
class MediaRef(Protocol):
    """A light, picklable pointer to one piece of media; ``load()`` runs in a DataLoader worker.

    ``describe()`` names the media for error messages (a file path, or a dataset and index).
    """

    modality: str

    def load(self) -> Any: ...

    def describe(self) -> str: ...


class MediaDecodeError(RuntimeError):
    """Raised when a piece of media cannot be read or decoded; names the file or record."""


@dataclass(frozen=True)
class ImageFile:
    """An image stored as a file on disk (PNG, JPEG, ...)."""

    path: str
    modality: str = "image"

    def load(self):
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                im.load()
                return im if im.mode == "RGB" else im.convert("RGB")
        except FileNotFoundError as e:
            raise MediaDecodeError(f"image file not found: {self.path}") from e
        except Exception as e:  # PIL raises many types for corrupt data
            raise MediaDecodeError(f"cannot decode image {self.path}: {type(e).__name__}: {e}") from e

    def describe(self) -> str:
        return self.path


@dataclass(frozen=True)
class ImageArray:
    """One HxWx3 uint8 image held by a row-indexable array source (CIFAR batches, HF datasets)."""

    source: Any  # an object with .image(index) -> PIL.Image and .describe(index) -> str
    index: int
    modality: str = "image"

    def load(self):
        try:
            return self.source.image(self.index)
        except MediaDecodeError:
            raise
        except Exception as e:
            raise MediaDecodeError(
                f"cannot decode image {self.describe()}: {type(e).__name__}: {e}"
            ) from e

    def describe(self) -> str:
        return self.source.describe(self.index)


# --------------------------------------------------------------------------- label sets


@dataclass(frozen=True)
class LabelSet:
    """The classes a ``classify`` request chooses among, with the prompts for zero-shot use.

    ``templates`` are format strings with one ``{}`` (or ``{c}``) for the class name; the harness
    derives a zero-shot classifier from them when an adapter only offers embeddings.
    """

    name: str
    classes: tuple[str, ...]
    templates: tuple[str, ...] = ("a photo of a {}.",)
    class_prompt_names: tuple[str, ...] | None = None  # names used in prompts, if they differ

    def __post_init__(self):
        if not self.classes:
            raise ValueError(f"label set {self.name!r} has no classes")
        if self.class_prompt_names is not None and len(self.class_prompt_names) != len(self.classes):
            raise ValueError(
                f"label set {self.name!r}: {len(self.class_prompt_names)} prompt names for "
                f"{len(self.classes)} classes"
            )

    def __len__(self) -> int:
        return len(self.classes)

    def prompts(self) -> list[list[str]]:
        """Prompt texts per class: ``[[t.format(c) for t in templates] for c in classes]``."""
        names = self.class_prompt_names or self.classes
        return [[t.replace("{c}", "{}").format(c) for t in self.templates] for c in names]

    def key(self) -> str:
        """Stable hash of classes + prompt names + templates (keys the zero-shot classifier cache).
        Computed once per instance (it groups every request of a batch)."""
        key = self.__dict__.get("_key")
        if key is None:
            payload = json.dumps([self.name, self.classes, self.templates, self.class_prompt_names])
            key = hashlib.sha256(payload.encode()).hexdigest()[:16]
            object.__setattr__(self, "_key", key)  # a memo, not a field: equality and hashing ignore it
        return key


# --------------------------------------------------------------------------- requests (per sample)


@dataclass
class Request:
    """Base of all requests: one sample's question to the model."""

    capability: Capability = field(init=False)
    reference: Any = field(default=None, kw_only=True)

    def media(self) -> dict[str, MediaRef]:
        """Media to decode in the worker, by input name."""
        return {}


@dataclass
class EmbedImageRequest(Request):
    """Embed one image. Response: :class:`EmbeddingResponse`."""

    image: MediaRef

    def __post_init__(self):
        self.capability = Capability.EMBED_IMAGE

    def media(self):
        return {"image": self.image}


@dataclass
class EmbedTextRequest(Request):
    """Embed one text. Response: :class:`EmbeddingResponse`."""

    text: str

    def __post_init__(self):
        self.capability = Capability.EMBED_TEXT


@dataclass
class MatchRequest(Request):
    """Score one image against L candidate texts. Response: :class:`ScoresResponse` of length L.

    ``reference``: index of the correct text (for the oracle), if there is one.
    """

    image: MediaRef
    texts: Sequence[str]

    def __post_init__(self):
        self.capability = Capability.MATCH
        if not self.texts:
            raise ValueError("a match request needs at least one text")

    def media(self):
        return {"image": self.image}


@dataclass
class ClassifyRequest(Request):
    """Choose among ``labels`` for one input record. Response: :class:`ClassifyResponse`.

    ``inputs`` maps input names to media (``image``, ``video``, ``audio``); ``text`` is optional
    text input (a transcript, a referring expression). ``reference``: gold class index (or a list
    of indices when ``multilabel``).
    """

    inputs: Mapping[str, MediaRef]
    labels: LabelSet
    text: str | None = None
    multilabel: bool = False

    def __post_init__(self):
        self.capability = Capability.CLASSIFY

    def media(self):
        return dict(self.inputs)


@dataclass(frozen=True)
class GenerationParams:
    """Decoding options for ``generate``; greedy by default."""

    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0

    def as_dict(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "stop": list(self.stop),
                "temperature": self.temperature, "top_p": self.top_p}


@dataclass
class Message:
    """One chat turn: a role and an interleaved list of parts (``str`` text or a :class:`MediaRef`)."""

    role: str
    parts: Sequence[Any]


@dataclass
class GenerateRequest(Request):
    """Free text from interleaved messages. Response: :class:`TextResponse`. ``reference``: gold text."""

    messages: Sequence[Message]
    params: GenerationParams = GenerationParams()

    def __post_init__(self):
        self.capability = Capability.GENERATE

    def media(self):
        out = {}
        for i, m in enumerate(self.messages):
            for j, p in enumerate(m.parts):
                if not isinstance(p, str):
                    out[f"m{i}p{j}"] = p
        return out


@dataclass
class SegmentRequest(Request):
    """Label map for one scene (one image, or several aligned ones such as RGB + infrared).

    Response: :class:`LabelMapResponse`. ``reference``: gold HxW label map.
    """

    images: Mapping[str, MediaRef]
    num_classes: int
    #: a label the model may also predict for "no class" (the mmseg void column); other values
    #: outside ``[0, num_classes)`` are refused at the adapter boundary
    ignore_index: int | None = None

    def __post_init__(self):
        self.capability = Capability.SEGMENT

    def media(self):
        return dict(self.images)


@dataclass
class DetectRequest(Request):
    """Boxes for one image. Response: :class:`DetectionsResponse`. ``reference``: gold detections."""

    image: MediaRef
    labels: LabelSet | None = None

    def __post_init__(self):
        self.capability = Capability.DETECT

    def media(self):
        return {"image": self.image}


# --------------------------------------------------------------------------- batches (adapter input)


@dataclass
class Batch:
    """What an adapter method receives: decoded, collated inputs of several requests.

    ``inputs`` maps input names to a stacked tensor (when the adapter's preprocessing returns
    equal-shaped tensors) or a list. ``references`` is for the oracle only.
    """

    sample_ids: list[str]
    inputs: dict[str, Any]
    requests: list[Request]
    references: list[Any]

    def __len__(self) -> int:
        return len(self.sample_ids)


@dataclass
class ClassifyOutput:
    """What ``Adapter.classify`` returns: logits (B, C) and optional boxes (B, 4) xyxy in [0, 1]."""

    logits: Any
    boxes: Any = None


@dataclass
class Detections:
    """What ``Adapter.detect`` returns per image: boxes (N, 4) xyxy pixels, scores (N,), labels (N,).

    ``masks`` (optional, instance segmentation): (N, H, W) binary masks at the original image size
    (nonzero = object), or N COCO RLE dicts ``{"size": [H, W], "counts": str}``.
    """

    boxes: Any
    scores: Any
    labels: Any
    masks: Any = None


# --------------------------------------------------------------------------- responses (cached)


class Response:
    """Base of all responses. Responses serialise to bytes without pickle (see :func:`encode`)."""

    kind: str = "response"


@dataclass
class EmbeddingResponse(Response):
    """One embedding vector (D,) float32."""

    vector: np.ndarray
    kind: str = field(default="embedding", init=False)


@dataclass
class ScoresResponse(Response):
    """One score per candidate text (L,) float32."""

    scores: np.ndarray
    kind: str = field(default="scores", init=False)


@dataclass
class ClassifyResponse(Response):
    """Logits over the request's label set (C,) float32, and an optional box (4,)."""

    logits: np.ndarray
    box: np.ndarray | None = None
    kind: str = field(default="classify", init=False)


@dataclass
class TextResponse(Response):
    """Generated text, with the exact prompt the model saw and per-sample warnings.

    Served models also record why generation ended (``finish_reason``: ``"stop"``, or ``"length"``
    when the answer was cut at the token limit), the token ``usage`` the server reported, and in
    ``served`` the request as sent (image bytes replaced by their hashes), the server's model id and
    ``system_fingerprint``, and the retries it took."""

    text: str
    prompt: str | None = None
    warnings: list[str] = field(default_factory=list)
    kind: str = field(default="text", init=False)
    finish_reason: str | None = None
    usage: dict | None = None
    served: dict | None = None

    @property
    def truncated(self) -> bool:
        """True when generation stopped at the token limit (``finish_reason == "length"``)."""
        return self.finish_reason == "length"


@dataclass
class LabelMapResponse(Response):
    """An HxW integer label map."""

    label_map: np.ndarray
    kind: str = field(default="label_map", init=False)


@dataclass
class DetectionsResponse(Response):
    """Detections of one image: boxes (N, 4) xyxy pixels, scores (N,), labels (N,) int, and
    optional instance masks as N compressed COCO RLE dicts ``{"size": [H, W], "counts": str}``."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    kind: str = field(default="detections", init=False)
    masks: list | None = None


_RESPONSE_TYPES: dict[str, type[Response]] = {
    "embedding": EmbeddingResponse,
    "scores": ScoresResponse,
    "classify": ClassifyResponse,
    "text": TextResponse,
    "label_map": LabelMapResponse,
    "detections": DetectionsResponse,
}


def encode(response: Response) -> bytes:
    """Serialise a response to bytes: a JSON header followed by raw array buffers. No pickle.

    Arrays keep dtype and shape exactly, so a cached response decodes to bit-identical values.
    """
    fields: list[tuple[str, Any]] = []
    arrays: list[tuple[str, np.ndarray]] = []
    for name, value in vars(response).items():
        if name == "kind":
            continue
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            if arr.dtype.hasobject:
                raise TypeError(f"response field {name!r} is an object array; use numeric arrays")
            arrays.append((name, arr))
        else:
            fields.append((name, value))
    # memoised only for None/bool/int fields: equal keys must mean equal JSON (0.0 == -0.0 do not)
    shared = all(v is None or isinstance(v, (bool, int)) for _, v in fields)
    key = (response.kind, tuple((n, type(v), v) for n, v in fields),
           tuple((n, a.dtype.str, a.shape) for n, a in arrays)) if shared else None
    prefix = _ENCODED_HEADERS.get(key) if shared else None
    if prefix is None:
        header: dict[str, Any] = {"kind": response.kind, "fields": dict(fields), "arrays": {}}
        offset = 0
        for name, arr in arrays:
            header["arrays"][name] = [arr.dtype.str, list(arr.shape), offset, arr.nbytes]
            offset += arr.nbytes
        head = json.dumps(header, separators=(",", ":")).encode()
        prefix = len(head).to_bytes(4, "little") + head
        if shared and len(_ENCODED_HEADERS) < _HEADERS_MAX:
            _ENCODED_HEADERS[key] = prefix
    return prefix + b"".join(arr.tobytes() for _, arr in arrays)


_ENCODED_HEADERS: dict[tuple, bytes] = {}
"""Header bytes by (kind, None/bool/int field values, array dtypes and shapes): :func:`encode`'s
twin of :data:`_HEADERS` (the type is part of the key, so ``1`` and ``True`` stay distinct)."""


def decode(payload: bytes) -> Response:
    """Inverse of :func:`encode`."""
    n = int.from_bytes(payload[:4], "little")
    head = bytes(payload[4 : 4 + n])
    spec = _HEADERS.get(head)
    if spec is None:
        spec = _parse_header(head)
    cls, fields, arrays, shared = spec
    kwargs = dict(fields) if shared else fields
    body = memoryview(payload)[4 + n :]
    for name, dtype, shape, off, size in arrays:
        kwargs[name] = np.frombuffer(body[off : off + size], dtype=dtype).reshape(shape).copy()
    return cls(**kwargs)


_HEADERS: dict[bytes, tuple] = {}
"""Parsed headers by their bytes. Responses of one task mostly share one header (same kind, same
array dtypes and shapes, no per-sample field values), so reading a cached task back parses JSON
once, not once per sample. Only headers whose fields are all immutable scalars are kept (a text
field makes each header unique), at most :data:`_HEADERS_MAX` of them."""
_HEADERS_MAX = 4096


def _parse_header(head: bytes) -> tuple:
    """(response class, field values, [(name, dtype, shape, offset, size)], shared) of a header."""
    header = json.loads(head)
    arrays = [(name, np.dtype(dtype), tuple(shape), off, size)
              for name, (dtype, shape, off, size) in header["arrays"].items()]
    fields = header["fields"]
    shared = all(v is None or isinstance(v, (bool, int, float)) for v in fields.values())
    spec = (_RESPONSE_TYPES[header["kind"]], fields, arrays, shared)
    if shared and len(_HEADERS) < _HEADERS_MAX:
        _HEADERS[head] = spec
    return spec


class ResponseRows(list):
    """One batch's responses, each built from row ``i`` of the same (B, ...) arrays.

    ``ResponseRows(ClassifyResponse, logits)`` is the list ``[ClassifyResponse(logits[0]), ...]``
    (the arrays fill the class's leading fields, positionally; its other fields keep their
    defaults, which must be None, bool or int) that also remembers the arrays, so that
    :func:`encode_many` writes the batch's payloads from one header and one buffer per array
    instead of encoding row by row. The rows are ordinary responses: a task cannot tell them
    from any others, and their encoded bytes are exactly :func:`encode`'s. A row replaced or
    modified after construction is noticed (:meth:`intact`) and then encoded row by row.
    """

    def __init__(self, cls: type[Response], *arrays: np.ndarray):
        layout = _row_layout(cls, len(arrays))
        arrays = tuple(np.ascontiguousarray(a) for a in arrays)
        n = len(arrays[0]) if arrays else 0
        if not arrays or any(a.ndim < 2 or len(a) != n for a in arrays):
            raise ValueError(f"ResponseRows({cls.__name__}) needs (B, ...) arrays with B rows each, got shapes "
                             f"{[a.shape for a in arrays]}")
        if any(a.dtype.hasobject for a in arrays):
            raise TypeError(f"ResponseRows({cls.__name__}): object arrays cannot be encoded")
        views = [list(a) for a in arrays]  # the rows, as the responses hold them
        super().__init__(map(cls, *views))
        first = vars(self[0]) if n else {}
        # what every row's instance dict must hold besides its arrays: row 0's other values
        self._others = tuple((k, v) for k, v in first.items() if k not in layout)
        self._n_fields = len(first)
        self.cls, self.arrays, self._views, self._names = cls, arrays, views, layout

    def intact(self) -> bool:
        """True while every row is still the response built from the arrays (same object, same
        field values), so that :func:`encode_many` may encode the batch from the arrays."""
        cls, views, names, others, n_fields = self.cls, self._views, self._names, self._others, self._n_fields
        if len(self) != len(views[0]):
            return False
        if self._untouched():
            return True
        for i, r in enumerate(self):
            if type(r) is not cls:
                return False
            d = r.__dict__
            if len(d) != n_fields:
                return False
            for name, rows in zip(names, views):
                if d.get(name) is not rows[i]:
                    return False
            for name, value in others:
                v = d.get(name, _MISSING)
                if v is not value and not (type(v) is type(value) and v == value):
                    return False
        return True

    def _untouched(self) -> bool:
        """The common case of :meth:`intact`, checked in C-level loops: every row is an instance of
        the class with as many fields as row 0 had, each array field is the very row it was built
        with and each other field the very object row 0 held. False only means "look closer"."""
        cls, n_fields = self.cls, self._n_fields
        if any(type(r) is not cls for r in self):
            return False
        dicts = list(map(vars, self))
        if any(len(d) != n_fields for d in dicts):
            return False
        for name, rows in zip(self._names, self._views):
            if not all(map(is_, map(methodcaller("get", name), dicts), rows)):
                return False
        for name, value in self._others:
            if not all(map(is_, map(methodcaller("get", name), dicts), repeat(value))):
                return False
        return True

    def encoded(self) -> list[bytes]:
        """Each row's :func:`encode` bytes, from one header and one buffer per array (call only
        while :meth:`intact`)."""
        if not self:
            return []
        first = encode(self[0])  # the header every row shares (same kind, fields, dtypes, shapes)
        prefix = first[: 4 + int.from_bytes(first[:4], "little")]
        bufs = [a.tobytes() for a in self.arrays]
        steps = [len(b) // len(self) for b in bufs]
        if len(bufs) == 1:
            buf, step = bufs[0], steps[0]
            return [prefix + buf[i : i + step] for i in range(0, len(buf), step)] if step else [prefix] * len(self)
        return [prefix + b"".join(b[i * s : (i + 1) * s] for b, s in zip(bufs, steps)) for i in range(len(self))]


_MISSING = object()
_ROW_LAYOUTS: dict[tuple[type, int], tuple[str, ...]] = {}


def _row_layout(cls: type, n_arrays: int) -> tuple[str, ...]:
    """The names of the first ``n_arrays`` fields of a response dataclass, checked (once per class)
    to be followed only by fields whose defaults are None, bool or int (and ``kind``)."""
    import dataclasses

    key = (cls, n_arrays)
    if key not in _ROW_LAYOUTS:
        if not (isinstance(cls, type) and issubclass(cls, Response) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"ResponseRows needs a response dataclass, got {cls!r}")
        fields = dataclasses.fields(cls)
        init = [f for f in fields if f.init]
        if len(init) < n_arrays:
            raise TypeError(f"{cls.__name__} has {len(init)} fields, not {n_arrays} to fill from arrays")
        names = tuple(f.name for f in init[:n_arrays])
        for f in fields:
            if f.name in names:
                continue
            value = f.default  # MISSING for a default_factory: a mutable default is not shared
            if not (value is None or isinstance(value, (bool, int)) or (f.name == "kind" and isinstance(value, str))):
                raise TypeError(f"ResponseRows({cls.__name__}): field {f.name!r} has no None/bool/int default")
        _ROW_LAYOUTS[key] = names
    return _ROW_LAYOUTS[key]


def encode_many(responses: Sequence[Response]) -> list[bytes]:
    """``[encode(r) for r in responses]``, byte for byte; a batch at a time for an intact
    :class:`ResponseRows` (one header, one buffer per array)."""
    if isinstance(responses, ResponseRows) and responses.intact():
        return responses.encoded()
    return [encode(r) for r in responses]


def response_to_json(response: Response, max_array: int = 4096) -> dict:
    """A JSON-friendly view of a response for per-sample logs (large arrays are summarised)."""
    out: dict[str, Any] = {"kind": response.kind}
    for name, value in vars(response).items():
        if name == "kind":
            continue
        if isinstance(value, np.ndarray):
            if value.size <= max_array:
                out[name] = value.tolist()
            else:
                out[name] = {"shape": list(value.shape), "dtype": value.dtype.str,
                             "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
        else:
            out[name] = value
    return out


#: (response kind, field) -> (dtype, shape of one row or None) of the arrays the executors put in
#: responses (:mod:`mmharness.executors`); :func:`response_from_json` restores them with these
_ARRAY_FIELDS: dict[tuple[str, str], tuple[Any, tuple[int, ...] | None]] = {
    ("embedding", "vector"): (np.float32, None),
    ("scores", "scores"): (np.float32, None),
    ("classify", "logits"): (np.float32, None),
    ("classify", "box"): (np.float32, None),
    ("label_map", "label_map"): (np.int32, None),
    ("detections", "boxes"): (np.float32, (-1, 4)),
    ("detections", "scores"): (np.float32, (-1,)),
    ("detections", "labels"): (np.int64, (-1,)),
}


def response_from_json(data: Mapping[str, Any]) -> Response:
    """Inverse of :func:`response_to_json` (a per-sample log's ``response``): the same response,
    arrays with the dtypes the executors give them (float32 vectors, scores, logits and boxes,
    int32 label maps, int64 detection labels).

    Raises ``ValueError`` when the record cannot give the response back exactly: an array
    :func:`response_to_json` summarised by its sha256 (more than ``max_array`` values), a
    non-finite value (written as null, so NaN and infinities cannot be told apart), an unknown
    kind or array field.
    """
    import dataclasses

    kind = data.get("kind")
    cls = _RESPONSE_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown response kind {kind!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in data:
            continue
        value = data[f.name]
        spec = _ARRAY_FIELDS.get((kind, f.name))
        if spec is None:
            if "ndarray" in str(f.type):
                raise ValueError(f"{kind} response field {f.name!r}: array dtype unknown")
            kwargs[f.name] = value
            continue
        if value is None:
            kwargs[f.name] = None
            continue
        if isinstance(value, Mapping):
            msg = (f"{kind} response field {f.name!r} was logged as its sha256 only "
                   f"(shape {value.get('shape')}, more values than the log keeps)")
            raise ValueError(msg)  # noqa: TRY004 - a summary, not a wrong type: the documented ValueError
        dtype, row = spec
        try:
            arr = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{kind} response field {f.name!r} cannot be read back: {e}") from None
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValueError(f"{kind} response field {f.name!r} holds non-finite values (logged as null)")
        if row is not None and arr.size == 0:
            arr = arr.reshape(row)
        kwargs[f.name] = arr
    return cls(**kwargs)


def hash_bytes(*chunks: bytes) -> str:
    """Short stable content hash used for input hashes and fingerprints."""
    h = hashlib.blake2b(digest_size=16)
    for c in chunks:
        h.update(c)
    return h.hexdigest()
