"""The ``openai`` adapter against a real OpenAI-compatible server: ``transformers serve`` on
127.0.0.1 serving the tiny random LLaVA that the ``hf`` adapter tests build (tests/tiny_vlm.py),
directly or through the fault-injecting loopback proxy of tests/served.py. Nothing is mocked.

Checked: the same answers as the in-process ``hf`` adapter on the same weights (MMRA and PixelWorld
samples, greedy); a concurrent run equals a sequential one; the CLI run validates; 429 (with
Retry-After), 500, dropped connections and timeouts are retried and counted; a sample's 4xx, a
non-JSON answer and an empty ``choices`` are that sample's error; a killed server stops the run
with a clear error and the rerun after a restart resumes from the cache; the API key is never
written; each image is recorded by hash and sent with its true MIME type; bad settings fail
before any data work.
"""

import base64
import hashlib
import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmharness.adapter import AdapterError, SampleRequestError
from mmharness.cli import main as cli
from mmharness.evaluate import evaluate
from mmharness.results import load_results
from served import FaultProxy, TransformersServer, free_port
from tiny_vlm import build_tiny_models

pytestmark = pytest.mark.slow  # see `make test-fast`

MMRA = "mmra"
PIXELWORLD = "pixelworld_gsm8k,pixelworld_slidesvqa,pixelworld_tablebench"
#: the paper's API settings (profile=api, chosen automatically for served models) send 4096 new
#: tokens to PixelWorld; the tiny model has a 512-token context, so both adapters get 8 here
PW_ARGS = "max_new_tokens_text=8,max_new_tokens_img=8"


# session scope: xdist may interleave other modules' tests on this worker, and a module-scoped
# server would then be stopped and started again
@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    return build_tiny_models(tmp_path_factory.mktemp("served_models")) / "llava"


@pytest.fixture(scope="session")
def server(tiny_llava, tmp_path_factory):
    srv = TransformersServer(tiny_llava, log=tmp_path_factory.mktemp("serve_log") / "serve.log").start()
    yield srv
    srv.kill()


def _openai_args(base_url: str, model: Path, **extra) -> str:
    args = {"base_url": base_url, "model": str(model), "max_concurrency": 4, "timeout": 60, **extra}
    return ",".join(f"{k}={v}" for k, v in args.items())


def _rows(res, task):
    return [json.loads(line) for line in res.sample_logs[task].read_text().splitlines()]


def _served_run(base_url, model, tasks, out, task_args="", **kw):
    kw.setdefault("use_cache", False)
    margs = _openai_args(base_url, model, **kw.pop("margs", {}))
    return evaluate("openai", tasks, model_args=margs, task_args=task_args, sample=True, progress=False,
                    bootstrap=0, log_samples=True, output=out, **kw)


@pytest.fixture(scope="session")
def reference(server, tiny_llava, tmp_path_factory):
    """One concurrent run of MMRA and three PixelWorld tasks through ``openai`` (no cache)."""
    out = tmp_path_factory.mktemp("reference")
    mmra = _served_run(server.base_url, tiny_llava, MMRA, out)
    pw = _served_run(server.base_url, tiny_llava, PIXELWORLD, out, task_args=PW_ARGS)
    return mmra, pw


