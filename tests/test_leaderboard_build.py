"""Leaderboard build: real harness runs, a hand-computed ranks/averages case, the stated rules
(duplicates, sample data, limited runs, unknown tasks) and bad inputs, through the API and the CLI."""

import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from lb_helpers import meta, mmra_docs, pixelworld_docs, real_runs, synthetic_doc, write_doc
from mmharness.cli import main
from mmharness.leaderboard import BuildOptions, LeaderboardError, build_leaderboard, load_leaderboard
from mmharness.leaderboard.io import leaderboard_schema, validate_leaderboard
from mmharness.results import load_results

TOY_PLUGIN = str(Path(__file__).parent / "plugins" / "toy_plugin.py")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, real_runs(out)


@pytest.fixture(scope="module")
def template(real):
    return load_results(real[1]["oracle"])


def _model(doc, label):
    return next(m for m in doc["models"] if m["label"] == label)


def _problems(doc, kind):
    return [p for p in doc["problems"] if p["kind"] == kind]


# --------------------------------------------------------------------------- real runs


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(leaderboard_schema())


def test_real_runs_are_flagged_as_sample_data_and_not_ranked(real):
    out, paths = real
    doc = build_leaderboard([out])
    validate_leaderboard(doc)
    assert doc["columns"] == ["cifar100_b", "cifar10_b"] and len(doc["models"]) == 3
    assert doc["problems"] == []
    for m in doc["models"]:
        assert m["data"] == "sample" and m["flags"] == ["sample"] and not m["ranked"]
        assert "--include-samples" in m["excluded_reason"]
        assert m["overall_rank"] is None and m["average_rank"] is None
        assert all(c["rank"] is None for c in m["cells"].values())
    # values and provenance come from the files; the column ranks on accuracy (the task's leaderboard
    # metric), the official MacroStd is kept beside it
    rnd = _model(doc, "random(seed=0)")
    res = load_results(paths["random"])
    cell = rnd["cells"]["cifar10_b"]
    t = res["tasks"]["cifar10_b"]
    col = doc["tasks"]["cifar10_b"]
    assert (col["metric"], col["metric_source"], col["official_metric"]) == \
        ("accuracy", "leaderboard_metric", "macrostd_population")
    assert col["official_metric_metadata"] == t["metric_metadata"]["macrostd_population"]
    assert cell["value"] == t["metrics"]["accuracy"]["value"]
    assert cell["metrics"]["macrostd_population"]["value"] == t["metrics"]["macrostd_population"]["value"]
    assert set(cell["metrics"]) == set(t["metrics"])
    prov = cell["provenance"]
    assert prov["results_file"] == str(paths["random"])
    assert prov["sha256"] == hashlib.sha256(Path(paths["random"]).read_bytes()).hexdigest()
    assert prov["run_id"] == res["run_id"] and prov["created"] == res["created"]
    assert prov["data_fingerprint"] == t["data"]["fingerprint"] and prov["task_version"] == t["version"]
    assert prov["harness_version"] == res["harness"]["version"] and prov["data_kind"] == "sample"
    assert Path(prov["samples_log"]).is_file()
    # accuracy is normalised against its chance level 1/10
    assert col["normalization"] == {"method": "chance", "zero": 0.1, "best": 1.0}
    assert cell["normalized"] == pytest.approx((cell["value"] - 0.1) / 0.9)
    # ranking on MacroStd (--metric): no chance level, normalised against the worst end of its range [0, 0.5]
    doc = build_leaderboard([out], BuildOptions(metrics={"cifar10_b": "macrostd_population"}))
    cell = _model(doc, "random(seed=0)")["cells"]["cifar10_b"]
    assert doc["tasks"]["cifar10_b"]["metric_source"] == "override"
    assert cell["value"] == t["metrics"]["macrostd_population"]["value"]
    assert doc["tasks"]["cifar10_b"]["normalization"] == {"method": "range", "zero": 0.5, "best": 0.0}
    assert cell["normalized"] == pytest.approx((0.5 - cell["value"]) / 0.5)


