"""A JSON-over-HTTP client for served models: retries, backoff, ``Retry-After``, a rate limit,
request counters and cancellation. No model or protocol knowledge: adapters (``openai``) build
the bodies and interpret the answers.

Fault policy (one place for every served adapter):

* **transient** -- HTTP 429, any 5xx, a refused, reset or dropped connection, a timeout: retried
  up to ``max_retries`` times. The wait before retry *k* (0-based) is exponential with jitter,
  ``d = min(backoff_max, backoff * 2**k)`` drawn uniformly from ``[d/2, d]``, and never shorter
  than the server's ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``. When the
  retries are spent, :class:`ServiceUnavailable` names the URL, the attempts and each failure.
* **final** -- any other status: returned to the caller, which decides (a 4xx is that sample's
  error; see :class:`mmharness.adapter.SampleRequestError`).

Needs the ``serve`` extra (``httpx2``, the maintained successor of ``httpx``); it is imported when
a client is built, never at module import.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from .adapter import AdapterError


class ServiceUnavailable(AdapterError):
    """A served model did not answer after every retry (the run stops; finished work is cached)."""


class Cancelled(AdapterError):
    """The run stopped while this request was waiting to be retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried (see the module docstring)."""

    max_retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0

    def __post_init__(self):
        if self.max_retries < 0 or self.backoff < 0 or self.backoff_max < 0:
            raise AdapterError("max_retries, backoff and backoff_max must be >= 0")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): jittered exponential backoff, at
        least ``retry_after``."""
        d = min(self.backoff_max, self.backoff * (2.0 ** attempt))
        wait = rng.uniform(d / 2.0, d) if d > 0 else 0.0
        return max(wait, retry_after or 0.0)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``Retry-After`` as seconds or as
    an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """At most ``per_minute`` request starts per minute, evenly spaced (thread-safe); None = no limit."""

    def __init__(self, per_minute: float | None):
        if per_minute is not None and per_minute <= 0:
            raise AdapterError(f"requests_per_minute must be > 0, got {per_minute}")
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self, cancel: threading.Event) -> None:
        """Wait for the next free slot (returns at once without a limit)."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now and cancel.wait(start - now):
            raise Cancelled("the run stopped while a request waited for the rate limit")


@dataclass
class Reply:
    """A final (not retried) HTTP answer: status, headers, body bytes, and the retries it took."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    retries: int
    failures: list[str] = field(default_factory=list)


def is_transient(status: int) -> bool:
    """429 and every 5xx are retried; other statuses are final."""
    return status == 429 or status >= 500


class ServiceClient:
    """POSTs JSON bodies to one base URL with the retry policy above; thread-safe.

    ``headers`` (e.g. ``Authorization``) are sent with every request and never recorded.
    :meth:`counters` are monotonic: ``requests`` (first attempts), ``retries`` (re-sent attempts),
    ``errors`` (requests given up or answered with a final error, as counted by the caller through
    :meth:`count_error`), and ``retry:<reason>`` per reason (``429``, ``500``, ..., ``timeout``,
    ``connection``).
    """

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 60.0,
                 max_connections: int = 8, policy: RetryPolicy = RetryPolicy(),
                 requests_per_minute: float | None = None):
        try:
            import httpx2 as httpx
        except ImportError as e:  # pragma: no cover - the serve extra is part of the test install
            raise AdapterError("served models need the serve extra: pip install 'mmharness[serve]'") from e
        if timeout <= 0:
            raise AdapterError(f"timeout must be > 0 seconds, got {timeout}")
        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = float(timeout)
        self.rate = RateLimiter(requests_per_minute)
        self._cancel = threading.Event()
        self._rng = random.Random()
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(
            headers=dict(headers or {}),
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )

    # ------------------------------------------------------------------ bookkeeping
    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def count_error(self) -> None:
        """Count one request that ended in an error the caller decided on (e.g. an HTTP 400)."""
        self._count("errors")

    def cancel(self) -> None:
        """Make the requests already started give up their waits and retries at once
        (:class:`Cancelled`); requests started afterwards are not affected."""
        with self._lock:
            old, self._cancel = self._cancel, threading.Event()
        old.set()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ requests
    def get(self, path: str) -> Reply:
        """One GET (no retries): used to check the server before a run. Transport errors raise
        ``httpx2.TransportError``."""
        r = self._client.get(self.base_url + path)
        return Reply(r.status_code, r.headers, r.content, 0)

    def post(self, path: str, body: bytes) -> Reply:
        """POST ``body`` (JSON bytes) to ``path``; retry transient failures; return the final reply.

        Raises :class:`ServiceUnavailable` when the retries are spent and :class:`Cancelled` when
        the run stopped meanwhile (callers add which sample it was).
        """
        httpx = self._httpx
        url = self.base_url + path
        failures: list[str] = []
        cancel = self._cancel  # this request's run: a later cancel() does not concern it
        self._count("requests")
        for attempt in range(self.policy.max_retries + 1):
            if cancel.is_set():
                raise Cancelled(f"the run stopped before {url} answered")
            self.rate.acquire(cancel)
            retry_after = None
            try:
                r = self._client.post(url, content=body, headers={"content-type": "application/json"})
            except httpx.TimeoutException as e:
                reason, detail = "timeout", f"timeout after {self.timeout:g} s ({type(e).__name__})"
            except httpx.TransportError as e:
                reason, detail = "connection", f"connection failed ({type(e).__name__}: {e})"
            else:
                if not is_transient(r.status_code):
                    return Reply(r.status_code, r.headers, r.content, attempt, failures)
                reason, detail = str(r.status_code), f"HTTP {r.status_code}: {_snippet(r.content)}"
                retry_after = parse_retry_after(r.headers)
            failures.append(detail)
            if attempt == self.policy.max_retries:
                break
            self._count("retries")
            self._count(f"retry:{reason}")
            if cancel.wait(self.policy.delay(attempt, retry_after, self._rng)):
                raise Cancelled(f"the run stopped while waiting to retry {url}")
        self._count("errors")
        tried = self.policy.max_retries + 1
        raise ServiceUnavailable(
            f"{url} did not answer after {tried} attempt(s) ({self.policy.max_retries} retries): "
            + "; ".join(failures[-3:]) + ". Finished samples are cached: fix the server and run the same "
            "command again to resume (raise max_retries or timeout for a slow or busy server).")


def _snippet(content: bytes, n: int = 200) -> str:
    """The start of a body for messages, decoded leniently."""
    text = content[:n].decode("utf-8", "replace").strip().replace("\n", " ")
    return text + ("..." if len(content) > n else "") if text else "(empty body)"


def json_error_message(content: bytes) -> str:
    """The server's error text from an OpenAI-style ``{"error": {"message": ...}}`` body, else the
    start of the body."""
    import json

    try:
        doc: Any = json.loads(content)
    except ValueError:
        return _snippet(content)
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str):
        return err
    if isinstance(doc, dict) and doc.get("detail"):
        return str(doc["detail"])
    return _snippet(content)