def test_openai_gives_the_hf_adapters_answers_on_the_same_weights(reference, tiny_llava, tmp_path):
    """Greedy answers through the server equal the in-process ``hf`` adapter's, sample by sample.
    The task settings are the same on both sides: the API profile (MMRA: text first, then images)
    is chosen for ``openai`` automatically and asked of ``hf`` explicitly."""
    mmra, pw = reference
    hf_mmra = evaluate("hf", MMRA, model_args={"model": str(tiny_llava)}, task_args="profile=api", sample=True,
                       progress=False, bootstrap=0, log_samples=True, output=tmp_path, use_cache=False,
                       batch_size=8)
    hf_pw = evaluate("hf", PIXELWORLD, model_args={"model": str(tiny_llava)}, task_args=PW_ARGS + ",profile=api",
                     sample=True, progress=False, bootstrap=0, log_samples=True, output=tmp_path, use_cache=False,
                     batch_size=8)
    n_compared = 0
    for served_res, hf_res in ((mmra, hf_mmra), (pw, hf_pw)):
        for task in served_res.doc["tasks"]:
            served_rows, hf_rows = _rows(served_res, task), _rows(hf_res, task)
            assert [r["id"] for r in served_rows] == [r["id"] for r in hf_rows]
            for s, h in zip(served_rows, hf_rows):
                assert s["response"]["text"] == h["response"]["text"], (task, s["id"])
                assert s["response"]["text"].strip()  # random weights still say something
            assert served_res.doc["tasks"][task]["metrics"] == hf_res.doc["tasks"][task]["metrics"]
            n_compared += len(served_rows)
    assert n_compared == 22 + 6 + 4 + 9
    cfg = mmra.doc["tasks"]["mmra"]["config"]
    assert cfg["profile"] == "api" and cfg["layout"] == "text_first" and cfg["temperature"] == 0.0
    assert pw.doc["tasks"]["pixelworld_gsm8k"]["config"]["max_new_tokens"] == {"text": 8, "img": 8}
    assert any("true MIME type" in n for n in pw.doc["tasks"]["pixelworld_gsm8k"]["notes"])


def test_concurrent_run_equals_sequential_and_the_cli_run_validates(reference, server, tiny_llava, tmp_path):
    mmra, _ = reference
    out = tmp_path / "cli"
    r = CliRunner().invoke(cli, ["run", "--model", "openai", "--model-args",
                                 _openai_args(server.base_url, tiny_llava, max_concurrency=1), "--tasks", "mmra",
                                 "--sample", "--no-cache", "--no-progress", "--log-samples", "--bootstrap", "0",
                                 "--output", str(out)])
    assert r.exit_code == 0, r.output
    results = next(out.glob("results_openai_*.json"))
    v = CliRunner().invoke(cli, ["results", "validate", str(results)])
    assert v.exit_code == 0 and v.output.startswith("ok"), v.output
    seq = load_results(results)
    seq_rows = [json.loads(line) for line in next(out.glob("samples_*.jsonl")).read_text().splitlines()]
    assert seq_rows == _rows(mmra, "mmra")  # content and order, request records included
    t_seq, t_par = seq["tasks"]["mmra"], mmra.doc["tasks"]["mmra"]
    assert t_seq["metrics"] == t_par["metrics"]
    assert t_seq["requests"]["max_in_flight"] == 1 and t_par["requests"]["max_in_flight"] == 4
    for t in (t_seq, t_par):
        assert t["requests"]["sent"] == 22 and t["requests"]["retries"] == 0 and t["requests"]["errors"] == 0
        # random weights never emit EOS within 16 tokens: every answer is cut, flagged and counted
        assert t["requests"]["truncated"] == 22
    assert all(row["truncated"] and row["response"]["finish_reason"] == "length" for row in seq_rows)
    assert all("token limit" in row["response"]["warnings"][0] for row in seq_rows)
    served = seq_rows[0]["response"]["served"]
    assert served["model"] == str(tiny_llava) and served["retries"] == 0
    assert served["request"]["temperature"] == 0.0 and served["request"]["max_tokens"] == 16
    usage = seq_rows[0]["response"]["usage"]
    assert usage["completion_tokens"] == 16 and usage["prompt_tokens"] > 16


