"""``mmh compare``: per-task deltas with paired bootstrap CIs from per-sample logs, computed from
each task's metric declarations (CIFAR-B, MMRA, a plugin task), and clear statements when no
paired CI is possible."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lb_helpers import real_runs
from mmharness.adapter import Adapter
from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.leaderboard import LeaderboardError
from mmharness.leaderboard.compare import compare_runs
from mmharness.registry import register_adapter
from mmharness.results import load_results, write_results

TOY_PLUGIN = str(Path(__file__).parent / "plugins" / "toy_plugin.py")


@register_adapter("test_answer_a")
class AnswerA(Adapter):
    """Answers every generation request with the letter A (a real, weak MMRA 'model')."""

    def generate(self, batch):
        return ["The answer is A." for _ in batch.sample_ids]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return real_runs(out)


def _task(rep, name):
    return next(t for t in rep["tasks"] if t["task"] == name)


def _metric(task, name):
    return next(m for m in task["metrics"] if m["metric"] == name)


def _log(results_path, task):
    doc = load_results(results_path)
    p = Path(results_path).parent / doc["tasks"][task]["samples_log"]
    return [json.loads(line) for line in p.read_text().splitlines()]


def test_paired_ci_of_accuracy_matches_an_independent_computation(runs):
    rep = compare_runs(runs["random"], runs["oracle"], resamples=500, seed=7)
    t = _task(rep, "cifar10_b")
    assert t["paired"] and t["n_paired"] == 50 and t["why_not_paired"] is None
    acc = _metric(t, "accuracy")
    a = load_results(runs["random"])["tasks"]["cifar10_b"]["metrics"]["accuracy"]["value"]
    assert acc["a"] == a and acc["b"] == 1.0 and acc["delta"] == pytest.approx(1.0 - a)
    # the same resample of items applied to both runs (rows are in the same sample order here)
    ca = np.array([r["scores"]["correct"] for r in _log(runs["random"], "cifar10_b")], dtype=float)
    cb = np.array([r["scores"]["correct"] for r in _log(runs["oracle"], "cifar10_b")], dtype=float)
    idx = np.random.default_rng(7).integers(0, 50, size=(500, 50))
    lo, hi = np.quantile(cb[idx].mean(1) - ca[idx].mean(1), [0.025, 0.975])
    assert acc["ci"] == [pytest.approx(lo), pytest.approx(hi)]
    assert acc["paired_ci"] and acc["verdict"] == "B better"


def test_macrostd_is_recomputed_from_the_logs(runs):
    rep = compare_runs(runs["oracle"], runs["random"], resamples=300)
    t = _task(rep, "cifar100_b")
    assert t["paired"] and t["n_paired"] == 200
    for name in ("macrostd_population", "macrostd_nist", "macrostd_unweighted", "macrostd", "accuracy"):
        m = _metric(t, name)
        assert m["paired_ci"], (name, m["why_no_ci"])
        assert m["ci"][0] <= m["delta"] + 1e-12 and m["ci"][1] >= m["delta"] - 1e-12 or m["delta"] == 0
    assert _metric(t, "macrostd_population")["primary"]
    assert _metric(t, "accuracy")["verdict"] == "A better"  # oracle (A) beats random on accuracy


def test_no_logs_means_no_paired_ci_and_says_why(runs, tmp_path):
    plain = evaluate("random", "cifar10_b", model_args="seed=0", sample=True, use_cache=False, output=tmp_path,
                     bootstrap=0, progress=False)
    rep = compare_runs(plain.path, runs["oracle"])
    t = _task(rep, "cifar10_b")
    why = t["why_not_paired"]
    assert not t["paired"] and "without --log-samples" in why and why.startswith("no paired CI: A:")
    m = _metric(t, "accuracy")
    assert m["ci"] is None and m["verdict"] == "no CI" and m["delta"] == pytest.approx(1.0 - m["a"])
    assert rep["only_in_b"] == ["cifar100_b"] and rep["only_in_a"] == []
    r = CliRunner().invoke(main, ["compare", str(plain.path), str(runs["oracle"])])
    assert r.exit_code == 0
    assert "without --log-samples" in r.stdout and "no paired confidence intervals" in r.stderr
    assert "only in B: cifar100_b" in r.stdout


def test_missing_or_truncated_log_is_named(runs, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(Path(runs["random"]).parent, d)
    res = d / Path(runs["random"]).name
    log = d / load_results(res)["tasks"]["cifar10_b"]["samples_log"]
    log.write_text("\n".join(log.read_text().splitlines()[:10]) + "\n")
    rep = compare_runs(res, runs["oracle"])
    assert "has 10 rows but the results record 50 samples" in _task(rep, "cifar10_b")["why_not_paired"]
    log.unlink()
    rep = compare_runs(res, runs["oracle"])
    why = _task(rep, "cifar10_b")["why_not_paired"]
    assert "is missing" in why and str(log) in why


def test_different_inputs_or_values_are_not_paired(runs, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(Path(runs["random"]).parent, d)
    res = d / Path(runs["random"]).name
    doc = load_results(res)
    log = d / doc["tasks"]["cifar10_b"]["samples_log"]
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert all(r["input_hash"].startswith("xxh3_128:") for r in rows)
    # a hash of the earlier scheme (unprefixed BLAKE2b) is not compared with an XXH3 one: noted, still paired
    rows[5]["input_hash"] = "0" * 32
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    t = _task(compare_runs(res, runs["oracle"]), "cifar10_b")
    assert t["paired"] and any("1 sample(s) have input hashes of different schemes" in n for n in t["notes"])
    rows[3]["input_hash"] = "xxh3_128:" + "0" * 32
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = compare_runs(res, runs["oracle"])
    why = _task(rep, "cifar10_b")["why_not_paired"]
    assert "different inputs" in why and "00003" in why
    # a recorded value the logs do not reproduce: that metric gets no CI, the others do
    doc["tasks"]["cifar100_b"]["metrics"]["accuracy"]["value"] = 0.5
    write_results(doc, res)
    t = _task(compare_runs(res, runs["oracle"]), "cifar100_b")
    acc = _metric(t, "accuracy")
    assert t["paired"] and acc["ci"] is None and "not the recorded 0.5" in acc["why_no_ci"]
    assert _metric(t, "macrostd_population")["paired_ci"]
    # options this version refuses, and a task that is not registered here: each metric says why
    doc["config"]["task_args"] = {"macrostd": "bogus"}
    write_results(doc, res)
    why = _metric(_task(compare_runs(res, res), "cifar10_b"), "accuracy")["why_no_ci"]
    assert "cannot rebuild task 'cifar10_b' from the recorded options" in why and "bogus" in why
    doc["config"]["task_args"] = {}
    doc["tasks"]["cifar_ghost"] = doc["tasks"].pop("cifar10_b")
    write_results(doc, res)
    why = _metric(_task(compare_runs(res, res), "cifar_ghost"), "accuracy")["why_no_ci"]
    assert "is not registered" in why and "--include" in why
    # different data: no pairing at all
    doc["tasks"]["cifar100_b"]["data"]["fingerprint"] = "other-data"
    write_results(doc, res)
    t = _task(compare_runs(res, runs["oracle"]), "cifar100_b")
    assert not t["paired"] and "different data" in t["why_not_paired"]
    assert any("data fingerprint differs" in n for n in t["notes"])


def test_a_plugin_task_declaring_one_metric_gets_value_ci_and_compare(tmp_path):
    """The toy plugin task declares accuracy = mean of the per-sample ``correct`` (one line, no
    other scoring code): the core gives its value and bootstrap CI, and ``mmh compare`` its paired
    interval with no task-specific code."""
    common = dict(data_root=tmp_path / "toy", use_cache=False, output=tmp_path, bootstrap=500, progress=False,
                  includes=[TOY_PLUGIN], log_samples=True)
    a = evaluate("random", "toy_shapes", model_args="seed=1", **common)
    b = evaluate("toy_perfect", "toy_shapes", **common)
    rows = _log(a.path, "toy_shapes")
    acc = np.mean([r["scores"]["correct"] for r in rows])
    m_a = load_results(a.path)["tasks"]["toy_shapes"]["metrics"]["accuracy"]
    assert m_a["value"] == pytest.approx(acc) and 0.0 < acc < 1.0
    lo, hi = m_a["ci"]
    assert lo < acc < hi and hi - lo > 0.1 and m_a["stderr"] > 0  # 40 items: a wide interval
    t = _task(compare_runs(a.path, b.path), "toy_shapes")
    m = _metric(t, "accuracy")
    assert t["paired"] and t["n_paired"] == 40 and m["paired_ci"]
    assert m["delta"] == pytest.approx(1.0 - acc)
    assert m["ci"][0] < m["delta"] < m["ci"][1] <= 1.0 and m["verdict"] == "B better"
    # the CLI, with the plugin named by --include
    r = CliRunner().invoke(main, ["compare", str(a.path), str(b.path), "--include", TOY_PLUGIN, "--json"])
    assert r.exit_code == 0, r.output
    cli = json.loads(r.stdout)["tasks"][0]["metrics"][0]
    assert cli["ci"] == m["ci"] and cli["verdict"] == "B better"


def test_mmra_metrics_are_recomputed(tmp_path):
    common = dict(sample=True, use_cache=False, output=tmp_path, bootstrap=0, progress=False, log_samples=True)
    a = evaluate(AnswerA(), "mmra", **common)
    b = evaluate("oracle", "mmra", **common)
    rep = compare_runs(a.path, b.path, resamples=200)
    t = _task(rep, "mmra")
    assert t["paired"], t["why_not_paired"]
    assert _metric(t, "overall")["paired_ci"] and _metric(t, "overall")["primary"]
    no_ci = {m["metric"]: m["why_no_ci"] for m in t["metrics"] if not m["paired_ci"]}
    recomputable = {"overall", "overall_first_letter", "macro_subtask", "entity_level", "image_level",
                    "unparsed_rate"}
    assert not (recomputable & set(no_ci)), no_ci
    assert any(m["metric"].startswith("acc_") and m["paired_ci"] for m in t["metrics"])


def test_cli_json_and_errors(runs, tmp_path):
    r = CliRunner().invoke(main, ["compare", str(runs["constant"]), str(runs["oracle"]), "--json",
                                  "--primary-only", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert [m["metric"] for t in rep["tasks"] for m in t["metrics"]] == ["macrostd_population"] * 2
    r = CliRunner().invoke(main, ["compare", str(runs["oracle"]), str(runs["random"])])
    assert "paired over 50 items" in r.stdout and "95% CI (paired)" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    r = CliRunner().invoke(main, ["compare", str(bad), str(runs["oracle"])])
    assert r.exit_code == 2 and "not valid JSON" in r.stderr
    with pytest.raises(LeaderboardError, match="--bootstrap"):
        compare_runs(runs["oracle"], runs["random"], resamples=0)


def test_pixelworld_items_are_the_resampling_unit(tmp_path):
    """PixelWorld declares items as its resampling unit (one sample per item and mode): compare
    pivots each log to one row per item and pairs the runs item by item, for the official score of
    each mode and the paired text-vs-image delta."""
    common = dict(sample=True, use_cache=False, output=tmp_path, bootstrap=200, progress=False, log_samples=True)
    a = evaluate(AnswerA(), "pixelworld_mmlu_pro", **common)
    b = evaluate("oracle", "pixelworld_mmlu_pro", **common)
    doc_a = load_results(a.path)["tasks"]["pixelworld_mmlu_pro"]
    n_items = len({r["scores"]["item"] for r in _log(a.path, "pixelworld_mmlu_pro")})
    assert doc_a["n_samples"] == 2 * n_items  # text and img
    assert doc_a["metrics"]["score_text"]["ci"] is not None  # the declaration's interval of the official value
    t = _task(compare_runs(a.path, b.path, resamples=200), "pixelworld_mmlu_pro")
    assert t["paired"] and t["n_paired"] == n_items
    for name in ("score_text", "score_img", "delta_img_minus_text", "unparsed_rate_text"):
        m = _metric(t, name)
        assert m["paired_ci"], (name, m["why_no_ci"])
    m = _metric(t, "score_text")
    assert m["delta"] == pytest.approx(1.0 - doc_a["metrics"]["score_text"]["value"])
    assert m["ci"][0] <= m["delta"] <= m["ci"][1]
