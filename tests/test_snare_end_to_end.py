"""SNARE end to end: the CLI with open_clip (tiny random model) on every task of the group, results
validated against the schema; the derived matching scores equal a direct open_clip computation;
a `match` adapter is used directly; the MLLM group through the CLI with a scripted adapter."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmharness.cli import main
from mmharness.evaluate import evaluate
from mmharness.results import load_results
from mmharness.tasks.snare import SNARE_TASKS

ROOT = Path(__file__).resolve().parent.parent
TINY_CLIP = "examples/tiny_clip.json"
PLUGIN = str(Path(__file__).parent / "plugins" / "snare_test_plugin.py")


def _only_results(out: Path) -> dict:
    files = sorted(out.glob("results_*.json"))
    assert len(files) == 1
    return load_results(files[0])  # validates against the shipped schema


@pytest.mark.slow
def test_cli_open_clip_runs_the_snare_group_on_the_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the model config path of the command is relative to the repo
    res = CliRunner().invoke(main, ["run", "--model", "open_clip", "--model-args",
                                    f"model={TINY_CLIP},pretrained=none", "--tasks", "snare", "--sample",
                                    "--no-progress", "--no-cache", "--bootstrap", "50", "--output", str(tmp_path)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = _only_results(tmp_path)
    assert set(doc["tasks"]) == set(SNARE_TASKS)
    for name, t in doc["tasks"].items():
        assert t["capability_path"].startswith("match<-embed_image+embed_text"), name
        assert t["data"]["kind"] == "sample" and t["n_skipped"] == 0
        acc = t["metrics"]["accuracy"]
        assert 0.0 <= acc["value"] <= 1.0 and acc["ci"][0] <= acc["value"] <= acc["ci"][1]
    assert doc["tasks"]["snare_attribute_ownership"]["n_scored"] == 29
    assert doc["tasks"]["snare_semantic_structure_coco"]["n_scored"] == 20


@pytest.mark.slow
def test_derived_scores_equal_direct_open_clip_cosines(tmp_path):
    res = evaluate("open_clip", "snare_spatial_relationship", model_args=f"model={ROOT / TINY_CLIP},pretrained=none",
                   sample=True, use_cache=False, progress=False, bootstrap=0, output=tmp_path, log_samples=True,
                   batch_size=8)
    from mmharness.adapters.open_clip import OpenClipAdapter
    from mmharness.task import DataConfig
    from mmharness.tasks.snare import SnareSpatialRelationship

    ad = OpenClipAdapter(model=str(ROOT / TINY_CLIP), pretrained="none")
    task = SnareSpatialRelationship()
    data = task.load(DataConfig(sample=True))
    pre = ad.preprocess("image")
    rows = [json.loads(x) for x in res.sample_logs["snare_spatial_relationship"].read_text().splitlines()]
    for s, row in zip(data.samples[:5], rows[:5]):
        req = task.request(s)
        with torch.no_grad():
            fi = ad.embed_image(pre(req.image.load())[None]).float()
            ft = ad.embed_text(list(req.texts)).float()
        exp = (torch.nn.functional.normalize(ft, dim=-1) @ torch.nn.functional.normalize(fi, dim=-1)[0]).numpy()
        np.testing.assert_allclose(row["response"]["scores"], exp, rtol=1e-4, atol=1e-5)
        assert row["scores"]["ranks"] == [int(r) for r in np.argsort(np.argsort(-exp, kind="stable"), kind="stable")]


def test_a_match_adapter_is_used_directly():
    docs = evaluate("snare_test_prefer", "snare_negation_logic", model_args="k=0", sample=True, use_cache=False,
                    progress=False, bootstrap=0, includes=[PLUGIN]).doc["tasks"]
    assert docs["snare_negation_logic"]["capability_path"] == "match"


def test_cli_mllm_group_with_a_scripted_adapter(tmp_path):
    res = CliRunner().invoke(main, ["run", "--model", "snare_test_answer", "--include", PLUGIN, "--tasks", "snare_mllm",
                                    "--sample", "--no-progress", "--no-cache", "--bootstrap", "0",
                                    "--output", str(tmp_path)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = _only_results(tmp_path)
    for name, t in doc["tasks"].items():
        assert t["capability_path"] == "generate"
        assert t["metrics"]["accuracy"]["value"] == 1.0, name
        assert t["metric_metadata"]["accuracy_legacy"]["official"] is True
        assert t["metric_metadata"]["accuracy"]["official"] is False
