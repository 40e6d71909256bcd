"""Model display names: `mmh run --name` (recorded as model.name), the default rule (adapter and its
model argument's base name), and the name as the label of results tables, exports, leaderboards and
comparisons; files from earlier builds get the default name from their recorded arguments."""

import copy
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.results import load_results, validate_results
from mmharness.results_export import by_model, default_model_name, distinct_labels, model_name


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_default_name_rule():
    assert default_model_name("open_clip", {"model": "examples/tiny_clip.json", "pretrained": "none"}) == \
        "open_clip(tiny_clip)"
    assert default_model_name("hf", {"model": "/models/llava-1.5-7b-hf", "dtype": "bfloat16"}) == "hf(llava-1.5-7b-hf)"
    assert default_model_name("hf", {"model": "llava-hf/llava-1.5-7b-hf/"}) == "hf(llava-1.5-7b-hf)"
    assert default_model_name("openai", {"model": "gpt-4o-2024-08-06", "base_url": "https://x/v1"}) == \
        "openai(gpt-4o-2024-08-06)"
    assert default_model_name("open_clip", {"model": "hf-hub:timm/ViT-B-16-SigLIP"}) == "open_clip(ViT-B-16-SigLIP)"
    assert default_model_name("open_clip", {"model": "ViT-B-32", "pretrained": "/ckpt/vit_b32.bin"}) == \
        "open_clip(ViT-B-32)"
    assert default_model_name("torchvision", {"name": "resnet18", "weights": "/ckpt/r18.pth"}) == "torchvision(resnet18)"
    assert default_model_name("random", {"seed": "0"}) == "random(seed=0)"
    assert default_model_name("scripted", {"path": "/tmp/x/answers.jsonl"}) == "scripted(path=answers.jsonl)"
    assert default_model_name("oracle", {}) == "oracle"


def test_labels_that_would_read_the_same_are_told_apart():
    entries = [("open_clip(ViT-B-32)", "g", {"model": "ViT-B-32", "pretrained": "/w/laion2b.bin"}, "1" * 20),
               ("open_clip(ViT-B-32)", "g", {"model": "ViT-B-32", "pretrained": "openai"}, "2" * 20),
               ("hf(llava)", "h", {"model": "/a/llava"}, "3" * 20), ("hf(llava)", "h", {"model": "/b/llava"}, "4" * 20),
               ("oracle", "o", {}, "5" * 20), ("oracle", "p", {}, "6" * 20)]  # other groups (flags) may share
    assert distinct_labels(entries) == ["open_clip(ViT-B-32) pretrained=laion2b", "open_clip(ViT-B-32) pretrained=openai",
                                        "hf(llava) #33333333", "hf(llava) #44444444", "oracle", "oracle"]


def test_name_is_recorded_and_labels_every_view(tmp_path):
    out = tmp_path / "runs"
    kw = dict(sample=True, use_cache=False, progress=False, bootstrap=0, log_samples=True, output=out)
    gold = evaluate("oracle", "cifar10_b", name="  Gold answers ", **kw)
    rnd = evaluate("random", "cifar10_b", model_args="seed=0", **kw)
    assert gold.doc["model"]["name"] == "Gold answers" and rnd.doc["model"]["name"] == "random(seed=0)"
    assert load_results(gold.path)["model"]["name"] == "Gold answers"
    assert [m.label for m in by_model([gold.doc, rnd.doc])] == ["Gold answers", "random(seed=0)"]
    r = _cli("results", "table", out)
    assert r.exit_code == 0, r.output
    rows = {line.split("  ")[0]: line.split() for line in r.stdout.splitlines()[2:]}
    assert set(rows) == {"Gold answers", "random(seed=0)"}
    assert rows["random(seed=0)"][1:] == ["sample", "0.0400", "0.0800"]  # macrostd_population, accuracy
    r = _cli("results", "export", out, "-o", tmp_path / "tidy.csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "tidy.csv")
    assert set(zip(df["name"], df["model"])) == {("Gold answers", "oracle"), ("random(seed=0)", "random[seed=0]")}
    r = _cli("compare", gold.path, rnd.path, "--bootstrap", "50")
    assert r.stdout.startswith("A: Gold answers  (") and "\nB: random(seed=0)  (" in r.stdout
    assert r.exit_code == 0
    r = _cli("leaderboard", "build", out, "-o", tmp_path / "lb.json", "--include-samples", "--quiet")
    assert r.exit_code == 0, r.output
    models = json.loads((tmp_path / "lb.json").read_text())["models"]
    assert [(m["label"], m["adapter"], m["args"]) for m in models] == [("Gold answers", "oracle", {}),
                                                                       ("random(seed=0)", "random", {"seed": "0"})]
    with pytest.raises(ValueError, match="non-empty name"):
        evaluate("oracle", "cifar10_b", name=" ", **kw)


def test_results_from_earlier_builds_get_the_default_name(tmp_path):
    res = evaluate("random", "cifar10_b", model_args="seed=0", sample=True, use_cache=False, progress=False,
                   bootstrap=0)
    old = copy.deepcopy(res.doc)
    del old["model"]["name"]
    validate_results(old, "old")  # optional in results schema 1.1
    assert model_name(old) == "random(seed=0)"
    old["model"]["args"] = {"model": "/models/llava-1.5-7b-hf/", "dtype": "bfloat16"}
    assert model_name(old) == "random(llava-1.5-7b-hf)"
    (tmp_path / "results_old.json").write_text(json.dumps(old))
    r = _cli("leaderboard", "build", tmp_path, "-o", tmp_path / "lb.json", "--include-samples", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "lb.json").read_text())["models"][0]["label"] == "random(llava-1.5-7b-hf)"
