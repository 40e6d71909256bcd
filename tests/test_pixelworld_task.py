"""PixelWorld tasks end to end: both release layouts, text and pixel requests, gold answers at 100%
on every metric, the text-vs-pixel comparison, code execution only with the flag, bad input."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mmharness.adapters.text_baselines import script_line
from mmharness.evaluate import build_task, evaluate
from mmharness.registry import TASK_GROUPS, expand_task_names
from mmharness.render.text_image import RenderedText
from mmharness.requests import ImageArray
from mmharness.task import DataConfig, DataNotFoundError, TaskError

FEATURES = None


def _png(size=(40, 30), colour=(250, 250, 250)) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def write_pixelworld(root: Path, rows: list[dict], layout: str = "split") -> Path:
    """Rows in the TIGER-Lab/PixelWorld schema: per-class split files or one train split."""
    import datasets

    feats = datasets.Features({
        "ID": datasets.Value("string"), "Dataset": datasets.Value("string"), "Subset": datasets.Value("string"),
        "Text_Prompt": datasets.Value("string"), "Img_Prompt": datasets.Value("string"),
        "Image_Pathes": datasets.Sequence(datasets.Value("string")), "Images": datasets.Sequence(datasets.Image()),
        "Answer": datasets.Value("string")})
    d = root / "PixelWorld" / "data"
    d.mkdir(parents=True, exist_ok=True)
    full = [{"Img_Prompt": "Please answer the question in the image.", "Image_Pathes": ["x.png"],
             "Images": [_png()], **r} for r in rows]
    for extra in sorted({k for r in full for k in r} - set(feats)):  # non-official string columns (chart_type)
        feats[extra] = datasets.Value("string")
        for r in full:
            r.setdefault(extra, None)
    if layout == "train":
        datasets.Dataset.from_list(full, features=feats).to_parquet(str(d / "train-00000-of-00001.parquet"))
    else:
        for cls in sorted({r["Dataset"] for r in full}):
            part = [r for r in full if r["Dataset"] == cls]
            datasets.Dataset.from_list(part, features=feats).to_parquet(str(d / f"{cls}-00000-of-00001.parquet"))
    return root


def _reconstructed(fixtures_dir) -> dict:
    rec = json.loads((fixtures_dir / "pixelworld" / "reconstructed_records.jsonl").read_text().splitlines()[0])
    img = (fixtures_dir / "pixelworld" / "example_input_1.png").read_bytes()
    return {"ID": "GSM8K_main_0", "Dataset": rec["Dataset"], "Subset": rec["Subset"], "Text_Prompt": rec["Text_Prompt"],
            "Img_Prompt": rec["Img_Prompt"], "Image_Pathes": rec["Image_Pathes"],
            "Images": [{"bytes": img, "path": None}], "Answer": rec["Answer"]}


OTHER = [{"ID": "ARC_e_0", "Dataset": "ARCDataset", "Subset": "ARC-Easy", "Text_Prompt": "Task: ARC-Easy\nQ?",
          "Answer": "B"}]


@pytest.mark.parametrize("layout", ["split", "train"])
def test_both_layouts_and_both_modes(tmp_path, fixtures_dir, layout):
    write_pixelworld(tmp_path, [_reconstructed(fixtures_dir)] + OTHER, layout)
    task = build_task("pixelworld_gsm8k")
    data = task.load(DataConfig(root=tmp_path))
    assert [s.id for s in data.samples] == ["GSM8K_main_0|text", "GSM8K_main_0|img"]
    assert data.source.startswith("parquet:") and ("GSM8KDataset-" in data.source) == (layout == "split")
    text_req = task.request(data.samples[0])
    img_req = task.request(data.samples[1])
    rec = _reconstructed(fixtures_dir)
    assert text_req.messages[0].parts == [rec["Text_Prompt"]]
    img, prompt = img_req.messages[0].parts
    assert isinstance(img, ImageArray) and prompt == "Please answer the question in the image."
    assert img.load().size == (768, 436)  # the real rendered prompt, decoded unchanged
    assert text_req.params.max_new_tokens == 4096 and img_req.params.max_new_tokens == 1024
    assert text_req.reference == "Answer: 366"
    assert data.samples[0].meta["template"] == "base"


def test_missing_class_and_missing_data(tmp_path, fixtures_dir):
    write_pixelworld(tmp_path, OTHER, "train")
    with pytest.raises(DataNotFoundError, match="Dataset == 'GSM8KDataset'"):
        build_task("pixelworld_gsm8k").load(DataConfig(root=tmp_path, source="parquet"))
    with pytest.raises(DataNotFoundError, match="huggingface-cli download TIGER-Lab/PixelWorld") as e:
        build_task("pixelworld_arc").load(DataConfig(root=tmp_path / "empty", source="parquet"))
    assert "ARCDataset-*.parquet" in str(e.value)


def test_bad_rows_fail_at_load(tmp_path):
    bad = [{**OTHER[0], "Subset": "ARC-Medium"}]
    write_pixelworld(tmp_path, bad)
    with pytest.raises(TaskError, match="Subset 'ARC-Medium' is not a ARC sub-task"):
        build_task("pixelworld_arc").load(DataConfig(root=tmp_path))
    bad2 = tmp_path / "b"
    write_pixelworld(bad2, [{**OTHER[0], "Answer": "Z"},
                            {"ID": "m0", "Dataset": "MMLUProDataset", "Subset": "law", "Text_Prompt": "Q", "Answer": "K"}])
    with pytest.raises(TaskError, match="row 0 .*ARC label 'Z' is neither"):
        build_task("pixelworld_arc").load(DataConfig(root=bad2))
    with pytest.raises(TaskError, match="row 0 .*'K' is not an option letter A-J"):
        build_task("pixelworld_mmlu_pro").load(DataConfig(root=bad2))


def _gold_file(tmp_path, task_names, **kw) -> Path:
    lines = []
    for name in task_names:
        task = build_task(name, kw.get("task_args"))
        for s in task.load(DataConfig(sample=True)).samples:
            ref = task.request(s).reference
            lines.append(script_line(s.id, ref if isinstance(ref, str) else str(ref)))
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_gold_scripted_answers_score_100_on_every_metric(tmp_path):
    names = expand_task_names("pixelworld")
    assert len(names) == 10
    args = {"allow_code_execution": "true"}
    path = _gold_file(tmp_path, names + ["mmra"], task_args=args)
    res = evaluate("scripted", names + ["mmra"], model_args=f"path={path}", task_args=args, sample=True,
                   use_cache=False, progress=False, bootstrap=20)
    for name in names:
        t = res.doc["tasks"][name]
        assert t["n_scored"] == t["n_samples"] > 0
        for metric, v in t["metrics"].items():
            expected = 0.0 if metric.startswith(("delta_", "unparsed_rate_")) else 1.0
            assert v["value"] == pytest.approx(expected), (name, metric)
        assert t["tables"]["comparison"]["text"] == t["tables"]["comparison"]["img"] == 100.0
    tb = res.doc["tasks"]["pixelworld_tablebench"]
    assert {"score_semi", "delta_semi_minus_text", "unparsed_rate_semi"} <= set(tb["metrics"])
    assert tb["tables"]["comparison"]["semi"] == 100.0 and tb["tables"]["comparison"]["delta_semi"] == 0.0
    assert tb["config"]["score_categories"] == ["FactChecking", "NumericalReasoning", "DataAnalysis", "Visualization"]
    assert tb["tables"]["code_execution"]["statuses"] == {"text": {"ran": 2}, "img": {"ran": 2}, "semi": {"ran": 2}}
    viz = [r for r in tb["tables"]["per_subset"] if r["subset"] == "Visualization"]
    assert [r["metrics"] for r in viz] == [{"ecr@1": 1.0, "pass@1": 1.0}] * 3
    mbpp = res.doc["tasks"]["pixelworld_mbpp"]
    assert mbpp["config"]["allow_code_execution"] is True
    assert mbpp["config"]["sandbox"]["timeout_s"] == 3.0 and mbpp["config"]["sandbox"]["network"]
    assert mbpp["tables"]["code_execution"]["statuses"] == {"text": {"passed": 2}, "img": {"passed": 2}}
    assert res.doc["tasks"]["mmra"]["metrics"]["overall"]["value"] == 1.0
    glue = res.doc["tasks"]["pixelworld_glue"]["tables"]["per_subset"]
    assert {r["subset"] for r in glue} == {"cola", "sst2", "mrpc", "stsb", "mnli"}


def test_code_execution_is_refused_without_the_flag(tmp_path):
    with pytest.raises(TaskError, match="allow_code_execution=true"):
        build_task("pixelworld_mbpp")
    with pytest.raises(TaskError, match="EXECUTING model-written code"):
        evaluate("oracle", "pixelworld", sample=True, use_cache=False, progress=False)
    assert "pixelworld_mbpp" not in TASK_GROUPS["pixelworld_nocode"]


def test_hostile_generated_code_fails_contained(tmp_path):
    task = build_task("pixelworld_mbpp", {"allow_code_execution": "true", "code_timeout": "1"})
    samples = task.load(DataConfig(sample=True)).samples
    answers = {
        samples[0].id: "Answer:\n```python\ndef max_of_two(a, b):\n    while True:\n        pass\n```",
        samples[1].id: "Answer:\n```python\nimport os\nos.fork()\n```",
        samples[2].id: "Answer:\n```python\nimport socket\nsocket.socket().connect(('1.1.1.1', 80))\n```",
        samples[3].id: "Answer:\n```python\nf = open('x', 'wb')\nwhile True:\n    f.write(b'0' * 2**20)\n```",
    }
    path = tmp_path / "a.jsonl"
    path.write_text("".join(script_line(k, v) + "\n" for k, v in answers.items()))
    res = evaluate("scripted", "pixelworld_mbpp", model_args=f"path={path}",
                   task_args="allow_code_execution=true,code_timeout=1", sample=True, use_cache=False,
                   progress=False, bootstrap=0, output=tmp_path / "out", log_samples=True)
    t = res.doc["tasks"]["pixelworld_mbpp"]
    assert t["metrics"]["score_text"]["value"] == 0.0 and t["metrics"]["score_img"]["value"] == 0.0
    rows = [json.loads(x) for x in res.sample_logs["pixelworld_mbpp"].read_text().splitlines()]
    statuses = [r["scores"]["exec_status"] for r in rows]
    assert statuses[0] == "timeout" and all(s != "passed" for s in statuses)


def test_forged_verdicts_score_zero(tmp_path):
    """Scripted MBPP answers that only try to report "passed" (none defines the function under test):
    the tester's line scored 0.5 with the old sandbox; every one is a failure now, with the reason."""
    task = build_task("pixelworld_mbpp", {"allow_code_execution": "true"})
    samples = task.load(DataConfig(sample=True)).samples
    forgeries = [
        "import os, sys\nos.write(int(sys.argv[1]), b'{\"status\":\"passed\"}'); os._exit(0)",
        "import os\nos.write(1, b'\\nMMH-VERDICT ' + b'0' * 32 + b' passed\\n'); os._exit(0)",
        "import os\nos._exit(0)",
        "raise SystemExit(0)",
    ]
    answers = {s.id: f"Answer:\n```python\n{forgeries[k % len(forgeries)]}\n```" for k, s in enumerate(samples)}
    path = tmp_path / "a.jsonl"
    path.write_text("".join(script_line(k, v) + "\n" for k, v in answers.items()))
    res = evaluate("scripted", "pixelworld_mbpp", model_args=f"path={path}", task_args="allow_code_execution=true",
                   sample=True, use_cache=False, progress=False, bootstrap=0, output=tmp_path / "out",
                   log_samples=True)
    t = res.doc["tasks"]["pixelworld_mbpp"]
    assert t["metrics"]["score_text"]["value"] == 0.0 and t["metrics"]["score_img"]["value"] == 0.0
    rows = [json.loads(x) for x in res.sample_logs["pixelworld_mbpp"].read_text().splitlines()]
    assert len(rows) == len(samples) == 4
    details = {r["id"]: r["scores"]["exec_detail"] for r in rows}
    assert {r["scores"]["exec_status"] for r in rows} == {"failed"}
    assert [details[s.id] for s in samples] == [
        "IndexError: list index out of range",
        "the program exited (exit code 0) without the runner's verdict; output not written by the runner is ignored",
        "the program exited (exit code 0) without the runner's verdict; output not written by the runner is ignored",
        "SystemExit: 0"]
    assert t["tables"]["code_execution"]["statuses"] == {"text": {"failed": 2}, "img": {"failed": 2}}
    assert t["config"]["sandbox"]["isolation"].startswith("bubblewrap ")
    assert any(n.startswith("Model-written code ran in the bubblewrap sandbox") for n in t["notes"])


