"""Results that can be checked: impossible numbers are rejected by `mmh results validate` and left
out of leaderboards (which still build from the good files); `mmh results verify` re-scores a run
from its sample log or the response cache and names the metric whose recorded number was edited;
`mmh leaderboard build --verify` leaves such a file out. Real runs on the bundled sample data."""

import copy
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mmharness.cache import ResponseCache
from mmharness.cli import main
from mmharness.leaderboard import BuildOptions, build_leaderboard
from mmharness.requests import (
    ClassifyResponse,
    DetectionsResponse,
    EmbeddingResponse,
    LabelMapResponse,
    ScoresResponse,
    TextResponse,
    encode,
    response_from_json,
    response_to_json,
)
from mmharness.results import clean_json, load_results, results_problems


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _run(out: Path, *args) -> Path:
    r = cli("run", "--sample", "--no-progress", "--bootstrap", "200", "--output", out, *args)
    assert r.exit_code == 0, r.output
    (path,) = sorted(out.glob("results_*.json"))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """oracle on cifar10_b + mmra with sample logs; random on cifar10_b with task options, through
    the cache only; random(seed=1) with a sample log and no cache; random(seed=2) with neither."""
    root = tmp_path_factory.mktemp("integrity")
    cache = root / "cache"
    return {
        "cache": cache,
        "oracle": _run(root / "oracle", "--model", "oracle", "--tasks", "cifar10_b,mmra", "--log-samples",
                       "--cache-dir", cache),
        "random": _run(root / "random", "--model", "random", "--tasks", "cifar10_b", "--task-args", "macrostd=nist",
                       "--cache-dir", cache),
        "logged": _run(root / "logged", "--model", "random", "--model-args", "seed=1", "--tasks", "cifar10_b",
                       "--log-samples", "--no-cache"),
        "bare": _run(root / "bare", "--model", "random", "--model-args", "seed=2", "--tasks", "cifar10_b",
                     "--no-cache"),
    }


