"""SNARE matching tasks on the bundled sample: constant / oracle / always-option-k adapters, the
official tie rule and its strict alternative, subgroup rows and official records, and scoring the
fixture's score matrices through the tasks."""

import json
from pathlib import Path

import numpy as np
import pytest

from mmharness.evaluate import evaluate
from mmharness.requests import ScoresResponse
from mmharness.task import DataConfig, Sample, ScoreContext, TaskError
from mmharness.tasks.snare import SNARE_TASKS, SnareAttributeOwnership, SnareSemanticStructureCoco

PLUGIN = str(Path(__file__).parent / "plugins" / "snare_test_plugin.py")
N_OPTIONS = {"snare_semantic_structure_coco": 4, "snare_semantic_structure_flickr30k": 4, "snare_negation_logic": 2,
             "snare_attribute_ownership": 3, "snare_relationship_composition": 3, "snare_spatial_relationship": 4}
OPTION_KEYS = {"snare_semantic_structure_coco": "original", "snare_semantic_structure_flickr30k": "original",
               "snare_negation_logic": "correct", "snare_attribute_ownership": "correct",
               "snare_relationship_composition": "correct"}


def run(model, tasks="snare", **kw):
    kw.setdefault("bootstrap", 0)
    return evaluate(model, tasks, sample=True, use_cache=False, progress=False, includes=[PLUGIN], **kw).doc["tasks"]


def test_constant_scores_give_the_positive_top1_of_1_under_the_tie_rule():
    docs = run("constant")
    assert set(docs) == set(SNARE_TASKS)
    for name, key in OPTION_KEYS.items():
        m = docs[name]["metrics"]
        assert m["accuracy"]["value"] == 1.0, name
        assert m[f"{key}_top1"]["value"] == 1.0
    # spatial: the earlier option ("to the left of") wins every item; accuracy = its share of items
    sp = docs["snare_spatial_relationship"]
    per_rel = sp["tables"]["counts"]["per_relation"]
    assert sp["metrics"]["accuracy"]["value"] == pytest.approx(per_rel["to the left of"] / sp["n_scored"])
    assert sp["tables"]["option_rates"]["to_the_left_of"]["top1"] == 1.0


def test_constant_with_strict_ties_never_wins():
    docs = run("constant", task_args="ties=strict")
    for name in SNARE_TASKS:
        assert docs[name]["metrics"]["accuracy"]["value"] == 0.0, name
        assert docs[name]["config"]["ties"] == "strict"


def test_oracle_gives_1():
    docs = run("oracle")
    for name in SNARE_TASKS:
        assert docs[name]["metrics"]["accuracy"]["value"] == 1.0, name
    assert docs["snare_spatial_relationship"]["metrics"]["top3_accuracy"]["value"] == 1.0


@pytest.mark.parametrize("k", [0, 1, -1])
def test_an_adapter_preferring_option_k_wins_option_k_at_rate_1(k):
    docs = run("snare_test_prefer", model_args=f"k={k}")
    for name in SNARE_TASKS:
        n = N_OPTIONS[name]
        kk = k if k >= 0 else n - 1
        rates = docs[name]["tables"]["option_rates"]
        keys = list(rates)
        assert rates[keys[kk]]["top1"] == 1.0, (name, k)
        assert all(rates[keys[j]]["top1"] == 0.0 for j in range(n) if j != kk)
        if name != "snare_spatial_relationship":
            assert docs[name]["metrics"][f"{keys[kk]}_top1"]["value"] == 1.0
            assert docs[name]["metrics"]["accuracy"]["value"] == (1.0 if kk == 0 else 0.0)


def test_subgroup_rows_and_official_records_on_the_sample():
    docs = run("snare_test_prefer", model_args="k=1", tasks="snare_attribute_ownership,snare_relationship_composition,"
                                                          "snare_spatial_relationship,snare_negation_logic")
    own = docs["snare_attribute_ownership"]["tables"]
    assert [r["group"] for r in own["subgroups"]] == ["white_black"]  # the only subgroup with >= 25 items
    assert own["subgroups"][0]["count"] == 25 and own["subgroups"][0]["exchange_top1"] == 1.0
    assert own["official_records"][0] == {"Attributes": "white_black", "Count": 25, "correct_top-1": 0.0,
                                          "correct_top-2": 1.0, "exchange_top-1": 1.0, "exchange_top-2": 1.0,
                                          "separate_top-1": 0.0, "separate_top-2": 0.0}
    assert own["official_records"][-1] == {"Attributes": "separate", "separate_top-1": 0.0, "Count": 0,
                                           "separate_top-2": 0.0}
    comp = docs["snare_relationship_composition"]
    assert [r["Attributes"] for r in comp["tables"]["official_records"]] == ["on", "ARO", "(,,)", ",,"]
    assert comp["tables"]["counts"] == {"n_in_file": 41, "n_dropped_excluded_relations": 4, "n_items": 37,
                                        "n_scored": 37}
    sp = docs["snare_spatial_relationship"]["tables"]["official_records"]
    assert sp[-1]["Attributes"] == "clasfication" and set(sp[-1]) == {"Attributes", "top-1", "top-2", "top-3", "Count"}
    neg = docs["snare_negation_logic"]
    assert "correct_top2" not in neg["metrics"] and neg["metrics"]["negative_top1"]["value"] == 1.0


def _samples(n, n_options, groups=None):
    return [Sample(id=f"{i:05d}", gold=0, meta={"file": "f.json", "item": i, "group": (groups or ["g"] * n)[i],
                                                "options": ["x"] * n_options}) for i in range(n)]