def test_code_execution_option_is_typed_and_unsandboxed_is_recorded(tmp_path, monkeypatch):
    for name in ("pixelworld_mbpp", "pixelworld_tablebench"):
        with pytest.raises(TaskError, match=f"task '{name}': allow_code_execution='maybe': expected true .*false "
                                            f".*unsandboxed"):
            build_task(name, {"allow_code_execution": "maybe"})
    assert build_task("pixelworld_mbpp", {"allow_code_execution": "true"}).config()["allow_code_execution"] is True
    # no isolation tool: refused, naming the package, unless the user explicitly chooses unsandboxed
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("pixelworld_mbpp", "pixelworld_tablebench"):
        with pytest.raises(TaskError, match=f"task '{name}': .*`apt-get install bubblewrap`.*"
                                            "allow_code_execution=unsandboxed"):
            build_task(name, {"allow_code_execution": "true"})
    task = build_task("pixelworld_mbpp", {"allow_code_execution": "unsandboxed"})
    path = _gold_file(tmp_path, ["pixelworld_mbpp"], task_args={"allow_code_execution": "unsandboxed"})
    res = evaluate("scripted", "pixelworld_mbpp", model_args=f"path={path}",
                   task_args="allow_code_execution=unsandboxed", sample=True, use_cache=False, progress=False,
                   bootstrap=0)
    t = res.doc["tasks"]["pixelworld_mbpp"]
    assert t["metrics"]["score_text"]["value"] == 1.0 and t["metrics"]["score_img"]["value"] == 1.0
    assert t["config"]["allow_code_execution"] == "unsandboxed" == task.config()["allow_code_execution"]
    assert t["config"]["sandbox"]["isolation"] == "none (unsandboxed, user's choice)"
    assert t["tables"]["code_execution"]["isolation"] == "none (unsandboxed, user's choice)"
    assert any(n.startswith("Model-written code ran UNSANDBOXED (allow_code_execution=unsandboxed, the user's "
                            "choice)") for n in t["notes"])
    tb = build_task("pixelworld_tablebench", {"allow_code_execution": "unsandboxed"}).config()
    assert tb["allow_code_execution"] == "unsandboxed" and tb["visualization"]["scored"] is True
    assert tb["sandbox"]["isolation"] == "none (unsandboxed, user's choice)"