def test_include_samples_ranks_them(real):
    out, paths = real
    doc = build_leaderboard([out], BuildOptions(include_samples=True))
    vals = {m["label"]: m["cells"]["cifar10_b"]["value"] for m in doc["models"]}
    macrostd = {m["label"]: m["cells"]["cifar10_b"]["metrics"]["macrostd_population"]["value"] for m in doc["models"]}
    # accuracy ranks: oracle 1.0 first, random 0.08 second; constant (every logit equal) is flagged and not
    # ranked, although its MacroStd is the best possible value, like the oracle's
    assert vals == {"oracle": 1.0, "random(seed=0)": 0.08, "constant": 0.1}
    assert macrostd["oracle"] == 0.0 and macrostd["constant"] == 0.0 and macrostd["random(seed=0)"] > 0.0
    ranks = {m["label"]: m["cells"]["cifar10_b"]["rank"] for m in doc["models"]}
    assert ranks == {"oracle": 1.0, "random(seed=0)": 2.0, "constant": None}
    const = _model(doc, "constant")
    assert const["cells"]["cifar10_b"]["degenerate"]["rule"] == "constant_logits"
    assert const["degenerate_tasks"] == ["cifar100_b", "cifar10_b"] and const["average_rank"] is None
    assert doc["tasks"]["cifar10_b"]["n_ranked"] == 2 and doc["tasks"]["cifar10_b"]["n_degenerate"] == 1
    assert all(m["ranked"] and m["complete"] for m in doc["models"])
    # overall: the constant model's averages count its flagged cells at most at the zero point (chance);
    # random(seed=0) happens to be below chance on these sample images (0.08 of 50, 0.015 of 200)
    assert [m["label"] for m in doc["models"]] == ["oracle", "constant", "random(seed=0)"]
    assert _model(doc, "constant")["average_score"] == 0.0 and _model(doc, "random(seed=0)")["average_score"] < 0


def test_metric_override_ranks_on_accuracy(real):
    out, paths = real
    doc = build_leaderboard([out], BuildOptions(include_samples=True, metrics={"cifar10_b": "accuracy"}))
    t = doc["tasks"]["cifar10_b"]
    assert t["metric"] == "accuracy" and t["normalization"] == {"method": "chance", "zero": 0.1, "best": 1.0}
    orc = _model(doc, "oracle")["cells"]["cifar10_b"]
    assert orc["value"] == 1.0 and orc["rank"] == 1.0 and orc["normalized"] == pytest.approx(1.0)
    with pytest.raises(LeaderboardError, match="no results file has metric 'nope'"):
        build_leaderboard([out], BuildOptions(metrics={"cifar10_b": "nope"}))
    with pytest.raises(LeaderboardError, match="--metric names task"):
        build_leaderboard([out], BuildOptions(metrics={"cifar10": "accuracy"}))


def test_several_adapters_and_tasks_validate_against_the_schema(real, template, tmp_path):
    from mmharness.evaluate import evaluate

    out, paths = real
    d = tmp_path / "mixed"
    shutil.copytree(out, d)
    toy = evaluate("toy_perfect", "toy_shapes", data_root=tmp_path / "toydata", use_cache=False, output=d,
                   bootstrap=0, progress=False, includes=[TOY_PLUGIN])
    toy_rnd = evaluate("random", "toy_shapes", model_args="seed=3", data_root=tmp_path / "toydata",
                       use_cache=False, output=d, bootstrap=0, progress=False, includes=[TOY_PLUGIN])
    for i, doc in enumerate(mmra_docs(template) + pixelworld_docs(template)):
        write_doc(doc, d, f"published_{i}")
    lb = build_leaderboard([d], BuildOptions(includes=[TOY_PLUGIN]))
    validate_leaderboard(lb)
    assert set(lb["columns"]) == {"cifar10_b", "cifar100_b", "toy_shapes", "mmra", "pixelworld"}
    # 3 sample runs, 2 toy runs, 3 MMRA + 3 PixelWorld published rows, GPT4o in both: one row
    assert len(lb["models"]) == 3 + 2 + 3 + 3 - 1
    assert lb["tasks"]["toy_shapes"]["registered"] is True
    # the sample runs are unranked, so the default task set is the tasks with ranked results
    assert set(lb["task_set"]) == {"toy_shapes", "mmra", "pixelworld"}
    toy_row = _model(lb, "toy_perfect")
    assert toy_row["ranked"] and toy_row["cells"]["toy_shapes"]["value"] == toy.metric("toy_shapes")
    assert toy_row["cells"]["toy_shapes"]["rank"] == 1.0
    assert _model(lb, "random(seed=3)")["cells"]["toy_shapes"]["value"] == toy_rnd.metric("toy_shapes")
    assert {p["id"] for p in lb["plots"]} == {"cifar_b-cifar10_b", "cifar_b-cifar100_b", "mmra-mmra",
                                             "pixelworld-text-vs-pixels"}
    # every row misses some task of the set: averages are marked incomplete, nobody gets an overall rank
    assert all(not m["complete"] and m["overall_rank"] is None for m in lb["models"])
    assert _model(lb, "published(GPT4o)")["missing"] == ["toy_shapes"]


