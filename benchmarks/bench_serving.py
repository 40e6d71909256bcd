"""Served models: throughput through the ``openai`` adapter, sliding window vs per-batch barrier,
and the harness's own cost per request. Every figure runs the real ``evaluate`` on a generated
generate-task (one small image and a short question per request, no cache):

* ``throughput``: requests/s at concurrency 1, 4 and 16 against ``transformers serve
  --continuous-batching`` serving the tiny random LLaVA of the tests, and text requests to the
  tiny random Llama (and, with ``--small``, a larger random Llama whose forward pass, not Python,
  dominates). Target: 16 in flight >= 4x sequential. transformers serve batches LLMs only; it
  answers a VLM one request at a time, so no client can speed the LLaVA up.
* ``window_vs_barrier``: at equal concurrency N against a loopback server whose latencies are
  log-normal (heavy tail; the same latency per request in both modes), the streaming runner
  (a new request as soon as any finishes) vs the per-batch barrier of harnesses that send a batch
  of N concurrently and wait for its slowest answer. Target >= 1.5x.
* ``harness_cost``: against a loopback server that answers at once (in its own process), the
  harness process's CPU seconds per request (building, encoding, sending, parsing, caching,
  scoring) and the wall time per request. Target <= 1 ms.

    python -m benchmarks.bench_serving [--n 400] [--concurrency 8] [--skip-throughput] [--small]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from .common import write_report

TESTS = Path(__file__).resolve().parent.parent / "tests"
TASK = "bench_generate"


class _Images:
    """Row source of small generated RGB images (made once, before timing)."""

    def __init__(self, n: int, side: int = 32):
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        self.images = [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]

    def image(self, index: int):
        return self.images[index]

    def describe(self, index: int) -> str:
        return f"generated image {index}"


def _register_task() -> None:
    """A generate task of ``n`` requests (one image + a question each); accuracy of 'Answer: A'."""
    from mmharness.registry import TASKS, register_task
    from mmharness.requests import Capability, GenerateRequest, GenerationParams, ImageArray, Message
    from mmharness.task import MetricSpec, MetricValue, Sample, Task, TaskData, TaskResult

    if TASK in TASKS.names():
        return

    @register_task(TASK)
    class BenchGenerate(Task):
        """Benchmark only: n generated requests."""

        uses: ClassVar = (Capability.GENERATE,)
        primary_metric: ClassVar = "accuracy"
        metric_specs: ClassVar = (MetricSpec("accuracy", higher_is_better=True),)

        def __init__(self, n: int = 400, image: bool = True, max_new_tokens: int = 16):
            self.n, self.with_image, self.max_new_tokens = int(n), bool(image), int(max_new_tokens)
            self.images = _Images(self.n) if self.with_image else None

        def cache_config(self):
            return {"n": self.n, "image": self.with_image, "max_new_tokens": self.max_new_tokens}

        def load(self, data):
            samples = [Sample(f"{i:05d}", "A") for i in range(self.n)]
            return TaskData(samples, fingerprint=f"bench:{self.n}:{self.with_image}", source="generated")

        def request(self, sample):
            parts = [ImageArray(self.images, int(sample.id))] if self.with_image else []
            parts.append(f"Question {sample.id}: which of A, B, C or D? Answer with one letter.")
            return GenerateRequest([Message("user", parts)], GenerationParams(max_new_tokens=self.max_new_tokens))

        def score(self, samples, responses, ctx):
            acc = statistics.fmean(r.text.strip().startswith("Answer: A") for r in responses)
            return TaskResult({"accuracy": MetricValue(acc)})


def _run(model, n: int, margs: dict | None = None, image: bool = True, batch_size: int = 32,
         max_new_tokens: int = 16) -> tuple[dict, float, float]:
    """(task doc, wall seconds, this process's CPU seconds) of one evaluate() of the bench task."""
    from mmharness.evaluate import evaluate

    cpu0, t0 = time.process_time(), time.perf_counter()
    res = evaluate(model, TASK, model_args=margs, task_args={"n": n, "image": image, "max_new_tokens": max_new_tokens},
                   use_cache=False, progress=False, bootstrap=0, batch_size=batch_size)
    return res.doc["tasks"][TASK], time.perf_counter() - t0, time.process_time() - cpu0


class _FakeServer:
    """benchmarks/fake_chat_server.py in its own process."""

    def __init__(self, median_ms: float = 0.0, sigma: float = 1.0):
        sys.path.insert(0, str(TESTS))
        from served import free_port

        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_chat_server", "--port", str(self.port),
                                      "--median-ms", str(median_ms), "--sigma", str(sigma)],
                                     cwd=Path(__file__).resolve().parent.parent)
        import urllib.request

        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the fake chat server did not start")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _barrier_adapter(margs: dict):
    """The same client driven per batch: the runner hands it a batch of N requests, it sends them
    concurrently and returns when the slowest has answered (lmms-eval / VLMEvalKit style)."""
    from mmharness.adapter import build_adapter
    from mmharness.adapters.openai_chat import OpenAIChat
    from mmharness.generation import decoded_messages

    class PerBatchBarrier(OpenAIChat):
        def max_in_flight(self) -> int:
            return 0  # the batch path of the runner

        def generate(self, batch):
            with ThreadPoolExecutor(self.max_concurrency) as pool:
                return list(pool.map(lambda i: self.generate_one(decoded_messages(batch, i), batch.requests[i].params,
                                                                 batch.sample_ids[i]), range(len(batch))))

    PerBatchBarrier.name = "openai"
    return build_adapter(PerBatchBarrier, {k: str(v) for k, v in margs.items()})


