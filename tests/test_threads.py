"""The CPU thread budget: fixed and auto settings, the once-only auto decision, restoring torch's
thread count, and what reaches the results."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.registry import include
from mmharness.threads import ThreadBudget, available_cores, parse_threads, worker_cpu_since_last

include(str(Path(__file__).parent / "plugins" / "toy_plugin.py"))


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_parse_threads():
    assert parse_threads("auto") == "auto" and parse_threads(None) == "auto"
    assert parse_threads("3") == 3 and parse_threads(2) == 2
    for bad in ("0", "-1", "two", 2.5, 0):
        with pytest.raises(ValueError, match="expected 'auto' or a positive integer"):
            parse_threads(bad)


def test_fixed_setting_applies_inside_and_restores_after(restore_threads):
    torch.set_num_threads(2)
    with ThreadBudget(1, num_workers=2, device="cpu") as b:
        assert torch.get_num_threads() == 1
        for _ in range(6):
            b.observe(1.0, 0.1)  # a fixed setting never tunes
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    assert b.record() == {"setting": 1, "start": 1, "end": 1, "cores": available_cores(),
                          "workers_busy": None, "decided_after_batches": None}


def test_auto_lowers_threads_once_when_busy_workers_oversubscribe(restore_threads):
    torch.set_num_threads(4)
    with ThreadBudget("auto", num_workers=1, device="cpu", cores=4, window=3) as b:
        b.observe(9.0, 0.01)  # start-up batch: not counted
        b.observe(0.9, 1.0)
        b.observe(0.8, 10.0)  # one stalled batch: the median ignores it
        assert torch.get_num_threads() == 4 and b.decided_after is None
        b.observe(1.0, 1.0)
        assert torch.get_num_threads() == 3  # 4 threads + 0.9 busy cores > 4.5: keep 4 - 1 cores
        b.observe(0.0, 1.0)  # decided once: later batches change nothing
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == 4
    rec = b.record()
    assert rec["start"] == 4 and rec["end"] == 3 and rec["workers_busy"] == pytest.approx(0.9)
    assert rec["decided_after_batches"] == 4


def test_auto_keeps_threads_when_workers_are_mostly_idle(restore_threads):
    torch.set_num_threads(2)
    with ThreadBudget("auto", num_workers=2, device="cpu", cores=2, window=2) as b:
        for cpu, wall in ((5.0, 1.0), (0.3, 1.0), (0.4, 1.0)):
            b.observe(cpu, wall)
        assert torch.get_num_threads() == 2
    assert b.record()["workers_busy"] == pytest.approx(0.4) and b.record()["end"] == 2


def test_auto_never_goes_below_one_thread(restore_threads):
    torch.set_num_threads(2)
    with ThreadBudget("auto", num_workers=4, device="cpu", cores=2, window=1) as b:
        b.observe(1.0, 1.0)
        b.observe(3.5, 1.0)  # workers keep 3.5 cores busy on a 2-core machine
        assert torch.get_num_threads() == 1


@pytest.mark.parametrize("workers,device", [(0, "cpu"), (2, "cuda:0"), (2, "mps")])
def test_auto_does_not_tune_without_workers_or_on_an_accelerator(restore_threads, workers, device):
    torch.set_num_threads(2)
    with ThreadBudget("auto", num_workers=workers, device=device, cores=2, window=1) as b:
        for _ in range(4):
            b.observe(5.0, 1.0)
        assert torch.get_num_threads() == 2
    assert b.record()["decided_after_batches"] is None


def test_worker_clock_is_none_in_the_main_process():
    assert worker_cpu_since_last() is None


def test_results_record_the_setting_and_the_threads_used(tmp_path, restore_threads):
    torch.set_num_threads(2)
    kw = dict(data_root=tmp_path / "data", use_cache=False, progress=False, bootstrap=0, batch_size=4)
    fixed = evaluate("toy_perfect", "toy_shapes", threads=1, num_workers=1, **kw)
    assert torch.get_num_threads() == 2  # restored after the run
    assert fixed.doc["config"]["threads"] == 1
    assert fixed.doc["tasks"]["toy_shapes"]["timing"]["cpu_threads"]["end"] == 1
    auto = evaluate("toy_perfect", "toy_shapes", num_workers=1, **kw)  # 40 samples: 10 batches
    rec = auto.doc["tasks"]["toy_shapes"]["timing"]["cpu_threads"]
    assert auto.doc["config"]["threads"] == "auto" and rec["setting"] == "auto" and rec["start"] == 2
    assert rec["decided_after_batches"] == 4 and rec["workers_busy"] >= 0  # measured in the worker
    assert rec["end"] in (1, 2) and torch.get_num_threads() == 2
    assert auto.metric("toy_shapes") == fixed.metric("toy_shapes") == 1.0


def test_cli_rejects_a_bad_thread_count(tmp_path):
    res = CliRunner().invoke(main, ["run", "--model", "random", "--tasks", "cifar10_b", "--sample",
                                    "--threads", "zero", "--output", str(tmp_path)])
    assert res.exit_code != 0 and "expected 'auto' or a positive integer" in res.output
