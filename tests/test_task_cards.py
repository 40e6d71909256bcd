"""Task cards (`mmh tasks NAME`): every option of every built-in task is declared with a meaning, the
cards render from the declarations (options with defaults, metrics with directions, BibTeX), the CLI
prints them as text and JSON, and `--task-args` is checked against the same declared options."""

from __future__ import annotations

import inspect
import json
import re

import pytest
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.evaluate import build_task, evaluate
from mmharness.registry import TASK_GROUPS, TASKS
from mmharness.task import DataConfig, TaskError, option_declaration_problems, task_options
from mmharness.task_cards import format_card, format_default, task_card

BUILTIN = [n for n in TASKS.names() if TASKS.origin(n) == "builtin"]
CIFAR10_B_TITLE = "Better May Not Be Fairer: A Study on Subgroup Discrepancy in Image Classification"


def cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def flat(text: str) -> str:
    """Text with every run of whitespace (line wraps included) as one space."""
    return " ".join(text.split())


def bibtex_fields(entry: str) -> tuple[str, str, dict[str, str]]:
    """(entry type, key, {field: value}) of one BibTeX entry; asserts its shape and balanced braces."""
    m = re.fullmatch(r"@(\w+)\{([A-Za-z][\w:.-]*),\n(.*)\n\}", entry, re.DOTALL)
    assert m, entry
    depth = 0
    for ch in entry:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, entry
    assert depth == 0, entry
    fields = dict(re.findall(r"^  (\w+) = \{(.*)\},?$", m.group(3), re.MULTILINE))
    return m.group(1), m.group(2), fields