def test_faults_are_retried_honouring_retry_after_and_counted(reference, server, tiny_llava, tmp_path):
    """One request at a time through the proxy: posts 2, 4, 6 and 8 fail (429 with Retry-After: 1,
    500, dropped connection, an answer slower than the 1 s timeout) and post 10 is slow but in
    time. The run completes with the same answers, 4 retries counted by reason."""
    mmra, _ = reference
    faults = {2: "429", 4: "500", 6: "drop", 8: "slow", 10: "delay"}
    with FaultProxy(server.base_url.removesuffix("/v1"), faults, retry_after="1", slow_seconds=2.0,
                    delay_seconds=0.2) as proxy:
        res = _served_run(proxy.base_url, tiny_llava, MMRA, tmp_path,
                          margs={"max_concurrency": 1, "timeout": 1.0, "backoff": 0.01})
    t = res.doc["tasks"]["mmra"]
    assert t["requests"]["retries"] == 4 and t["requests"]["sent"] == 22 and t["requests"]["errors"] == 0
    assert t["requests"]["retry_reasons"] == {"429": 1, "500": 1, "connection": 1, "timeout": 1}
    assert len(proxy.posts) == 22 + 4
    assert proxy.posts[2][0] - proxy.posts[1][0] >= 0.95  # the retry after the 429 waited for Retry-After
    assert _rows(res, "mmra") != _rows(mmra, "mmra")  # the retried samples record their retries ...
    texts = [r["response"]["text"] for r in _rows(res, "mmra")]
    assert texts == [r["response"]["text"] for r in _rows(mmra, "mmra")]  # ... and the same answers
    assert sorted(r["response"]["served"]["retries"] for r in _rows(res, "mmra"))[-4:] == [1, 1, 1, 1]
    assert t["metrics"] == mmra.doc["tasks"]["mmra"]["metrics"]


def test_a_samples_4xx_or_malformed_answer_is_its_error(server, tiny_llava, tmp_path):
    """The request of sample 0002 (found by its prompt) is answered 400, non-JSON or with no
    choices: the run stops naming the sample, or skips and counts it under --on-error skip. It is
    never scored as an empty answer."""
    needle = "[US] Which relation"
    upstream = server.base_url.removesuffix("/v1")
    with FaultProxy(upstream, fault_on_body={needle: "400"}) as proxy:
        with pytest.raises(SampleRequestError, match=r"sample 0002: the server answered HTTP 400: invalid image "
                                                     r"\(injected\).*--on-error skip"):
            _served_run(proxy.base_url, tiny_llava, MMRA, tmp_path / "a", limit=6)
        res = _served_run(proxy.base_url, tiny_llava, MMRA, tmp_path / "b", on_error="skip", limit=6)
    t = res.doc["tasks"]["mmra"]
    assert [s["id"] for s in t["skipped"]] == ["0002"] and t["n_skipped"] == 1
    assert t["requests"]["errors"] == 1 and t["requests"]["retries"] == 0
    assert t["tables"]["scoring"]["n_failed"] == 1
    row = next(r for r in _rows(res, "mmra") if r["id"] == "0002")
    assert row["skipped"] is True and row["response"] is None
    for action, message in (("html", r"sample 0002: the server answered HTTP 200 with a body that is not JSON "
                                      r"\(content-type text/html\): <html>"),
                            ("nochoices", r"sample 0002: the answer has no choices")):
        with FaultProxy(upstream, fault_on_body={needle: action}) as proxy:
            with pytest.raises(SampleRequestError, match=message):
                _served_run(proxy.base_url, tiny_llava, MMRA, tmp_path / action, limit=6)


def test_api_key_is_never_written_and_images_are_recorded_by_hash(server, tiny_llava, tmp_path, monkeypatch):
    """The key goes only into the Authorization header. Each image is sent as a data URL whose MIME
    type is that of its bytes (JPEG here), downscaled to max_image_side, and recorded by sha256."""
    key = "sk-test-4f1d9c2b7a"
    monkeypatch.setenv("MMH_TEST_API_KEY", key)
    with FaultProxy(server.base_url.removesuffix("/v1")) as proxy:
        res = _served_run(proxy.base_url, tiny_llava, "mmra", tmp_path / "out", limit=3, use_cache=True,
                          cache_dir=tmp_path / "cache",
                          margs={"api_key_env": "MMH_TEST_API_KEY", "image_format": "jpeg", "max_image_side": 12})
    assert {auth for _, _, auth, _ in proxy.posts} == {f"Bearer {key}"}
    for f in [*(tmp_path / "out").iterdir(), *(tmp_path / "cache").iterdir()]:
        assert key.encode() not in f.read_bytes(), f
    assert res.doc["model"]["args"]["api_key_env"] == "MMH_TEST_API_KEY"
    sent = [part["image_url"]["url"] for body in proxy.bodies() for m in body["messages"] for part in m["content"]
            if isinstance(part, dict) and part["type"] == "image_url"]
    recorded = [part["image_url"]["url"] for row in _rows(res, "mmra")
                for m in row["response"]["served"]["request"]["messages"] for part in m["content"]
                if part["type"] == "image_url"]
    assert len(sent) == len(recorded) == 6
    sent_by_hash = {}
    for url in sent:  # requests arrive in any order (4 in flight): match them by content hash
        mime, b64 = re.fullmatch(r"data:(image/\w+);base64,(.+)", url).groups()
        data = base64.b64decode(b64)
        assert mime == "image/jpeg" and data[:3] == b"\xff\xd8\xff"  # the true type of the bytes sent
        sent_by_hash[hashlib.sha256(data).hexdigest()] = data
    for record in recorded:
        size, n_bytes, digest = re.fullmatch(r"<image/jpeg (\d+x\d+), resized from \d+x\d+, (\d+) bytes, "
                                             r"sha256:([0-9a-f]{64})>", record).groups()
        assert int(n_bytes) == len(sent_by_hash[digest]) and "12" in size.split("x")