# --------------------------------------------------------------------------- hand computation


def _hand_docs(template):
    """Five models on three tasks (see test_ranks_and_averages_match_a_hand_computation)."""
    acc = meta(True, (0.0, 1.0), 0.25)        # normalised (v - 0.25) / 0.75
    err = meta(False, (0.0, 1.0), None)       # no chance: zero = worst = 1, best = 0 -> 1 - v
    unb = meta(False, (0.0, None), None)      # unbounded: not normalisable
    values = {"A": (0.85, 0.10, 3.0), "B": (0.70, 0.10, 5.0), "C": (0.85, 0.30, None),
              "D": (0.40, 0.50, 4.0), "E": (0.99, 0.01, 1.0)}
    docs = []
    for name, (a, e, u) in values.items():
        tasks = {"t_acc": {"metrics": {"acc": a}, "meta": {"acc": acc}, "primary": "acc"},
                 "t_err": {"metrics": {"err": e}, "meta": {"err": err}, "primary": "err"}}
        if u is not None:
            tasks["t_unb"] = {"metrics": {"len": u}, "meta": {"len": unb}, "primary": "len"}
        docs.append(synthetic_doc(template, adapter=f"m{name}", tasks=tasks,
                                  data="sample" if name == "E" else "full"))
    return docs


@pytest.fixture
def hand_dir(template, tmp_path):
    for i, doc in enumerate(_hand_docs(template)):
        write_doc(doc, tmp_path, f"hand_{i}")
    return tmp_path


def test_ranks_and_averages_match_a_hand_computation(hand_dir):
    doc = build_leaderboard([hand_dir])
    validate_leaderboard(doc)
    assert doc["task_set"] == ["t_acc", "t_err", "t_unb"]
    assert doc["score_task_set"] == ["t_acc", "t_err"]
    assert doc["tasks"]["t_unb"]["normalization"]["method"] == "none"
    m = {r["label"]: r for r in doc["models"]}
    # per-task ranks among A-D (E is sample data): ties share the mean position
    assert [m[k]["cells"]["t_acc"]["rank"] for k in "mA mB mC mD".split()] == [1.5, 3.0, 1.5, 4.0]
    assert [m[k]["cells"]["t_err"]["rank"] for k in "mA mB mC mD".split()] == [1.5, 1.5, 3.0, 4.0]
    assert [m[k]["cells"]["t_unb"]["rank"] for k in "mA mB mD".split()] == [1.0, 3.0, 2.0]
    assert m["mC"]["cells"]["t_unb"]["status"] == "missing" and m["mC"]["cells"]["t_unb"]["value"] is None
    # normalised: acc (v - .25)/.75, err 1 - v
    assert m["mD"]["cells"]["t_acc"]["normalized"] == pytest.approx(0.2)
    assert m["mC"]["cells"]["t_err"]["normalized"] == pytest.approx(0.7)
    assert m["mA"]["cells"]["t_unb"]["normalized"] is None
    # average score over t_acc, t_err: A (.8+.9)/2, B (.6+.9)/2, C (.8+.7)/2, D (.2+.5)/2
    for k, v in {"mA": 0.85, "mB": 0.75, "mC": 0.75, "mD": 0.35}.items():
        assert m[k]["average_score"] == pytest.approx(v) and m[k]["average_score_n"] == 2
    # average rank over the three tasks; C misses t_unb: mean of its two ranks, marked incomplete
    assert m["mA"]["average_rank"] == pytest.approx((1.5 + 1.5 + 1) / 3)
    assert m["mB"]["average_rank"] == pytest.approx((3 + 1.5 + 3) / 3)
    assert m["mD"]["average_rank"] == pytest.approx((4 + 4 + 2) / 3)
    assert m["mC"]["average_rank"] == pytest.approx((1.5 + 3) / 2) and m["mC"]["average_rank_n"] == 2
    assert not m["mC"]["complete"] and m["mC"]["missing"] == ["t_unb"]
    # overall rank: complete ranked rows by average score; C incomplete, E unranked
    assert [r["label"] for r in doc["models"]] == ["mA", "mB", "mD", "mC", "mE"]
    assert [r["overall_rank"] for r in doc["models"]] == [1, 2, 3, None, None]
    e = m["mE"]
    assert e["flags"] == ["sample"] and e["average_score"] == pytest.approx(((0.99 - 0.25) / 0.75 + 0.99) / 2)
    assert e["average_rank"] is None and e["cells"]["t_acc"]["rank"] is None


