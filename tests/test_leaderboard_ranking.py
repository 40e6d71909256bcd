"""Sensible ranking (issue 15, part 3): each column ranks on a metric that measures how well the task
is done (CIFAR-B accuracy, SNARE tie-split accuracy) with the paper's official metric beside it;
degenerate responses are detected at scoring time, recorded in the results and flagged (not
ranked) on the leaderboard; benchmark-family averages sit beside the overall one.

The demo test builds the leaderboard of ``make demo`` from real sample runs of oracle, random
(seed 0), constant and the tiny open_clip config on the demo's tasks (read from the Makefile)."""

import copy
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lb_helpers import meta, synthetic_doc, write_doc
from mmharness.leaderboard import BuildOptions, LeaderboardError, build_leaderboard, load_leaderboard
from mmharness.leaderboard.io import validate_leaderboard, write_leaderboard
from mmharness.leaderboard.render_csv import render_csv
from mmharness.leaderboard.render_html import render_html
from mmharness.leaderboard.render_md import render_markdown
from mmharness.leaderboard.render_text import render_text
from mmharness.metrics.degeneracy import check_classify, check_generate, check_match
from mmharness.metrics.ranking import option_ranks, tie_split_hits, top_n_hits
from mmharness.registry import TASK_GROUPS, TASKS
from mmharness.results import load_results, validate_results
from mmharness.task import Task, task_family

ROOT = Path(__file__).resolve().parent.parent
TINY_CLIP = f"model={ROOT / 'examples' / 'tiny_clip.json'},pretrained=none"
DEMO_MODELS = (("oracle", None), ("random", "seed=0"), ("constant", None), ("open_clip", TINY_CLIP))
TASKS.names()  # registers the built-in task groups
SNARE = TASK_GROUPS["snare"]


