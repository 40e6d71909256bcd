"""A streamed task under torchrun: rank 0 re-reads the shared on-disk cache lazily (no label maps are
gathered between processes) and gets the same confusion matrix as a single process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # see `make test-fast`


def test_two_gloo_ranks_stream_from_the_shared_cache(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    common = ["-m", "mmharness", "run", "--model", "torchvision", "--model-args",
              "model=lraspp_mobilenet_v3_large,num_classes=15", "--tasks", "fmb", "--sample", "--no-progress",
              "--batch-size", "2", "--bootstrap", "0", "--json"]
    p = subprocess.Popen([str(torchrun), "--standalone", "--nproc_per_node", "2", *common, "--cache-dir",
                          str(tmp_path / "cache"), "--output", str(tmp_path / "o2")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    t = json.loads(out)["tasks"]["fmb"]
    assert t["n_scored"] == 6 and t["cache"]["computed"] == 6
    single = subprocess.run([sys.executable, *common, "--no-cache", "--output", str(tmp_path / "o1")],
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    s = json.loads(single.stdout)["tasks"]["fmb"]
    assert s["tables"]["confusion_matrix"] == t["tables"]["confusion_matrix"]
    assert s["metrics"] == t["metrics"] and s["tables"]["n_images"] == t["tables"]["n_images"] == 6