def test_task_set_and_include_samples_change_the_hand_computation(hand_dir):
    doc = build_leaderboard([hand_dir], BuildOptions(tasks=["t_acc", "t_err"]))
    m = {r["label"]: r for r in doc["models"]}
    assert doc["columns"] == ["t_acc", "t_err", "t_unb"] and not doc["tasks"]["t_unb"]["in_task_set"]
    assert m["mC"]["complete"]
    # B and C tie on 0.75: competition ranking 1, 2, 2, 4
    assert [(r["label"], r["overall_rank"]) for r in doc["models"][:4]] in (
        [("mA", 1), ("mB", 2), ("mC", 2), ("mD", 4)], [("mA", 1), ("mC", 2), ("mB", 2), ("mD", 4)])
    assert m["mB"]["average_rank"] == pytest.approx((3 + 1.5) / 2)

    doc = build_leaderboard([hand_dir], BuildOptions(include_samples=True))
    m = {r["label"]: r for r in doc["models"]}
    assert m["mE"]["ranked"] and m["mE"]["overall_rank"] == 1
    assert m["mE"]["cells"]["t_acc"]["rank"] == 1.0 and m["mA"]["cells"]["t_acc"]["rank"] == 2.5

    # a task set with no normalisable task: overall rank by average rank
    doc = build_leaderboard([hand_dir], BuildOptions(tasks=["t_unb"]))
    assert doc["score_task_set"] == []
    assert [(r["label"], r["overall_rank"]) for r in doc["models"]] == [
        ("mA", 1), ("mD", 2), ("mB", 3), ("mC", None), ("mE", None)]
    assert all(r["average_score"] is None for r in doc["models"])

    with pytest.raises(LeaderboardError, match="task 't_ac' is in no results file given. Did you mean 't_acc'"):
        build_leaderboard([hand_dir], BuildOptions(tasks=["t_ac"]))


# --------------------------------------------------------------------------- stated rules


def test_duplicates_newest_wins_and_strict_fails(template, tmp_path):
    spec = {"t": {"metrics": {"acc": 0.5}, "meta": {"acc": meta(chance=0.5)}, "primary": "acc"}}
    old = synthetic_doc(template, adapter="m", tasks=spec, created="2026-01-01T00:00:00Z")
    spec["t"]["metrics"]["acc"] = 0.75
    new = synthetic_doc(template, adapter="m", tasks=spec, created="2026-02-01T00:00:00Z")
    p_old = write_doc(old, tmp_path, "zz_old")  # sorts after the newer one: time decides, not the name
    p_new = write_doc(new, tmp_path, "aa_new")
    doc = build_leaderboard([tmp_path])
    assert len(doc["models"]) == 1
    cell = doc["models"][0]["cells"]["t"]
    assert cell["value"] == 0.75 and cell["provenance"]["results_file"] == str(p_new)
    assert cell["superseded"] == [{"results_file": str(p_old), "run_id": old["run_id"],
                                   "created": old["created"], "value": 0.5}]
    dup = _problems(doc, "duplicate")
    assert len(dup) == 1 and str(p_old) in dup[0]["message"] and dup[0]["severity"] == "warning"
    assert {s["path"]: s["used_for"] for s in doc["sources"]} == {str(p_new): ["t"], str(p_old): []}
    with pytest.raises(LeaderboardError, match=r"--strict: 2 problem\(s\)(.|\n)*2 results for model m:"):
        build_leaderboard([tmp_path], BuildOptions(strict=True))


