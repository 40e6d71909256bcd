"""The execution step between responses and scoring (mmharness.execution): PixelWorld MBPP's programs
run once, each outcome cached as it finishes, so a run killed during the executions resumes with
only the programs left; ``score`` itself starts no process; MMRA scores from its samples alone."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmharness import sandbox
from mmharness.adapters.text_baselines import script_line
from mmharness.evaluate import build_task, evaluate, score_task
from mmharness.execution import run_executions
from mmharness.requests import TextResponse
from mmharness.sandbox import ExecResult, Program, SandboxLimits
from mmharness.task import DataConfig, ScoreContext, TaskError
from mmharness.tasks.pixelworld import _PixelWorldBase
from mmharness.verify import verify_results

REPO = Path(__file__).resolve().parent.parent
MBPP_ARGS = "allow_code_execution=true,code_workers=1"


def _answers(tmp_path: Path, wrong: set[str] = frozenset(), name: str = "answers.jsonl") -> Path:
    """Scripted MBPP answers for the bundled sample: the gold code, or ``return a`` for ids in ``wrong``."""
    task = build_task("pixelworld_mbpp", {"allow_code_execution": "true"})
    lines = []
    for s in task.load(DataConfig(sample=True)).samples:
        ref = task.request(s).reference
        if s.id in wrong:
            ref = "Answer:\n```python\ndef max_of_two(a, b):\n    return a\ndef reverse_string(s):\n    return s\n```"
        lines.append(script_line(s.id, ref))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _mbpp(answers: Path, **kw):
    return evaluate("scripted", "pixelworld_mbpp", model_args=f"path={answers}", task_args=MBPP_ARGS, sample=True,
                    progress=False, bootstrap=0, **kw)


def _stored(cache: Path) -> int:
    with sqlite3.connect(cache / "responses.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]


class _Counter:
    """Counts the programs actually run (wraps the real Program.run)."""

    def __init__(self, monkeypatch):
        self.n = 0
        real = Program.run

        def run(prog):
            self.n += 1
            return real(prog)

        monkeypatch.setattr(Program, "run", run)


KILLER = textwrap.dedent("""
    import os, signal, sqlite3, sys, time
    from mmharness.evaluate import evaluate
    from mmharness.sandbox import Program

    cache, answers = sys.argv[1], sys.argv[2]
    real, calls = Program.run, [0]

    def run(prog):  # SIGKILL this process when the third program starts, once two outcomes are stored
        calls[0] += 1
        if calls[0] == 3:
            deadline = time.time() + 30
            while time.time() < deadline:
                with sqlite3.connect(cache + "/responses.sqlite") as db:
                    if db.execute("SELECT COUNT(*) FROM executions").fetchone()[0] >= 2:
                        break
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(prog)

    Program.run = run
    evaluate("scripted", "pixelworld_mbpp", model_args="path=" + answers, sample=True, progress=False,
             task_args="allow_code_execution=true,code_workers=1", cache_dir=cache, bootstrap=0)
