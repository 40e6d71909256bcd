"""Real parts for the served-model tests: a ``transformers serve`` process on 127.0.0.1 serving the
tiny random LLaVA of :mod:`tiny_vlm`, and a small loopback proxy that forwards to it and injects
scripted faults (429 with Retry-After, 500, a dropped connection, a slow answer, a 4xx, a non-JSON
or empty answer) and records what it saw."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TransformersServer:
    """``transformers serve MODEL --host 127.0.0.1 --port PORT --device cpu`` in a subprocess."""

    def __init__(self, model_dir: Path, port: int | None = None, log: Path | None = None,
                 continuous_batching: bool = False):
        self.model_dir = str(model_dir)
        self.port = port or free_port()
        self.log = log
        self.continuous_batching = continuous_batching
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> "TransformersServer":
        exe = Path(sys.executable).parent / "transformers"
        cmd = [str(exe), "serve", self.model_dir, "--host", "127.0.0.1", "--port", str(self.port),
               "--device", "cpu", "--log-level", "warning"]
        if self.continuous_batching:
            cmd.append("--continuous-batching")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:] if self.log else ""
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"transformers serve did not come up on port {self.port} within {timeout:g} s")

    def kill(self) -> None:
        """SIGKILL the server (its whole process group) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class FaultProxy:
    """Forwards every request to ``upstream`` (``http://127.0.0.1:PORT``) except where a scripted
    fault applies. ``faults`` maps the 1-based number of a POST to an action:

    * ``"429"``: answer 429 with ``Retry-After: <retry_after>``;
    * ``"500"``: answer 500;
    * ``"drop"``: close the connection without an answer;
    * ``"slow"``: wait ``slow_seconds`` (longer than the client's timeout), then close;
    * ``"delay"``: wait ``delay_seconds`` (shorter than the timeout), then forward normally;
    * ``"400"``: answer 400 with an OpenAI-style error body;
    * ``"html"``: answer 200 with an HTML page; ``"nochoices"``: answer 200 ``{"choices": []}``.

    ``posts`` records ``(monotonic time, action, authorization header, body)`` per POST.
    """

    def __init__(self, upstream: str, faults: dict[int, str] | None = None, retry_after: str = "1",
                 slow_seconds: float = 2.0, delay_seconds: float = 0.3, fault_on_body: dict[str, str] | None = None):
        self.upstream = upstream.rstrip("/")
        self.faults = dict(faults or {})
        self.fault_on_body = dict(fault_on_body or {})  # substring of the body -> action (every time)
        self.retry_after, self.slow_seconds, self.delay_seconds = retry_after, slow_seconds, delay_seconds
        self.posts: list[tuple[float, str, str | None, bytes]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
            wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward(b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy._lock:
                    number = sum(1 for _ in proxy.posts) + 1
                    action = proxy.faults.get(number, "ok")
                    for needle, act in proxy.fault_on_body.items():
                        if needle.encode() in body:
                            action = act
                    proxy.posts.append((time.monotonic(), action, self.headers.get("authorization"), body))
                if action == "429":
                    return self._answer(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": proxy.retry_after})
                if action == "500":
                    return self._answer(500, b'{"error": {"message": "internal error"}}')
                if action == "400":
                    return self._answer(400, b'{"error": {"message": "invalid image (injected)", "type": "invalid_request_error"}}')
                if action == "html":
                    return self._answer(200, b"<html><body>Sign in</body></html>", {"content-type": "text/html"})
                if action == "nochoices":
                    return self._answer(200, b'{"id": "x", "choices": []}')
                if action in ("drop", "slow"):
                    if action == "slow":
                        time.sleep(proxy.slow_seconds)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action == "delay":
                    time.sleep(proxy.delay_seconds)
                self._forward(body)

            def _forward(self, body: bytes):
                req = urllib.request.Request(proxy.upstream + self.path, data=body or None, method=self.command,
                                             headers={"content-type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        self._answer(r.status, r.read(), {"content-type": r.headers.get("content-type", "")})
                except urllib.error.HTTPError as e:
                    self._answer(e.code, e.read())
                except OSError:  # upstream down: the client sees what it would see without the proxy
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _answer(self, status: int, content: bytes, headers: dict | None = None):
                self.send_response(status)
                hdrs = {"content-type": "application/json", **(headers or {})}
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict]:
        return [json.loads(b) for _, _, _, b in self.posts]