def test_same_run_copied_and_equal_times(template, tmp_path):
    spec = {"t": {"metrics": {"acc": 0.5}, "meta": {"acc": meta()}, "primary": "acc"}}
    d = synthetic_doc(template, adapter="m", tasks=spec)
    write_doc(d, tmp_path, "a")
    write_doc(d, tmp_path, "b")
    doc = build_leaderboard([tmp_path])
    (dup,) = _problems(doc, "duplicate")
    assert "the same run copied into several files" in dup["message"]
    # equal 'created': the later path in sort order wins (stated rule)
    assert doc["models"][0]["cells"]["t"]["provenance"]["results_file"].endswith("results_b.json")


def test_limited_runs_are_flagged_and_unranked(template, tmp_path):
    spec = {"t": {"metrics": {"acc": 0.9}, "meta": {"acc": meta()}, "primary": "acc"}}
    write_doc(synthetic_doc(template, adapter="m", tasks=spec, limit=10), tmp_path, "lim")
    spec["t"]["metrics"]["acc"] = 0.6
    write_doc(synthetic_doc(template, adapter="m", tasks=spec), tmp_path, "full")
    doc = build_leaderboard([tmp_path])
    lim = next(m for m in doc["models"] if m["limit"] == 10)
    full = next(m for m in doc["models"] if m["limit"] is None)
    assert lim["flags"] == ["limit=10"] and not lim["ranked"] and "--include-limited" in lim["excluded_reason"]
    assert full["overall_rank"] == 1 and lim["overall_rank"] is None
    assert _problems(doc, "duplicate") == []  # a limited run is its own row, not a duplicate
    doc = build_leaderboard([tmp_path], BuildOptions(include_limited=True))
    assert next(m for m in doc["models"] if m["limit"] == 10)["overall_rank"] == 1


def test_unknown_task_is_kept_flagged_and_strict_fails(template, tmp_path):
    spec = {"zz_future_task": {"metrics": {"f1": 0.4}, "meta": {"f1": meta(chance=0.2)}, "primary": "f1"}}
    p = write_doc(synthetic_doc(template, adapter="m", tasks=spec), tmp_path, "future")
    doc = build_leaderboard([p])
    assert doc["tasks"]["zz_future_task"]["registered"] is False
    assert doc["models"][0]["cells"]["zz_future_task"]["normalized"] == pytest.approx(0.25)
    (w,) = _problems(doc, "unknown_task")
    assert w["task"] == "zz_future_task" and "not registered" in w["message"]
    with pytest.raises(LeaderboardError, match="zz_future_task"):
        build_leaderboard([p], BuildOptions(strict=True))


def test_mixed_data_and_missing_metric_are_reported(template, tmp_path):
    a = {"t": {"metrics": {"acc": 0.5, "f1": 0.4}, "meta": {"acc": meta(), "f1": meta()}, "primary": "acc",
               "fingerprint": "data-v1"}}
    b = {"t": {"metrics": {"acc": 0.6}, "meta": {"acc": meta()}, "primary": "acc", "fingerprint": "data-v2"}}
    write_doc(synthetic_doc(template, adapter="ma", tasks=a), tmp_path, "a")
    write_doc(synthetic_doc(template, adapter="mb", tasks=b), tmp_path, "b")
    doc = build_leaderboard([tmp_path])
    (w,) = _problems(doc, "mixed_data")
    assert "data-v1" in w["message"] and "data-v2" in w["message"]
    doc = build_leaderboard([tmp_path], BuildOptions(metrics={"t": "f1"}))
    cell = next(m for m in doc["models"] if m["adapter"] == "mb")["cells"]["t"]
    assert cell["status"] == "missing_metric" and cell["value"] is None and cell["rank"] is None
    assert len(_problems(doc, "missing_metric")) == 1


