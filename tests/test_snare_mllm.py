"""SNARE's MLLM protocol: parsers on hand-written answers, the official prompts and gold draws
(checked against a transcription of ``deal_itm_human`` and the official sampling), and end-to-end
runs through ``generate`` with scripted answers."""

import random
from pathlib import Path

import pytest

from mmharness.evaluate import evaluate
from mmharness.loaders.aro import VGItem
from mmharness.loaders import snare_prompts as P
from mmharness.metrics.snare_answers import gold_answer, legacy_parse, strict_parse
from mmharness.registry import TASKS
from mmharness.requests import Message
from mmharness.task import DataConfig, TaskError
from mmharness.tasks.snare_mllm import SNARE_MLLM_TASKS

PLUGIN = str(Path(__file__).parent / "plugins" / "snare_test_plugin.py")
ITEM = VGItem(index=0, image_path="1.jpg", image_file="/x/1.jpg", bbox=(0, 0, 1, 1),
              true_caption="the blue sky and the large building", false_caption="the large sky and the blue building",
              attributes=("blue", "large"), obj1_name="sky", obj2_name="building")
REL = VGItem(index=1, image_path="1.jpg", image_file="/x/1.jpg", bbox=(0, 0, 1, 1),
             true_caption="the zebra is on the road", false_caption="the road is on the zebra", relation_name="on")


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("answer, legacy", [
    ("Yes.", 1), ("no", 0), ("Not really", 0), ("another option", 0), ("I see snow", 0), ("Yes, not no", 1),
    ("1", 1), ("Option 3", 3), ("0 or 2", 2), ("4 and 1", 4), ("5", 100), ("", 100), ("The sky is blue", 100),
    ("I cannot tell", 0),
])
def test_legacy_parse_is_the_official_cascade(answer, legacy):
    assert legacy_parse(answer) == legacy


@pytest.mark.parametrize("answer, kind, n, strict", [
    ("Yes.", "yesno", 2, 1), ("No, it does not.", "yesno", 2, 0), ("Not really", "yesno", 2, None),
    ("I see snow; yes", "yesno", 2, 1), ("eyes", "yesno", 2, None),
    ("1", "mc", 2, 1), ("Option 0.", "mc", 2, 0), ("0 or 2", "mc", 4, 0), ("3", "mc", 2, None), ("none", "mc", 2, None),
    ("The answer is 2: on", "mc", 4, 2), ("1 → yes", "yesno01", 2, 1), ("no", "yesno01", 2, 0), ("0", "yesno01", 2, 0),
    ("maybe", "yesno01", 2, None),
])
def test_strict_parse(answer, kind, n, strict):
    assert strict_parse(answer, kind, n) == strict


def test_gold_answers_are_read_back_by_both_parsers():
    for kind, n in (("yesno", 2), ("yesno01", 2), ("mc", 2), ("mc", 4)):
        for g in range(n):
            a = gold_answer(kind, g)
            assert strict_parse(a, kind, n) == g and legacy_parse(a) == g


# --------------------------------------------------------------------------- prompts vs the official code


