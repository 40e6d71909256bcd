"""A loopback OpenAI-compatible Chat Completions server for the serving benchmarks: answers every
request with a fixed short completion, either at once or after a latency drawn from a log-normal
distribution (heavy-tailed, like a busy inference server). The delay of a request is a function of
its body and ``--seed`` only, so the same request waits the same time in every mode compared.

    python -m benchmarks.fake_chat_server --port 8001 [--median-ms 40 --sigma 1.0 --seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "model": "bench-model",
                     "system_fingerprint": "fp_bench", "usage": {"prompt_tokens": 20, "completion_tokens": 3,
                                                                 "total_tokens": 23},
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "Answer: A"}}]}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "bench-model", "object": "model"}]}).encode()


def delay_seconds(body: bytes, median_ms: float, sigma: float, seed: int) -> float:
    """Log-normal latency with the given median, keyed by the request body and the seed."""
    if median_ms <= 0:
        return 0.0
    key = int.from_bytes(hashlib.sha256(body + str(seed).encode()).digest()[:8], "little")
    return median_ms / 1000.0 * math.exp(sigma * random.Random(key).gauss(0.0, 1.0))


def serve(port: int, median_ms: float = 0.0, sigma: float = 1.0, seed: int = 0) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
        wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)

        def log_message(self, *args):
            pass

        def _send(self, content: bytes):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self):
            self._send(MODELS)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            wait = delay_seconds(body, median_ms, sigma, seed)
            if wait:
                time.sleep(wait)
            self._send(ANSWER)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--median-ms", type=float, default=0.0)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    serve(a.port, a.median_ms, a.sigma, a.seed)