def window_vs_barrier(n: int, concurrency: int, median_ms: float, sigma: float, repeats: int) -> dict:
    server = _FakeServer(median_ms, sigma)
    try:
        margs = {"base_url": server.base_url, "model": "bench-model", "max_concurrency": concurrency}
        _run("openai", 32, margs)  # warm-up: imports and first connections are not what is compared
        _run(_barrier_adapter(margs), 32, batch_size=concurrency)
        window, barrier = [], []
        for _ in range(repeats):
            doc, wall, _ = _run("openai", n, margs)
            assert doc["metrics"]["accuracy"]["value"] == 1.0
            window.append(n / wall)
            doc, wall, _ = _run(_barrier_adapter(margs), n, batch_size=concurrency)
            assert doc["metrics"]["accuracy"]["value"] == 1.0
            barrier.append(n / wall)
    finally:
        server.close()
    ratio = max(window) / max(barrier)
    return {"n": n, "concurrency": concurrency, "latency": {"distribution": "log-normal", "median_ms": median_ms,
                                                            "sigma": sigma},
            "window_requests_per_s": max(window), "barrier_requests_per_s": max(barrier),
            "ratio": ratio, "ratio_median_of_pairs": statistics.median(w / b for w, b in zip(window, barrier)),
            "target": ">= 1.5", "meets_target": ratio >= 1.5, "all": {"window": window, "barrier": barrier}}


def harness_cost(n: int, repeats: int) -> dict:
    server = _FakeServer(0.0)
    out: dict = {"n": n}
    try:
        for label, image, conc in (("text, 16 in flight", False, 16), ("one 32x32 image, 16 in flight", True, 16),
                                   ("one 32x32 image, sequential", True, 1)):
            margs = {"base_url": server.base_url, "model": "bench-model", "max_concurrency": conc}
            _run("openai", 32, margs, image=image)  # warm-up (imports, first connections)
            cpu, wall = [], []
            for _ in range(repeats):
                doc, w, c = _run("openai", n, margs, image=image)
                assert doc["requests"]["completed"] == n
                cpu.append(c / n * 1000)
                wall.append(w / n * 1000)
            out[label] = {"cpu_ms_per_request": min(cpu), "wall_ms_per_request": min(wall),
                          "requests_per_s": 1000 / min(wall)}
    finally:
        server.close()
    worst = max(v["cpu_ms_per_request"] for k, v in out.items() if isinstance(v, dict))
    out.update({"target": "<= 1 ms (harness CPU per request)", "meets_target": worst <= 1.0})
    return out


