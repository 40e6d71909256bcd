"""PixelWorld TableBench end to end: the semi mode (table image + question text), text/img/semi
scores and deltas, Visualization scored by running the chart code (opt-in), chart types from the
TableBench release, and bad input."""

import json

import numpy as np
import pytest

from mmharness.adapters.text_baselines import script_line
from mmharness.evaluate import build_task, evaluate
from mmharness.loaders.tablebench import img_prompt, semi_prompt, split_table_prompt
from mmharness.render.table_image import RenderedTable, render_table_image
from mmharness.task import DataConfig, TaskError
from tests.test_pixelworld_task import write_pixelworld

TABLE = {"columns": ["year", "sales"], "data": [[2019, 10], [2020, 14], [2021, 9]]}
INSTRUCTION = ("You are a table analyst. Your task is to answer questions based on the table content.\n\n\n"
               "Give the final answer to the question directly without any explanation.\n\n"
               f"Read the table below in JSON format:\n[TABLE] \n{json.dumps(TABLE)}\n\nLet's get start!\n"
               "Question: In which year were sales highest?\n")
SEMI_TEXT = ("You are a table analyst. Your task is to answer questions based on the table content.\n"
             "Give the final answer to the question directly without any explanation.\n"
             "Read the table in the image\nLet's get start!\nQuestion: In which year were sales highest?\n")
ARGS = {"render_font": "builtin", "render_preset": "no_random"}


def _rows(prompt=INSTRUCTION, viz_answer="y_references = [[10, 14, 9]]", **viz):
    viz_prompt = prompt.replace("In which year were sales highest?", "Draw a line chart of the sales.")
    return [{"ID": "fc0", "Dataset": "TableBenchDataset", "Subset": "FactChecking", "Text_Prompt": prompt,
             "Answer": "2020"},
            {"ID": "viz0", "Dataset": "TableBenchDataset", "Subset": "Visualization", "Text_Prompt": viz_prompt,
             "Answer": viz_answer, **viz}]


def test_semi_request_is_the_table_image_then_the_question_text(tmp_path):
    write_pixelworld(tmp_path, _rows())
    task = build_task("pixelworld_tablebench", ARGS)
    assert task.modes == ("text", "img", "semi")  # the paper's three modes by default
    samples = task.load(DataConfig(root=tmp_path)).samples
    assert [s.id for s in samples] == ["fc0|text", "fc0|img", "fc0|semi"]  # Visualization left out (no opt-in)
    req = task.request(samples[2])
    image, text = req.messages[0].parts
    assert isinstance(image, RenderedTable) and image.text == "<img>" and json.loads(image.table_json) == TABLE
    assert text == SEMI_TEXT  # PixelWorld's format_prompt(mode="semi")
    assert req.params.max_new_tokens == 1024 and req.reference == "Final Answer: 2020"
    # the image is the table as mmharness.render.table_image draws it, pasted on the (seeded) canvas
    pixels = np.asarray(image.load())
    table = np.asarray(render_table_image(TABLE, font="builtin")[0])
    h, w = table.shape[:2]
    x0 = (512 - w) // 2  # no_random canvas: 512 px wide, padding 20; a narrower table is centred
    assert pixels.shape == (max(256, h + 40), 512, 3)
    assert np.array_equal(pixels[20:20 + h, x0:x0 + w], table)
    assert np.array_equal(np.asarray(task.request(samples[2]).messages[0].parts[0].load()), pixels)  # seeded
    cfg = task.config()
    assert cfg["semi"]["table_renderer"].startswith("mmharness.render.table_image")
    assert cfg["max_new_tokens"] == {"text": 4096, "img": 1024, "semi": 1024}
    assert task.request(samples[0]).messages[0].parts == [INSTRUCTION]


def test_render_source_draws_the_img_prompt_around_the_table(tmp_path):
    write_pixelworld(tmp_path, _rows())
    task = build_task("pixelworld_tablebench", {**ARGS, "pixel_source": "render", "modes": "img"})
    s = task.load(DataConfig(root=tmp_path)).samples[0]
    image, text = task.request(s).messages[0].parts
    assert text == "Please answer the question in the image."
    assert "Read the table in the below image.\n<img>\nLet's get start!" in image.text
    assert image.load().size[1] > 256


def _score(tmp_path, answers: dict, task_args: dict, rows=None, sample=False):
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(script_line(k, v) + "\n" for k, v in answers.items()))
    if rows is not None:
        write_pixelworld(tmp_path / "data", rows)
    res = evaluate("scripted", "pixelworld_tablebench", model_args=f"path={path}", task_args=task_args,
                   sample=sample, data_root=None if sample else tmp_path / "data", use_cache=False,
                   progress=False, bootstrap=50, output=tmp_path / "out", log_samples=True)
    logs = [json.loads(x) for x in res.sample_logs["pixelworld_tablebench"].read_text().splitlines()]
    return res.doc["tasks"]["pixelworld_tablebench"], {r["id"]: r for r in logs}