def official_deal_itm_human(itm, itype, num, rnd):
    """Transcription of deal_itm_human of MLLM-test.py @d367352 (random module passed in)."""
    i = rnd.choice([0, 1])
    if itype == "Attribute_Ownership":
        prompt = "Does the following sentence match the image? 0 → no  1 → yes \n"
        if num in [0]:
            prompt = "Select the most accurate description for the image from the following options. Respond using the corresponding option number.\n"
            sentence = [None, None]
            sentence[i] = f"{i}. {itm['true_caption']}"
            sentence[1 - i] = f"{1 - i}. {itm['false_caption']}"
            sentence = "\n".join(sentence)
        elif num in [1]:
            prompt = "Select the most accurate description for the image from the following options. Respond using the corresponding option number.\n"
            caption = [itm["true_caption"], itm["false_caption"]]
            sentence = [None, None]
            sentence[0] = f"{0}. {caption[i]}"
            choice = [[itm["attributes"][1], itm["attributes"][0]], [itm["attributes"][0], itm["attributes"][1]]]
            form = [itm["obj1_name"], itm["obj2_name"]]
            form.extend(choice[i])
            sentence[1] = "1. the {} and the {} are {} and {} respectively".format(*form)
            sentence = "\n".join(sentence)
        else:
            choice = [[itm["attributes"][1], itm["attributes"][0]], [itm["attributes"][0], itm["attributes"][1]]]
            form = [itm["obj1_name"], itm["obj2_name"]]
            form.extend(choice[i])
            sentence = "the {} and the {} are {} and {} respectively".format(*form)
    elif itype == "Negation_Logic":
        prompt = "Does the following sentence match the image? Answer yes or no.\n"
        if num == 0:
            choice = [[itm["obj1_name"], itm["attributes"][1], itm["obj2_name"], itm["attributes"][0]],
                      [itm["obj1_name"], itm["attributes"][0], itm["obj2_name"], itm["attributes"][1]]]
            sentence = "the {} is {} and the {} is {}".format(*choice[i])
        elif num == 1:
            choice = [[itm["obj1_name"], itm["attributes"][0], itm["obj2_name"], itm["attributes"][1]],
                      [itm["obj1_name"], itm["attributes"][1], itm["obj2_name"], itm["attributes"][0]]]
            sentence = "the {} is not {} and the {} is not {}".format(*choice[i])
        else:
            prompt = "Select the most accurate description for the image from the following options. Respond using the corresponding option number.\n"
            choice = [[itm["obj1_name"], itm["attributes"][0], itm["obj2_name"], itm["attributes"][1]],
                      [itm["obj1_name"], itm["attributes"][1], itm["obj2_name"], itm["attributes"][0]]]
            sentence = "0. " + "the {} is {} and the {} is {}".format(*choice[i]) + "\n" + "1. " + \
                "the {} is not {} and the {} is not {}".format(*choice[i])
    elif itype == "Relationship_Composition":
        prompt = "Select the most accurate description for the image from the following options. Respond using the corresponding option number.\n"
        sentence = [itm["true_caption"], itm["false_caption"]][i]
        blank_rela = itm["true_caption"].replace("is " + itm["relation_name"], "and")
        sentence = "0. " + sentence + "\n" + "1. " + blank_rela
    elif itype == "Spatial_Relationship":
        prompt = "Select the position information that best matches the image filled in the __. Respond using the corresponding option number.\n"
        sentence = itm["true_caption"].replace(itm["relation_name"], "__") + "\n" + "0. to the left of \n1. to the right of \n2. on \n3. below"
        i = ["to the left of", "to the right of", "on", "below"].index(itm["relation_name"])
    else:  # semantic structure
        prompt = "Select the most accurate description for the image from the following options. Respond using the corresponding option number.\n"
        i = rnd.choice(range(len(itm["caption_options"])))
        ll = itm["caption_options"][1:]
        ll.insert(i, itm["caption_options"][0])
        sentence = ""
        for j in range(len(ll)):
            sentence += f"{j}. {ll[j]} \n"
    return prompt, sentence, i


def _as_dict(item: VGItem) -> dict:
    return {"true_caption": item.true_caption, "false_caption": item.false_caption, "relation_name": item.relation_name,
            "attributes": list(item.attributes) if item.attributes else None, "obj1_name": item.obj1_name,
            "obj2_name": item.obj2_name}


@pytest.mark.parametrize("task, itype, num", [
    ("snare_negation_logic_mllm_yesno", "Negation_Logic", 0),
    ("snare_negation_logic_mllm_yesno_negated", "Negation_Logic", 1),
    ("snare_negation_logic_mllm_mc", "Negation_Logic", 2),
    ("snare_attribute_ownership_mllm_mc", "Attribute_Ownership", 0),
    ("snare_attribute_ownership_mllm_mc_respectively", "Attribute_Ownership", 1),
    ("snare_attribute_ownership_mllm_yesno_respectively", "Attribute_Ownership", 2),
    ("snare_relationship_composition_mllm", "Relationship_Composition", 0),
    ("snare_spatial_relationship_mllm", "Spatial_Relationship", 0),
    ("snare_semantic_structure_coco_mllm", "COCO_Semantic_Structure", 0),
])
@pytest.mark.parametrize("subset", [None, 7])
def test_questions_order_and_gold_equal_the_official_script(task, itype, num, subset):
    t = TASKS.get(task)(subset=subset)
    data = t.load(DataConfig(sample=True))
    cases = t.cases(DataConfig(sample=True))[1]
    # the official script: set_seed(1); dataset = random.sample(dataset, n); deal_itm_human per item
    rnd = random.Random(1)
    records = [(c, _as_dict(c.vg) if c.vg is not None else {"caption_options": list(c.options)}) for c in cases]
    sampled = rnd.sample(records, subset or len(records))
    assert [s.id for s in data.samples] == [c.id for c, _ in sampled]
    for s, (c, itm) in zip(data.samples, sampled):
        prompt, sentence, gold = official_deal_itm_human(itm, itype, num, rnd)
        assert s.meta["question"] == prompt + sentence
        assert s.gold == gold
    if subset:
        assert len(data.samples) == subset


