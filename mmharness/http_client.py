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

Transport: the standard library's ``http.client`` over persistent (keep-alive) connections: each
request takes an idle one (or opens one) and gives it back when answered, so N threads keep N
connections busy, and the connections outlive the threads (the next task's request threads reuse
them: no new connection or TLS handshake per task, no idle sockets left behind by finished threads). It costs about a quarter of the client CPU
per request of ``httpx`` on this project's benchmark (0.2 vs 0.85 ms at 16 in flight), which is
what keeps the harness's own cost per request under a millisecond. An idle connection the server
has closed is noticed before it is reused (never counted as a fault). HTTPS verifies certificates
against ``certifi``'s bundle when the ``serve`` extra installed it, else the system store.
Proxies (``HTTP(S)_PROXY``) are not used.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import select
import socket
import threading
import time
import urllib.parse
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
    """POSTs JSON bodies to one base URL with the retry policy above; thread-safe (a request holds
    one keep-alive connection of the client's pool while it runs).

    ``headers`` (e.g. ``Authorization``) are sent with every request and never recorded.
    :meth:`counters` are monotonic: ``requests`` (first attempts), ``retries`` (re-sent attempts),
    ``errors`` (requests given up or answered with a final error, as counted by the caller through
    :meth:`count_error`), and ``retry:<reason>`` per reason (``429``, ``500``, ..., ``timeout``,
    ``connection``).
    """

    CONNECT_TIMEOUT = 10.0

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 60.0,
                 policy: RetryPolicy = RetryPolicy(), requests_per_minute: float | None = None):
        if timeout <= 0:
            raise AdapterError(f"timeout must be > 0 seconds, got {timeout}")
        url = urllib.parse.urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise AdapterError(f"base_url={base_url!r} must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self._scheme, self._host = url.scheme, url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        self.policy = policy
        self.timeout = float(timeout)
        self.rate = RateLimiter(requests_per_minute)
        self._headers = {"user-agent": "mmharness", **{k.lower(): v for k, v in (headers or {}).items()}}
        self._ssl = _ssl_context() if url.scheme == "https" else None
        self._cancel = threading.Event()
        self._rng = random.Random()
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []  # keep-alive connections no request holds

    # ------------------------------------------------------------------ connections
    def _connection(self) -> http.client.HTTPConnection:
        """An idle keep-alive connection of the pool (reused while the server keeps it open), or a
        new one; :meth:`_exchange` gives it back."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None and conn.sock is not None and _closed_by_peer(conn.sock):
            conn.close()  # the server closed it while idle: reconnect, this is not a fault
        if conn is None:
            if self._ssl is not None:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.CONNECT_TIMEOUT,
                                                   context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.CONNECT_TIMEOUT)
        if conn.sock is None:
            conn.timeout = min(self.CONNECT_TIMEOUT, self.timeout)
            conn.connect()
            conn.sock.settimeout(self.timeout)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP exchange on a pooled connection; transport errors propagate."""
        conn = self._connection()
        headers = dict(self._headers)
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            conn.request(method, self._prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            content = resp.read()
        except BaseException:
            conn.close()  # not given back: a half-read connection is never reused
            raise
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return resp.status, _Headers(resp.getheaders()), content

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
        """Close the idle connections (one a request holds closes when the server ends it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ------------------------------------------------------------------ requests
    def get(self, path: str) -> Reply:
        """One GET (no retries): used to check the server before a run. Transport errors raise
        ``OSError`` or ``http.client.HTTPException``."""
        status, headers, content = self._exchange("GET", path, None)
        return Reply(status, headers, content, 0)

    def post(self, path: str, body: bytes) -> Reply:
        """POST ``body`` (JSON bytes) to ``path``; retry transient failures; return the final reply.

        Raises :class:`ServiceUnavailable` when the retries are spent and :class:`Cancelled` when
        the run stopped meanwhile (callers add which sample it was).
        """
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
                status, headers, content = self._exchange("POST", path, body)
            except TimeoutError as e:
                reason, detail = "timeout", f"timeout after {self.timeout:g} s ({type(e).__name__})"
            except (OSError, http.client.HTTPException) as e:
                reason, detail = "connection", f"connection failed ({type(e).__name__}: {e})"
            else:
                if not is_transient(status):
                    return Reply(status, headers, content, attempt, failures)
                reason, detail = str(status), f"HTTP {status}: {_snippet(content)}"
                retry_after = parse_retry_after(headers)
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


class _Headers(dict):
    """Response headers with case-insensitive lookup (names stored lower-case)."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or broken) by the server."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _ssl_context():
    """Certificate verification with certifi's CA bundle when installed (the ``serve`` extra), else
    the system store."""
    import ssl

    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


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
