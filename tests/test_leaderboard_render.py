"""Leaderboard renderings (text, Markdown, CSV, HTML source) and the per-task plot registry."""

import csv
import io
import json
import re

import pytest

from lb_helpers import FIXTURES, meta, mmra_docs, pixelworld_docs, real_runs, synthetic_doc, write_doc
from mmharness.leaderboard import BuildOptions, build_leaderboard
from mmharness.leaderboard import plots as plot_registry
from mmharness.leaderboard.plots import PlotCell, build_plots
from mmharness.leaderboard.plots.cifar_b import subgroup_accuracy
from mmharness.leaderboard.plots.pixelworld import mode_pairs
from mmharness.leaderboard.render_csv import render_csv
from mmharness.leaderboard.render_html import embed_json, render_html
from mmharness.leaderboard.render_md import render_markdown
from mmharness.leaderboard.render_text import render_text
from mmharness.results import load_results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, real_runs(out)


@pytest.fixture(scope="module")
def template(runs):
    return load_results(runs[1]["oracle"])


@pytest.fixture(scope="module")
def board(runs, template, tmp_path_factory):
    """Real sample runs, published MMRA / PixelWorld rows (models missing tasks), a truncated file."""
    d = tmp_path_factory.mktemp("board")
    for p in runs[0].iterdir():
        (d / p.name).write_bytes(p.read_bytes())
    for i, doc in enumerate(mmra_docs(template) + pixelworld_docs(template)):
        write_doc(doc, d, f"published_{i}")
    (d / "results_truncated.json").write_text(runs[1]["oracle"].read_text()[:500])  # reported, not used
    return build_leaderboard([d], BuildOptions(include_samples=True))


