"""Units of the serving path that need no server: Retry-After parsing, the backoff policy, the rate
limiter's spacing, JSON model arguments, the task profiles (the papers' API settings), the
``openai`` adapter's request bodies and answer parsing, and ``mmh run --dry-run``."""

import email.utils
import json
import threading
import time

import pytest
from click.testing import CliRunner
from PIL import Image

from mmharness.adapter import AdapterError, SampleRequestError, parse_model_args
from mmharness.adapters.openai_chat import EncodedImage, ImageEncoder, OpenAIChat
from mmharness.cli import main as cli
from mmharness.evaluate import build_task, evaluate
from mmharness.http_client import RateLimiter, Reply, RetryPolicy, parse_retry_after
from mmharness.requests import GenerationParams, Message
from mmharness.task import DataConfig, TaskError
from served import free_port


def test_retry_after_seconds_date_and_milliseconds():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28.5 <= parse_retry_after({"retry-after": date}, now=now) <= 30.0
    assert parse_retry_after({"retry-after": email.utils.formatdate(now - 60, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after():
    import random

    policy, rng = RetryPolicy(max_retries=5, backoff=1.0, backoff_max=5.0), random.Random(0)
    for attempt, cap in ((0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (6, 5.0)):
        waits = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert cap / 2 <= min(waits) and max(waits) <= cap and max(waits) - min(waits) > cap / 4
    assert policy.delay(0, 7.5, rng) == 7.5  # never sooner than the server asked
    with pytest.raises(AdapterError):
        RetryPolicy(max_retries=-1)


def test_rate_limiter_spaces_request_starts():
    limiter = RateLimiter(per_minute=600)  # one start per 0.1 s
    cancel = threading.Event()
    t0 = time.monotonic()
    for _ in range(4):
        limiter.acquire(cancel)
    assert limiter._next - t0 == pytest.approx(0.4, abs=0.05)  # the slots handed out, not wall time
    assert RateLimiter(None).interval == 0.0
    with pytest.raises(AdapterError, match="requests_per_minute"):
        RateLimiter(0)


def test_model_args_keep_json_values_whole():
    got = parse_model_args('base_url=http://h:8000/v1,extra_body={"top_k":1,"chat_template_kwargs":'
                           '{"enable_thinking":false}},seed=3,answer=don\'t')
    assert json.loads(got["extra_body"]) == {"top_k": 1, "chat_template_kwargs": {"enable_thinking": False}}
    assert got["seed"] == "3" and got["answer"] == "don't" and got["base_url"] == "http://h:8000/v1"
    assert parse_model_args('stop=["a,b","c"]')["stop"] == '["a,b","c"]'
    with pytest.raises(AdapterError, match="unbalanced"):
        parse_model_args('extra_body={"top_k":1,seed=2')


def _offline_adapter(**kw) -> OpenAIChat:
    return OpenAIChat(model="m", base_url=f"http://127.0.0.1:{free_port()}/v1", check_server=False, **kw)


def test_request_body_keeps_roles_and_order_and_maps_generation_params():
    ad = _offline_adapter(seed=7, extra_body='{"top_k": 1}')
    img = ImageEncoder("png")(Image.new("RGB", (6, 4), (10, 20, 30)))
    msgs = [Message("system", ["Be brief."]), Message("user", ["first", img, "then", img])]
    body, record = ad._body(msgs, GenerationParams(max_new_tokens=9, stop=("a", "b", "c", "d", "e"), top_p=0.5),
                            "max_tokens")
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    kinds = [p["type"] for p in body["messages"][1]["content"]]
    assert kinds == ["text", "image_url", "text", "image_url"]
    assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert body["max_tokens"] == 9 and body["temperature"] == 0.0 and body["top_p"] == 0.5
    assert body["stop"] == ["a", "b", "c", "d"] and body["seed"] == 7 and body["top_k"] == 1
    assert record["messages"][1]["content"][1]["image_url"]["url"] == img.record()
    assert "base64" not in json.dumps(record) and f"sha256:{img.sha256}" in img.record()
    body, _ = ad._body(msgs, GenerationParams(), "max_completion_tokens")
    assert "max_tokens" not in body and body["max_completion_tokens"] == 64 and "top_p" not in body
    assert ad.model_args["extra_body"] == '{"top_k": 1}' and ad.model_args["max_concurrency"] == 8


def test_the_cache_key_ignores_how_requests_are_sent_but_not_what_is_asked(monkeypatch):
    monkeypatch.setenv("SOME_KEY_VAR", "sk-not-in-the-key")

    def fp(**kw):
        return OpenAIChat(model="m", base_url="http://127.0.0.1:9/v1", check_server=False, **kw).fingerprint()

    base = fp()
    assert fp(max_concurrency=64, timeout=5.0, max_retries=0, requests_per_minute=60.0, backoff=0.1,
              api_key_env="SOME_KEY_VAR") == base
    for changed in ({"seed": 1}, {"image_format": "jpeg"}, {"max_image_side": 512}, {"extra_body": '{"top_k": 1}'},
                    {"max_tokens_param": "max_completion_tokens"}):
        assert fp(**changed) != base, changed


def test_image_encoder_formats_and_downscale():
    im = Image.new("RGB", (40, 20), (200, 10, 10))
    png, jpg, webp = (ImageEncoder(f, max_side=10)(im) for f in ("png", "jpeg", "webp"))
    assert (png.mime, jpg.mime, webp.mime) == ("image/png", "image/jpeg", "image/webp")
    assert png.size == (10, 5) and png.resized_from == (40, 20) and "resized from 40x20" in png.record()
    assert ImageEncoder("png")(im).resized_from is None
    with pytest.raises(AdapterError, match="image_format"):
        _offline_adapter(image_format="gif")
    with pytest.raises(AdapterError, match="sends images and text, not 'video'"):
        _offline_adapter().preprocess("video")


def _reply(body, status=200, retries=0, ctype="application/json"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status, {"content-type": ctype}, content, retries)


def test_answer_parsing_flags_truncation_and_refuses_malformed_answers():
    ad = _offline_adapter()
    params = GenerationParams(max_new_tokens=5, stop=("\n",))
    ok = {"model": "srv-model-2026", "system_fingerprint": "fp_1", "usage": {"prompt_tokens": 3, "completion_tokens": 5},
          "choices": [{"finish_reason": "length", "message": {"content": "Answer: B\nmore"}}]}
    r = ad._parse(_reply(ok, retries=2), {"req": 1}, params, "s1", "user: q")
    assert r.text == "Answer: B" and r.truncated and r.finish_reason == "length" and r.usage["completion_tokens"] == 5
    assert r.served == {"model": "srv-model-2026", "system_fingerprint": "fp_1", "request": {"req": 1}, "retries": 2}
    assert "token limit (5 tokens" in r.warnings[0] and r.prompt == "user: q"
    parts = {"choices": [{"finish_reason": "stop", "message": {"content": [{"type": "text", "text": "A"}]}}]}
    assert ad._parse(_reply(parts), {}, params, "s", "").text == "A"
    refusal = {"choices": [{"finish_reason": "stop", "message": {"content": None, "refusal": "I can't help."}}]}
    assert ad._parse(_reply(refusal), {}, params, "s", "").text == "I can't help."
    for body, msg in ((b"<html>", "not JSON"), ({"choices": []}, "no choices"),
                      ({"choices": [{"finish_reason": "content_filter", "message": {"content": ""}}]}, "content_filter"),
                      ({"choices": [{"finish_reason": "stop", "message": {}}]}, "has no content")):
        with pytest.raises(SampleRequestError, match=msg) as e:
            ad._parse(_reply(body), {}, params, "s7", "")
        assert e.value.sample_id == "s7"
    assert ad.request_counters()["errors"] == 4


def test_max_tokens_auto_switches_when_the_server_asks():
    ad = _offline_adapter()
    asked = b'{"error": {"message": "Unsupported parameter: \'max_tokens\'. Use \'max_completion_tokens\' instead."}}'
    assert ad._should_switch("max_tokens", asked) and ad._max_tokens_field == "max_completion_tokens"
    fixed = _offline_adapter(max_tokens_param="max_tokens")
    assert not fixed._should_switch("max_tokens", asked) and fixed._max_tokens_field == "max_tokens"


def test_profiles_choose_the_papers_api_settings_for_served_models():
    pw = build_task("pixelworld_gsm8k")
    assert pw.profile == "local" and pw.max_new_tokens == {"text": 4096, "img": 1024}
    pw.resolve_profile(served=True)
    assert pw.profile == "api" and pw.max_new_tokens == {"text": 4096, "img": 4096}
    explicit = build_task("pixelworld_gsm8k", {"max_new_tokens_img": "64", "profile": "api"})
    explicit.resolve_profile(served=False)
    assert explicit.profile == "api" and explicit.max_new_tokens == {"text": 4096, "img": 64}
    mmra = build_task("mmra")
    local_key = mmra.cache_config()
    assert local_key == {"setting": "IQ", "max_new_tokens": 16}  # the key earlier runs cached under
    mmra.resolve_profile(served=True)
    assert mmra.layout == "text_first" and mmra.cache_config()["layout"] == "text_first"
    d = mmra.load(DataConfig(sample=True))
    parts = mmra.request(d.samples[0]).messages[0].parts
    assert isinstance(parts[0], str) and [getattr(p, "modality", None) for p in parts[1:]] == ["image", "image"]
    with pytest.raises(TaskError, match="profile='cloud'"):
        build_task("mmra", {"profile": "cloud"}).resolve_profile(served=True)
    with pytest.raises(TaskError, match="layout"):
        build_task("mmra", {"layout": "sideways"})


def test_dry_run_counts_requests_and_images_and_sends_nothing(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: a dry run must not contact it
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "--model", "openai", "--model-args", f"base_url={dead},model=m", "--tasks",
                                 "mmra,pixelworld_slidesvqa", "--sample", "--dry-run", "--limit", "3",
                                 "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "== mmra: 3 request(s), 6 images (generate; data: sample sample)" in r.output
    assert "== pixelworld_slidesvqa: 3 request(s), 2 images" in r.output  # text, img (two slides), text
    assert "generation: max_new_tokens=16, stop=(), temperature=0.0, top_p=1.0, requests=3" in r.output
    assert "first prompt (sample 0000):\n  user: You will be giving one question" in r.output
    assert r.output.index("Your answer is") < r.output.index("<image>")  # API profile: text, then images
    assert not out.exists()
    plan = evaluate("hf", "mmra", model_args="model=/nowhere", sample=True, dry_run=True, limit=2).doc
    assert plan["kind"] == "mmharness.dry_run" and plan["tasks"]["mmra"]["profile"] == "local"
    assert plan["tasks"]["mmra"]["first_prompt"].startswith("user: <image>\n<image>\nYou will be giving")


def test_encoded_image_is_light_and_picklable():
    import pickle

    enc = pickle.loads(pickle.dumps(ImageEncoder("jpeg", 8)))
    out = enc(Image.new("L", (16, 16), 128))
    assert isinstance(out, EncodedImage) and out.mime == "image/jpeg" and out.size == (8, 8)
    assert pickle.loads(pickle.dumps(out)) == out


def test_connections_are_pooled_across_threads_and_a_closed_one_is_replaced():
    """Requests from threads that come and go (a task's request threads, then the next task's)
    reuse the same keep-alive connection instead of each opening one; after close() the next
    request opens a new one (no retry counted)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mmharness.http_client import ServiceClient

    peers = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            peers.append(self.client_address)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ServiceClient(f"http://127.0.0.1:{server.server_address[1]}/v1")
    try:
        for _ in range(3):  # one short-lived thread after another
            t = threading.Thread(target=lambda: client.post("/chat/completions", b"{}"))
            t.start()
            t.join()
        assert len(peers) == 3 and len(set(peers)) == 1  # one connection for the three threads
        client.close()  # closes the idle connection
        assert client.post("/chat/completions", b"{}").status == 200
        assert len(set(peers)) == 2 and client.counters().get("retries", 0) == 0
    finally:
        client.close()
        server.shutdown()
        server.server_close()
