"""CIFAR-B end to end through the CLI and the Python API: oracle, random, open_clip zero-shot,
torchvision supervised, cached zero-shot classifier, conformance of the built-in adapters."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.results import load_results

TINY_CLIP = str(Path(__file__).resolve().parent.parent / "examples" / "tiny_clip.json")


def cli(*args):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res


def _only_results(out: Path) -> dict:
    files = sorted(out.glob("results_*.json"))
    assert len(files) == 1
    return load_results(files[0])  # validates against the shipped schema


def test_oracle_sample_gives_accuracy_1_and_macrostd_0(tmp_path):
    r = cli("run", "--model", "oracle", "--tasks", "cifar10_b", "--sample", "--no-cache",
            "--no-progress", "--output", str(tmp_path))
    assert r.exit_code == 0, r.output
    t = _only_results(tmp_path)["tasks"]["cifar10_b"]
    assert t["metrics"]["accuracy"]["value"] == 1.0
    assert t["metrics"]["macrostd_population"]["value"] == 0.0
    assert t["metrics"]["macrostd_nist"]["value"] == 0.0
    assert t["data"]["kind"] == "sample" and t["n_scored"] == 50
    assert t["metric_metadata"]["macrostd_population"]["higher_is_better"] is False
    assert t["metric_metadata"]["accuracy"]["chance"] == pytest.approx(0.1)


def _write_binary_cifar10(root: Path, n: int, seed: int = 0) -> np.ndarray:
    """A CIFAR-10 binary-format test file with n random images (official row layout)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    (d / "test_batch.bin").write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    (d / "batches.meta.txt").write_text("\n".join(
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]) + "\n")
    return labels


def test_random_is_about_chance_on_2000_images(tmp_path):
    _write_binary_cifar10(tmp_path / "data", 2000)
    res = evaluate("random", "cifar10_b", model_args="seed=1", data_root=tmp_path / "data",
                   use_cache=False, progress=False, bootstrap=500, batch_size=256)
    m = res.doc["tasks"]["cifar10_b"]["metrics"]["accuracy"]
    assert abs(m["value"] - 0.1) < 0.025
    assert m["ci"][0] < 0.1 < m["ci"][1]
    assert res.doc["tasks"]["cifar10_b"]["data"]["source"].startswith("binary:")


def test_random_and_constant_through_cli(tmp_path):
    for model in ("random", "constant"):
        r = cli("run", "--model", model, "--tasks", "cifar_b", "--sample", "--no-cache",
                "--no-progress", "--output", str(tmp_path / model))
        assert r.exit_code == 0, r.output
        doc = _only_results(tmp_path / model)
        assert set(doc["tasks"]) == {"cifar10_b", "cifar100_b"}
    # constant logits tie everywhere: top-1 takes the lowest index, so only class 0 is right
    assert doc["tasks"]["cifar10_b"]["metrics"]["accuracy"]["value"] == pytest.approx(0.1)


@pytest.mark.slow
def test_open_clip_zero_shot_matches_a_direct_computation(tmp_path):
    """The harness's zero-shot path equals CLIP's recipe computed by hand with open_clip."""
    res = evaluate("open_clip", "cifar10_b", model_args=f"model={TINY_CLIP},pretrained=none",
                   sample=True, cache_dir=tmp_path / "cache", output=tmp_path / "out",
                   log_samples=True, progress=False, bootstrap=0, batch_size=16)
    t = res.doc["tasks"]["cifar10_b"]
    assert t["capability_path"].startswith("classify<-embed_image+embed_text")
    assert len(t["config"]["prompt_templates"]) == 18
    from mmharness.adapters.open_clip import OpenClipAdapter
    from mmharness.tasks.cifar_b import Cifar10B
    from mmharness.task import DataConfig

    ad = OpenClipAdapter(model=TINY_CLIP, pretrained="none")
    task = Cifar10B()
    data = task.load(DataConfig(sample=True))
    pre = ad.preprocess("image")
    with torch.no_grad():
        imgs = torch.stack([pre(task.request(s).inputs["image"].load()) for s in data.samples])
        fi = ad.embed_image(imgs)
        fi = fi / fi.norm(dim=-1, keepdim=True)
        weights = []
        for prompts in task.labelset.prompts():
            e = ad.embed_text(prompts)
            e = e / e.norm(dim=-1, keepdim=True)
            m = e.mean(0)
            weights.append(m / m.norm())
        logits = 100.0 * fi @ torch.stack(weights).T
    rows = [json.loads(x) for x in res.sample_logs["cifar10_b"].read_text().splitlines()]
    got = np.array([r["response"]["logits"] for r in rows], dtype=np.float32)
    np.testing.assert_allclose(got, logits.numpy(), rtol=1e-4, atol=1e-4)
    # the rerun hits the response cache for every sample
    again = evaluate("open_clip", "cifar10_b", model_args=f"model={TINY_CLIP},pretrained=none",
                     sample=True, cache_dir=tmp_path / "cache", progress=False, bootstrap=0)
    assert again.doc["tasks"]["cifar10_b"]["cache"] == {"hits": 50, "computed": 0}
    assert again.doc["tasks"]["cifar10_b"]["metrics"] == t["metrics"]


