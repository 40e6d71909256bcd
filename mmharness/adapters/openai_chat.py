"""``openai``: any model behind an OpenAI-compatible Chat Completions endpoint.

vLLM (``vllm serve``), SGLang, TGI, ``transformers serve``, and the OpenAI-compatible endpoints of
OpenAI, Gemini and Anthropic all speak this protocol (README, "Serving"). The adapter answers
``generate`` requests *concurrently*: it declares ``max_concurrency`` and the runner keeps that many
requests in flight across batch boundaries, caching each answer as it completes
(:mod:`mmharness.streaming`). HTTP goes through :mod:`mmharness.http_client` (standard library).

Arguments (``--model-args``):

* ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) and ``model`` (the server's model id);
* ``api_key_env``: the *name* of the environment variable holding the key (sent as a bearer
  token). The key itself is never written to results, logs, sample files or the cache key;
* ``max_concurrency`` (requests in flight, default 8), ``timeout`` (seconds per attempt, default
  300: a long generation on a busy server must not be retried while it still runs; connecting
  times out after 10 s), ``max_retries`` (default 5),
  ``backoff`` and ``backoff_max`` (seconds; see :mod:`mmharness.http_client`),
  ``requests_per_minute``;
* ``image_format`` (``png``: lossless, the pixels an in-process model sees; ``jpeg``; ``webp``)
  and ``max_image_side`` (downscale so the longer side is at most N pixels, bicubic) -- images are
  re-encoded in the DataLoader workers and sent as base64 data URLs with their **true MIME type**;
* ``extra_body``: a JSON object merged into every request body (e.g. vLLM's
  ``{"top_k": 1}`` or ``{"chat_template_kwargs": {"enable_thinking": false}}``); it may override
  the fields below and is recorded;
* ``seed``: sent as ``seed`` when given;
* ``max_tokens_param``: ``auto`` (send ``max_tokens``; switch to ``max_completion_tokens`` for the
  rest of the run when the server asks for it), ``max_tokens`` or ``max_completion_tokens``;
* ``check_server``: before any data work, ``GET {base_url}/models`` checks that the server answers
  and serves ``model`` (an unknown id reports the server's list).

Requests: each request's messages keep their roles and the interleaved order of text and images
(a message that is a single text part is sent as a plain string). ``GenerationParams`` map to
``temperature``, ``top_p`` (only when not 1), ``max_tokens`` and ``stop`` (at most 4 are sent;
every stop string is also applied to the answer). Each response records ``finish_reason``, the
token ``usage``, and in ``served`` the request as sent (each image replaced by its MIME type, byte
count and sha256), the server's ``model`` and ``system_fingerprint`` and the retries it took. An
answer cut at the token limit (``finish_reason=length``) carries a warning and is counted per task.

Faults: 429, 5xx, refused or dropped connections and timeouts are retried
(:mod:`mmharness.http_client`); when the retries are spent the run stops with the URL and the
failures. Any other 4xx, a non-JSON answer, no ``choices`` or a ``content_filter`` finish is that
sample's error (:class:`~mmharness.adapter.SampleRequestError`): the run stops, or with
``--on-error skip`` the sample is skipped and counted. It is never scored as an empty answer.
401, 403 and 404 stop the run in every case (a key or URL problem, not a sample's).

The cache key covers ``base_url``, ``model``, the image settings, ``extra_body``, ``seed`` and
``max_tokens_param``; never concurrency, timeouts, retries or the key.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ..adapter import Adapter, AdapterError, SampleRequestError
from ..generation import apply_stop, decoded_messages, is_media, render_plain
from ..http_client import RetryPolicy, ServiceClient, json_error_message
from ..registry import register_adapter
from ..requests import Batch, GenerationParams, Message, TextResponse

log = logging.getLogger("mmharness")

IMAGE_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_TOKENS_PARAMS = ("auto", "max_tokens", "max_completion_tokens")
MAX_STOP_SENT = 4  # the OpenAI API accepts at most 4 stop sequences
FATAL_STATUS = {401: "the server refused the credentials", 403: "the server forbids this request",
                404: "no such endpoint or model"}


@dataclass(frozen=True)
class EncodedImage:
    """An image ready for upload: its MIME type, base64 text, byte count, sha256 and size."""

    mime: str
    b64: str
    n_bytes: int
    sha256: str
    size: tuple[int, int]
    resized_from: tuple[int, int] | None = None

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.b64}"

    def record(self) -> str:
        """What the request record shows instead of the bytes."""
        resized = f", resized from {self.resized_from[0]}x{self.resized_from[1]}" if self.resized_from else ""
        return (f"<{self.mime} {self.size[0]}x{self.size[1]}{resized}, {self.n_bytes} bytes, "
                f"sha256:{self.sha256}>")


@dataclass(frozen=True)
class ImageEncoder:
    """Preprocessing run in the DataLoader workers: a decoded PIL image -> :class:`EncodedImage`
    (optionally downscaled so its longer side is at most ``max_side``). Picklable."""

    format: str = "png"
    max_side: int | None = None

    def __call__(self, image: Any) -> EncodedImage:
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise AdapterError(f"adapter 'openai' sends decoded images; got {type(image).__name__}")
        im = image if image.mode in ("RGB", "L") else image.convert("RGB")
        resized_from = None
        if self.max_side and max(im.size) > self.max_side:
            scale = self.max_side / max(im.size)
            new = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
            resized_from = im.size
            im = im.resize(new, Image.BICUBIC)
        buf = io.BytesIO()
        if self.format == "png":
            im.save(buf, format="PNG")
        elif self.format == "jpeg":
            im.save(buf, format="JPEG", quality=95)
        else:
            im.save(buf, format="WEBP", lossless=True)
        data = buf.getvalue()
        return EncodedImage(IMAGE_FORMATS[self.format], base64.b64encode(data).decode("ascii"), len(data),
                            hashlib.sha256(data).hexdigest(), im.size, resized_from)


@register_adapter("openai")
class OpenAIChat(Adapter):
    """A model behind an OpenAI-compatible Chat Completions server (vLLM, SGLang, TGI,
    ``transformers serve``, OpenAI, Gemini, Anthropic), answering ``generate`` concurrently."""

    version = "1"
    description = "OpenAI-compatible Chat Completions server (vLLM, SGLang, transformers serve, hosted APIs)"
    served = True
    #: how requests are sent, never what is asked: out of the cache key (the key itself is never in it)
    runtime_args = frozenset({"api_key_env", "max_concurrency", "timeout", "max_retries", "requests_per_minute",
                              "backoff", "backoff_max", "check_server"})

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", api_key_env: str | None = None,
                 max_concurrency: int = 8, timeout: float = 300.0, max_retries: int = 5,
                 requests_per_minute: float | None = None, image_format: str = "png",
                 max_image_side: int | None = None, extra_body: str | None = None, seed: int | None = None,
                 max_tokens_param: str = "auto", backoff: float = 1.0, backoff_max: float = 60.0,
                 check_server: bool = True):
        super().__init__()
        if image_format not in IMAGE_FORMATS:
            raise AdapterError(f"adapter 'openai': image_format={image_format!r}; expected one of "
                               f"{', '.join(IMAGE_FORMATS)}")
        if max_tokens_param not in MAX_TOKENS_PARAMS:
            raise AdapterError(f"adapter 'openai': max_tokens_param={max_tokens_param!r}; expected one of "
                               f"{', '.join(MAX_TOKENS_PARAMS)}")
        if max_concurrency < 1:
            raise AdapterError(f"adapter 'openai': max_concurrency must be >= 1, got {max_concurrency}")
        if max_image_side is not None and max_image_side < 1:
            raise AdapterError(f"adapter 'openai': max_image_side must be >= 1, got {max_image_side}")
        if not base_url.startswith(("http://", "https://")):
            raise AdapterError(f"adapter 'openai': base_url={base_url!r} must start with http:// or https://")
        self.model_name = model
        self.base_url = base_url.rstrip("/")
        self.extra_body = _parse_extra_body(extra_body)
        self.seed = seed
        self.image_format, self.max_image_side = image_format, max_image_side
        self.max_concurrency = int(max_concurrency)
        self._max_tokens_field = "max_tokens" if max_tokens_param == "auto" else max_tokens_param
        self._auto_max_tokens = max_tokens_param == "auto"
        self._switch_lock = threading.Lock()
        headers = {"accept": "application/json"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise AdapterError(f"adapter 'openai': the environment variable {api_key_env} (api_key_env) is "
                                   f"not set or empty; export {api_key_env}=<your key>, or drop api_key_env for "
                                   "a server that needs no key")
            headers["authorization"] = f"Bearer {key}"
        self.client = ServiceClient(self.base_url, headers=headers, timeout=timeout,
                                    policy=RetryPolicy(max_retries, backoff, backoff_max),
                                    requests_per_minute=requests_per_minute)
        self.api_key_env = api_key_env
        self.server_models: list[str] | None = None
        if check_server:
            self._check_server()

    # ------------------------------------------------------------------ identity and runtime
    def weights_identity(self) -> str:
        """A served model cannot be hashed: its id at its URL (each answer records the server's
        model id and ``system_fingerprint``)."""
        return f"served:{self.model_name}@{self.base_url}"

    def max_in_flight(self) -> int:
        return self.max_concurrency

    def cancel(self) -> None:
        self.client.cancel()

    def request_counters(self) -> dict[str, int]:
        return self.client.counters()

    def preprocess(self, modality: str):
        """Images are re-encoded for upload in the DataLoader workers (:class:`ImageEncoder`)."""
        if modality != "image":
            raise AdapterError(f"adapter 'openai' sends images and text, not {modality!r} inputs")
        return ImageEncoder(self.image_format, self.max_image_side)

    def _check_server(self) -> None:
        """Fail before any data work: the server answers, the key works, the model is served."""
        url = f"{self.base_url}/models"
        try:
            reply = self.client.get("/models")
        except (OSError, http.client.HTTPException) as e:
            raise AdapterError(f"adapter 'openai': cannot reach {self.base_url} ({type(e).__name__}: {e}). Is the "
                               "server running and is base_url right (it usually ends in /v1)? See the README, "
                               "section Serving") from None
        if reply.status in (401, 403):
            key = (f"the key in ${self.api_key_env}" if self.api_key_env else
                   "no key (pass api_key_env=NAME of the variable that holds it)")
            raise AdapterError(f"adapter 'openai': {url} answered HTTP {reply.status} "
                               f"({json_error_message(reply.content)}) with {key}")
        if reply.status != 200:
            log.warning("adapter 'openai': %s answered HTTP %d; cannot check that model %r is served",
                        url, reply.status, self.model_name)
            return
        try:
            ids = [str(m["id"]) for m in json.loads(reply.content).get("data", [])]
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("adapter 'openai': %s did not answer a model list; cannot check model %r",
                        url, self.model_name)
            return
        self.server_models = ids
        if ids and self.model_name not in ids:
            from ..registry import did_you_mean

            shown = ", ".join(ids[:30]) + (f", ... ({len(ids)} models)" if len(ids) > 30 else "")
            raise AdapterError(f"adapter 'openai': {self.base_url} does not serve model {self.model_name!r}."
                               f"{did_you_mean(self.model_name, ids)} It serves: {shown}. (check_server=false "
                               "skips this check for servers that load models on demand)")

    # ------------------------------------------------------------------ generation
    def generate(self, batch: Batch) -> list[TextResponse]:
        """Answer each request of the batch (the runner sends one-request batches concurrently)."""
        return [self.generate_one(decoded_messages(batch, i), batch.requests[i].params, batch.sample_ids[i])
                for i in range(len(batch))]

    def generate_one(self, messages: Sequence[Message], params: GenerationParams, sample_id: str) -> TextResponse:
        """One Chat Completions request: build, send (with retries), parse."""
        while True:
            field = self._max_tokens_field
            body, record = self._body(messages, params, field)
            reply = self.client.post("/chat/completions", json.dumps(body, ensure_ascii=False,
                                                                     separators=(",", ":")).encode())
            if reply.status == 400 and self._should_switch(field, reply.content):
                continue
            break
        if reply.status != 200:
            self.client.count_error()
            message = json_error_message(reply.content)
            if reply.status in FATAL_STATUS:
                raise AdapterError(f"{self.base_url}/chat/completions answered HTTP {reply.status} "
                                   f"({FATAL_STATUS[reply.status]}): {message}")
            raise SampleRequestError(f"the server answered HTTP {reply.status}: {message}", sample_id)
        return self._parse(reply, record, params, sample_id, render_plain(messages))

    def _should_switch(self, field: str, content: bytes) -> bool:
        """With max_tokens_param=auto: the server rejected ``max_tokens`` and asks for
        ``max_completion_tokens``; use that from now on."""
        if not self._auto_max_tokens or field != "max_tokens" or b"max_completion_tokens" not in content:
            return False
        with self._switch_lock:
            if self._max_tokens_field == "max_tokens":
                log.info("adapter 'openai': the server asks for max_completion_tokens; sending it from now on")
            self._max_tokens_field = "max_completion_tokens"
        return True

    def _body(self, messages: Sequence[Message], params: GenerationParams, max_field: str) -> tuple[dict, dict]:
        """(the request body, the same body with each image replaced by its record)."""
        sent, shown = [], []
        for m in messages:
            if len(m.parts) == 1 and isinstance(m.parts[0], str):
                sent.append({"role": m.role, "content": m.parts[0]})
                shown.append(sent[-1])
                continue
            content, content_shown = [], []
            for p in m.parts:
                if is_media(p):
                    if not isinstance(p, EncodedImage):
                        raise AdapterError(f"adapter 'openai': a message part is {type(p).__name__}, not an "
                                           "encoded image (was the request decoded with this adapter's preprocess?)")
                    content.append({"type": "image_url", "image_url": {"url": p.data_url()}})
                    content_shown.append({"type": "image_url", "image_url": {"url": p.record()}})
                else:
                    content.append({"type": "text", "text": p})
                    content_shown.append(content[-1])
            sent.append({"role": m.role, "content": content})
            shown.append({"role": m.role, "content": content_shown})
        fields: dict[str, Any] = {"model": self.model_name, "temperature": params.temperature,
                                  max_field: params.max_new_tokens}
        if params.top_p != 1.0:
            fields["top_p"] = params.top_p
        stops = [s for s in params.stop if s]
        if stops:
            fields["stop"] = stops[:MAX_STOP_SENT]
        if self.seed is not None:
            fields["seed"] = self.seed
        fields.update(self.extra_body)
        return {**fields, "messages": sent}, {**fields, "messages": shown}

    def _parse(self, reply, record: dict, params: GenerationParams, sample_id: str, prompt: str) -> TextResponse:
        try:
            doc = json.loads(reply.content)
        except ValueError:
            self.client.count_error()
            ctype = reply.headers.get("content-type", "?")
            raise SampleRequestError(f"the server answered HTTP 200 with a body that is not JSON "
                                     f"(content-type {ctype}): {json_error_message(reply.content)}", sample_id) from None
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            self.client.count_error()
            raise SampleRequestError(f"the answer has no choices ({json_error_message(reply.content)})",
                                     sample_id)
        choice = choices[0]
        finish = choice.get("finish_reason")
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, list):  # some servers answer with content parts
            content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
        warnings: list[str] = []
        if finish == "content_filter":
            self.client.count_error()
            raise SampleRequestError("the server withheld the answer (finish_reason=content_filter)",
                                     sample_id)
        if content is None:
            refusal = message.get("refusal")
            if not refusal:
                self.client.count_error()
                raise SampleRequestError(f"the answer's message has no content "
                                         f"(finish_reason={finish!r})", sample_id)
            content = refusal
            warnings.append("the model refused (message.refusal); the refusal text is scored as the answer")
        if finish == "length":
            warnings.append(f"answer cut at the token limit ({params.max_new_tokens} tokens, finish_reason=length)")
        usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else None
        served = {"model": doc.get("model"), "system_fingerprint": doc.get("system_fingerprint"),
                  "request": record, "retries": reply.retries}
        return TextResponse(apply_stop(content, params.stop), prompt=prompt, warnings=warnings,
                            finish_reason=finish, usage=usage, served=served)


def _parse_extra_body(text: str | None) -> dict:
    """``extra_body`` as a JSON object (the argument parser keeps commas inside braces)."""
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise AdapterError(f"adapter 'openai': extra_body is not valid JSON ({e}): {text!r}. Example: "
                           'extra_body={"top_k":1}') from None
    if not isinstance(value, dict):
        raise AdapterError(f"adapter 'openai': extra_body must be a JSON object, got {type(value).__name__}")
    if "messages" in value:
        raise AdapterError("adapter 'openai': extra_body may not replace 'messages' (the task builds them)")
    return value