def test_text_vs_pixel_gap_and_unparsed_counts(tmp_path):
    task = build_task("pixelworld_arc")
    samples = task.load(DataConfig(sample=True)).samples
    lines = []
    for s in samples:
        ref = task.request(s).reference
        lines.append(script_line(s.id, ref if s.meta["mode"] == "text" else "I cannot read the image"))
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = evaluate("scripted", "pixelworld_arc", model_args=f"path={path}", sample=True, use_cache=False,
                   progress=False, bootstrap=200)
    t = res.doc["tasks"]["pixelworld_arc"]
    m = t["metrics"]
    assert m["score_text"]["value"] == 1.0 and m["score_img"]["value"] == 0.0
    assert m["delta_img_minus_text"]["value"] == -1.0 and m["delta_img_minus_text"]["ci"] == [-1.0, -1.0]
    assert m["unparsed_rate_img"]["value"] == 1.0 and m["unparsed_rate_text"]["value"] == 0.0
    assert t["tables"]["comparison"] == {"dataset": "ARC", "text": 100.0, "img": 0.0, "delta": -100.0}
    assert t["primary_metric"] == "score_img"


def test_modes_option_and_render_source(tmp_path):
    task = build_task("pixelworld_gsm8k", {"modes": "text"})
    data = task.load(DataConfig(sample=True))
    assert all(s.meta["mode"] == "text" for s in data.samples) and task.primary_metric == "score_text"
    task = build_task("pixelworld_gsm8k", {"modes": "img", "pixel_source": "render", "render_font": "builtin",
                                           "render_preset": "no_random"})
    s = task.load(DataConfig(sample=True)).samples[0]
    part = task.request(s).messages[0].parts[0]
    assert isinstance(part, RenderedText) and part.load().size[0] == 512
    assert task.config()["render"]["preset"] == "no_random"
    with pytest.raises(TaskError, match="pixel_source=render is only possible"):
        build_task("pixelworld_slidesvqa", {"pixel_source": "render"})
    with pytest.raises(TaskError, match="modes: 'pixels' is not one of"):
        build_task("pixelworld_gsm8k", {"modes": "text+pixels"})
    with pytest.raises(TaskError, match="'semi' mode .* exists only for TableBench"):
        build_task("pixelworld_gsm8k", {"modes": "text+semi"})


