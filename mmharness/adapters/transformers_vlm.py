"""``hf``: image-text-to-text (and text-only) models from Hugging Face ``transformers``.

Needs the optional extra ``mmharness[hf]``; ``transformers`` is imported only when the adapter is
built. One adapter serves LLaVA-, Qwen2-VL-, Idefics-style models (``AutoProcessor`` +
``AutoModelForImageTextToText``) and plain causal LMs (``AutoTokenizer`` + ``AutoModelForCausalLM``):

* ``model``: a local directory or a hub id (offline: only when cached; ``local_files_only=true``
  never contacts the hub); ``revision`` pins a hub revision;
* ``model_class``: ``auto`` (image-text-to-text when the config type supports it, else causal LM),
  ``image-text-to-text`` or ``causal-lm``;
* ``dtype``: ``auto`` (the checkpoint's), ``float32``, ``bfloat16``, ``float16``; the device comes
  from ``--device`` (``device_map=auto`` instead spreads a large model over the visible GPUs);
* ``trust_remote_code``: off unless asked for (it runs code from the model repository);
* ``max_context``: the context length (default: the model config's ``max_position_embeddings``,
  else the tokenizer's ``model_max_length``). A prompt whose tokens plus ``max_new_tokens`` exceed
  it loses tokens from the **start of its text** (images and the chat template are kept), and the
  response records a warning saying how many; ``truncation=error`` refuses instead.

Each request's messages become one chat-template conversation: text parts are ``{"type": "text"}``
items, images ``{"type": "image"}`` items in their original order (for a causal LM the text
parts are joined with newlines and images are refused). The rendered prompt is what the response
records. Batches are left-padded; decoding is greedy unless the task asks for a temperature;
``stop`` strings end a sequence's generation (checked on its decoded text) and are cut from it. Only the new tokens
are decoded (``skip_special_tokens=True``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from ..adapter import Adapter, AdapterError, file_identity
from ..generation import apply_stop, decoded_messages, is_media
from ..registry import register_adapter
from ..requests import Batch, GenerationParams, Message, TextResponse

log = logging.getLogger("mmharness")

MODEL_CLASSES = ("auto", "image-text-to-text", "causal-lm")
DTYPES = ("auto", "float32", "bfloat16", "float16")
TRUNCATION = ("left", "error")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _identity(x: Any) -> Any:
    return x


class _StopOnStrings:
    """Stopping criterion: a sequence is done once its decoded new text contains a stop string.

    Works with any tokenizer (it decodes, rather than matching token pieces); the text is cut at
    the stop string afterwards by :func:`~mmharness.generation.apply_stop`.
    """

    def __init__(self, tokenizer, stops: Sequence[str], prompt_len: int):
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_len = prompt_len

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], dtype=torch.bool,
                            device=input_ids.device)


@register_adapter("hf")
class TransformersVLM(Adapter):
    """A ``transformers`` image-text-to-text model or causal LM answering ``generate`` requests."""

    version = "1"
    description = "Hugging Face transformers VLMs / LMs via processor + chat template (generate)"
    runtime_args = frozenset({"local_files_only"})  # where files come from, not which (revision/weights do)

    def __init__(self, model: str, revision: str | None = None, model_class: str = "auto",
                 dtype: str = "auto", device_map: str | None = None, trust_remote_code: bool = False,
                 max_context: int | None = None, truncation: str = "left", chat_template: bool = True,
                 local_files_only: bool = False, attn_implementation: str | None = None,
                 weights_id: str | None = None):
        super().__init__()
        if model_class not in MODEL_CLASSES:
            raise AdapterError(f"adapter 'hf': model_class={model_class!r}; expected one of {MODEL_CLASSES}")
        if dtype not in DTYPES:
            raise AdapterError(f"adapter 'hf': dtype={dtype!r}; expected one of {DTYPES}")
        if truncation not in TRUNCATION:
            raise AdapterError(f"adapter 'hf': truncation={truncation!r}; expected one of {TRUNCATION}")
        if max_context is not None and max_context < 2:
            raise AdapterError(f"adapter 'hf': max_context must be >= 2, got {max_context}")
        try:
            import transformers  # noqa: F401
        except ImportError as e:
            raise AdapterError("adapter 'hf' needs transformers: pip install 'mmharness[hf]'") from e
        self.model_name = model
        self.revision = revision
        self.trust_remote_code = bool(trust_remote_code)
        self.truncation = truncation
        self.use_chat_template = bool(chat_template)
        self.weights_id = weights_id
        self._load(model_class, dtype, device_map, local_files_only, attn_implementation)
        self.max_context = int(max_context) if max_context is not None else self._default_context()

    # ------------------------------------------------------------------ loading
    def _load(self, model_class, dtype, device_map, local_files_only, attn_implementation) -> None:
        import torch
        import transformers
        from transformers import AutoConfig

        common: dict[str, Any] = {"trust_remote_code": self.trust_remote_code,
                                  "local_files_only": bool(local_files_only)}
        if self.revision:
            common["revision"] = self.revision
        try:
            config = AutoConfig.from_pretrained(self.model_name, **common)
        except Exception as e:
            raise AdapterError(f"adapter 'hf': cannot load the config of {self.model_name!r}: "
                               f"{type(e).__name__}: {e}. Give a local model directory or a cached hub id "
                               f"(offline runs need the model in the HF cache).") from e
        if model_class == "auto":
            from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

            model_class = ("image-text-to-text" if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
                           else "causal-lm")
        self.model_class = model_class
        auto = (transformers.AutoModelForImageTextToText if model_class == "image-text-to-text"
                else transformers.AutoModelForCausalLM)
        kwargs = dict(common)
        if dtype != "auto":
            kwargs["dtype"] = getattr(torch, dtype)
        else:
            kwargs["dtype"] = "auto"
        if device_map:
            kwargs["device_map"] = device_map
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        try:
            self.model = auto.from_pretrained(self.model_name, **kwargs)
        except TypeError:  # transformers < 4.56 calls it torch_dtype
            kwargs["torch_dtype"] = kwargs.pop("dtype")
            self.model = auto.from_pretrained(self.model_name, **kwargs)
        except Exception as e:
            raise AdapterError(f"adapter 'hf': cannot load {self.model_name!r} as {model_class}: "
                               f"{type(e).__name__}: {e}") from e
        self.model.eval()
        self._device_map = device_map
        try:
            if model_class == "image-text-to-text":
                self.processor = transformers.AutoProcessor.from_pretrained(self.model_name, **common)
            else:
                self.processor = transformers.AutoTokenizer.from_pretrained(self.model_name, **common)
        except Exception as e:
            raise AdapterError(f"adapter 'hf': cannot load the processor/tokenizer of {self.model_name!r}: "
                               f"{type(e).__name__}: {e}") from e
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise AdapterError(f"adapter 'hf': the tokenizer of {self.model_name!r} has neither a pad "
                                   "nor an eos token; batched generation needs one")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._commit = getattr(config, "_commit_hash", None)

    def _default_context(self) -> int:
        cfg = self.model.config
        for c in (getattr(cfg, "text_config", None), cfg):
            n = getattr(c, "max_position_embeddings", None) if c is not None else None
            if n:
                return int(n)
        n = getattr(self.tokenizer, "model_max_length", None)
        if n and n < 10**8:
            return int(n)
        raise AdapterError(f"adapter 'hf': cannot tell the context length of {self.model_name!r}; "
                           "pass max_context=N")

    def weights_identity(self) -> str:
        """Hub id + commit for hub models; sha256 of the weight files for local directories
        (``weights_id`` overrides, e.g. to avoid hashing a large local checkpoint)."""
        if self.weights_id:
            return f"given:{self.weights_id}"
        path = Path(self.model_name)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
            if files:
                return "files:" + ",".join(f"{p.name}={file_identity(str(p))}" for p in files)
        return f"hf:{self.model_name}@{self._commit or self.revision or 'unknown'}"

    def to(self, device: str) -> "TransformersVLM":
        """Move the model (not when ``device_map`` placed it already)."""
        if not self._device_map:
            self.model.to(device)
        self.device = device
        return self

    def preprocess(self, modality: str):
        """Images reach the processor as decoded RGB ``PIL.Image`` objects (no re-encoding)."""
        if modality != "image":
            raise AdapterError(f"adapter 'hf' accepts image and text inputs only, not {modality!r}")
        return _identity

    # ------------------------------------------------------------------ prompts
    def _conversation(self, messages: Sequence[Message]) -> tuple[list[dict], list]:
        conv, images = [], []
        for m in messages:
            if self.model_class == "causal-lm":
                if any(is_media(p) for p in m.parts):
                    raise AdapterError(f"adapter 'hf': {self.model_name!r} is a text-only model "
                                       f"(causal-lm) but the request has images; use the text-only adapter "
                                       f"to drop them, or an image-text-to-text model")
                conv.append({"role": m.role, "content": "\n".join(m.parts)})
                continue
            content = []
            for p in m.parts:
                if is_media(p):
                    content.append({"type": "image"})
                    images.append(p)
                else:
                    content.append({"type": "text", "text": p})
            conv.append({"role": m.role, "content": content})
        return conv, images

    def _render(self, conv: list[dict]) -> str:
        if self.use_chat_template:
            try:
                return self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
            except Exception as e:
                raise AdapterError(f"adapter 'hf': the chat template of {self.model_name!r} failed "
                                   f"({type(e).__name__}: {e}); pass chat_template=false for raw prompts") from e
        image_token = getattr(self.processor, "image_token", "<image>")
        parts = []
        for msg in conv:
            c = msg["content"]
            parts.append(c if isinstance(c, str) else "".join(
                image_token if item["type"] == "image" else item["text"] for item in c))
        return "\n".join(parts)

    def _encode(self, prompts: list[str], images: list[list]):
        add_special = not (self.tokenizer.bos_token and all(p.startswith(self.tokenizer.bos_token) for p in prompts))
        if self.model_class == "causal-lm":
            return self.tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=add_special)
        kwargs: dict[str, Any] = {"text": prompts, "padding": True, "return_tensors": "pt",
                                  "add_special_tokens": add_special}
        if any(images):
            kwargs["images"] = images
        return self.processor(**kwargs)

    def _length(self, prompt: str, images: list) -> int:
        return int(self._encode([prompt], [images])["input_ids"].shape[1])

    def _fit(self, messages: list[Message], params: GenerationParams, sample_id: str):
        """(prompt, images, warnings) with the text shortened from its start to fit the context."""
        conv, images = self._conversation(messages)
        prompt = self._render(conv)
        budget = self.max_context - params.max_new_tokens
        if budget < 1:
            raise AdapterError(f"adapter 'hf': max_new_tokens={params.max_new_tokens} leaves no room in the "
                               f"context of {self.max_context} tokens (sample {sample_id})")
        n = self._length(prompt, images)
        if n <= budget:
            return prompt, images, []
        if self.truncation == "error":
            raise AdapterError(f"adapter 'hf': sample {sample_id}: the prompt has {n} tokens but only {budget} "
                               f"fit (context {self.max_context} - max_new_tokens {params.max_new_tokens}); "
                               f"truncation=error")
        original = n
        msgs = [Message(m.role, list(m.parts)) for m in messages]
        dropped = 0
        for attempt in range(6):
            over = n - budget + (4 * attempt)  # retokenisation can shift a few tokens
            for m in msgs:
                for j, p in enumerate(m.parts):
                    if over <= 0 or is_media(p):
                        continue
                    ids = self.tokenizer(p, add_special_tokens=False)["input_ids"]
                    cut = min(over, len(ids))
                    m.parts[j] = self.tokenizer.decode(ids[cut:], skip_special_tokens=False) if cut < len(ids) else ""
                    over -= cut
                    dropped += cut
            conv, images = self._conversation(msgs)
            prompt = self._render(conv)
            n = self._length(prompt, images)
            if n <= budget:
                warning = (f"prompt truncated: {original} tokens exceed the budget of {budget} (context "
                           f"{self.max_context} - max_new_tokens {params.max_new_tokens}); dropped about "
                           f"{dropped} tokens from the start of the text, kept {n}")
                log.warning("sample %s: %s", sample_id, warning)
                return prompt, images, [warning]
            if all(is_media(p) or not p for m in msgs for p in m.parts):
                break
        raise AdapterError(f"adapter 'hf': sample {sample_id}: even without its text the prompt has {n} "
                           f"tokens, more than the {budget} that fit (context {self.max_context}); "
                           f"the images alone are too long for this model")

    # ------------------------------------------------------------------ generation
    def generate(self, batch: Batch) -> list[TextResponse]:
        """Answer a batch (one ``GenerationParams`` value): chat template, left padding, generate."""
        messages = [decoded_messages(batch, i) for i in range(len(batch))]
        return self.generate_messages(messages, batch.requests[0].params, batch.sample_ids)

    def generate_messages(self, messages: Sequence[Sequence[Message]], params: GenerationParams,
                          sample_ids: Sequence[str]) -> list[TextResponse]:
        """Generate for already-decoded conversations (used by :meth:`generate` and ``text-only``)."""
        import torch

        fitted = [self._fit(list(m), params, sid) for m, sid in zip(messages, sample_ids)]
        prompts = [f[0] for f in fitted]
        images = [f[1] for f in fitted]
        inputs = self._encode(prompts, images)
        dev = self.model.device if self._device_map else self.device
        model_dtype = getattr(self.model, "dtype", None)
        moved = {}
        for k, v in inputs.items():
            if isinstance(v, torch.Tensor):
                v = v.to(dev)
                if v.is_floating_point() and model_dtype is not None:
                    v = v.to(model_dtype)
            moved[k] = v
        gen: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                               "num_beams": 1}
        if params.temperature and params.temperature > 0:
            gen.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            from transformers import StoppingCriteriaList

            gen["stopping_criteria"] = StoppingCriteriaList(
                [_StopOnStrings(self.tokenizer, params.stop, moved["input_ids"].shape[1])])
        with torch.inference_mode():
            out = self.model.generate(**moved, **gen)
        new = out[:, moved["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return [TextResponse(apply_stop(t, params.stop), prompt=p, warnings=list(f[2]))
                for t, p, f in zip(texts, prompts, fitted)]