def _copy_run(results: Path, dest: Path) -> Path:
    """Copy a results file and the sample logs it names into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    doc = json.loads(results.read_text())
    for t in doc["tasks"].values():
        if t.get("samples_log"):
            shutil.copy(results.parent / t["samples_log"], dest / t["samples_log"])
    return Path(shutil.copy(results, dest / results.name))


def _edit(path: Path, change) -> dict:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))
    return doc


def _plausible_edit(doc: dict, task="cifar10_b", metric="accuracy") -> tuple[float, float]:
    """Move a metric's value half-way to its CI's upper end: still a possible number."""
    m = doc["tasks"][task]["metrics"][metric]
    old = m["value"]
    m["value"] = round((old + m["ci"][1]) / 2, 4)
    assert m["value"] != old
    return old, m["value"]


# --------------------------------------------------------------------------- recorded fields


def test_runs_record_task_args_and_sample_log_digests(runs):
    rnd = load_results(runs["random"])
    assert rnd["config"]["task_args"] == {"macrostd": "nist"}
    assert rnd["tasks"]["cifar10_b"]["config"]["macrostd"] == "nist"
    assert "samples_log_sha256" not in rnd["tasks"]["cifar10_b"]  # no --log-samples
    orc = load_results(runs["oracle"])
    assert orc["config"]["task_args"] == {}
    for t in orc["tasks"].values():
        log = runs["oracle"].parent / t["samples_log"]
        assert t["samples_log_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest()
    for p in runs.values():
        if p.suffix == ".json":
            assert results_problems(load_results(p)) == []


# --------------------------------------------------------------------------- impossible numbers


def _hostile(template: dict) -> dict[str, tuple[dict, str]]:
    """Schema-valid documents with numbers no run can produce -> the reason each must report."""
    cases = {}

    def case(name, change, reason):
        doc = copy.deepcopy(template)
        doc["model"]["adapter"] = f"hostile_{name}"
        doc["model"]["fingerprint"] = hashlib.sha256(name.encode()).hexdigest()[:20]
        doc["run_id"] = hashlib.sha256(f"run {name}".encode()).hexdigest()
        change(doc["tasks"]["cifar10_b"])
        cases[name] = (doc, reason)

    metrics = lambda t: t["metrics"]
    case("macrostd_minus5", lambda t: metrics(t)["macrostd_population"].update(value=-5),
         "metric 'macrostd_population': value -5 is outside its declared range [0.0, 0.5]")
    case("accuracy_1_7", lambda t: metrics(t)["accuracy"].update(value=1.7),
         "metric 'accuracy': value 1.7 is outside its declared range [0.0, 1.0]")
    case("n_scored_999999", lambda t: t.update(n_scored=999999),
         f"n_scored 999999 exceeds n_samples {template['tasks']['cifar10_b']['n_samples']}")
    case("inverted_ci", lambda t: metrics(t)["accuracy"].update(ci=metrics(t)["accuracy"]["ci"][::-1]),
         "metric 'accuracy': CI [")
    case("ci_far_from_value", lambda t: metrics(t)["accuracy"].update(
        ci=[metrics(t)["accuracy"]["value"] + 0.3, metrics(t)["accuracy"]["value"] + 0.31]),
        "metric 'accuracy': value")
    case("negative_stderr", lambda t: metrics(t)["accuracy"].update(stderr=-0.01),
         "metric 'accuracy': stderr -0.01 is negative")
    case("unknown_primary", lambda t: t.update(primary_metric="top1"),
         "primary metric 'top1' is not among its metrics")
    case("cache_counts", lambda t: t["cache"].update(hits=999999),
         "cache hits 999999 + computed")
    case("skipped_counts", lambda t: t.update(n_scored=t["n_scored"] - 1, n_skipped=1),
         "0 skipped sample(s) listed, but n_skipped is 1")
    return cases


@pytest.fixture(scope="module")
def hostile(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, (doc, reason) in _hostile(load_results(runs["random"])).items():
        p = out / f"results_{name}.json"
        p.write_text(json.dumps(doc, indent=2))
        files[name] = (p, reason)
    return out, files


def test_hostile_reasons_are_exact(runs):
    cases = _hostile(load_results(runs["random"]))
    inverted = results_problems(cases["inverted_ci"][0])
    assert any("is inverted (low > high)" in p for p in inverted), inverted
    far = results_problems(cases["ci_far_from_value"][0])
    assert any("lies outside its CI" in p for p in far), far
    for name, (doc, reason) in cases.items():
        found = results_problems(doc)
        assert found and all(p.startswith("task 'cifar10_b'") for p in found), (name, found)
        assert any(reason in p for p in found), (name, reason, found)
    # a percentile bootstrap CI may miss the point estimate of a biased statistic by a little
    # (MacroStd 0.015 with CI [0, 0.0135] on the CIFAR-100-B sample): that stays valid
    doc = copy.deepcopy(load_results(runs["random"]))
    doc["tasks"]["cifar10_b"]["metrics"]["macrostd_population"].update(value=0.015, ci=[0.0, 0.0135])
    assert results_problems(doc) == []


def test_validate_fails_each_hostile_file_with_its_reason(runs, hostile):
    _, files = hostile
    good = [runs["oracle"], runs["random"]]
    r = cli("results", "validate", *good, *(p for p, _ in files.values()))
    assert r.exit_code == 1
    lines = r.output.splitlines()
    for p in good:
        assert f"ok    {p}" in lines
    for name, (p, reason) in files.items():
        line = next(x for x in lines if x.startswith(f"FAIL  {p}:"))
        assert reason in line, (name, line)


def test_leaderboard_leaves_hostile_files_out_and_builds_from_the_good_ones(runs, hostile, tmp_path):
    out, files = hostile
    paths = [runs["oracle"].parent, runs["random"].parent, out]
    doc = build_leaderboard(paths, BuildOptions(include_samples=True))
    bad = {p["path"]: p for p in doc["problems"] if p["kind"] == "impossible_values"}
    assert set(bad) == {str(p) for p, _ in files.values()}
    for p, reason in files.values():
        assert bad[str(p)]["severity"] == "error" and bad[str(p)]["message"].startswith(f"{p}: ")
        assert reason in bad[str(p)]["message"]
    assert sorted(m["adapter"] for m in doc["models"]) == ["oracle", "random"]
    assert all(m["overall_rank"] is not None or not m["complete"] for m in doc["models"])
    orc = next(m for m in doc["models"] if m["adapter"] == "oracle")
    assert orc["overall_rank"] == 1 and orc["cells"]["cifar10_b"]["value"] == 1.0  # accuracy: the ranking metric
    assert orc["cells"]["cifar10_b"]["metrics"]["macrostd_population"]["value"] == 0.0  # the official one, beside
    assert [s["path"] for s in doc["sources"]] == sorted([str(runs["oracle"]), str(runs["random"])])
    # the CLI: the build goes on, each file is named with its reason on stderr
    r = CliRunner().invoke(main, ["leaderboard", "build", *map(str, paths), "-o", str(tmp_path / "lb.json"),
                                  "--include-samples", "--quiet"])
    assert r.exit_code == 0, r.output
    for p, reason in files.values():
        assert any(str(p) in line and reason in line for line in r.stderr.splitlines()), (p, r.stderr)
    assert f"{len(files)} problem(s) ({len(files)} file(s) not used)" in r.stderr


# --------------------------------------------------------------------------- verify


def test_verify_passes_on_untouched_runs(runs):
    r = cli("results", "verify", runs["oracle"], runs["random"], runs["logged"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert f"ok    {runs['oracle']}" in out and f"ok    {runs['random']}" in out and f"ok    {runs['logged']}" in out
    logs = {t: runs["oracle"].parent / load_results(runs["oracle"])["tasks"][t]["samples_log"]
            for t in ("cifar10_b", "mmra")}
    assert f"cifar10_b: ok (re-scored from the sample log {logs['cifar10_b']})" in out
    assert f"mmra: ok (re-scored from the sample log {logs['mmra']})" in out
    assert f"cifar10_b: ok (re-scored from the response cache {runs['cache'] / 'responses.sqlite'})" in out
    assert "no sample log (the run was made without --log-samples)" in out


def test_verify_names_an_edited_metric_that_validate_cannot_see(runs, tmp_path):
    for name in ("random", "logged"):  # re-scored from the cache, and from the sample log
        path = _copy_run(runs[name], tmp_path / name)
        edited: dict = {}

        def change(d, edited=edited):
            edited["v"] = _plausible_edit(d)

        doc = _edit(path, change)
        old, new = edited["v"]
        assert results_problems(doc) == []
        assert cli("results", "validate", path).exit_code == 0
        r = cli("results", "verify", path)
        assert r.exit_code == 1, r.output
        assert f"FAIL  {path}" in r.output
        assert f"metric 'accuracy' value: recorded {new}, recomputed {old}" in r.output
        assert [x for x in r.output.splitlines() if x.strip().startswith("metric ")] == \
            [f"        metric 'accuracy' value: recorded {new}, recomputed {old}"]
        assert "1 of 1 results file(s) failed verification" in r.stderr


def test_verify_names_an_edited_ci_and_stderr(runs, tmp_path):
    path = _copy_run(runs["logged"], tmp_path)
    _edit(path, lambda d: d["tasks"]["cifar10_b"]["metrics"]["accuracy"].update(
        ci=[d["tasks"]["cifar10_b"]["metrics"]["accuracy"]["ci"][0] - 0.01,
            d["tasks"]["cifar10_b"]["metrics"]["accuracy"]["ci"][1]], stderr=0.5))
    r = cli("results", "verify", path)
    assert r.exit_code == 1
    assert "metric 'accuracy' ci: recorded" in r.output and "metric 'accuracy' stderr: recorded 0.5" in r.output


def test_verify_fails_on_a_sample_log_edited_after_the_run(runs, tmp_path):
    path = _copy_run(runs["oracle"], tmp_path)
    doc = load_results(path)
    log = tmp_path / doc["tasks"]["cifar10_b"]["samples_log"]
    rows = log.read_text().splitlines()
    row = json.loads(rows[0])
    row["response"]["logits"][0] += 5.0
    rows[0] = json.dumps(row, separators=(",", ":"))
    log.write_text("\n".join(rows) + "\n")
    r = cli("results", "verify", path)
    assert r.exit_code == 1
    assert f"the sample log {log} was changed after the run: its sha256 is " \
           f"{hashlib.sha256(log.read_bytes()).hexdigest()}, the results record " \
           f"{doc['tasks']['cifar10_b']['samples_log_sha256']}" in r.output
    assert "      cifar10_b: FAIL" in r.output and "      mmra: ok" in r.output


def test_verify_says_what_is_missing(runs, tmp_path):
    r = cli("results", "verify", runs["bare"])
    assert r.exit_code == 1
    assert "nothing to re-score from: no sample log (the run was made without --log-samples); and no response " \
           "cache (the run was made with --no-cache; give one with --cache-dir)" in r.output
    # a cache directory without the run's rows
    ResponseCache(tmp_path / "empty").close()
    r = cli("results", "verify", runs["random"], "--cache-dir", tmp_path / "empty")
    assert r.exit_code == 1
    n = load_results(runs["random"])["tasks"]["cifar10_b"]["n_scored"]
    assert f"and the response cache {tmp_path / 'empty' / 'responses.sqlite'} holds 0 of the {n} responses" in r.output
    r = cli("results", "verify", runs["random"], "--cache-dir", tmp_path / "nowhere")
    assert r.exit_code == 1 and f"no response cache at {tmp_path / 'nowhere' / 'responses.sqlite'}" in r.output
    # the data is not where the run found it
    path = _copy_run(runs["random"], tmp_path / "moved")
    _edit(path, lambda d: d["config"].update(data="full", data_root=str(tmp_path / "no_data")))
    r = cli("results", "verify", path)
    assert r.exit_code == 1 and "the data is not available: " in r.output and str(tmp_path / "no_data") in r.output


def test_verify_detects_changed_data_and_options(runs, tmp_path):
    path = _copy_run(runs["random"], tmp_path / "data")
    _edit(path, lambda d: d["tasks"]["cifar10_b"]["data"].update(fingerprint="0" * 20))
    r = cli("results", "verify", path)
    assert r.exit_code == 1
    assert "the data changed: fingerprint 00000000000000000000 recorded, the data at sample now gives " in r.output
    path = _copy_run(runs["random"], tmp_path / "options")
    _edit(path, lambda d: d["config"].pop("task_args"))
    r = cli("results", "verify", path)
    assert r.exit_code == 1
    assert "another config (differs in macrostd)" in r.output and "does not record its task options" in r.output
    path = _copy_run(runs["random"], tmp_path / "meta")
    _edit(path, lambda d: d["tasks"]["cifar10_b"]["metric_metadata"]["accuracy"].update(range=[-1.0, 1.0]))
    r = cli("results", "verify", path)
    assert r.exit_code == 1 and "metric 'accuracy' metadata (range): recorded {'range': [-1.0, 1.0]}" in r.output


def test_verify_falls_back_to_the_cache_when_the_log_holds_array_hashes(tmp_path):
    path = _run(tmp_path / "out", "--model", "oracle", "--tasks", "mfnet", "--log-samples", "--cache-dir",
                tmp_path / "cache")
    r = cli("results", "verify", path)
    assert r.exit_code == 0, r.output
    assert f"mfnet: ok (re-scored from the response cache {tmp_path / 'cache' / 'responses.sqlite'})" in r.output
    assert "logged as its sha256 only" in r.output and "re-scoring from the response cache instead" in r.output
    r = cli("results", "verify", path, "--cache-dir", tmp_path / "other")
    assert r.exit_code == 1 and "logged as its sha256 only" in r.output and "no response cache at" in r.output


def test_leaderboard_verify_leaves_an_edited_file_out(runs, tmp_path):
    edited = _copy_run(runs["random"], tmp_path / "edited")
    _edit(edited, _plausible_edit)
    paths = [runs["oracle"], runs["random"], runs["logged"], edited]
    plain = build_leaderboard(paths, BuildOptions(include_samples=True))
    assert not [p for p in plain["problems"] if p["severity"] == "error"]
    assert any(p["kind"] == "duplicate" for p in plain["problems"])  # the copy competes with the original
    doc = build_leaderboard(paths, BuildOptions(include_samples=True, verify=True))
    (bad,) = [p for p in doc["problems"] if p["severity"] == "error"]
    assert bad["kind"] == "verify_failed" and bad["path"] == str(edited)
    assert "metric 'accuracy' value: recorded" in bad["message"] and "left out" in bad["message"]
    assert not any(p["kind"] == "duplicate" for p in doc["problems"])
    assert str(edited) not in [s["path"] for s in doc["sources"]]
    rnd = next(m for m in doc["models"] if m["label"] == "random")
    assert rnd["cells"]["cifar10_b"]["provenance"]["results_file"] == str(runs["random"])
    r = CliRunner().invoke(main, ["leaderboard", "build", *map(str, paths), "-o", str(tmp_path / "lb.json"),
                                  "--include-samples", "--verify", "--quiet"])
    assert r.exit_code == 0, r.output
    assert f"error: {edited}: fails verification" in r.stderr and "metric 'accuracy' value" in r.stderr


# --------------------------------------------------------------------------- response_from_json


def test_response_from_json_inverts_response_to_json():
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    responses = [
        EmbeddingResponse(f32(8)), ScoresResponse(f32(3)), ClassifyResponse(f32(10)),
        ClassifyResponse(f32(4), box=f32(4)), LabelMapResponse(rng.integers(0, 5, (6, 7)).astype(np.int32)),
        DetectionsResponse(f32(2, 4), f32(2), np.array([3, 1], dtype=np.int64),
                           masks=[{"size": [4, 4], "counts": "abc"}, {"size": [4, 4], "counts": "de"}]),
        DetectionsResponse(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)),
        TextResponse("B", prompt="Q?", warnings=["w"], finish_reason="length", usage={"prompt_tokens": 3}),
    ]
    for resp in responses:
        logged = json.loads(json.dumps(clean_json(response_to_json(resp))))  # as --log-samples writes it
        back = response_from_json(logged)
        assert type(back) is type(resp) and encode(back) == encode(resp)  # same fields, dtypes, shapes, bytes
    with pytest.raises(ValueError, match="sha256 only"):
        response_from_json(response_to_json(LabelMapResponse(np.zeros((80, 60), np.int32))))
    with pytest.raises(ValueError, match="non-finite"):
        response_from_json(clean_json(response_to_json(ScoresResponse(np.array([np.inf, 1], np.float32)))))
    with pytest.raises(ValueError, match="unknown response kind"):
        response_from_json({"kind": "hologram"})


def test_verify_checks_every_recorded_number_and_notes_what_a_later_build_adds(runs, tmp_path):
    """A file from a build that computed fewer metrics and tables (here: CIFAR-B before the
    accuracy-first leaderboard column and the degeneracy table) verifies on what it records, with a
    note for what it lacks; a recorded metric that scoring no longer gives is still a failure."""
    path = _copy_run(runs["logged"], tmp_path / "older")

    def older(d):
        t = d["tasks"]["cifar10_b"]
        del t["metrics"]["accuracy"], t["metric_metadata"]["accuracy"], t["tables"]["degeneracy"]

    _edit(path, older)
    r = cli("results", "verify", path)
    assert r.exit_code == 0, r.output
    assert "metric 'accuracy' is not recorded (scoring gives" in r.output
    assert "table 'degeneracy' is not recorded" in r.output
    _edit(path, lambda d: d["tasks"]["cifar10_b"]["metrics"].update(
        {"accuracy_v0": {"value": 0.5}}) or d["tasks"]["cifar10_b"]["metric_metadata"].update(
        {"accuracy_v0": d["tasks"]["cifar10_b"]["metric_metadata"]["macrostd_population"]}))
    r = cli("results", "verify", path)
    assert r.exit_code == 1 and "metric 'accuracy_v0': recorded, but scoring gives no such metric" in r.output