def test_text_and_markdown_show_every_model_and_mark_missing_and_incomplete(board):
    text, md = render_text(board), render_markdown(board)
    for m in board["models"]:
        label = m["label"] + (f" [{', '.join(m['flags'])}]" if m["flags"] else "")
        assert label in text and label in md
    gpt = next(m for m in board["models"] if m["label"] == "published(GPT4o)")
    n, total = gpt["average_score_n"], len(board["score_task_set"])
    assert n == 2 and total == 4
    row = next(line for line in md.splitlines() if "published(GPT4o)" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = next(line for line in md.splitlines() if line.startswith("| # |"))
    first_task = [c.strip() for c in header.strip("|").split("|")].index("avg rank") + 1
    assert cells[0] == "incomplete"
    assert cells[2] == f"{gpt['average_score']:.3f}* (2/4)"
    assert cells[first_task + board["columns"].index("cifar10_b")] == "—"
    assert cells[first_task + board["columns"].index("mmra")] == f"{gpt['cells']['mmra']['value']:.4f} (1)"
    assert board["problems"] and "## Problems with the inputs" in md
    flat = " ".join(render_text(board).split())  # the text wraps its prose to the width
    for p in board["problems"]:
        assert p["message"].replace("|", "\\|") in md and " ".join(p["message"].split()) in flat
    assert re.search(r"^\| --- ?\|", md, re.M) is None  # alignment row uses ---: markers
    every_task = render_text(board, tasks="all")  # by default CIFAR-B shows as its average
    assert "macrostd_population ↓" in every_task and "mmra overall ↑" in every_task and "mmra overall ↑" in text


def test_csv_round_trips_values_and_leaves_missing_empty(board):
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert len(rows) == len(board["models"])
    by = {r["model"]: r for r in rows}
    for m in board["models"]:
        r = by[m["label"]]
        for t in board["columns"]:
            c = m["cells"][t]
            key = f"{t}:{board['tasks'][t]['metric']}"
            assert (r[key] == "") == (c["value"] is None)
            if c["value"] is not None:
                assert float(r[key]) == pytest.approx(c["value"], abs=1e-12)
                assert float(r[f"{t}:normalized"]) == pytest.approx(c["normalized"])
            assert r[f"{t}:status"] == c["status"]
    assert by["oracle"]["data"] == "sample" and by["oracle"]["flags"] == "sample"


def test_html_is_self_contained(board):
    page = render_html(board)
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<script[^>]+src=|<link\b|@import|url\(", page)
    assert re.findall(r"https?://[^\s\"')]+", page) == ["http://www.w3.org/2000/svg"]  # an XML namespace only
    m = re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', page, re.S)
    assert json.loads(m.group(1)) == board


def test_embedded_json_cannot_close_its_script_tag():
    doc = {"label": "evil</script><script>alert(1)</script>&"}
    text = embed_json(doc)
    assert "</script" not in text and "<" not in text and json.loads(text) == doc


# --------------------------------------------------------------------------- plots


def test_cifar_plot_pools_classes_per_subgroup(board):
    table = {"classes": ["a", "b"], "subgroups": [0, 1, 2],
             "acc": [[1.0, 0.5, None], [0.0, 1.0, None]], "n": [[2, 4, 0], [2, 1, 0]]}
    names, vals = subgroup_accuracy(table)
    assert names == ["0", "1", "2"]
    assert vals == [pytest.approx(2 / 4), pytest.approx(3 / 5), None]
    p = next(p for p in board["plots"] if p["id"] == "cifar_b-cifar10_b")
    assert p["type"] == "grouped_bars" and len(p["categories"]) == 8
    oracle = next(s for s in p["series"] if s["label"].startswith("oracle"))
    assert all(v in (1.0, None) for v in oracle["values"])
    assert board["tasks"]["cifar10_b"]["plots"] == ["cifar_b-cifar10_b"]


def test_mmra_plot_carries_the_published_subtask_numbers(board):
    fx = json.loads((FIXTURES / "mmra_main_results.json").read_text())
    gpt = next(r for r in fx["rows"] if r["model"] == "GPT4o")
    p = next(p for p in board["plots"] if p["id"] == "mmra-mmra")
    assert p["categories"] == ["RP", "US", "MS", "SM", "AS", "NSE", "Env", "LO", "SimE", "SubE", "OA"]
    s = next(s for s in p["series"] if s["label"] == "published(GPT4o)")
    assert s["values"] == [pytest.approx(gpt[c] / 100) for c in p["categories"]]


def test_pixelworld_plot_pairs_text_and_pixels(board):
    fx = json.loads((FIXTURES / "pixelworld_project_page_results.json").read_text())["text_only"]
    p = next(p for p in board["plots"] if p["id"] == "pixelworld-text-vs-pixels")
    assert p["type"] == "dumbbell" and p["categories"] == fx["_cols"]
    s = next(s for s in p["series"] if s["label"] == "published(Phi_3_5_vision)")
    assert s["from"] == [pytest.approx(v / 100) for v in fx["Phi_3_5_vision"]["text"]]
    assert s["to"] == [pytest.approx(v / 100) for v in fx["Phi_3_5_vision"]["img"]]


@pytest.mark.parametrize("tables,metrics,expected", [
    ({"per_dataset": [{"dataset": "GSM8K", "text": 0.6, "img": 0.4}]}, {}, {"GSM8K": (0.6, 0.4)}),
    ({"modes": {"text": {"ARC": 0.9}, "pixel": {"ARC": {"score": 0.8}}}}, {}, {"ARC": (0.9, 0.8)}),
    ({"scores": {"text": 0.5, "image": 0.25}}, {}, {"pixelworld_gsm8k": (0.5, 0.25)}),
    ({}, {"score_text": 0.7, "score_img": 0.6}, {"pixelworld_gsm8k": (0.7, 0.6)}),
    ({}, {"em_text": 0.7, "em_img": 0.6}, {"pixelworld_gsm8k em": (0.7, 0.6)}),
    ({"per_dataset": {"GSM8K": {"text": 0.6}}}, {"accuracy": 0.5}, {}),
])
def test_pixelworld_table_shapes(tables, metrics, expected):
    assert mode_pairs("pixelworld_gsm8k", tables, metrics) == expected


def test_absent_or_malformed_tables_draw_nothing():
    cells = [PlotCell("cifar10_b", "m1", "m1", {}, {"accuracy": 0.5}),
             PlotCell("cifar10_b", "m2", "m2", {"cell_accuracy": {"acc": "oops"}}, {}),
             PlotCell("mmra", "m1", "m1", {"per_subtask": "not a table"}, {}),
             PlotCell("mmra_qo", "m1", "m1", {}, {}),
             PlotCell("pixelworld", "m1", "m1", {"per_dataset": [{"no_name": 1}]}, {})]
    plots, failures = build_plots(cells)
    assert plots == [] and failures == []


def test_a_failing_provider_is_reported_not_fatal(monkeypatch, template, tmp_path):
    def broken(cells):
        raise RuntimeError("kaputt")

    plot_registry.providers()
    monkeypatch.setitem(plot_registry._PROVIDERS, "zz_broken", broken)
    spec = {"t": {"metrics": {"acc": 0.5}, "meta": {"acc": meta()}, "primary": "acc"}}
    p = write_doc(synthetic_doc(template, adapter="m", tasks=spec), tmp_path, "x")
    doc = build_leaderboard([p])
    (prob,) = [q for q in doc["problems"] if q["kind"] == "plot_failed"]
    assert "zz_broken" in prob["message"] and "kaputt" in prob["message"]
    assert doc["models"][0]["cells"]["t"]["value"] == 0.5
