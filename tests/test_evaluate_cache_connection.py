"""evaluate opens the response cache once: the connection that checks the cache directory before
any data or model work is the one the run uses, and it is closed however the run ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmharness import evaluate as evaluate_mod
from mmharness.cache import ResponseCache
from mmharness.evaluate import evaluate
from mmharness.registry import include
from mmharness.task import TaskError

include(str(Path(__file__).parent / "plugins" / "toy_plugin.py"))


@pytest.fixture
def opened(monkeypatch):
    """Every ResponseCache evaluate opens, with whether it was closed."""
    log: list[dict] = []

    class Counting(ResponseCache):
        def __init__(self, directory):
            super().__init__(directory)
            self.entry = {"closed": False}
            log.append(self.entry)

        def close(self):
            self.entry["closed"] = True
            super().close()

    monkeypatch.setattr(evaluate_mod, "ResponseCache", Counting)
    return log


def _run(tmp_path, **kw):
    return evaluate("toy_perfect", "toy_shapes", data_root=tmp_path / "data", cache_dir=tmp_path / "cache",
                    progress=False, bootstrap=0, **kw)


def test_one_connection_per_run_closed_at_the_end(tmp_path, opened):
    first = _run(tmp_path)
    assert opened == [{"closed": True}]
    again = _run(tmp_path)  # the responses the first run wrote are read back through it
    assert len(opened) == 2 and all(e["closed"] for e in opened)
    assert again.doc["tasks"]["toy_shapes"]["cache"] == {"hits": 40, "computed": 0}
    assert again.doc["tasks"]["toy_shapes"]["metrics"] == first.doc["tasks"]["toy_shapes"]["metrics"]
    assert again.doc["config"]["cache"] == str(tmp_path / "cache" / "responses.sqlite")


def test_the_connection_is_closed_when_the_run_fails_before_the_model_runs(tmp_path, opened):
    with pytest.raises(TaskError):
        _run(tmp_path, task_args="no_such_option=1")
    assert opened == [{"closed": True}]


def test_no_cache_and_dry_run_open_none(tmp_path, opened):
    _run(tmp_path, use_cache=False)
    _run(tmp_path, dry_run=True)
    assert opened == []
