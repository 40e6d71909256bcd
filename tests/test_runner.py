"""The runner end to end on a toy task: caching, resume after SIGKILL, bad adapters, bad input,
results validation, per-sample logs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmharness.adapter import AdapterError
from mmharness.evaluate import evaluate
from mmharness.registry import include
from mmharness.results import load_results, validate_results
from mmharness.task import TaskError

PLUGIN = str(Path(__file__).parent / "plugins" / "toy_plugin.py")
include(PLUGIN)


def run(tmp_path, model="toy_perfect", **kw):
    kw.setdefault("data_root", tmp_path / "data")
    kw.setdefault("cache_dir", tmp_path / "cache")
    kw.setdefault("progress", False)
    kw.setdefault("bootstrap", 0)
    return evaluate(model, "toy_shapes", **kw)


def test_toy_run_scores_validates_and_logs(tmp_path):
    res = run(tmp_path, output=tmp_path / "out", log_samples=True, batch_size=7)
    assert res.metric("toy_shapes") == 1.0
    doc = load_results(res.path)  # validates against the shipped schema
    t = doc["tasks"]["toy_shapes"]
    assert t["n_samples"] == 40 and t["cache"] == {"hits": 0, "computed": 40}
    assert t["capability_path"] == "classify"
    assert doc["config"]["batch_size"] == 7 and doc["model"]["adapter"] == "toy_perfect"
    rows = [json.loads(line) for line in res.sample_logs["toy_shapes"].read_text().splitlines()]
    assert len(rows) == 40 and rows[0]["id"] == "0000" and rows[0]["scores"]["correct"] is True
    assert rows[0]["input_hash"].startswith("xxh3_128:") and len(rows[0]["input_hash"]) == 9 + 32 and rows[0]["response"]["kind"] == "classify"
    assert len({r["input_hash"] for r in rows}) == 40


def test_rerun_computes_nothing_and_gives_identical_metrics(tmp_path):
    a = run(tmp_path, bootstrap=200)
    b = run(tmp_path, bootstrap=200)
    assert b.doc["tasks"]["toy_shapes"]["cache"] == {"hits": 40, "computed": 0}
    assert a.doc["tasks"]["toy_shapes"]["metrics"] == b.doc["tasks"]["toy_shapes"]["metrics"]


def test_limit_and_no_cache(tmp_path):
    res = run(tmp_path, limit=5, use_cache=False)
    t = res.doc["tasks"]["toy_shapes"]
    assert t["n_samples"] == 5 and t["data"]["n_available"] == 40
    assert not (tmp_path / "cache").exists()


def test_workers_give_same_results(tmp_path):
    a = run(tmp_path, use_cache=False, num_workers=0, batch_size=8)
    b = run(tmp_path, use_cache=False, num_workers=2, batch_size=5)
    assert a.doc["tasks"]["toy_shapes"]["metrics"] == b.doc["tasks"]["toy_shapes"]["metrics"]


@pytest.mark.parametrize("mode,msg", [
    ("shape", r"classify logits has shape \(\d+, 5\), expected \(\d+, 3\)"),
    ("nan", "NaN or infinite"),
    ("count", r"shape \(\d+, 3\), expected"),
    ("type", "expected ClassifyOutput"),
])
def test_bad_adapter_output_stops_naming_adapter_task_and_samples(tmp_path, mode, msg):
    with pytest.raises(AdapterError, match=msg) as e:
        run(tmp_path, model="toy_bad", model_args=f"mode={mode}", use_cache=False)
    assert "adapter 'toy_bad' on task 'toy_shapes'" in str(e.value)
    # NaN: the one sample whose row is bad (the last of the first batch of 32), not the whole batch
    assert ("(sample 0031)" if mode == "nan" else "samples 00") in str(e.value)


def test_corrupt_image_stops_or_is_skipped_and_counted(tmp_path):
    data = tmp_path / "data"
    run(tmp_path, use_cache=False, limit=1)  # generate the images
    (data / "0003.png").write_bytes(b"not a png at all")
    with pytest.raises(TaskError) as e:
        run(tmp_path, use_cache=False)
    assert "0003.png" in str(e.value) and "sample 0003" in str(e.value) and "--on-error skip" in str(e.value)
    res = run(tmp_path, on_error="skip", output=tmp_path / "out")
    t = res.doc["tasks"]["toy_shapes"]
    assert t["n_skipped"] == 1 and t["n_scored"] == 39 and t["skipped"][0]["id"] == "0003"
    assert res.metric("toy_shapes") == 1.0
    load_results(res.path)


def test_unwritable_output_fails_before_model_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = tmp_path / "computed.log"
    with pytest.raises(PermissionError, match="not writable"):
        run(tmp_path, model="toy_slow", model_args=f"log={log},delay=0", output=blocker / "sub")
    assert not log.exists()


def test_missing_capability_fails_before_work(tmp_path):
    from mmharness.executors import CapabilityError

    with pytest.raises(CapabilityError, match="needs classify or embed_image"):
        run(tmp_path, model="toy_llm", use_cache=False)
    assert not (tmp_path / "data").exists(), "capabilities are checked before data loading"


def test_results_schema_rejects_bad_documents(tmp_path):
    res = run(tmp_path, use_cache=False)
    doc = json.loads(json.dumps(res.doc))
    validate_results(doc)
    del doc["tasks"]["toy_shapes"]["metrics"]
    from mmharness.results import ResultsError

    with pytest.raises(ResultsError, match="metrics"):
        validate_results(doc)


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "mmharness", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_sigkill_midway_then_rerun_computes_only_missing(tmp_path):
    """Kill a run with SIGKILL mid-way; the rerun computes only what was missing and its metrics
    equal those of an uninterrupted run."""
    log = tmp_path / "computed.log"
    common = ["run", "--include", PLUGIN, "--tasks", "toy_shapes", "--task-args", "n=60",
              "--data-root", str(tmp_path / "data"), "--batch-size", "4", "--no-progress",
              "--bootstrap", "100", "--output", str(tmp_path / "out")]
    p = _cli(*common, "--model", "toy_slow", "--model-args", f"log={log},delay=0.25",
             "--cache-dir", str(tmp_path / "cache"))
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(log.read_text().split()) >= 16:
            break
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    first = log.read_text().split()
    assert 16 <= len(first) < 60, "the run should have been killed mid-way"
    log.write_text("")
    p2 = _cli(*common, "--model", "toy_slow", "--model-args", f"log={log},delay=0",
              "--cache-dir", str(tmp_path / "cache"), "--json")
    out, err = p2.communicate(timeout=120)
    assert p2.returncode == 0, err
    second = log.read_text().split()
    # every sample computed exactly once over the two runs, except at most the batch in flight
    assert set(first) | set(second) == {f"{i:04d}" for i in range(60)}
    assert len(set(first) & set(second)) <= 4
    resumed = json.loads(out)
    t = resumed["tasks"]["toy_shapes"]
    assert t["cache"]["computed"] == len(second) and t["cache"]["hits"] == 60 - len(second)
    p3 = _cli(*common, "--model", "toy_slow", "--model-args", f"log={tmp_path / 'clean.log'},delay=0",
              "--no-cache", "--json")
    out3, err3 = p3.communicate(timeout=120)
    assert p3.returncode == 0, err3
    assert json.loads(out3)["tasks"]["toy_shapes"]["metrics"] == t["metrics"]


@pytest.mark.slow
def test_torchrun_two_gloo_processes_match_single_process_and_resume(tmp_path):
    """2 gloo ranks on CPU: a resume of a 1-process partial run, metrics equal to 1 process."""
    torchrun = Path(sys.executable).parent / "torchrun"
    common = ["run", "--include", PLUGIN, "--model", "toy_perfect", "--tasks", "toy_shapes",
              "--data-root", str(tmp_path / "data"), "--no-progress", "--bootstrap", "100",
              "--batch-size", "4", "--json"]
    first = _cli(*common, "--limit", "15", "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "o1"))
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    p = subprocess.Popen([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "mmharness",
                          *common, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "o2")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=240)
    assert p.returncode == 0, err
    doc = json.loads(out)  # only rank 0 prints
    t = doc["tasks"]["toy_shapes"]
    assert doc["config"]["world_size"] == 2
    assert t["cache"] == {"hits": 15, "computed": 25} and t["n_scored"] == 40
    assert len(list((tmp_path / "o2").glob("results_*.json"))) == 1
    load_results(next((tmp_path / "o2").glob("results_*.json")))
    single = _cli(*common, "--no-cache", "--output", str(tmp_path / "o3"))
    out1, err1 = single.communicate(timeout=120)
    assert single.returncode == 0, err1
    assert json.loads(out1)["tasks"]["toy_shapes"]["metrics"] == t["metrics"]


def test_text_batch_size_default_depends_on_the_device_and_is_recorded(tmp_path):
    from mmharness.devices import default_text_batch_size

    assert default_text_batch_size("cpu") == 32
    assert default_text_batch_size("cuda:0") == default_text_batch_size("mps") == 256
    res = run(tmp_path, use_cache=False, device="cpu")
    assert res.doc["config"]["text_batch_size"] == 32
    assert run(tmp_path, use_cache=False, text_batch_size=7).doc["config"]["text_batch_size"] == 7
    with pytest.raises(ValueError, match="text_batch_size must be >= 1"):
        run(tmp_path, text_batch_size=0)


def test_input_hash_covers_every_byte_of_tensors_arrays_and_images():
    import torch
    from PIL import Image

    from mmharness.input_hash import hash_content, input_hash_digest, new_input_hash

    def digest(x):
        h = new_input_hash()
        hash_content(h, x)
        return input_hash_digest(h)

    a = torch.zeros(4000)
    b = a.clone()
    b[2000] = 1.0  # repr() of both tensors is the same: the middle is elided
    assert repr(a) == repr(b) and digest(a) != digest(b)
    assert digest(a) != digest(a.to(torch.bfloat16)) != digest(a.reshape(40, 100))
    assert digest(a) == digest(a.clone())
    arr = np.zeros((8, 8, 3), np.uint8)
    arr2 = arr.copy()
    arr2[4, 4, 1] = 1
    assert digest(arr) != digest(arr2)
    assert digest(Image.fromarray(arr)) == digest(Image.fromarray(arr.copy())) != digest(Image.fromarray(arr2))


def test_requests_are_built_once_per_sample_in_process_and_rebuilt_after_workers(tmp_path, monkeypatch):
    """Without workers the request a sample's inputs were decoded for is the one the executor
    gets (built once); a worker's requests stay in the worker and the main process rebuilds them.
    (The toy task's executor has no ``prepare``, which would build each request once more.)"""
    from mmharness.registry import TASKS

    cls = TASKS.get("toy_shapes")
    built = []
    real = cls.request
    monkeypatch.setattr(cls, "request", lambda self, s: built.append(s.id) or real(self, s))
    a = run(tmp_path, use_cache=False, num_workers=0)
    assert a.metric("toy_shapes") == 1.0 and len(built) == 40
    built.clear()
    b = run(tmp_path, use_cache=False, num_workers=1)  # the worker's builds happen in its own process
    assert b.doc["tasks"]["toy_shapes"]["metrics"] == a.doc["tasks"]["toy_shapes"]["metrics"]
    assert len(built) == 40  # the main process's rebuild