def test_bad_settings_fail_before_any_data_work(server, tiny_llava, tmp_path, monkeypatch):
    """Data root that does not exist: each error below comes from the adapter, before data loading."""
    monkeypatch.delenv("MMH_MISSING_KEY", raising=False)
    common = dict(tasks="mmra", data_root=str(tmp_path / "no-data"), progress=False, use_cache=False)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(AdapterError, match=rf"cannot reach {re.escape(dead)} \(ConnectionRefusedError"):
        evaluate("openai", model_args=f"base_url={dead},model=m", **common)
    with pytest.raises(AdapterError, match=r"the environment variable MMH_MISSING_KEY \(api_key_env\) is not set"):
        evaluate("openai", model_args=f"base_url={server.base_url},model=m,api_key_env=MMH_MISSING_KEY", **common)
    with pytest.raises(AdapterError, match=rf"does not serve model 'tiny-llava'\..*It serves: {re.escape(str(tiny_llava))}"):
        evaluate("openai", model_args=f"base_url={server.base_url},model=tiny-llava", **common)
    with pytest.raises(AdapterError, match=r"extra_body is not valid JSON"):
        evaluate("openai", model_args=f"base_url={server.base_url},model={tiny_llava},extra_body={{top_k:1}}", **common)


def test_killed_server_stops_the_run_and_the_rerun_resumes(reference, server, tiny_llava, tmp_path):
    """SIGKILL the server once a few answers are cached: the run retries, then stops with an error
    naming the URL (exit status 2); after a restart on the same port the rerun computes only what is
    missing and ends with the reference metrics. (It restarts the shared server.)"""
    mmra, _ = reference
    cache = tmp_path / "cache"
    margs = _openai_args(server.base_url, tiny_llava, max_concurrency=2, max_retries=2, backoff=0.05, timeout=10)
    args = ["run", "--model", "openai", "--model-args", margs, "--tasks", "mmra", "--sample", "--cache-dir", str(cache),
            "--no-progress", "--bootstrap", "0", "--output", str(tmp_path / "o")]
    outcome = {}
    run = threading.Thread(target=lambda: outcome.setdefault("r", CliRunner().invoke(cli, args)))
    run.start()
    db_path, n = cache / "responses.sqlite", 0
    try:
        deadline = time.monotonic() + 120
        while n < 3 and time.monotonic() < deadline and run.is_alive():
            if db_path.exists():
                try:
                    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                        n = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.02)
    finally:
        server.kill()
        run.join(timeout=120)
    r = outcome["r"]
    assert r.exit_code == 2, r.output
    assert re.search(rf"error: adapter 'openai' on task 'mmra', sample \d+: {re.escape(server.base_url)}/chat/completions "
                     r"did not answer after 3 attempt\(s\) \(2 retries\): connection failed", r.output), r.output
    assert "run the same command again to resume" in r.output
    with sqlite3.connect(db_path) as db:
        done = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert 3 <= done < 22
    server.start()
    r = CliRunner().invoke(cli, args + ["--json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.stdout)["tasks"]["mmra"]
    assert t["cache"] == {"hits": done, "computed": 22 - done}
    assert t["metrics"] == mmra.doc["tasks"]["mmra"]["metrics"]