def test_fixture_vg_matrix_through_the_attribute_ownership_task(fixtures_dir):
    case = json.loads((fixtures_dir / "snare" / "scoring_example.json").read_text())["vg_style"]
    task = SnareAttributeOwnership()
    samples = _samples(5, 3)
    res = task.score(samples, [ScoresResponse(np.array(r, dtype=np.float32)) for r in case["scores"]],
                     ScoreContext(bootstrap_resamples=200, seed=0))
    exp = case["expected"]
    for name in case["class_names"]:
        for n in (1, 2):
            assert res.metrics[f"{name}_top{n}"].value == pytest.approx(exp[f"{name}_top-{n}"])
    assert res.metrics["accuracy"].value == pytest.approx(0.4)
    lo, hi = res.metrics["accuracy"].ci
    assert 0.0 <= lo <= 0.4 <= hi <= 1.0
    assert [r["Count"] for r in res.tables["official_records"]] == [exp["correct_count"], exp["exchange_count"],
                                                                    exp["separate_count"]]
    assert res.per_sample[2] == {"ranks": [0, 1, 2], "winner": 0, "correct": True, "tie_split": 0.5}
    assert res.per_sample[3] == {"ranks": [2, 0, 1], "winner": 1, "correct": False, "tie_split": 0.0}


def test_fixture_semantic_matrix_through_the_semantic_task(fixtures_dir):
    case = json.loads((fixtures_dir / "snare" / "scoring_example.json").read_text())["semantic_structure"]
    res = SnareSemanticStructureCoco().score(_samples(4, 4), [ScoresResponse(np.array(r, dtype=np.float32))
                                                              for r in case["scores"]], ScoreContext(bootstrap_resamples=0))
    assert [{k: r[k] for k in ("Relation", "Accuracy", "Count")} for r in res.tables["official_records"]] \
        == case["expected_records"]
    assert res.metrics["accuracy"].value == 0.5
    assert res.metrics["shuffle_allbut_nouns_verb_adj_top1"].value == 0.0  # never wins: no official record


def test_a_score_list_whose_length_differs_from_the_option_count_names_the_item():
    task = SnareAttributeOwnership()
    samples = _samples(2, 3)
    with pytest.raises(TaskError, match=r"sample 00001 \(f.json item 1\): 2 scores for a caption list of 3 options"):
        task.score(samples, [ScoresResponse(np.zeros(3, np.float32)), ScoresResponse(np.zeros(2, np.float32))],
                   ScoreContext(bootstrap_resamples=0))


def test_semantic_task_records_seed_tagger_and_changes_with_the_seed():
    a, b = SnareSemanticStructureCoco(), SnareSemanticStructureCoco(snare_seed=2)
    da, db = a.load(DataConfig(sample=True)), b.load(DataConfig(sample=True))
    assert [s.meta["options"][0] for s in da.samples] == [s.meta["options"][0] for s in db.samples]
    assert [s.meta["options"] for s in da.samples] != [s.meta["options"] for s in db.samples]
    assert da.fingerprint != db.fingerprint
    cfg = a.config()
    assert cfg["snare_seed"] == 1 and cfg["pos_tagger"]["pos_tagger"] == "file"
    assert "hand-written" in cfg["pos_tagger"]["provenance"]["pos_tagger"]
    assert len(da.samples) == 20 and da.samples[0].meta["options"][0] == (
        "a girl sits on a decorated bike with a younger boy while another girl takes a picture")


def test_real_data_defaults_to_spacy_and_explains_how_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "spacy" else real_import(name, *a, **k))
    coco = tmp_path / "coco"
    (coco / "val2014").mkdir(parents=True)
    (coco / "coco_karpathy_test.json").write_text(json.dumps([{"image": "val2014/a.jpg", "caption": ["a dog"]}]))
    with pytest.raises(TaskError, match="pos_tagger=spacy needs spaCy.*python -m spacy download en_core_web_sm"):
        SnareSemanticStructureCoco().load(DataConfig(root=tmp_path))


def test_bad_task_options():
    with pytest.raises(TaskError, match="ties='random'"):
        SnareAttributeOwnership(ties="random")
    with pytest.raises(TaskError, match="pos_tagger='nltk'"):
        SnareSemanticStructureCoco(pos_tagger="nltk")


def _load_tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_precomputed_tags_drive_a_real_data_run(tmp_path, capsys):
    """tools/snare_pos_tags.py writes a tags file; pos_tagger=file then reproduces the same options on
    data read from a --data-root in the official layout."""
    import shutil

    from mmharness.loaders.snare import SAMPLE_ROOT

    shutil.copytree(SAMPLE_ROOT / "coco", tmp_path / "coco")
    (tmp_path / "coco" / "coco_karpathy_test.pos_tags.json").unlink()
    tags = tmp_path / "tags.json"
    tool = _load_tool("snare_pos_tags")
    lexicon = _load_tool("make_snare_sample").LexiconTagger()
    assert tool.main(["--karpathy", str(tmp_path / "coco" / "coco_karpathy_test.json"), "--out", str(tags)],
                     tagger=lexicon) == 0
    assert "tagged 20 distinct captions" in capsys.readouterr().out
    real = SnareSemanticStructureCoco(pos_tagger="file", pos_tags=str(tags)).load(DataConfig(root=tmp_path))
    sample = SnareSemanticStructureCoco().load(DataConfig(sample=True))
    assert [s.meta["options"] for s in real.samples] == [s.meta["options"] for s in sample.samples]
    assert real.kind == "full" and real.source.startswith("official:")
    assert tool.main(["--karpathy", str(tmp_path / "missing.json"), "--out", str(tags)], tagger=lexicon) == 2