def demo_tasks() -> str:
    """The task list of ``make demo`` (``DEMO_TASKS`` in the Makefile)."""
    m = re.search(r"^DEMO_TASKS\s*\?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert m, "DEMO_TASKS not found in the Makefile"
    tasks = m.group(1)
    assert {"cifar_b", "snare"} <= set(tasks.split(","))
    return tasks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Real sample runs of the demo's models (tiny CLIP from examples/tiny_clip.json, random weights)."""
    from mmharness.evaluate import evaluate

    out = tmp_path_factory.mktemp("demo")
    paths = {}
    for model, args in DEMO_MODELS:
        r = evaluate(model, demo_tasks(), model_args=args, sample=True, use_cache=False, output=out, bootstrap=0,
                     progress=False)
        paths[model] = r.path
    return out, paths


@pytest.fixture(scope="module")
def board(demo):
    return build_leaderboard([demo[0]], BuildOptions(include_samples=True))


def _row(doc, adapter):
    return next(m for m in doc["models"] if m["adapter"] == adapter)


# --------------------------------------------------------------------------- metrics


def test_tie_split_credit_is_chance_for_ties_and_the_hit_rate_without_them():
    scores = np.array([[0.9, 0.1, 0.2],    # clean win: 1
                       [0.5, 0.5, 0.1],    # 2-way tie for first with the gold: 1/2
                       [0.3, 0.3, 0.3],    # 3-way tie: 1/3
                       [0.1, 0.9, 0.9],    # the gold below the top: 0
                       [0.2, 0.2, 0.9]])   # tied, but not for first: 0
    gold = [0, 0, 0, 0, 0]
    assert tie_split_hits(scores, gold).tolist() == pytest.approx([1, 0.5, 1 / 3, 0, 0])
    # top-2: the 2-way tie for first is inside the top 2; a 2-way tie for second place gives 1/2
    assert tie_split_hits(scores, gold, 2).tolist() == pytest.approx([1, 1, 2 / 3, 0, 0.5])
    # the official rule gives every tie to the earlier option, strict to nobody
    assert top_n_hits(option_ranks(scores, "earlier"), 1)[:, 0].tolist() == [True, True, True, False, False]
    assert top_n_hits(option_ranks(scores, "strict"), 1)[:, 0].tolist() == [True, False, False, False, False]
    # a scorer that ties everything gets exactly 1/L, whatever the gold's position
    flat = np.zeros((4, 4))
    assert tie_split_hits(flat, [0, 1, 2, 3]).tolist() == [0.25] * 4
    # without ties it equals both rules, and it does not depend on the order of the options
    rng = np.random.default_rng(0)
    s = rng.normal(size=(50, 4))
    g = rng.integers(0, 4, size=50)
    assert tie_split_hits(s, g).tolist() == (option_ranks(s)[np.arange(50), g] == 0).astype(float).tolist()
    perm = [2, 0, 3, 1]
    inv = np.argsort(perm)
    assert tie_split_hits(np.round(s, 0)[:, perm], inv[g]).tolist() == tie_split_hits(np.round(s, 0), g).tolist()
    with pytest.raises(ValueError, match="gold indices"):
        tie_split_hits(scores, [0, 0, 0, 0, 3])


def test_classify_rules():
    flat = np.zeros((5, 3))
    rec = check_classify(flat, [0, 1, 2, 0, 1], ["a", "b", "c"])
    assert rec["checked"] == ["constant_logits", "one_class"] and rec["n"] == 5
    assert rec["degenerate"]["rule"] == "constant_logits" and rec["degenerate"]["flat"] is True
    assert "all 5 scored samples got the same logits, equal for every class" in rec["degenerate"]["reason"]
    same = np.tile([0.1, 0.7, 0.2], (4, 1))
    assert check_classify(same, [0, 1, 2, 1])["degenerate"]["flat"] is False
    one = np.array([[0.1, 0.9, 0.0], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    rec = check_classify(one, [0, 1, 2], ["a", "b", "c"])
    assert rec["degenerate"]["rule"] == "one_class" and rec["degenerate"]["class"] == 1
    assert rec["degenerate"]["reason"] == "all 3 scored samples are predicted class 1 (b)"
    assert check_classify(np.eye(3), [0, 1, 2])["degenerate"] is None
    # multilabel: constant logits only
    assert check_classify(one, [[1], [2], [1, 2]], single_label=False) == \
        {"checked": ["constant_logits"], "n": 3, "degenerate": None}
    # never on one sample, nor when every gold answer is the same class
    assert check_classify(flat[:1], [0])["degenerate"] is None
    assert check_classify(flat, [2] * 5)["degenerate"] is None


def test_generate_and_match_rules():
    rec = check_generate(["A", " A\n", "A"], ["A", "B", "C"])
    assert rec["degenerate"]["rule"] == "identical_answers" and rec["degenerate"]["answer"] == "A"
    assert rec["degenerate"]["reason"] == "all 3 answers are the same text: 'A'"
    assert check_generate(["A", "B"], ["A", "B"])["degenerate"] is None
    assert check_generate(["yes", "yes"], ["yes", "yes"])["degenerate"] is None  # every gold is 'yes'
    long = check_generate(["x" * 100] * 2, [0, 1])["degenerate"]
    assert long["answer"] == "x" * 60 + "…"
    # ties on more than half of the items (the top score shared by two options or more)
    s = np.array([[1.0, 1.0, 0.0], [0.5, 0.2, 0.5], [0.1, 0.9, 0.3], [0.9, 0.2, 0.2]])
    assert check_match(s)["degenerate"] is None and check_match(s)["n_tied"] == 2  # 2 of 4: not more than half
    rec = check_match(s[:3], [["a", "a", "b"], ["x", "y", "z"], ["p", "q", "r"]])
    assert rec["degenerate"]["rule"] == "ties" and rec["n_tied"] == 2 and rec["n_tied_same_text"] == 1
    assert rec["degenerate"]["reason"].startswith("the top score is tied on 2 of 3 items (1 of them between "
                                                  "options with the same text)")


def test_task_declarations():
    """Official headlines unchanged; ranking metrics declared and computed; families from the registry."""
    for name in ("cifar10_b", "cifar100_b"):
        cls = TASKS.get(name)
        assert (cls.primary_metric, cls.ranking_metric(), task_family(name, cls)) == \
            ("macrostd_population", "accuracy", "CIFAR-B")
    for name in SNARE:
        cls = TASKS.get(name)
        assert (cls.primary_metric, cls.ranking_metric(), task_family(name, cls)) == \
            ("accuracy", "accuracy_tie_split", "SNARE")
        task = cls()
        spec = task.metric_spec("accuracy_tie_split")
        assert spec.official is False and spec.chance == task.metric_spec("accuracy").chance
    assert TASKS.get("snare_negation_logic_yesno").ranking_metric() == "balanced_accuracy"
    assert task_family("snare_negation_logic_mllm_mc", TASKS.get("snare_negation_logic_mllm_mc")) == "SNARE"
    # no declared ranking metric: the primary one; no declared family: the largest group holding the task
    assert TASKS.get("mmra").ranking_metric() == "overall" and task_family("mmra", TASKS.get("mmra")) == "MMRA"
    assert task_family("pixelworld_gsm8k", TASKS.get("pixelworld_gsm8k")) == "PixelWorld"  # declared on the task class
    assert task_family("pixelworld_mbpp", TASKS.get("pixelworld_mbpp")) == "PixelWorld"  # declared on the task class
    assert task_family("zz_plugin_task") == "zz_plugin_task"

    class Declared(Task):
        family = "My benchmark"

    assert task_family("pixelworld_gsm8k", Declared) == "My benchmark"


# --------------------------------------------------------------------------- the demo leaderboard


@pytest.mark.slow
def test_demo_runs_record_the_evidence(demo):
    _, paths = demo
    const = load_results(paths["constant"])["tasks"]
    for name in ("cifar10_b", "cifar100_b"):
        deg = const[name]["tables"]["degeneracy"]
        assert deg["checked"] == ["constant_logits", "one_class"] and deg["degenerate"]["rule"] == "constant_logits"
    for name in SNARE:
        t = const[name]
        deg = t["tables"]["degeneracy"]
        assert deg["degenerate"]["rule"] == "ties" and deg["n_tied"] == deg["n"] == t["n_scored"]
        # the official rule gives a constant scorer 1.0 where the positive is option 0; tie-split gives chance
        assert t["metrics"]["accuracy_tie_split"]["value"] == pytest.approx(t["metric_metadata"]["accuracy"]["chance"])
        assert t["primary_metric"] == "accuracy"
    assert [const[n]["metrics"]["accuracy"]["value"] for n in SNARE] == [1.0, 1.0, 1.0, 1.0, 1.0,
                                                                          pytest.approx(3 / 34)]
    clip = load_results(paths["open_clip"])["tasks"]["snare_semantic_structure_flickr30k"]
    assert clip["tables"]["degeneracy"]["n_tied"] == 6 and clip["tables"]["degeneracy"]["n_tied_same_text"] == 6
    assert clip["metrics"]["accuracy"]["value"] == 0.8  # 6 of its 8 official wins are ties given to the original
    assert clip["metrics"]["accuracy_tie_split"]["value"] == pytest.approx(29 / 60)
    rnd = load_results(paths["random"])["tasks"]
    assert all(rnd[n]["tables"]["degeneracy"]["degenerate"] is None for n in rnd)
    assert rnd["snare_semantic_structure_flickr30k"]["tables"]["degeneracy"]["n_tied"] == 4  # 4 of 10: not flagged
    orc = load_results(paths["oracle"])["tasks"]
    assert all(orc[n]["tables"]["degeneracy"]["degenerate"] is None for n in orc)


@pytest.mark.slow
def test_demo_leaderboard_ranks_constant_below_random_and_tiny_clip_not_on_its_ties(board):
    validate_leaderboard(board)
    assert board["problems"] == []
    order = [(m["adapter"], m["overall_rank"]) for m in board["models"]]
    assert order == [("oracle", 1), ("random", 2), ("constant", 3), ("open_clip", 4)]
    const, rnd, clip = _row(board, "constant"), _row(board, "random"), _row(board, "open_clip")
    assert const["overall_rank"] > rnd["overall_rank"]
    assert rnd["average_score"] == pytest.approx(0.09456, abs=1e-4)
    assert const["average_score"] == pytest.approx(0.0, abs=1e-12)
    # the constant model is flagged on every task, ranked on none, keeps its values
    assert const["degenerate_tasks"] == board["columns"] and const["average_rank"] is None
    for t in board["columns"]:
        cell = const["cells"][t]
        assert cell["rank"] is None and cell["value"] is not None and cell["degenerate"]["reason"]
    # columns: CIFAR-B on accuracy (MacroStd beside), SNARE on the tie-split accuracy (official beside)
    for t in ("cifar10_b", "cifar100_b"):
        col = board["tasks"][t]
        assert (col["metric"], col["official_metric"], col["metric_source"], col["family"]) == \
            ("accuracy", "macrostd_population", "leaderboard_metric", "CIFAR-B")
        assert const["cells"][t]["metrics"]["macrostd_population"]["value"] == 0.0  # the best MacroStd...
        assert const["cells"][t]["degenerate"]["rule"] == "constant_logits"  # ...of a model that ignores its input
    for t in SNARE:
        col = board["tasks"][t]
        assert (col["metric"], col["official_metric"], col["family"]) == ("accuracy_tie_split", "accuracy", "SNARE")
        assert col["normalization"]["method"] == "chance"
        assert const["cells"][t]["normalized"] == pytest.approx(0.0, abs=1e-12)
    # tiny CLIP: where ties decide its official number, it is not ranked (flagged), elsewhere it is
    decided = [t for t in SNARE if clip["cells"][t]["metrics"]["accuracy"]["value"]
               != clip["cells"][t]["metrics"]["accuracy_tie_split"]["value"]]
    assert decided == ["snare_semantic_structure_flickr30k"]
    cell = clip["cells"]["snare_semantic_structure_flickr30k"]
    assert cell["rank"] is None and cell["degenerate"]["rule"] == "ties"
    assert cell["value"] == pytest.approx(29 / 60)
    assert all(clip["cells"][t]["rank"] is not None for t in SNARE if t not in decided)
    assert board["tasks"]["snare_semantic_structure_flickr30k"]["n_ranked"] == 2  # oracle and random
    assert board["tasks"]["snare_semantic_structure_flickr30k"]["n_degenerate"] == 2


@pytest.mark.slow
def test_demo_family_averages(board):
    fams = board["families"]
    assert fams["CIFAR-B"]["tasks"] == ["cifar100_b", "cifar10_b"] and fams["SNARE"]["averaged"] == sorted(SNARE)
    assert {board["tasks"][t]["family"] for t in board["columns"]} == set(fams)
    for m in board["models"]:
        for f, fam in fams.items():
            terms = []
            for t in fam["averaged"]:
                c = m["cells"][t]
                terms.append(min(c["normalized"], 0.0) if c.get("degenerate") else c["normalized"])
            a = m["family_averages"][f]
            assert a["total"] == len(fam["averaged"]) and a["n"] == len(terms)
            assert a["score"] == pytest.approx(sum(terms) / len(terms))
    clip = _row(board, "open_clip")
    # the flagged flickr30k cell (tie-split 29/60, above chance) enters the SNARE average at 0, not 0.311
    assert clip["cells"]["snare_semantic_structure_flickr30k"]["normalized"] == pytest.approx((29 / 60 - 0.25) / 0.75)
    terms = [clip["cells"][t]["normalized"] for t in SNARE if t != "snare_semantic_structure_flickr30k"]
    assert clip["family_averages"]["SNARE"]["score"] == pytest.approx(sum(terms) / 6)
    assert _row(board, "oracle")["family_averages"]["SNARE"] == {"score": 1.0, "n": 6, "total": 6}


@pytest.mark.slow
def test_demo_renderings_show_the_official_metric_and_the_flags(board, tmp_path):
    # every task's column (--tasks all), its prose wrapped to the width: compared with spaces collapsed
    text, md = " ".join(render_text(board, tasks="all").split()), render_markdown(board)
    for out in (text, md):
        assert "cifar10_b accuracy ↑ · official macrostd_population ↓" in out
        assert "snare_negation_logic accuracy_tie_split ↑ · official accuracy ↑" in out
        assert "CIFAR-B avg" in out and "SNARE avg" in out
        assert "constant [sample], cifar10_b: ⚠constant_logits: all 50 scored samples got the same logits" in out
        assert ("snare_semantic_structure_flickr30k: ⚠ties: the top score is tied on 6 of 10 items (6 of them "
                "between options with the same text)") in out
    assert "## Degenerate responses" in md
    row = next(line for line in md.splitlines() if line.startswith("| 3 | constant [sample]"))
    assert "0.1000 ⚠constant_logits · 0.0000" in row and "0.5000 ⚠ties · 1.0000" in row
    assert "| 0.000 | 0.000 | 0.000 | — |" in row  # avg score, CIFAR-B avg, SNARE avg, avg rank
    rows = {r["adapter"]: r for r in csv.DictReader(io.StringIO(render_csv(board)))}
    c = rows["constant"]
    assert c["cifar10_b:accuracy"] == "0.1" and c["cifar10_b:official:macrostd_population"] == "0.0"
    assert c["cifar10_b:degenerate"] == "constant_logits" and "same logits" in c["cifar10_b:degenerate_reason"]
    assert c["cifar10_b:rank"] == "" and rows["random"]["cifar10_b:degenerate"] == ""
    assert float(rows["open_clip"]["family:SNARE:average_score"]) == \
        pytest.approx(_row(board, "open_clip")["family_averages"]["SNARE"]["score"])
    assert rows["oracle"]["snare_negation_logic:official:accuracy"] == "1.0"
    # the JSON round-trips through the schema, and the page embeds it
    p = write_leaderboard(board, tmp_path / "lb.json")
    assert load_leaderboard(p) == json.loads(json.dumps(board))
    page = render_html(board)
    assert json.loads(re.search(r'id="lb-data">(.*?)</script>', page, re.DOTALL).group(1)) == board


@pytest.mark.slow
def test_demo_page_draws_flags_official_values_and_family_averages(board, tmp_path):
    """In headless Chromium: the degenerate cells carry their badge and reason, the official values and
    the family-average columns are drawn, the degenerate list names every flagged cell."""
    from test_leaderboard_html import console_lines, dump

    page = tmp_path / "lb.html"
    page.write_text(render_html(board), encoding="utf-8")
    dom, res = dump(page, tmp_path)
    assert dom.status == "ready", dom.errors_text
    assert console_lines(res.stderr) == []
    html = res.stdout
    n_flagged = sum(len(m["degenerate_tasks"]) for m in board["models"])
    assert html.count('class="badge degenerate"') == n_flagged == 11
    assert 'title="all 50 scored samples got the same logits, equal for every class: the model ignores its input"' \
        in html
    assert html.count('class="official"') == sum(
        1 for m in board["models"] for t in board["columns"]
        if board["tasks"][t]["official_metric"] != board["tasks"][t]["metric"] and m["cells"][t]["status"] != "missing")
    assert "CIFAR-B avg" in html and "SNARE avg" in html and "· official macrostd_population ↓" in html
    items = re.search(r'<ul id="lb-degenerate">(.*?)</ul>', html, re.DOTALL).group(1)
    assert items.count("<li") == n_flagged and "open_clip(" in items and "⚠ ties" in items


# --------------------------------------------------------------------------- more rules


def test_identical_answers_on_mmra_are_flagged(tmp_path):
    from mmharness.evaluate import evaluate

    evaluate("text-only", "mmra", model_args="answer=A", sample=True, use_cache=False, output=tmp_path,
             bootstrap=0, progress=False)
    r = evaluate("oracle", "mmra", sample=True, use_cache=False, output=tmp_path, bootstrap=0, progress=False)
    assert r.doc["tasks"]["mmra"]["tables"]["degeneracy"] == {"checked": ["identical_answers"], "n": 22,
                                                             "degenerate": None}
    doc = build_leaderboard([tmp_path], BuildOptions(include_samples=True))
    cell = _row(doc, "text-only")["cells"]["mmra"]
    assert cell["degenerate"] == {"rule": "identical_answers", "reason": "all 22 answers are the same text: 'A'"}
    assert cell["rank"] is None and cell["value"] == pytest.approx(8 / 22)
    # below the chance level of the sample's questions: the cap at 0 takes no loss away
    chance = doc["tasks"]["mmra"]["normalization"]["zero"]
    assert cell["normalized"] == pytest.approx((8 / 22 - chance) / (1 - chance)) == pytest.approx(-0.05)
    assert _row(doc, "text-only")["average_score"] == cell["normalized"]
    assert _row(doc, "oracle")["cells"]["mmra"]["rank"] == 1.0 and doc["tasks"]["mmra"]["family"] == "MMRA"
    assert "⚠identical_answers" in render_text(doc)


@pytest.mark.slow
def test_synthetic_families_from_the_registry(demo, tmp_path):
    """Families from the registry: the ones the task classes declare (MMRA, PixelWorld), else the task itself."""
    template = load_results(demo[1]["oracle"])
    acc = meta(chance=0.25)
    vals = {"ma": (0.9, 0.7, 0.5, 0.4, 0.6), "mb": (0.3, 0.5, 0.7, 0.4, 0.2)}
    for name, (g, a, m, q, z) in vals.items():
        tasks = {"pixelworld_gsm8k": g, "pixelworld_arc": a, "mmra": m, "mmra_qo": q, "zz_plugin": z}
        write_doc(synthetic_doc(template, adapter=name, tasks={
            t: {"metrics": {"acc": v}, "meta": {"acc": acc}, "primary": "acc"} for t, v in tasks.items()}),
            tmp_path, name)
    doc = build_leaderboard([tmp_path])
    assert {f: v["tasks"] for f, v in doc["families"].items()} == {
        "MMRA": ["mmra", "mmra_qo"], "PixelWorld": ["pixelworld_arc", "pixelworld_gsm8k"], "zz_plugin": ["zz_plugin"]}
    ma = _row(doc, "ma")
    assert ma["family_averages"]["PixelWorld"] == {"score": pytest.approx(((0.7 - .25) + (0.9 - .25)) / 2 / .75),
                                                   "n": 2, "total": 2}
    assert ma["family_averages"]["MMRA"]["score"] == pytest.approx(((0.5 - .25) + (0.4 - .25)) / 2 / .75)
    assert ma["family_averages"]["zz_plugin"]["score"] == pytest.approx((0.6 - .25) / .75)
    assert all(doc["tasks"][t]["metric_source"] == "primary_metric" for t in doc["columns"])
    text = render_text(doc)
    assert "PixelWorld avg" in text and "MMRA avg" in text and "zz_plugin avg" not in text  # one task: no column
    # a family left out of the task set has no average
    doc = build_leaderboard([tmp_path], BuildOptions(tasks=["mmra_all"]))
    assert doc["families"]["PixelWorld"]["averaged"] == []
    assert _row(doc, "ma")["family_averages"]["PixelWorld"] == {"score": None, "n": 0, "total": 0}
    assert "PixelWorld avg" not in render_text(doc)


@pytest.mark.slow
def test_results_from_earlier_builds_still_build(demo, tmp_path):
    """Files without the tie-split metric and the degeneracy record: the SNARE column ranks on the
    official accuracy with a warning; mixed with new files, the old cell lacks the column's metric."""
    _, paths = demo
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    for model in ("constant", "random"):
        doc = copy.deepcopy(load_results(paths[model]))
        doc["run_id"] = doc["run_id"][::-1]
        for t in doc["tasks"].values():
            t["tables"].pop("degeneracy", None)
            t["metrics"].pop("accuracy_tie_split", None)
            t["metric_metadata"].pop("accuracy_tie_split", None)
        validate_results(doc, "old")
        (old_dir / f"results_old_{model}.json").write_text(json.dumps(doc))
    doc = build_leaderboard([old_dir], BuildOptions(include_samples=True))
    col = doc["tasks"]["snare_negation_logic"]
    assert (col["metric"], col["metric_source"]) == ("accuracy", "primary_metric")
    warned = {p["task"] for p in doc["problems"] if p["kind"] == "ranking_metric_absent"}
    assert warned == set(SNARE)
    assert doc["tasks"]["cifar10_b"]["metric"] == "accuracy"  # CIFAR-B's ranking metric was always recorded
    assert all(m["degenerate_tasks"] == [] for m in doc["models"])
    # old constant + new random: the column ranks on the tie-split accuracy, the old cell lacks it
    (old_dir / "results_old_random.json").unlink()
    new = tmp_path / "new"
    new.mkdir()
    (new / Path(paths["random"]).name).write_bytes(Path(paths["random"]).read_bytes())
    doc = build_leaderboard([old_dir, new], BuildOptions(include_samples=True))
    assert doc["tasks"]["snare_negation_logic"]["metric"] == "accuracy_tie_split"
    cell = _row(doc, "constant")["cells"]["snare_negation_logic"]
    assert cell["status"] == "missing_metric" and cell["metrics"]["accuracy"]["value"] == 1.0
    msg = next(p["message"] for p in doc["problems"] if p["kind"] == "missing_metric"
               and p["task"] == "snare_negation_logic")
    assert "re-running the model adds it" in msg


@pytest.mark.slow
def test_metric_override_and_schema_version(board, demo, tmp_path):
    doc = build_leaderboard([demo[0]], BuildOptions(include_samples=True,
                                                    metrics={"snare_negation_logic": "accuracy"}))
    col = doc["tasks"]["snare_negation_logic"]
    assert (col["metric"], col["metric_source"], col["official_metric"]) == ("accuracy", "override", "accuracy")
    # a flagged cell stays unranked whatever the column ranks on
    assert _row(doc, "constant")["cells"]["snare_negation_logic"]["rank"] is None
    assert "snare_negation_logic accuracy ↑ ·" not in render_text(doc)  # nothing beside: it is the official one
    assert board["schema_version"] == "1.1"
    old = json.loads(json.dumps(board))
    old["schema_version"] = "1.0"
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old))
    with pytest.raises(LeaderboardError, match="schema version '1.0'; this mmharness reads '1.1'. Rebuild it"):
        load_leaderboard(p)


def test_snare_yesno_ranks_on_balanced_accuracy(tmp_path):
    """The official yes/no accuracy is the 'yes' rate on the correct option: 'yes' to everything
    scores 1.0. balanced_accuracy gives it 0.5, and the identical answers are flagged."""
    from mmharness.evaluate import evaluate

    plugin = str(Path(__file__).parent / "plugins" / "snare_test_plugin.py")
    desc = evaluate("oracle", "snare_describe_vg", sample=True, use_cache=False, progress=False, bootstrap=0,
                    output=tmp_path / "describe", log_samples=True).sample_logs["snare_describe_vg"]
    kw = {"sample": True, "use_cache": False, "progress": False, "bootstrap": 0, "includes": [plugin],
          "task_args": f"descriptions={desc}", "output": tmp_path / "runs"}
    yes = evaluate("snare_test_answer", "snare_attribute_ownership_yesno", model_args="text=Yes", **kw)
    t = yes.doc["tasks"]["snare_attribute_ownership_yesno"]
    assert t["metrics"]["accuracy"]["value"] == 1.0 and t["metrics"]["balanced_accuracy"]["value"] == 0.5
    assert t["tables"]["degeneracy"]["degenerate"]["rule"] == "identical_answers"
    orc = evaluate("oracle", "snare_attribute_ownership_yesno", **kw).doc["tasks"]["snare_attribute_ownership_yesno"]
    assert orc["metrics"]["balanced_accuracy"]["value"] == 1.0 and orc["tables"]["degeneracy"]["degenerate"] is None
    doc = build_leaderboard([tmp_path / "runs"], BuildOptions(include_samples=True, includes=[plugin]))
    col = doc["tasks"]["snare_attribute_ownership_yesno"]
    assert (col["metric"], col["official_metric"], col["family"]) == ("balanced_accuracy", "accuracy", "SNARE")
    assert [(m["adapter"], m["cells"]["snare_attribute_ownership_yesno"]["rank"]) for m in doc["models"]] == \
        [("oracle", 1.0), ("snare_test_answer", None)]


@pytest.mark.slow
def test_an_unregistered_task_ranks_on_the_leaderboard_metric_its_results_record(demo, tmp_path):
    """A plugin task absent where the board is built: the ranking metric recorded in the results
    (cifar10_b's accuracy, under another task name) is used, not its primary metric."""
    out, paths = demo
    for model in ("oracle", "random"):
        doc = json.loads(Path(paths[model]).read_text())
        task = doc["tasks"].pop("cifar10_b")
        assert task["leaderboard_metric"] == "accuracy" and task["primary_metric"] == "macrostd_population"
        doc["tasks"] = {"plugin_cifar": task}
        (tmp_path / f"results_{model}.json").write_text(json.dumps(doc))
    lb = build_leaderboard([tmp_path], BuildOptions(include_samples=True))
    col = lb["tasks"]["plugin_cifar"]
    assert col["metric"] == "accuracy" and col["metric_source"] == "leaderboard_metric"
    assert _row(lb, "oracle")["cells"]["plugin_cifar"]["rank"] == 1.0
