"""The streaming path of the runner (adapters that answer requests concurrently), without a server:
the in-process ``concurrent-echo`` adapter of tests/plugins/concurrent_plugin.py on the MMRA sample.

Checked: up to N requests in flight from N threads; no per-batch barrier (one slow request holds
up only itself); results and sample logs identical to a sequential run; a sample's own error stops
the run naming it, or is skipped and counted; a SIGKILL mid-run loses only the requests in flight,
and the rerun resumes from the cache with identical metrics.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmharness.adapter import SampleRequestError, build_adapter
from mmharness.evaluate import evaluate
from mmharness.registry import ADAPTERS, include
from mmharness.results import load_results

PLUGIN = Path(__file__).parent / "plugins" / "concurrent_plugin.py"
ROOT = Path(__file__).resolve().parent.parent


def _adapter(**args):
    include(str(PLUGIN))
    return build_adapter(ADAPTERS.get("concurrent-echo"), {k: str(v) for k, v in args.items()})


def _run(adapter, tmp_path, name, **kw):
    kw.setdefault("use_cache", False)
    res = evaluate(adapter, "mmra", sample=True, progress=False, bootstrap=0, log_samples=True,
                   output=tmp_path / name, batch_size=4, **kw)
    return res, [json.loads(line) for line in res.sample_logs["mmra"].read_text().splitlines()]


def test_requests_stream_across_batches_without_a_barrier(tmp_path):
    """Batches of 4, 4 in flight: while sample 0001 takes 1.5 s, the other three slots answer every
    other sample (a per-batch barrier would hold the first batch until 0001 returns)."""
    ad = _adapter(max_concurrency=4, delay=0.01, slow_sample="0001", slow_delay=1.5)
    res, rows = _run(ad, tmp_path, "a")
    assert ad.max_seen == 4 and len(ad.threads) == 4
    assert ad.completed[-1] == "0001" and len(ad.completed) == 22
    req = res.doc["tasks"]["mmra"]["requests"]
    assert req["max_in_flight"] == 4 and req["completed"] == 22 and req["latency_seconds"]["max"] >= 1.5
    assert res.doc["tasks"]["mmra"]["metrics"]["overall"]["value"] == 1.0
    assert [r["id"] for r in rows] == [f"{i:04d}" for i in range(22)]


def test_concurrent_results_equal_sequential(tmp_path):
    seq, rows_seq = _run(_adapter(max_concurrency=1), tmp_path, "seq")
    par, rows_par = _run(_adapter(max_concurrency=8, delay=0.005), tmp_path, "par")
    assert rows_par == rows_seq  # content and order
    t_seq, t_par = seq.doc["tasks"]["mmra"], par.doc["tasks"]["mmra"]
    assert t_par["metrics"] == t_seq["metrics"] and t_par["tables"] == t_seq["tables"]
    assert t_seq["requests"]["max_in_flight"] == 1 and t_par["requests"]["max_in_flight"] == 8
    load_results(par.path)  # validates against the shipped schema


def test_a_samples_own_error_stops_the_run_or_is_skipped(tmp_path):
    with pytest.raises(SampleRequestError, match=r"adapter 'concurrent-echo' on task 'mmra', sample 0005: "
                                                 r"refused by the test adapter.*--on-error skip"):
        _run(_adapter(fail_sample="0005"), tmp_path, "raise")
    res, rows = _run(_adapter(fail_sample="0005"), tmp_path, "skip", on_error="skip")
    t = res.doc["tasks"]["mmra"]
    assert t["n_skipped"] == 1 and t["skipped"][0]["id"] == "0005"
    assert "refused by the test adapter" in t["skipped"][0]["error"]
    assert t["tables"]["scoring"]["n_failed"] == 1  # MMRA scores a failed item as wrong, never as ""
    assert t["metrics"]["overall"]["value"] == pytest.approx(21 / 22)
    assert next(r for r in rows if r["id"] == "0005")["skipped"] is True


def test_errors_keep_the_answers_that_completed(tmp_path):
    """The run stops at sample 0009's error, but every answer completed before is in the cache."""
    cache = tmp_path / "cache"
    with pytest.raises(SampleRequestError):
        _run(_adapter(max_concurrency=1, fail_sample="0009"), tmp_path, "a", use_cache=True, cache_dir=cache)
    with sqlite3.connect(cache / "responses.sqlite") as db:
        ids = sorted(r[0] for r in db.execute("SELECT sample FROM responses"))
    assert ids == [f"{i:04d}" for i in range(9)]
    res, _ = _run(_adapter(max_concurrency=4), tmp_path, "b", use_cache=True, cache_dir=cache)
    assert res.doc["tasks"]["mmra"]["cache"] == {"hits": 9, "computed": 13}


@pytest.mark.slow
def test_sigkill_loses_only_the_requests_in_flight_and_the_rerun_resumes(tmp_path):
    """Samples 0000-0009 answer at once; 0010-0013 (the four in flight) never return. SIGKILL then:
    exactly the ten completed answers are in the cache, and the rerun computes only the rest."""
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "mmharness", "run", "--include", str(PLUGIN), "--model", "concurrent-echo",
           "--model-args", "max_concurrency=4,block_from=10", "--tasks", "mmra", "--sample", "--cache-dir",
           str(cache), "--no-progress", "--bootstrap", "0", "--output", str(tmp_path / "killed")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    db_path = cache / "responses.sqlite"
    n, deadline = 0, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and n < 10:
            assert proc.poll() is None, proc.stdout.read().decode()
            if db_path.exists():
                try:
                    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                        n = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.05)
        time.sleep(0.3)  # the four blocked requests stay in flight
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with sqlite3.connect(db_path) as db:
        ids = sorted(r[0] for r in db.execute("SELECT sample FROM responses"))
    assert ids == [f"{i:04d}" for i in range(10)]
    res, _ = _run(_adapter(max_concurrency=4), tmp_path, "resumed", use_cache=True, cache_dir=cache)
    full, _ = _run(_adapter(max_concurrency=4), tmp_path, "full")
    t = res.doc["tasks"]["mmra"]
    assert t["cache"] == {"hits": 10, "computed": 12}
    assert t["metrics"] == full.doc["tasks"]["mmra"]["metrics"]