def test_zero_shot_classifier_is_computed_once_per_model_and_prompts(tmp_path, monkeypatch):
    from mmharness.adapters.open_clip import OpenClipAdapter

    calls = []
    orig = OpenClipAdapter.embed_text

    def counting(self, texts):
        calls.append(len(texts))
        return orig(self, texts)

    monkeypatch.setattr(OpenClipAdapter, "embed_text", counting)
    kw = dict(model_args=f"model={TINY_CLIP},pretrained=none", sample=True, cache_dir=tmp_path,
              progress=False, bootstrap=0, batch_size=8)
    evaluate("open_clip", "cifar10_b", text_batch_size=64, **kw)
    assert sum(calls) == 180 and max(calls) == 64  # 10 classes x 18 templates, flattened batches
    calls.clear()
    evaluate("open_clip", "cifar10_b", limit=3, **kw)  # the classifier comes from the cache
    assert calls == []


def test_torchvision_supervised_protocol(tmp_path):
    r = cli("run", "--model", "torchvision", "--model-args", "model=resnet18,num_classes=10,weights=none",
            "--tasks", "cifar10_b", "--sample", "--no-cache", "--no-progress", "--output", str(tmp_path))
    assert r.exit_code == 0, r.output
    t = _only_results(tmp_path)["tasks"]["cifar10_b"]
    assert t["capability_path"] == "classify" and t["n_scored"] == 50
    r = cli("run", "--model", "torchvision", "--model-args", "model=resnet18,weights=none",
            "--tasks", "cifar10_b", "--sample", "--no-cache", "--no-progress", "--output", str(tmp_path))
    assert r.exit_code == 2 and "num_classes" in r.output


@pytest.mark.parametrize("name,args", [
    ("oracle", ""), ("random", "seed=2"), ("constant", ""),
    ("open_clip", f"model={TINY_CLIP},pretrained=none"),
    ("torchvision", "model=resnet18,num_classes=10,weights=none"),
])
def test_builtin_adapters_pass_conformance(name, args):
    r = cli("adapter", "check", name, "--model-args", args)
    assert r.exit_code == 0, r.output
    assert "passes all" in r.output


def test_unknown_names_and_missing_data_give_clear_errors(tmp_path):
    r = cli("run", "--model", "opnclip", "--tasks", "cifar10_b", "--sample", "--output", str(tmp_path))
    assert r.exit_code == 2 and "Did you mean 'open_clip'" in r.output
    r = cli("run", "--model", "oracle", "--tasks", "cifar10-b", "--sample", "--output", str(tmp_path))
    assert r.exit_code == 2 and "cifar10_b" in r.output
    (tmp_path / "empty").mkdir()
    r = cli("run", "--model", "oracle", "--tasks", "cifar10_b", "--data-root", str(tmp_path / "empty"),
            "--data-source", "torchvision", "--output", str(tmp_path))
    assert r.exit_code == 2
    assert "cifar-10-batches-py" in r.output and "cs.toronto.edu" in r.output


def test_listings(tmp_path):
    r = cli("tasks", "--json")
    names = {t["name"]: t for t in json.loads(r.output)["tasks"]}
    assert names["cifar10_b"]["uses"] == ["classify"]
    assert names["cifar100_b"]["primary_metric"] == "macrostd_population"
    r = cli("adapters", "--json")
    ads = {a["name"]: a for a in json.loads(r.output)}
    assert ads["open_clip"]["capabilities"] == ["embed_image", "embed_text"]
    assert "classify" in ads["oracle"]["capabilities"]
    assert {a["name"] for a in ads["torchvision"]["arguments"]} >= {"model", "weights", "num_classes"}
    r = cli("tasks")
    assert "cifar10_b" in r.output and "cifar_b = cifar10_b, cifar100_b" in r.output


def test_results_table_and_validate(tmp_path):
    for model in ("oracle", "random"):
        assert cli("run", "--model", model, "--tasks", "cifar10_b", "--sample", "--no-cache",
                   "--no-progress", "--bootstrap", "0", "--output", str(tmp_path)).exit_code == 0
    r = cli("results", "table", str(tmp_path))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "cifar10_b macrostd_population ↓" in lines[0] and "cifar10_b accuracy ↑" in lines[0]
    oracle = next(line for line in lines if line.startswith("oracle"))
    assert oracle.split()[1:] == ["sample", "0.0000", "1.0000"]
    files = sorted(tmp_path.glob("results_*.json"))
    assert cli("results", "validate", *map(str, files)).exit_code == 0
    broken = tmp_path / "results_broken.json"
    broken.write_text(files[0].read_text()[:200])
    r = cli("results", "validate", str(broken))
    assert r.exit_code == 1 and "not valid JSON" in r.output and "results_broken.json" in r.output


def test_channels_last_gives_the_same_predictions_and_is_recorded(tmp_path):
    kw = dict(model_args="model=resnet18,num_classes=10,weights=none", sample=True, use_cache=False,
              progress=False, bootstrap=0, output=tmp_path, log_samples=True)
    a = evaluate("torchvision", "cifar10_b", **kw)
    b = evaluate("torchvision", "cifar10_b", channels_last=True, **kw)
    assert b.doc["config"]["channels_last"] is True and a.doc["config"]["channels_last"] is False
    la = [json.loads(x)["response"]["logits"] for x in a.sample_logs["cifar10_b"].read_text().splitlines()]
    lb = [json.loads(x)["response"]["logits"] for x in b.sample_logs["cifar10_b"].read_text().splitlines()]
    np.testing.assert_allclose(np.array(la), np.array(lb), rtol=1e-4, atol=1e-5)
    load_results(b.path)


def test_compile_is_refused_by_adapters_that_do_not_support_it():
    from mmharness.adapter import AdapterError

    with pytest.raises(AdapterError, match="does not support --compile"):
        evaluate("random", "cifar10_b", sample=True, use_cache=False, progress=False, compile=True)