def _small_llama(root: Path) -> Path:
    """A larger random Llama (6 x 384) on the tiny model's tokenizer: its decoding steps cost enough
    compute for batching to pay on a CPU."""
    import torch
    from tiny_vlm import WORDS, build_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(WORDS), hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=512, bos_token_id=2,
                      eos_token_id=3, pad_token_id=1)
    LlamaForCausalLM(cfg).save_pretrained(root / "small_llama")
    build_tokenizer().save_pretrained(root / "small_llama")
    return root / "small_llama"


def throughput(n: int, levels: tuple[int, ...], small: bool, n_small: int = 48) -> dict:
    """Requests/s at each concurrency against ``transformers serve --continuous-batching``: the tiny
    VLM (image + text requests), and text-only requests to the tiny Llama (and, with ``small``, a
    larger random Llama). transformers serve batches LLMs only: it serves VLMs sequentially."""
    sys.path.insert(0, str(TESTS))
    from served import TransformersServer
    from tiny_vlm import build_tiny_models

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = build_tiny_models(Path(tmp))
        models = {"tiny VLM (LLaVA), image + text": (root / "llava", True, n),
                  "tiny LLM (Llama 2 x 32), text": (root / "llama", False, n)}
        if small:
            models["small LLM (Llama 6 x 384), text"] = (_small_llama(Path(tmp)), False, n_small)
        for name, (path, image, count) in models.items():
            server = TransformersServer(path, log=Path(tmp) / "serve.log", continuous_batching=True).start()
            try:
                margs = {"base_url": server.base_url, "model": str(path), "max_concurrency": max(levels),
                         "timeout": 300}
                _run("openai", max(levels), margs, image=image)  # warm-up, including the batched path
                rates = {}
                for c in levels:
                    doc, wall, _ = _run("openai", count, {**margs, "max_concurrency": c}, image=image)
                    assert doc["requests"]["completed"] == count
                    rates[c] = count / wall
                out[name] = {"n": count, "requests_per_s": rates,
                             "speedup_16_vs_1": rates[max(levels)] / rates[min(levels)]}
            finally:
                server.kill()
    out.update({"server": "transformers serve --continuous-batching --device cpu (batches LLMs only; a VLM is "
                          "served one request at a time: 'Only LLMs support continuous batching')",
                "target": ">= 4x at 16 in flight vs sequential"})
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="requests per run (window/barrier and harness cost)")
    ap.add_argument("--n-served", type=int, default=64, help="requests per run against transformers serve")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--median-ms", type=float, default=20.0)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--small", action="store_true", help="also measure a larger (compute-bound) random model")
    args = ap.parse_args(argv)
    _register_task()
    report = {"window_vs_barrier": window_vs_barrier(args.n, args.concurrency, args.median_ms, args.sigma, args.repeats),
              "harness_cost": harness_cost(max(args.n, 1000), args.repeats)}
    if not args.skip_throughput:
        report["throughput"] = throughput(args.n_served, (1, 4, 16), args.small)
    write_report("serving", report)
    w, h = report["window_vs_barrier"], report["harness_cost"]
    print(f"serving: sliding window {w['window_requests_per_s']:.1f} req/s vs per-batch barrier "
          f"{w['barrier_requests_per_s']:.1f} req/s at {w['concurrency']} in flight, log-normal latency "
          f"(median {w['latency']['median_ms']:g} ms, sigma "
          f"{w['latency']['sigma']:g}): ratio {w['ratio']:.2f} (median of pairs {w['ratio_median_of_pairs']:.2f}; "
          f"target >= 1.5)")
    print("serving: harness cost per request (instant server): " + "; ".join(
        f"{k} {v['cpu_ms_per_request']:.2f} ms CPU, {v['wall_ms_per_request']:.2f} ms wall"
        for k, v in h.items() if isinstance(v, dict)) + " (target <= 1 ms)")
    for name, t in report.get("throughput", {}).items():
        if isinstance(t, dict) and "requests_per_s" in t:
            print(f"serving: transformers serve --continuous-batching, {name}: " + ", ".join(
                f"{c} in flight {r:.1f} req/s" for c, r in t["requests_per_s"].items())
                + f"; 16 vs 1: {t['speedup_16_vs_1']:.2f}x (target >= 4x)")
    return report


if __name__ == "__main__":
    main()