def _gold_answers(task_args, sample=True, root=None):
    task = build_task("pixelworld_tablebench", task_args)
    samples = task.load(DataConfig(sample=sample, root=root)).samples
    return {s.id: task.request(s).reference for s in samples}


HEAD = "```python\nimport pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('table.csv')\nplt.figure()\n"


@pytest.mark.slow
def test_hand_written_chart_answers_get_the_official_scores(tmp_path):
    args = {"allow_code_execution": "true", "viz_timeout": "5", **ARGS}  # generous: the machine may be loaded
    answers = _gold_answers(args)
    v3, v4 = "TableBench_Visualization_3", "TableBench_Visualization_4"
    answers.update({
        f"{v3}|text": HEAD + "plt.bar(df['city'], df['population'])\nplt.show()\n```",  # correct: 100
        f"{v4}|text": HEAD + "plt.bar(df['city'], df['population'])\nplt.show()\n```",  # wrong data: ecr only
        f"{v3}|img": HEAD + "plt.bar(df['town'], df['population'])\n```",  # crashes (KeyError)
        f"{v4}|img": "```python\nwhile True:\n    pass\n```",  # never ends
        f"{v3}|semi": HEAD + "df.plot(kind='bar', x='city', y='population')\nplt.show()\n```",  # correct
        f"{v4}|semi": "I cannot draw charts.",  # no code
    })
    t, logs = _score(tmp_path, answers, args, sample=True)
    viz = {r["mode"]: r["metrics"] for r in t["tables"]["per_subset"] if r["subset"] == "Visualization"}
    assert viz == {"text": {"ecr@1": 1.0, "pass@1": 0.5}, "img": {"ecr@1": 0.0, "pass@1": 0.0},
                   "semi": {"ecr@1": 0.5, "pass@1": 0.5}}
    m = {k: v["value"] for k, v in t["metrics"].items()}
    # the other three categories are answered with gold; TableBench = mean of the 4 categories
    assert m["score_text"] == pytest.approx((3 + 0.75) / 4)
    assert m["score_img"] == pytest.approx(3 / 4)
    assert m["score_semi"] == pytest.approx((3 + 0.5) / 4)
    assert m["delta_img_minus_text"] == pytest.approx(-0.1875) and m["delta_semi_minus_text"] == pytest.approx(-0.0625)
    assert m["unparsed_rate_semi"] == pytest.approx(1 / 5) and m["unparsed_rate_text"] == 0.0
    assert t["tables"]["comparison"] == {"dataset": "TableBench", "text": 93.75, "img": 75.0, "semi": 87.5,
                                         "delta": -18.75, "delta_semi": -6.25}
    assert [logs[f"{v3}|{mode}"]["scores"]["exec_status"] for mode in ("text", "img", "semi")] == \
        ["ran", "raised", "ran"]
    assert "KeyError" in logs[f"{v3}|img"]["scores"]["exec_detail"]
    assert "TimeoutError" in logs[f"{v4}|img"]["scores"]["exec_detail"]
    assert logs[f"{v4}|semi"]["scores"]["exec_status"] == "no_code"
    assert logs[f"{v4}|text"]["scores"]["score"] == 0.5  # (ecr@1 + pass@1) / 2
    assert t["tables"]["visualization"]["text"]["pixelworld"] == {
        "n": 2, "ECR@1": 100.0, "Pass@1": 50.0, "statuses": {"ran": 2}, "scores": True}
    assert t["config"]["visualization"]["score_from"] == "pixelworld"
    assert any("mean over the 4 categories" in n and "Visualization scored by executing" in n for n in t["notes"])


def test_tablebench_evaluator_with_chart_types_from_the_tablebench_release(tmp_path):
    rows = _rows()
    viz_prompt = rows[1]["Text_Prompt"]
    release = tmp_path / "TableBench"
    release.mkdir()
    (release / "TableBench_DP.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "a1", "qtype": "FactChecking", "qsubtype": "MatchBased", "instruction": INSTRUCTION, "answer": "2020"},
        {"id": "v1", "qtype": "Visualization", "qsubtype": "ChartGeneration", "chart_type": "line",
         "instruction": viz_prompt, "question": "Draw a line chart of the sales.",
         "answer": "y_references = [[10, 14, 9]]"}]) + "\n")
    args = {"allow_code_execution": "true", "viz_scorers": "tablebench+pixelworld", "tablebench_file": str(release),
            "modes": "text", **ARGS}
    write_pixelworld(tmp_path / "data", rows)
    answers = _gold_answers(args, sample=False, root=tmp_path / "data")
    assert "plt.plot([10, 14, 9])" in answers["viz0|text"]  # the gold chart is a line chart
    t, logs = _score(tmp_path, answers, args)
    assert t["metrics"]["score_text"]["value"] == 1.0
    viz = next(r for r in t["tables"]["per_subset"] if r["subset"] == "Visualization")
    assert viz["metrics"] == {"pass@1": 1.0}  # TableBench reports Pass@1
    # PixelWorld's evaluator, reported beside: it reads bar heights only, so a line chart fails there
    assert t["tables"]["visualization"]["text"]["pixelworld"]["Pass@1"] == 0.0
    assert t["tables"]["visualization"]["text"]["tablebench"]["scores"] is True
    assert logs["viz0|text"]["scores"]["viz"]["pixelworld"]["ecr@1"] is True
    assert t["config"]["visualization"]["chart_types"] == f"tablebench_file:{release}"


