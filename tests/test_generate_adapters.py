"""Generation adapters: ``hf`` on a tiny randomly initialised LLaVA and Llama built here (offline,
tokenizer built locally), ``text-only`` and ``scripted``; batching, left padding, prompts, stop
strings, context truncation, conformance, and end-to-end runs on the MMRA sample."""

import json

import pytest
import torch

from mmharness.adapter import AdapterError, build_adapter
from mmharness.adapters.text_baselines import ScriptedAdapter, TextOnlyAdapter, script_line
from mmharness.adapters.transformers_vlm import TransformersVLM
from mmharness.conformance import check_adapter
from mmharness.evaluate import evaluate
from mmharness.generation import apply_stop, prompt_hash
from mmharness.registry import ADAPTERS
from mmharness.requests import Batch, Capability, GenerateRequest, GenerationParams, Message
from mmharness.results import load_results
from tiny_vlm import build_tiny_models

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny LLaVA (CLIP vision tower + Llama) and a tiny Llama causal LM, saved by path."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny_hf"))


QWEN_WORDS = (["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>",
               "<|video_pad|>", "user", "assistant"] + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,:?'")
              + ["Please", "answer", "the", "question", "in", "image", "Yes", "No"])
QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|> "
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


@pytest.fixture(scope="module")
def tiny_qwen2_vl(tmp_path_factory):
    """A tiny Qwen2-VL (M-RoPE, merged vision patches) with a locally built tokenizer, saved by path."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                              Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor)

    vocab = {w: i for i, w in enumerate(QWEN_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
                                   additional_special_tokens=QWEN_WORDS[2:8])
    fast.chat_template = QWEN_TEMPLATE
    proc = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=56 * 56),
                            tokenizer=fast, video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN_TEMPLATE)
    cfg = Qwen2VLConfig(
        text_config=dict(vocab_size=len(QWEN_WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}, bos_token_id=None,
                         eos_token_id=3, pad_token_id=1),
        vision_config=dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, in_channels=3, mlp_ratio=2),
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
        bos_token_id=None, eos_token_id=3, pad_token_id=1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny_qwen")
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(root)
    proc.save_pretrained(root)
    return root


def _conv(text, n_images=0):
    from PIL import Image

    imgs = [Image.new("RGB", (20 + 3 * k, 18), (40 * k, 90, 200)) for k in range(n_images)]
    return [Message("user", [*imgs, text])]


def test_hf_adapter_loads_by_path_with_safe_defaults(tiny_models):
    ad = build_adapter(ADAPTERS.get("hf"), {"model": str(tiny_models / "llava")})
    assert ad.capabilities() == frozenset({Capability.GENERATE})
    assert ad.model_class == "image-text-to-text" and ad.trust_remote_code is False
    assert ad.model_args["trust_remote_code"] is False and ad.max_context == 512
    assert ad.tokenizer.padding_side == "left"
    assert ad.weights_identity().startswith("files:model.safetensors=sha256:")
    with pytest.raises(AdapterError, match="model_class"):
        TransformersVLM(model=str(tiny_models / "llava"), model_class="seq2seq")
    with pytest.raises(AdapterError, match="cannot load the config"):
        TransformersVLM(model=str(tiny_models / "nothing-here"), local_files_only=True)


def test_batched_left_padded_generation_equals_one_by_one(tiny_models):
    ad = TransformersVLM(model=str(tiny_models / "llava"))
    convs = [_conv("Which object is in the first image ?", 2), _conv("Yes or No ?", 2),
             _conv("Please choose one of the four answers with A B C or D in the second image", 2)]
    params = GenerationParams(max_new_tokens=6)
    together = ad.generate_messages(convs, params, ["a", "b", "c"])
    alone = [ad.generate_messages([c], params, [s])[0] for c, s in zip(convs, "abc")]
    assert [r.text for r in together] == [r.text for r in alone]
    assert all(r.text.strip() for r in together)
    assert together[0].prompt == "USER: <image> <image> Which object is in the first image ? ASSISTANT:"
    assert together[0].warnings == []


def test_stop_strings_cut_the_output(tiny_models):
    ad = TransformersVLM(model=str(tiny_models / "llava"))
    conv = [_conv("Your answer is", 1)]
    full = ad.generate_messages(conv, GenerationParams(max_new_tokens=8), ["s"])[0].text
    words = full.split()
    assert len(words) >= 3
    stop = words[2]
    cut = ad.generate_messages(conv, GenerationParams(max_new_tokens=8, stop=(stop,)), ["s"])[0].text
    assert cut == apply_stop(full, [stop]) and stop not in cut


def test_long_prompts_are_truncated_with_a_recorded_warning(tiny_models):
    ad = TransformersVLM(model=str(tiny_models / "llava"), max_context=40)
    long_text = " ".join(["the answer is A"] * 20)  # 80 text tokens
    out = ad.generate_messages([_conv(long_text, 2), _conv("Yes ?", 2)], GenerationParams(max_new_tokens=8), ["x", "y"])
    assert len(out[0].warnings) == 1 and "prompt truncated" in out[0].warnings[0]
    assert out[0].prompt.startswith("USER: <image> <image> ") and out[0].prompt.endswith("is A ASSISTANT:")
    assert len(out[0].prompt) < len(long_text)
    assert out[1].warnings == []
    strict = TransformersVLM(model=str(tiny_models / "llava"), max_context=40, truncation="error")
    with pytest.raises(AdapterError, match="sample x: the prompt has .* tokens but only 32 fit"):
        strict.generate_messages([_conv(long_text, 2)], GenerationParams(max_new_tokens=8), ["x"])


def test_dtype_option_casts_model_and_inputs(tiny_models):
    ad = TransformersVLM(model=str(tiny_models / "llava"), dtype="bfloat16")
    assert ad.model.dtype == torch.bfloat16
    out = ad.generate_messages([_conv("Yes ?", 2)], GenerationParams(max_new_tokens=3), ["s"])
    assert isinstance(out[0].text, str) and out[0].prompt.startswith("USER: <image> <image>")
    assert ad.fingerprint() != TransformersVLM(model=str(tiny_models / "llava")).fingerprint()
    with pytest.raises(AdapterError, match="dtype"):
        TransformersVLM(model=str(tiny_models / "llava"), dtype="int8")


def test_conformance_check_passes(tiny_models):
    results = check_adapter(TransformersVLM(model=str(tiny_models / "llava")))
    assert results and all(r.ok for r in results), [(r.capability, r.detail) for r in results]


@pytest.mark.slow
def test_hf_runs_mmra_sample_end_to_end(tiny_models, tmp_path):
    args = f"model={tiny_models / 'llava'}"
    res = evaluate("hf", "mmra", model_args=args, sample=True, use_cache=False, progress=False, bootstrap=0,
                   batch_size=8, output=tmp_path, log_samples=True, limit=8)
    doc = load_results(res.path)
    t = doc["tasks"]["mmra"]
    assert t["n_scored"] == 8 and doc["model"]["args"] == {"model": str(tiny_models / "llava")}
    rows = [json.loads(x) for x in res.sample_logs["mmra"].read_text().splitlines()]
    assert rows[0]["response"]["prompt"].startswith("USER: <image> <image> You will be giving one question")
    one = evaluate("hf", "mmra", model_args=args, sample=True, use_cache=False, progress=False, bootstrap=0,
                   batch_size=1, output=tmp_path / "b1", log_samples=True, limit=8)
    rows1 = [json.loads(x) for x in one.sample_logs["mmra"].read_text().splitlines()]
    assert [r["response"]["text"] for r in rows] == [r["response"]["text"] for r in rows1]


def test_causal_lm_text_only_and_image_refusal(tiny_models):
    lm = TransformersVLM(model=str(tiny_models / "llama"))
    assert lm.model_class == "causal-lm"
    with pytest.raises(AdapterError, match="text-only model"):
        lm.generate_messages([_conv("hi", 1)], GenerationParams(max_new_tokens=3), ["s"])
    res = evaluate("text-only", "mmra", model_args=f"model={tiny_models / 'llama'}", sample=True, use_cache=False,
                   progress=False, bootstrap=0, limit=4, batch_size=4)
    assert res.doc["tasks"]["mmra"]["n_scored"] == 4
    assert res.doc["model"]["args"]["model"] == str(tiny_models / "llama")
    # a VLM behind text-only never sees the images: its prompts have no image token
    vlm = TextOnlyAdapter(model=str(tiny_models / "llava"))
    req = GenerateRequest([Message("user", [object(), "Yes ?"])], GenerationParams(max_new_tokens=3))
    out = vlm.generate(_batch([req]))[0]
    assert out.prompt == "USER: Yes ? ASSISTANT:" and "1 media part(s) dropped" in out.warnings[0]


def _batch(requests, ids=None):
    ids = ids or [f"s{i}" for i in range(len(requests))]
    return Batch(sample_ids=ids, inputs={}, requests=requests, references=[r.reference for r in requests])


def test_text_only_constant_answer_drops_images():
    ad = TextOnlyAdapter(answer="Yes")
    req = GenerateRequest([Message("user", [object(), "Is it? Your answer is "])],
                          GenerationParams(max_new_tokens=4, stop=("s",)))
    out = ad.generate(_batch([req]))
    assert out[0].text == "Ye"  # the stop string applies
    assert out[0].prompt == "user: Is it? Your answer is " and "1 media part(s) dropped" in out[0].warnings[0]
    assert ad.weights_identity() == "constant:'Yes'"
    assert TextOnlyAdapter(answer="A").fingerprint() != TextOnlyAdapter(answer="B").fingerprint()


def test_scripted_by_id_and_prompt_hash_and_errors(tmp_path):
    req_a = GenerateRequest([Message("user", ["question one"])])
    req_b = GenerateRequest([Message("user", ["question two"])])
    path = tmp_path / "s.jsonl"
    path.write_text(script_line("s0", "A") + "\n\n" + json.dumps({"prompt_hash": prompt_hash(req_b.messages),
                                                                   "answer": "Answer: 366"}) + "\n")
    ad = ScriptedAdapter(path=str(path))
    out = ad.generate(_batch([req_a, req_b]))
    assert [o.text for o in out] == ["A", "Answer: 366"]
    with pytest.raises(AdapterError, match="no answer for sample 'zz'"):
        ad.generate(_batch([req_a], ["zz"]))
    lenient = ScriptedAdapter(path=str(path), missing="empty")
    assert lenient.generate(_batch([req_a], ["zz"]))[0].warnings
    for content, match in [("{not json\n", "line 1: not valid JSON"), ('{"id": "a"}\n', "'answer' key"),
                           ('{"answer": "x"}\n', "needs an 'id' or a 'prompt_hash'"),
                           ('{"id": "a", "answer": 3}\n', "must be a string"),
                           ('{"id": "a", "answer": "x"}\n{"id": "a", "answer": "y"}\n', "line 2: id 'a' already")]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(content)
        with pytest.raises(AdapterError, match=match):
            ScriptedAdapter(path=str(bad))
    with pytest.raises(AdapterError, match="not found"):
        ScriptedAdapter(path=str(tmp_path / "missing.jsonl"))
    # equal prompts (same text beside different images) with different answers: only ids resolve them
    amb = tmp_path / "amb.jsonl"
    h = prompt_hash(req_a.messages)
    amb.write_text(json.dumps({"id": "i1", "prompt_hash": h, "answer": "x"}) + "\n"
                   + json.dumps({"id": "i2", "prompt_hash": h, "answer": "y"}) + "\n")
    amb_ad = ScriptedAdapter(path=str(amb))
    assert [o.text for o in amb_ad.generate(_batch([req_a, req_a], ["i2", "i1"]))] == ["y", "x"]
    with pytest.raises(AdapterError, match="several answers"):
        amb_ad.generate(_batch([req_a], ["i3"]))
    # the answer file is part of the identity: a changed file is never served from the cache
    before = ScriptedAdapter(path=str(path)).fingerprint()
    path.write_text(script_line("s0", "B") + "\n")
    assert ScriptedAdapter(path=str(path)).fingerprint() != before


def test_cli_script_gold_and_render(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from mmharness.cli import main

    gold = tmp_path / "gold.jsonl"
    r = CliRunner().invoke(main, ["script", "gold", "--tasks", "mmra,pixelworld_arc", "--sample", "--out", str(gold)],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "wrote 28 answers" in r.output
    r = CliRunner().invoke(main, ["run", "--model", "scripted", "--model-args", f"path={gold}", "--tasks",
                                  "mmra,pixelworld_arc", "--sample", "--no-cache", "--no-progress", "--json",
                                  "--output", str(tmp_path / "out")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):])
    assert doc["tasks"]["mmra"]["metrics"]["overall"]["value"] == 1.0
    assert doc["tasks"]["pixelworld_arc"]["metrics"]["score_img"]["value"] == 1.0
    png = tmp_path / "r.png"
    r = CliRunner().invoke(main, ["render", "Hello\nworld", "--out", str(png), "--preset", "no_random",
                                  "--font", "builtin"], catch_exceptions=False)
    assert r.exit_code == 0 and json.loads(r.output)["n_lines"] == 4 and Image.open(png).size == (512, 256)


def test_qwen2_vl_style_model_batched_and_multi_image(tiny_qwen2_vl):
    ad = TransformersVLM(model=str(tiny_qwen2_vl))
    assert type(ad.model).__name__ == "Qwen2VLForConditionalGeneration"
    convs = [_conv("Please answer the question in the image.", 1), _conv("Yes ?", 2), _conv("the image", 1)]
    params = GenerationParams(max_new_tokens=5)
    together = ad.generate_messages(convs, params, ["a", "b", "c"])
    alone = [ad.generate_messages([c], params, [s])[0] for c, s in zip(convs, "abc")]
    assert [r.text for r in together] == [r.text for r in alone]
    assert together[1].prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    res = evaluate("hf", "pixelworld_slidesvqa", model_args=f"model={tiny_qwen2_vl}",
                   task_args="modes=img,max_new_tokens_img=4", sample=True, use_cache=False, progress=False,
                   bootstrap=0)
    t = res.doc["tasks"]["pixelworld_slidesvqa"]
    assert t["n_scored"] == 2 and "score_img" in t["metrics"]