def test_multi_image_rows_send_every_image():
    task = build_task("pixelworld_slidesvqa")
    data = task.load(DataConfig(sample=True))
    img_sample = next(s for s in data.samples if s.meta["mode"] == "img")
    parts = task.request(img_sample).messages[0].parts
    assert [type(p).__name__ for p in parts] == ["ImageArray", "ImageArray", "str"]
    assert parts[-1].startswith("You are tasked with answering a question based on the provided images.")


def test_tablebench_visualization_is_left_out_or_refused(tmp_path):
    q = 'Read the table below in JSON format:\n[TABLE] \n{"columns": ["a"], "data": [[1], [2]]}\n\nQuestion: Q'
    rows = [{"ID": "tb0", "Dataset": "TableBenchDataset", "Subset": "FactChecking", "Text_Prompt": q,
             "Answer": "Yes"},
            {"ID": "tb1", "Dataset": "TableBenchDataset", "Subset": "Visualization", "Text_Prompt": q,
             "Answer": "y_references = [[1, 2]]"}]
    write_pixelworld(tmp_path, rows)
    task = build_task("pixelworld_tablebench")
    data = task.load(DataConfig(root=tmp_path))
    assert [s.id for s in data.samples] == ["tb0|text", "tb0|img", "tb0|semi"]
    assert task.config()["score_categories"] == ["FactChecking", "NumericalReasoning", "DataAnalysis"]
    with pytest.raises(TaskError, match="Visualization is scored by EXECUTING .*allow_code_execution=true"):
        build_task("pixelworld_tablebench", {"subsets": "FactChecking+Visualization"})


