"""SNARE's repository yes/no protocol (BLIP-2 wrapper): question construction verbatim, the two-stage
describe-then-ask workflow, substring vs word-boundary scoring, and its errors."""

import json
from pathlib import Path

import pytest

from mmharness.evaluate import evaluate
from mmharness.loaders.snare_prompts import blip2_followup, blip2_question
from mmharness.registry import TASKS
from mmharness.task import DataConfig, TaskError

PLUGIN = str(Path(__file__).parent / "plugins" / "snare_test_plugin.py")


def test_blip2_question_is_built_verbatim_with_its_quirks():
    assert blip2_question("the zebra is on the road") == "is the zebra on the roadin the image?"
    assert blip2_question("the horses are eating the grass") == "are the horses eating the grassin the image?"
    assert blip2_question("the blue sky and the large building") == \
        "are there the blue sky and the large building in the image?"
    # "is" as a substring of another word also triggers the first branch
    assert blip2_question("the fish and the dog") == "is the fish and the dogin the image?"
    assert blip2_followup("a zebra", "is it?") == "Question: Describe the image. Answer: a zebra. Question: is it? Answer:"


def run(model, tasks, **kw):
    return evaluate(model, tasks, sample=True, use_cache=False, progress=False, bootstrap=0, includes=[PLUGIN], **kw)


@pytest.fixture(scope="module")
def descriptions(tmp_path_factory):
    out = tmp_path_factory.mktemp("describe")
    res = evaluate("oracle", "snare_describe_vg", sample=True, use_cache=False, progress=False, bootstrap=0,
                   output=out, log_samples=True)
    assert res.doc["tasks"]["snare_describe_vg"]["n_scored"] == 41 + 29
    return str(res.sample_logs["snare_describe_vg"])


def test_two_stage_oracle(descriptions):
    docs = run("oracle", "snare_yesno", task_args=f"descriptions={descriptions}").doc["tasks"]
    for name, d in docs.items():
        m = d["metrics"]
        assert m["accuracy"]["value"] == 1.0 and m["accuracy_word"]["value"] == 1.0, name
    m = docs["snare_attribute_ownership_yesno"]["metrics"]
    assert m["correct_yes_rate"]["value"] == 1.0 and m["exchange_yes_rate"]["value"] == 0.0
    assert docs["snare_negation_logic_yesno"]["n_samples"] == 2 * 29
    rec = docs["snare_attribute_ownership_yesno"]["tables"]["official_records"]
    assert rec[0] == {"Attributes": "white_black", "Count": 25, "correct": 1.0, "exchange": 0.0, "separate": 0.0}
    assert docs["snare_attribute_ownership_yesno"]["config"]["descriptions_sha256"]


def test_the_prompt_contains_the_models_description(descriptions):
    t = TASKS.get("snare_relationship_composition_yesno")(descriptions=descriptions)
    s = t.load(DataConfig(sample=True)).samples[2]
    assert s.id == "00000:2" and s.gold == 0
    assert s.meta["prompt"] == ("Question: Describe the image. Answer: the woman is wearing the shirt. "
                                "Question: are there the woman and the shirt in the image? Answer:")
    req = t.request(s)
    assert req.messages[0].parts[1] == s.meta["prompt"] and req.reference == "no"


@pytest.mark.parametrize("answer, official, word, unparsed, unparsed_word", [
    ("Yes", 1.0, 1.0, 0.0, 0.0),
    ("no idea", 0.0, 0.0, 0.0, 0.0),
    ("Her eyes are closed", 1.0, 0.0, 0.0, 1.0),  # 'yes' inside 'eyes' counts officially
    ("I cannot say", 0.0, 0.0, 0.0, 1.0),  # 'no' inside 'cannot'
    ("maybe", 0.0, 0.0, 1.0, 1.0),
])
def test_substring_and_word_scoring(descriptions, answer, official, word, unparsed, unparsed_word):
    m = run("snare_test_answer", "snare_negation_logic_yesno", model_args=f"text={answer}",
            task_args=f"descriptions={descriptions}").doc["tasks"]["snare_negation_logic_yesno"]["metrics"]
    assert m["accuracy"]["value"] == official and m["negative_yes_rate"]["value"] == official
    assert m["accuracy_word"]["value"] == word
    assert m["unparsed_rate"]["value"] == unparsed and m["unparsed_rate_word"]["value"] == unparsed_word


def test_descriptions_are_required_and_must_cover_every_item(tmp_path):
    with pytest.raises(TaskError, match=r"snare_describe_vg --log-samples"):
        TASKS.get("snare_negation_logic_yesno")().load(DataConfig(sample=True))
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"attribution:00000": "a sky"}))
    with pytest.raises(TaskError, match=r"no description for 28 item\(s\).*first: attribution:00001"):
        TASKS.get("snare_negation_logic_yesno")(descriptions=str(p)).load(DataConfig(sample=True))
    p.write_text(json.dumps({f"attribution:{i:05d}": f"d{i}" for i in range(29)}))
    data = TASKS.get("snare_negation_logic_yesno")(descriptions=str(p)).load(DataConfig(sample=True))
    assert data.samples[0].meta["prompt"].startswith("Question: Describe the image. Answer: d0. Question: is ")
    p.write_text("not json\n")
    with pytest.raises(TaskError, match="line 1: not a samples-log row"):
        TASKS.get("snare_negation_logic_yesno")(descriptions=str(p)).load(DataConfig(sample=True))


def test_compare_pairs_items_not_samples(descriptions, tmp_path):
    """Items (one sample per option) are the resampling unit: mmh compare pivots each sample log to
    one row per item and gives every declared metric a paired interval over the 29 items."""
    from mmharness.leaderboard.compare import compare_runs

    common = dict(sample=True, use_cache=False, progress=False, bootstrap=200, includes=[PLUGIN], output=tmp_path,
                  log_samples=True, task_args=f"descriptions={descriptions}")
    a = evaluate("snare_test_answer", "snare_negation_logic_yesno", model_args="text=Yes", **common)
    b = evaluate("oracle", "snare_negation_logic_yesno", **common)
    m_a = a.doc["tasks"]["snare_negation_logic_yesno"]["metrics"]
    assert m_a["accuracy"]["value"] == 1.0 and m_a["balanced_accuracy"]["value"] == 0.5
    t = compare_runs(a.path, b.path, resamples=200)["tasks"][0]
    assert t["paired"] and t["n_paired"] == 29
    assert all(m["paired_ci"] for m in t["metrics"]), [(m["metric"], m["why_no_ci"]) for m in t["metrics"]]
    bal = next(m for m in t["metrics"] if m["metric"] == "balanced_accuracy")
    assert bal["delta"] == pytest.approx(0.5) and bal["ci"] == [0.5, 0.5]  # every item moves by 0.5
    neg = next(m for m in t["metrics"] if m["metric"] == "negative_yes_rate")
    assert neg["delta"] == pytest.approx(-1.0) and neg["verdict"] == "B better"
