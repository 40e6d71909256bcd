"""MMRA task end to end: loader on HF-schema parquet written here, prompt and image order, bad
input, gold-scripted and oracle runs at 100%, failures, the QO variant, and the CLI on --sample."""

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mmharness.adapters.text_baselines import script_line
from mmharness.cli import main
from mmharness.evaluate import build_task, evaluate
from mmharness.requests import ImageArray
from mmharness.results import load_results
from mmharness.task import DataConfig, DataNotFoundError, TaskError
from mmharness.tasks.mmra import build_prompt, parse_options


def _png(colour, size=(24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


ROWS = [
    {"Task": "UsageSimilarity", "QA_type": "Choice QA", "question": "Which use do they share?",
     "image1": _png((255, 0, 0)), "image2": _png((0, 0, 255)),
     "options": "{'A': 'cutting', 'B': 'drinking', 'C': 'sitting', 'D': 'writing'}", "answer": "B"},
    {"Task": "Environments", "QA_type": "Chooice QA", "question": "Where are both taken?",
     "image1": _png((0, 255, 0)), "image2": _png((255, 255, 0)),
     "options": "{'A': 'a beach', 'B': 'a kitchen', 'C': 'a forest'}", "answer": "c"},
    {"Task": "Layout", "QA_type": "True or false QA", "question": "Is the layout the same?",
     "image1": _png((10, 20, 30)), "image2": _png((200, 100, 50)), "options": None, "answer": "Yes"},
]


def write_mmra(root: Path, rows=ROWS, layout="parquet") -> Path:
    """Rows in the m-a-p/MMRA schema, as hub parquet files or a save_to_disk folder."""
    import datasets

    feats = datasets.Features({
        "Task": datasets.Value("string"), "QA_type": datasets.Value("string"),
        "question": datasets.Value("string"), "image1": datasets.Image(), "image2": datasets.Image(),
        "options": datasets.Value("string"), "answer": datasets.Value("string")})
    data = [{**r, "image1": None if r["image1"] is None else {"bytes": r["image1"], "path": None},
             "image2": None if r["image2"] is None else {"bytes": r["image2"], "path": None}} for r in rows]
    ds = datasets.Dataset.from_list(data, features=feats)
    if layout == "parquet":
        d = root / "MMRA" / "data"
        d.mkdir(parents=True)
        half = (len(data) + 1) // 2
        ds.select(range(half)).to_parquet(str(d / "train-00000-of-00002.parquet"))
        if half < len(data):
            ds.select(range(half, len(data))).to_parquet(str(d / "train-00001-of-00002.parquet"))
    else:
        datasets.DatasetDict({"train": ds}).save_to_disk(str(root / "mmra"))
    return root


@pytest.mark.parametrize("layout", ["parquet", "disk"])
def test_loader_prompts_and_image_order(tmp_path, layout):
    write_mmra(tmp_path, layout=layout)
    task = build_task("mmra")
    data = task.load(DataConfig(root=tmp_path))
    assert [s.id for s in data.samples] == ["0000", "0001", "0002"]
    assert data.source.startswith("parquet:" if layout == "parquet" else "disk:")
    s0, s1, s2 = data.samples
    assert s1.meta["abbr"] == "Env" and s1.meta["qa_type"] == "Choice QA"
    req = task.request(s0)
    parts = req.messages[0].parts
    assert len(req.messages) == 1 and req.messages[0].role == "user"
    assert isinstance(parts[0], ImageArray) and isinstance(parts[1], ImageArray)
    assert parts[2] == build_prompt("Choice QA", "Which use do they share?", parse_options(ROWS[0]["options"], "r"))
    # image1 first, then image2, decoded unchanged
    assert parts[0].load().getpixel((0, 0)) == (255, 0, 0)
    assert parts[1].load().getpixel((0, 0)) == (0, 0, 255)
    assert task.request(s2).messages[0].parts[2].startswith("You will be giving one question and two images.")
    assert req.params.max_new_tokens == 16 and req.params.temperature == 0.0
    assert req.reference == "B"
    three = task.request(s1).messages[0].parts[2]
    assert "A: a beach  B: a kitchen  C: a forest" in three and "D:" not in three


def test_qo_variant_sends_the_same_prompt_without_images(tmp_path):
    write_mmra(tmp_path)
    iq, qo = build_task("mmra"), build_task("mmra_qo")
    s_iq = iq.load(DataConfig(root=tmp_path)).samples[0]
    s_qo = qo.load(DataConfig(root=tmp_path)).samples[0]
    parts = qo.request(s_qo).messages[0].parts
    assert parts == [iq.request(s_iq).messages[0].parts[2]]
    assert qo.config()["images"] is False and "unverified" in qo.config()["prompt"]


def test_missing_data_names_places_and_source(tmp_path):
    task = build_task("mmra")
    with pytest.raises(DataNotFoundError, match="m-a-p/MMRA") as e:
        task.load(DataConfig(root=tmp_path / "nowhere", source="parquet"))
    assert "train-*.parquet" in str(e.value)


@pytest.mark.parametrize("change,match", [
    ({"options": "{'A': 'x', 'B': "}, "not a Python dict literal"),
    ({"options": "{'A': 'x', 'B': 'y'}"}, "official prompts exist for A-D and A-C only"),
    ({"answer": "E"}, "not one of the option keys"),
    ({"QA_type": "Open QA"}, "unknown QA_type"),
    ({"question": ""}, "column 'question' is empty"),
])
def test_malformed_rows_fail_at_load_naming_the_row(tmp_path, change, match):
    rows = [dict(ROWS[0]), {**ROWS[0], **change}]
    write_mmra(tmp_path, rows=rows)
    with pytest.raises(TaskError, match=match) as e:
        build_task("mmra").load(DataConfig(root=tmp_path))
    assert "row 1" in str(e.value)


def _gold_script(tmp_path, task_name="mmra", **load_kw) -> Path:
    task = build_task(task_name)
    data = task.load(DataConfig(**load_kw))
    path = tmp_path / f"gold_{task_name}.jsonl"
    path.write_text("".join(script_line(s.id, s.gold) + "\n" for s in data.samples))
    return path


def test_gold_scripted_answers_score_100_on_every_metric(tmp_path):
    path = _gold_script(tmp_path, sample=True)
    res = evaluate("scripted", "mmra", model_args=f"path={path}", sample=True, use_cache=False,
                   progress=False, bootstrap=50)
    t = res.doc["tasks"]["mmra"]
    assert t["n_scored"] == 22
    for name, v in t["metrics"].items():
        assert v["value"] == (0.0 if name == "unparsed_rate" else 1.0), name
    assert {k for k in t["metrics"] if k.startswith("acc_")} == {
        "acc_RP", "acc_US", "acc_MS", "acc_SM", "acc_AS", "acc_NSE", "acc_Env", "acc_LO", "acc_SimE",
        "acc_SubE", "acc_OA"}
    assert t["tables"]["leaderboard_row"]["Overall"] == 100.0


def test_oracle_scores_100_with_decoding_in_worker_processes(tmp_path):
    res = evaluate("oracle", "mmra", sample=True, use_cache=False, progress=False, bootstrap=0, num_workers=2)
    assert res.metric("mmra") == 1.0


def test_undecodable_image_stops_or_is_counted_as_failure(tmp_path):
    rows = [dict(ROWS[0]), {**ROWS[2], "image2": b"not an image"}, dict(ROWS[1])]
    write_mmra(tmp_path, rows=rows)
    path = tmp_path / "gold.jsonl"
    # gold "c" of a Choice item must be answered "C": the official letter regex is case-sensitive
    path.write_text("".join(script_line(f"{i:04d}", r["answer"].upper() if len(r["answer"]) == 1 else r["answer"])
                            + "\n" for i, r in enumerate(rows)))
    with pytest.raises(TaskError, match="sample 0001") as e:
        evaluate("scripted", "mmra", model_args=f"path={path}", data_root=tmp_path, use_cache=False,
                 progress=False, bootstrap=0)
    assert "cannot decode image" in str(e.value) and "image2" in str(e.value)
    res = evaluate("scripted", "mmra", model_args=f"path={path}", data_root=tmp_path, use_cache=False,
                   progress=False, bootstrap=0, on_error="skip")
    t = res.doc["tasks"]["mmra"]
    assert t["n_skipped"] == 1 and t["tables"]["scoring"]["n_failed"] == 1
    assert t["metrics"]["overall"]["value"] == pytest.approx(2 / 3)  # failure scored as wrong
    res = evaluate("scripted", "mmra", model_args=f"path={path}", data_root=tmp_path, use_cache=False,
                   progress=False, bootstrap=0, on_error="skip", task_args="drop_failed=true")
    assert res.doc["tasks"]["mmra"]["metrics"]["overall"]["value"] == 1.0  # the demo's convention


def test_empty_image_cell_is_reported(tmp_path):
    rows = [{**ROWS[0], "image1": None}]
    write_mmra(tmp_path, rows=rows)
    task = build_task("mmra")
    data = task.load(DataConfig(root=tmp_path))
    from mmharness.requests import MediaDecodeError

    with pytest.raises(MediaDecodeError, match="image1 of row 0 .*empty"):
        task.request(data.samples[0]).messages[0].parts[0].load()


def test_unparsed_answers_are_counted_not_filled(tmp_path):
    write_mmra(tmp_path)
    path = tmp_path / "answers.jsonl"
    path.write_text(script_line("0000", "(B)") + "\n" + script_line("0001", "no idea") + "\n"
                    + script_line("0002", "Nope") + "\n")
    res = evaluate("scripted", "mmra", model_args=f"path={path}", data_root=tmp_path, use_cache=False,
                   progress=False, bootstrap=0)
    t = res.doc["tasks"]["mmra"]
    assert t["metrics"]["overall"]["value"] == pytest.approx(1 / 3)
    assert t["metrics"]["unparsed_rate"]["value"] == pytest.approx(2 / 3)
    assert t["tables"]["scoring"]["n_unparsed"] == 2


def test_cli_text_only_on_sample_completes_and_validates(tmp_path):
    r = CliRunner().invoke(main, ["run", "--model", "text-only", "--tasks", "mmra", "--sample", "--no-cache",
                                  "--no-progress", "--log-samples", "--output", str(tmp_path)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    files = sorted(tmp_path.glob("results_*.json"))
    assert len(files) == 1
    doc = load_results(files[0])
    t = doc["tasks"]["mmra"]
    assert t["data"]["kind"] == "sample" and t["n_scored"] == 22
    assert t["capability_path"] == "generate"
    # the constant answer "A": right exactly on the choice items whose gold is A
    lines = [json.loads(x) for x in (tmp_path / t["samples_log"]).read_text().splitlines()]
    n_a = sum(1 for x in lines if x["gold"] == "A")
    assert t["metrics"]["overall"]["value"] == pytest.approx(n_a / 22)
    first = lines[0]
    assert first["response"]["text"] == "A" and first["response"]["prompt"].startswith("user: You will be")
    assert first["response"]["warnings"] == ["2 media part(s) dropped (text-only adapter)"]
    assert first["scores"]["parsed"] == "A"
    assert len({x["input_hash"] for x in lines}) == 22  # the prompt is part of each input hash