def test_glue_random_fallback_is_seeded_and_recorded(tmp_path):
    path = tmp_path / "a.jsonl"
    task = build_task("pixelworld_glue")
    path.write_text("".join(script_line(s.id, "no idea") + "\n" for s in task.load(DataConfig(sample=True)).samples))
    kw = dict(model_args=f"path={path}", sample=True, use_cache=False, progress=False, bootstrap=0)
    a = evaluate("scripted", "pixelworld_glue", task_args="fallback=random,fallback_seed=3", **kw)
    b = evaluate("scripted", "pixelworld_glue", task_args="fallback=random,fallback_seed=3", **kw)
    d = evaluate("scripted", "pixelworld_glue", **kw)
    ta, tb, td = (r.doc["tasks"]["pixelworld_glue"] for r in (a, b, d))
    assert ta["metrics"] == tb["metrics"]
    assert ta["config"]["fallback"] == "random" and ta["config"]["fallback_seed"] == 3
    assert td["config"]["fallback"] == "none"
    assert td["metrics"]["unparsed_rate_text"]["value"] == 1.0
    # default: every answer wrong -> accuracy 0 on sst2/mnli; undefined STS-B correlation reported as 0
    sst2 = next(r for r in td["tables"]["per_subset"] if r["subset"] == "sst2" and r["mode"] == "text")
    assert sst2["metrics"] == {"accuracy": 0.0}
    assert any("Undefined metric values" in n for n in td["notes"])