""")


@pytest.mark.slow
def test_a_run_killed_during_the_executions_reruns_only_the_programs_left(tmp_path, monkeypatch):
    answers = _answers(tmp_path, wrong={"MBPP_sanitized_1|text"})
    cache = tmp_path / "cache"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(script), str(cache), str(answers)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert _stored(cache) == 2  # the two programs that finished; the third was in flight

    count = _Counter(monkeypatch)
    res = _mbpp(answers, cache_dir=cache)
    t = res.doc["tasks"]["pixelworld_mbpp"]
    assert count.n == 2 and t["executions"] == {"cached": 2, "executed": 2}
    assert t["cache"] == {"hits": 4, "computed": 0}  # the responses were stored before the executions began
    assert _stored(cache) == 4
    # the numbers of an uninterrupted run without any cache
    fresh = _mbpp(answers, use_cache=False).doc["tasks"]["pixelworld_mbpp"]
    assert fresh["executions"] == {"cached": 0, "executed": 4}
    assert t["metrics"] == fresh["metrics"] and t["tables"] == fresh["tables"]
    assert t["metrics"]["score_text"]["value"] == 0.5 and t["metrics"]["score_img"]["value"] == 1.0
    assert t["tables"]["code_execution"]["statuses"] == {"text": {"passed": 1, "failed": 1}, "img": {"passed": 2}}
    assert count.n == 6

    # a third run executes nothing; one changed answer executes that one program only
    again = _mbpp(answers, cache_dir=cache).doc["tasks"]["pixelworld_mbpp"]
    assert again["executions"] == {"cached": 4, "executed": 0} and again["metrics"] == t["metrics"]
    changed = _answers(tmp_path, wrong={"MBPP_sanitized_1|text", "MBPP_full_0|img"}, name="changed.jsonl")
    moved = _mbpp(changed, cache_dir=cache).doc["tasks"]["pixelworld_mbpp"]
    assert moved["executions"] == {"cached": 3, "executed": 1} and count.n == 7
    assert moved["metrics"]["score_img"]["value"] == 0.5


def test_other_limits_or_mode_run_the_programs_again(tmp_path):
    """The outcome key holds the sandbox settings: another timeout or the unsandboxed mode is not
    served outcomes of the sandboxed runs."""
    answers = _answers(tmp_path)
    cache = tmp_path / "cache"
    first = _mbpp(answers, cache_dir=cache).doc["tasks"]["pixelworld_mbpp"]
    assert first["executions"] == {"cached": 0, "executed": 4}
    res = evaluate("scripted", "pixelworld_mbpp", model_args=f"path={answers}", sample=True, progress=False,
                   bootstrap=0, cache_dir=cache, task_args=MBPP_ARGS + ",code_timeout=2")
    assert res.doc["tasks"]["pixelworld_mbpp"]["executions"] == {"cached": 0, "executed": 4}
    code = "assert 1 + 1 == 2"
    ids = {Program(code).identity(), Program(code, SandboxLimits(timeout_s=2.0)).identity(),
           Program(code, sandboxed=False).identity(), Program(code, setup="x = 1").identity(),
           Program(code, result_var="x").identity(), Program(code + " ").identity()}
    assert len(ids) == 6 and Program(code).identity() == Program(code).identity()
    outcome = ExecResult("timeout", "killed after 3.0 s wall time", 3.2, {"a": [1, 2.5]})
    assert ExecResult.from_dict(json.loads(json.dumps(outcome.as_dict()))) == outcome


def test_score_starts_no_process_and_its_numbers_are_unchanged(tmp_path, monkeypatch):
    real_score = _PixelWorldBase.score
    scored = []

    def guarded(self, samples, responses, ctx):
        def refuse(*a, **k):
            raise AssertionError("score started a process")

        for probe in (sandbox._bwrap_features, sandbox._unsandboxed_network, sandbox._probe):
            probe.cache_clear()  # a probe of the sandbox during score would start a process again
        with pytest.MonkeyPatch.context() as during_score:
            during_score.setattr(subprocess, "Popen", refuse)
            res = real_score(self, samples, responses, ctx)
        scored.append(self.name)
        return res

    monkeypatch.setattr(_PixelWorldBase, "score", guarded)
    answers = _answers(tmp_path, wrong={"MBPP_sanitized_1|text", "MBPP_full_0|img", "MBPP_sanitized_1|img"})
    res = _mbpp(answers, use_cache=False, output=tmp_path / "out", log_samples=True)
    assert scored == ["pixelworld_mbpp"]
    t = res.doc["tasks"]["pixelworld_mbpp"]
    m = {k: v["value"] for k, v in t["metrics"].items()}
    assert m == {"score_text": 0.5, "score_img": 0.0, "delta_img_minus_text": -0.5,
                 "unparsed_rate_text": 0.0, "unparsed_rate_img": 0.0}
    assert t["tables"]["code_execution"]["statuses"] == {"text": {"passed": 1, "failed": 1}, "img": {"failed": 2}}
    rows = {r["id"]: r["scores"] for r in map(json.loads, res.sample_logs["pixelworld_mbpp"].read_text().splitlines())}
    assert rows["MBPP_full_0|text"]["exec_status"] == "passed" and rows["MBPP_full_0|text"]["score"] == 1.0
    assert rows["MBPP_full_0|img"]["exec_status"] == "failed"
    assert rows["MBPP_full_0|img"]["exec_detail"].startswith("AssertionError")
    # the results file re-scores (mmh results verify runs the programs again, without a cache)
    check = verify_results(res.path)
    assert check.ok, check.reason()

    # TableBench Visualization: the gold chart code runs in the execution step, not in score
    tb_args = {"allow_code_execution": "true", "modes": "text", "render_font": "builtin",
               "render_preset": "no_random"}
    tb = build_task("pixelworld_tablebench", tb_args)
    gold = tmp_path / "tb.jsonl"
    gold.write_text("".join(script_line(s.id, tb.request(s).reference) + "\n"
                            for s in tb.load(DataConfig(sample=True)).samples))
    res = evaluate("scripted", "pixelworld_tablebench", model_args=f"path={gold}", sample=True, use_cache=False,
                   progress=False, bootstrap=0, task_args=",".join(f"{k}={v}" for k, v in tb_args.items()))
    t = res.doc["tasks"]["pixelworld_tablebench"]
    assert scored == ["pixelworld_mbpp", "pixelworld_mbpp", "pixelworld_tablebench"]
    assert t["metrics"]["score_text"]["value"] == 1.0 and t["executions"] == {"cached": 0, "executed": 2}
    assert t["tables"]["code_execution"]["statuses"] == {"text": {"ran": 2}}
    assert [r["metrics"] for r in t["tables"]["per_subset"] if r["subset"] == "Visualization"] == \
        [{"ecr@1": 1.0, "pass@1": 1.0}]


def test_score_without_the_execution_step_is_a_clear_error(tmp_path):
    task = build_task("pixelworld_mbpp", {"allow_code_execution": "true"})
    samples = task.load(DataConfig(sample=True)).samples
    responses = [TextResponse(task.request(s).reference) for s in samples]
    with pytest.raises(TaskError, match=r"sample MBPP_full_0\|text is scored without the outcome of its program "
                                        r"'tests': run the execution step before scoring"):
        task.score(samples, responses, ScoreContext(bootstrap_resamples=0))
    done = run_executions(task, samples, responses)
    assert done.counts() == {"cached": 0, "executed": 4}
    assert {sid: {k: r.status for k, r in v.items()} for sid, v in done.records.items()} == \
        {s.id: {"tests": "passed"} for s in samples}
    res = task.score(samples, responses, ScoreContext(bootstrap_resamples=0, executions=done.records))
    assert res.metrics["score_text"].value == res.metrics["score_img"].value == 1.0


def test_mmra_scores_on_a_fresh_instance_that_never_loaded(tmp_path):
    loaded = build_task("mmra")
    samples = loaded.load(DataConfig(sample=True)).samples
    responses = [TextResponse(s.gold if k % 3 else "(Z)") for k, s in enumerate(samples)]
    keep = [k for k in range(len(samples)) if k % 7 != 3]  # some samples got no response (skipped)
    kept = [responses[k] for k in keep]
    a = score_task(loaded, samples, keep, kept, seed=0, bootstrap=50, ci_level=0.95)
    fresh = build_task("mmra")
    assert not fresh._chance
    b = score_task(fresh, samples, keep, kept, seed=0, bootstrap=50, ci_level=0.95)
    assert {k: v.as_dict() for k, v in a.metrics.items()} == {k: v.as_dict() for k, v in b.metrics.items()}
    assert a.tables == b.tables and a.per_sample == b.per_sample and a.notes == b.notes
    assert a.tables["scoring"]["n_failed"] == len(samples) - len(keep) == 3
    assert a.tables["scoring"]["chance_overall"] == pytest.approx(loaded.metric_spec("overall").chance)
    assert a.metrics["overall"].value == pytest.approx(sum(1 for k in keep if k % 3) / len(samples))
    with pytest.raises(TaskError, match=r"missing_ids names \['0003'\] without their samples"):
        fresh.score([samples[k] for k in keep], kept, ScoreContext(bootstrap_resamples=0, missing_ids=("0003",)))