def test_inconsistent_metadata_and_stale_task_version_are_reported(template, tmp_path):
    old = {"t": {"metrics": {"acc": 0.5}, "meta": {"acc": meta(chance=0.5)}, "primary": "acc"}}
    new = {"t": {"metrics": {"acc": 0.6}, "meta": {"acc": meta(chance=0.25)}, "primary": "acc"}}
    write_doc(synthetic_doc(template, adapter="ma", tasks=old, created="2026-01-01T00:00:00Z"), tmp_path, "a")
    p_new = write_doc(synthetic_doc(template, adapter="mb", tasks=new, created="2026-03-01T00:00:00Z"), tmp_path, "b")
    doc = build_leaderboard([tmp_path])
    (w,) = _problems(doc, "inconsistent_metadata")
    assert str(p_new) in w["message"] and w["model"].startswith("ma:")
    assert doc["tasks"]["t"]["normalization"]["zero"] == 0.25  # the newest metadata, for every cell
    assert next(m for m in doc["models"] if m["adapter"] == "ma")["cells"]["t"]["normalized"] == pytest.approx(1 / 3)

    spec = {"cifar10_b": {"metrics": {"macrostd_population": 0.1}, "primary": "macrostd_population",
                          "meta": {"macrostd_population": meta(False, (0.0, 0.5))}, "version": "0"}}
    p = write_doc(synthetic_doc(template, adapter="m", tasks=spec), tmp_path / "old", "old")
    doc = build_leaderboard([p])
    (w,) = _problems(doc, "task_version")
    assert "task version '0'" in w["message"] and doc["tasks"]["cifar10_b"]["registered"]


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture
def bad_dir(real, tmp_path):
    """One good results file plus one of every kind of bad input."""
    out, paths = real
    good = Path(paths["oracle"])
    shutil.copy(good, tmp_path / good.name)
    text = good.read_text()
    (tmp_path / "results_truncated.json").write_text(text[: len(text) // 2])
    (tmp_path / "results_garbage.json").write_text("this is not json {")
    doc = json.loads(text)
    del doc["tasks"]["cifar10_b"]["metrics"]
    (tmp_path / "results_invalid.json").write_text(json.dumps(doc))
    doc = json.loads(text)
    doc["schema_version"] = "0.9"
    (tmp_path / "results_oldschema.json").write_text(json.dumps(doc))
    (tmp_path / "results_other.json").write_text(json.dumps({"kind": "something.else"}))
    return tmp_path


EXPECTED_BAD = {"results_truncated.json": "invalid_json", "results_garbage.json": "invalid_json",
                "results_invalid.json": "invalid_results", "results_oldschema.json": "incompatible_schema",
                "results_other.json": "not_results"}


def test_bad_files_are_reported_not_dropped(bad_dir, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    doc = build_leaderboard([bad_dir, empty, bad_dir / "nope.json"])
    assert [m["label"] for m in doc["models"]] == ["oracle"]
    errs = {Path(p["path"]).name: p for p in doc["problems"] if p["severity"] == "error"}
    for name, kind in EXPECTED_BAD.items():
        assert errs[name]["kind"] == kind, errs[name]
    assert "probably truncated" in errs["results_truncated.json"]["message"]
    assert "probably corrupt" in errs["results_garbage.json"]["message"]
    assert "field tasks/cifar10_b" in errs["results_invalid.json"]["message"]
    assert "'0.9'" in errs["results_oldschema.json"]["message"] and "reads versions 1.0, 1.1" in errs["results_oldschema.json"]["message"]
    assert errs[empty.name]["kind"] == "empty_directory"
    assert errs["nope.json"]["kind"] == "unreadable"
    with pytest.raises(LeaderboardError) as e:
        build_leaderboard([bad_dir], BuildOptions(strict=True))
    for name in EXPECTED_BAD:
        assert name in str(e.value)


@pytest.mark.parametrize("fraction", [0.1, 0.33, 0.5, 0.77, 0.999])
def test_truncation_anywhere_is_named_as_such(real, tmp_path, fraction):
    from mmharness.leaderboard.sources import read_run

    text = Path(real[1]["random"]).read_text()
    p = tmp_path / "results_cut.json"
    p.write_text(text[: int(len(text) * fraction)])
    prob = read_run(p)
    assert prob.kind == "invalid_json" and "probably truncated" in prob.message and str(p) in prob.message


def test_nothing_usable_is_an_error(bad_dir):
    (bad_dir / next(p.name for p in bad_dir.glob("results_oracle_*.json"))).unlink()
    with pytest.raises(LeaderboardError, match="no usable results file:.*results_garbage.json"):
        build_leaderboard([bad_dir])


# --------------------------------------------------------------------------- CLI


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_build_reports_problems_and_strict_fails(bad_dir, tmp_path):
    out = tmp_path / "lb" / "leaderboard.json"
    r = _cli("leaderboard", "build", bad_dir, "-o", out, "--format", "md", "--format", "csv", "--format", "html")
    assert r.exit_code == 0, r.output
    for name in EXPECTED_BAD:
        assert name in r.stderr
    assert "5 problem(s) (5 file(s) not used)" in r.stderr
    assert out.is_file() and out.with_suffix(".md").is_file() and out.with_suffix(".csv").is_file()
    assert out.with_suffix(".html").is_file()
    assert len(load_leaderboard(out)["problems"]) == 5
    out2 = tmp_path / "strict.json"
    r = _cli("leaderboard", "build", bad_dir, "-o", out2, "--strict")
    assert r.exit_code == 2 and "--strict: 5 problem(s)" in r.stderr and not out2.exists()


def test_cli_build_show_render(real, tmp_path):
    out_dir, paths = real
    out = tmp_path / "lb.json"
    r = _cli("leaderboard", "build", out_dir, "-o", out, "--include-samples", "--tasks", "cifar_b")
    assert r.exit_code == 0, r.output
    assert "oracle [sample]" in r.stdout and f"wrote {out}" in r.stdout
    r = _cli("leaderboard", "show", out)
    assert r.exit_code == 0
    for label in ("oracle [sample]", "constant [sample]", "random(seed=0) [sample]", "macrostd_population ↓"):
        assert label in r.stdout
    r = _cli("leaderboard", "show", out, "--format", "csv")
    assert r.stdout.splitlines()[0].startswith("overall_rank,model,")
    r = _cli("leaderboard", "render", out, "--format", "html", "-o", tmp_path / "page.html")
    assert r.exit_code == 0 and (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")
    r = _cli("leaderboard", "show", paths["oracle"])
    assert r.exit_code == 2 and "not an mmharness leaderboard" in r.stderr and "a results file" in r.stderr
    r = _cli("leaderboard", "build", out_dir, "-o", tmp_path / "x.json", "--metric", "cifar10_b")
    assert r.exit_code == 2 and "TASK=METRIC" in r.output


def test_load_leaderboard_rejects_corrupt_files(real, tmp_path):
    out_dir, _ = real
    out = tmp_path / "lb.json"
    assert _cli("leaderboard", "build", out_dir, "-o", out, "-q").exit_code == 0
    doc = json.loads(out.read_text())
    doc["models"][0]["cells"]["cifar10_b"]["status"] = "great"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(LeaderboardError, match="field models/0/cells/cifar10_b/status"):
        load_leaderboard(bad)
    bad.write_text(out.read_text()[:100])
    with pytest.raises(LeaderboardError, match="not valid JSON"):
        load_leaderboard(bad)
    doc = json.loads(out.read_text())
    doc["schema_version"] = "0.1"
    bad.write_text(json.dumps(doc))
    with pytest.raises(LeaderboardError, match="schema version '0.1'"):
        load_leaderboard(bad)