def test_the_registry_holds_the_built_in_tasks():
    assert len(BUILTIN) == 42 and {"cifar10_b", "mmra", "refava", "mintrec2", "fmb", "semseg_folder"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_option_has_a_meaning_and_every_meaning_an_option(name):
    cls = TASKS.get(name)
    assert option_declaration_problems(cls) == []
    opts = task_options(cls)
    assert [o.name for o in opts] == [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert all(o.meaning.strip() and "\n" not in o.meaning and o.type and not o.required for o in opts)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_card_renders_from_the_declarations(name):
    card = task_card(name)
    text = format_card(card, width=100)
    for line in text.split("\n"):  # wrapped at 100, never cut: only an unbreakable word or BibTeX goes beyond
        assert len(line) <= 100 or len(line.split()) == 1 or re.match(r"  \w+ = \{", line), line
    words = flat(text)
    assert words.startswith(f"{name}: {card['description']}")
    for o in card["options"]:
        assert f"{o['name']} ({o['type']}; default {format_default(o)})" in words
    assert card["metrics"], name
    for m in card["metrics"]:
        assert f"{m['name']} ({'higher' if m['higher_is_better'] else 'lower'} is better; range [" in words
    assert card["primary_metric"] in {m["name"] for m in card["metrics"]}
    assert card["leaderboard_metric"] in {m["name"] for m in card["metrics"]}
    assert f"primary {card['primary_metric']}" in words and f"leaderboard {card['leaderboard_metric']} (" in words
    assert card["family"] and f"family {card['family']}" in words
    kind, key, fields = bibtex_fields(card["citation"])
    assert kind in ("inproceedings", "article", "misc") and key
    assert fields["title"].strip("{}") and fields["author"] and re.fullmatch(r"(19|20)\d\d", fields["year"])
    assert card["citation"] in text
    assert card["paper"]["title"] in words and card["paper"]["repository"]
    assert card["data"]["layout"] and flat(f"source {card['data']['source']}") in words
    assert card["data"]["sample"] is True and "--sample yes" in words


@pytest.mark.parametrize("name", BUILTIN)
def test_the_metrics_on_the_card_are_those_of_the_task_with_default_options(name):
    """Cards read the metrics without building the task; built with its defaults, the task has the same."""
    cls = TASKS.get(name)
    task = build_task(name, {"allow_code_execution": "unsandboxed"} if name == "pixelworld_mbpp" else {})
    assert [m.as_dict() | {"name": m.name} for m in cls.default_metric_specs()] == \
        [m.as_dict() | {"name": m.name} for m in task.metric_specs]
    assert task.primary_metric == cls.primary_metric


def test_mmra_card_says_which_chance_levels_come_from_the_data():
    cls = TASKS.get("mmra")
    card = task_card("mmra")
    from_data = {m["name"] for m in card["metrics"] if m["chance_from_data"]}
    assert from_data == {m.name for m in cls.metric_specs if m.higher_is_better} and "overall" in from_data
    assert all(m["chance"] is None for m in card["metrics"])
    task = build_task("mmra")
    task.load(DataConfig(sample=True))
    for m in cls.metric_specs:  # after loading, exactly these get a chance level
        assert (task.metric_spec(m.name).chance is not None) == (m.name in from_data), m.name
    assert "overall (higher is better; range [0, 1]; chance from the data; official; primary; leaderboard)" \
        in flat(format_card(card))


def test_mmh_tasks_cifar10_b_prints_its_card():
    r = cli("tasks", "cifar10_b")
    assert r.exit_code == 0, r.output
    words = flat(r.output)
    assert words.startswith("cifar10_b: Subgroup (background colour) consistency of CIFAR-10 classifiers.")
    assert "macrostd (str; default population) SD convention reported again as the metric `macrostd`" in words
    assert "templates (str; default clip)" in words
    assert "macrostd_population (lower is better; range [0, 0.5]; no chance level; official; primary)" in words
    assert "accuracy (higher is better; range [0, 1]; chance 0.1; official; leaderboard)" in words
    assert f"paper {CIFAR10_B_TITLE}" in words
    assert "authors Ming-Chang Chiu, Pin-Yu Chen, Xuezhe Ma" in words
    assert "venue ICCV 2023, pages 4956–4966" in words and "arXiv 2212.08649" in words
    assert "(reference commit 22201ae)" in words and "family CIFAR-B" in words
    assert "capabilities classify (in order of preference)" in words
    assert "cifar-10-batches-py/test_batch" in words and "uoft-cs/cifar10" in words and "--sample yes" in words
    assert "@inproceedings{chiu2023better,\n" in r.output and f"  title = {{{{{CIFAR10_B_TITLE}}}}}," in r.output
    assert "  author = {Ming-Chang Chiu and Pin-Yu Chen and Xuezhe Ma}," in r.output
    assert "  year = {2023}," in r.output
    assert "leaderboard accuracy (declared: the leaderboard ranks on it" in words


def test_cards_print_for_several_names_and_for_groups():
    r = cli("tasks", "refava", "cifar_b")
    assert r.exit_code == 0, r.output
    words = flat(r.output)
    assert "group cifar_b (2 tasks): cifar10_b, cifar100_b" in words
    assert [line.split(":")[0] for line in r.output.split("\n") if re.match(r"^\w+: ", line)] == \
        ["refava", "cifar10_b", "cifar100_b"]
    assert "convert mmh data convert refava --pickles FILE" in words  # the conversion command
    assert "clips (int; default 11)" in words
    assert "@inproceedings{peng2024referring," in r.output


def test_mmh_tasks_json_carries_the_card_fields():
    r = cli("tasks", "--json", "cifar10_b", "mmra")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [c["name"] for c in doc["tasks"]] == ["cifar10_b", "mmra"] and doc["groups"] == {}
    for card in doc["tasks"]:
        assert card == json.loads(json.dumps(task_card(card["name"]), default=str))
        text = flat(format_card(card))  # the text card is written from these very fields
        assert all(o["name"] in text for o in card["options"]) and all(m["name"] in text for m in card["metrics"])
    c10, mmra = doc["tasks"]
    assert {k for k in c10} >= {"name", "version", "uses", "primary_metric", "protocol", "description", "origin",
                                "family", "paper", "citation", "options", "metrics", "leaderboard_metric", "data"}
    assert c10["paper"]["title"] == CIFAR10_B_TITLE and c10["paper"]["arxiv"] == "2212.08649"
    assert c10["paper"]["commit"] == "22201ae" and c10["citation"].startswith("@inproceedings{chiu2023better,")
    opts = {o["name"]: o for o in c10["options"]}
    assert opts["macrostd"] == {"name": "macrostd", "type": "str", "default": "population", "required": False,
                                "meaning": opts["macrostd"]["meaning"]} and "nist" in opts["macrostd"]["meaning"]
    metrics = {m["name"]: m for m in c10["metrics"]}
    assert metrics["macrostd_population"]["higher_is_better"] is False and metrics["macrostd_population"]["primary"]
    assert metrics["accuracy"]["chance"] == 0.1 and metrics["accuracy"]["leaderboard"]
    assert (c10["primary_metric"], c10["leaderboard_metric"], c10["family"]) == ("macrostd_population", "accuracy",
                                                                                 "CIFAR-B")
    assert c10["data"]["sample"] is True and c10["data"]["convert"] is None
    assert mmra["paper"]["venue"] == "Findings of EACL" and mmra["paper"]["year"] == 2026
    assert {m["name"]: m["chance_from_data"] for m in mmra["metrics"]}["overall"] is True
    assert [o["name"] for o in mmra["options"]] == ["max_new_tokens", "drop_failed", "profile", "layout", "role"]
    assert mmra["leaderboard_metric_source"] == "primary_metric" and mmra["family"] == "MMRA"
    r = cli("tasks", "--json", "segmentation")
    doc = json.loads(r.output)
    assert doc["groups"] == {"segmentation": ["fmb", "mfnet"]} and [c["name"] for c in doc["tasks"]] == ["fmb", "mfnet"]
    assert [m["name"] for m in doc["tasks"][0]["metrics"]][3:] == ["mIoU_fmb15_no_back", "mIoU_fmb13_sea"]


def test_mmh_tasks_lists_every_task_with_its_whole_description():
    r = cli("tasks")
    assert r.exit_code == 0, r.output
    words = flat(r.output)
    lines = r.output.split("\n")
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    first = len(lines[rule].split()[0])  # the task / description column
    column = flat("\n".join(line[:first] for line in lines[rule + 1:lines.index("groups:")]))
    for n in BUILTIN:
        assert f"{n} {flat(task_card(n)['description'])}" in column, n
    assert "cifar_b = cifar10_b, cifar100_b" in words and "`mmh tasks NAME...` prints each task's card" in words
    doc = json.loads(cli("tasks", "--json").output)
    assert {c["name"] for c in doc["tasks"]} >= set(BUILTIN) and doc["groups"]["cifar_b"] == ["cifar10_b", "cifar100_b"]
    assert all(c["citation"] for c in doc["tasks"] if c["origin"] == "builtin")


def test_an_unknown_task_name_is_an_error_with_a_suggestion():
    r = cli("tasks", "cifar10b")
    assert r.exit_code == 2
    assert "unknown task or group 'cifar10b'. Did you mean 'cifar10_b'" in r.output and "mmh tasks" in r.output
    r = cli("tasks", "--json", "snare_mlm")
    assert r.exit_code == 2 and "Did you mean 'snare_mllm'" in r.output


def test_a_plugin_task_without_declarations_still_gets_a_card(tmp_path):
    from pathlib import Path

    plugin = str(Path(__file__).parent / "plugins" / "toy_plugin.py")
    r = cli("tasks", "--include", plugin, "toy_shapes")
    assert r.exit_code == 0, r.output
    words = flat(r.output)
    assert "n (int; default 40) (meaning not declared)" in words and "paper (not declared)" in words
    assert "accuracy (higher is better; range [0, 1]; chance 0.3333; official; primary; leaderboard)" in words
    assert "data: (not declared)" in words and "citation: (not declared)" in words


def test_unknown_task_args_name_the_declared_options(tmp_path):
    known = sorted(o.name for o in task_options(TASKS.get("cifar10_b")))
    assert known == ["macrostd", "templates"]
    with pytest.raises(TaskError) as e:
        evaluate("oracle", "cifar10_b", task_args="macrostdd=nist", sample=True, use_cache=False, progress=False)
    msg = str(e.value)
    assert "no selected task accepts option(s) macrostdd. Did you mean 'macrostd'?" in msg
    assert f"Options of these tasks: {', '.join(known)} (`mmh tasks NAME` says what each one means)" in msg
    r = cli("run", "--model", "oracle", "--tasks", "mmra,cifar10_b", "--sample", "--no-cache", "--no-progress",
            "--output", str(tmp_path), "--task-args", "max_new_token=8")
    assert r.exit_code == 2 and "Did you mean 'max_new_tokens'?" in r.output
    both = sorted({o.name for t in ("mmra", "cifar10_b") for o in task_options(TASKS.get(t))})
    assert f"Options of these tasks: {', '.join(both)} (" in flat(r.output)


def test_task_args_keep_their_typed_conversion():
    assert build_task("cifar10_b", {"macrostd": "nist"}).macrostd == "nist"
    assert build_task("refava", {"clips": "2", "repeated_frame_bug": "yes"}).clips == 2
    assert build_task("refava", {"repeated_frame_bug": "yes"}).repeated_frame_bug is True
    mr = build_task("mintrec2", {"ood": "false", "doc_scale": "0.5", "max_new_tokens": "7"})
    assert (mr.ood, mr.doc_scale, mr.max_new_tokens) == (False, 0.5, 7)
    assert build_task("mmra", {"layout": "none"}).layout_option is None
    with pytest.raises(TaskError, match="clips='two' is not a valid int"):
        build_task("refava", {"clips": "two"})
    # keys of other tasks are left to them (a run of several tasks shares one --task-args)
    assert build_task("cifar10_b", {"clips": "2", "macrostd": "nist"}).macrostd == "nist"


def test_groups_in_the_registry_all_resolve():
    for g, members in TASK_GROUPS.items():
        assert set(members) <= set(BUILTIN), g