def test_prompt_builders_on_the_figure_items():
    assert P.attribute_mc(ITEM, 1).text.endswith(
        "\n0. the large sky and the blue building\n1. the blue sky and the large building")
    assert P.attribute_yesno_respectively(ITEM, 0).text == (
        "Does the following sentence match the image? 0 → no  1 → yes \n"
        "the sky and the building are large and blue respectively")
    q = P.negation_affirmative(ITEM, 1)
    assert (q.sentence, q.gold, q.kind) == ("the sky is blue and the building is large", 1, "yesno")
    q = P.spatial_mc(REL, 0)
    assert q.sentence == "the zebra is __ the road\n0. to the left of \n1. to the right of \n2. on \n3. below"
    assert (q.gold, q.n_options) == (2, 4)
    q = P.semantic_mc(["orig", "a", "b", "c"], 2)
    assert q.sentence == "0. a \n1. b \n2. orig \n3. c \n" and q.gold == 2


# --------------------------------------------------------------------------- end to end through generate


def run(model, tasks="snare_mllm", **kw):
    return evaluate(model, tasks, sample=True, use_cache=False, progress=False, bootstrap=0,
                    includes=[PLUGIN], **kw).doc["tasks"]


def _gold_share(doc, g):
    return doc["tables"]["by_gold"].get(str(g), {"n": 0})["n"] / doc["n_scored"]


def test_oracle_answers_score_1_with_both_parsers():
    docs = run("oracle")
    assert set(docs) == set(SNARE_MLLM_TASKS)
    for name, d in docs.items():
        m = d["metrics"]
        assert m["accuracy"]["value"] == 1.0 and m["accuracy_legacy"]["value"] == 1.0, name
        assert m["unparsed_rate"]["value"] == 0.0 and m["unparsed_rate_legacy"]["value"] == 0.0


def test_always_yes_scores_the_share_of_true_sentences():
    docs = run("snare_test_answer", "snare_negation_logic_mllm_yesno,snare_negation_logic_mllm_yesno_negated",
               model_args="text=Yes.")
    for d in docs.values():
        assert d["metrics"]["accuracy"]["value"] == pytest.approx(_gold_share(d, 1))
        assert d["metrics"]["accuracy_legacy"]["value"] == pytest.approx(_gold_share(d, 1))
        assert 0 < _gold_share(d, 1) < 1


def test_unparseable_answers_are_counted_and_the_legacy_quirk_reads_cannot_as_no():
    d = run("snare_test_answer", "snare_negation_logic_mllm_yesno", model_args="text=I cannot tell")[
        "snare_negation_logic_mllm_yesno"]
    assert d["metrics"]["unparsed_rate"]["value"] == 1.0 and d["metrics"]["accuracy"]["value"] == 0.0
    assert d["metrics"]["unparsed_rate_legacy"]["value"] == 0.0
    assert d["metrics"]["accuracy_legacy"]["value"] == pytest.approx(_gold_share(d, 0))


def test_verbose_multiple_choice_answers_strict_vs_legacy():
    docs = run("snare_test_answer", "snare_spatial_relationship_mllm,snare_attribute_ownership_mllm_mc",
               model_args="text=Option {gold} fits best; not the others.")
    for d in docs.values():
        assert d["metrics"]["accuracy"]["value"] == 1.0
        # the official cascade sees "no" in "not" and answers 0
        assert d["metrics"]["accuracy_legacy"]["value"] == pytest.approx(_gold_share(d, 0))


def test_request_layout_and_options():
    t = TASKS.get("snare_spatial_relationship_mllm")(system_prompt="You are a helpful assistant.",
                                                       image_position="before", max_new_tokens=16, temperature=0.5)
    data = t.load(DataConfig(sample=True))
    req = t.request(data.samples[0])
    assert isinstance(req.messages[0], Message) and req.messages[0].role == "system"
    assert req.messages[0].parts == ["You are a helpful assistant."]
    user = req.messages[1]
    assert user.role == "user" and user.parts[1] == data.samples[0].meta["question"]
    assert user.parts[0].load().size == tuple(int(x) for x in data.samples[0].meta["bbox"][2:])
    assert req.params.max_new_tokens == 16 and req.params.temperature == 0.5
    assert req.reference == str(data.samples[0].gold)
    assert t.config()["official_num"] == 0 and t.config()["generation"]["max_new_tokens"] == 16


def test_subset_ids_are_recorded_and_bad_subsets_rejected():
    d = run("oracle", "snare_negation_logic_mllm_mc", task_args="subset=5")["snare_negation_logic_mllm_mc"]
    assert d["n_samples"] == 5 and len(d["tables"]["subset_ids"]) == 5
    with pytest.raises(TaskError, match=r"subset=1500 must lie in \[1, 29\]"):
        TASKS.get("snare_negation_logic_mllm_mc")(subset=1500).load(DataConfig(sample=True))
    with pytest.raises(TaskError, match="image_position"):
        TASKS.get("snare_negation_logic_mllm_mc")(image_position="middle")