def test_visualization_needs_the_opt_in_and_the_chart_types(tmp_path):
    write_pixelworld(tmp_path, _rows())
    task = build_task("pixelworld_tablebench", ARGS)
    assert {s.meta["subset"] for s in task.load(DataConfig(root=tmp_path)).samples} == {"FactChecking"}
    assert task.config()["visualization"]["scored"] is False
    with pytest.raises(TaskError, match="needs the question's chart type .*tablebench_file="):
        build_task("pixelworld_tablebench", {**ARGS, "allow_code_execution": "true",
                                             "viz_scorers": "tablebench"}).load(DataConfig(root=tmp_path))
    bad = tmp_path / "bad"
    write_pixelworld(bad, _rows(chart_type="donut"))
    with pytest.raises(TaskError, match="chart type 'donut' is not one the TableBench evaluator knows"):
        build_task("pixelworld_tablebench", {**ARGS, "allow_code_execution": "true"}).load(DataConfig(root=bad))
    with pytest.raises(TaskError, match="viz_scorers: 'vega' is not one of"):
        build_task("pixelworld_tablebench", {"viz_scorers": "vega"})
    with pytest.raises(TaskError, match="is not a JSONL file or a folder"):
        build_task("pixelworld_tablebench", {"tablebench_file": str(tmp_path / "missing.jsonl")})


def test_only_primary_semi_and_text_modes(tmp_path):
    args = {**ARGS, "modes": "text+semi"}
    answers = _gold_answers(args)
    answers = {k: (v if k.endswith("|text") else "Final Answer: no idea") for k, v in answers.items()}
    t, _ = _score(tmp_path, answers, args, sample=True)
    assert t["primary_metric"] == "score_semi"
    assert t["metrics"]["score_text"]["value"] == 1.0 and t["metrics"]["score_semi"]["value"] < 0.2
    assert t["metrics"]["delta_semi_minus_text"]["ci"] is not None  # paired bootstrap over items
    assert "delta_img_minus_text" not in t["metrics"]
    assert t["metric_metadata"]["score_semi"]["official"] is True
    assert any("Visualization not scored" in n for n in t["notes"])


def test_bad_input_is_reported_with_the_row(tmp_path):
    write_pixelworld(tmp_path, _rows(prompt="Question: no table here?"))
    with pytest.raises(TaskError, match=r"row 0 .*no table found \(expected '\[TABLE\]'"):
        build_task("pixelworld_tablebench", ARGS).load(DataConfig(root=tmp_path))
    # without semi (and without Visualization) the table is not needed
    assert len(build_task("pixelworld_tablebench", {"modes": "text+img"}).load(DataConfig(root=tmp_path)).samples) == 2
    bad = tmp_path / "bad"
    write_pixelworld(bad, _rows(viz_answer="y_references = [[1, 2"))
    with pytest.raises(TaskError, match="row 1 .*Visualization gold answer .* is not Python"):
        build_task("pixelworld_tablebench", {**ARGS, "allow_code_execution": "true"}).load(DataConfig(root=bad))


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(TaskError, match=r"lacks them: `pip install matplotlib pandas`"):
        build_task("pixelworld_tablebench", {"allow_code_execution": "true"})


def test_table_is_found_in_json_and_python_literal_prompts():
    tp = split_table_prompt(INSTRUCTION)
    assert tp.table == TABLE and tp.head + tp.table_text + tp.tail == INSTRUCTION
    assert semi_prompt(tp) == SEMI_TEXT
    assert img_prompt(tp) == SEMI_TEXT.replace("Read the table in the image\n",
                                               "Read the table in the below image.\n<img>\n")
    py = INSTRUCTION.replace(json.dumps(TABLE), "{'columns': ['year', 'sales'], 'data': [[2019, None], [2020, 'a}b']]}")
    assert split_table_prompt(py).table == {"columns": ["year", "sales"], "data": [[2019, None], [2020, "a}b"]]}
    with pytest.raises(ValueError, match="is not {'columns'"):
        split_table_prompt("[TABLE] \n{\"rows\": [1]}\n")
