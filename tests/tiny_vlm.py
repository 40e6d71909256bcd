"""A tiny randomly initialised LLaVA (CLIP vision tower + Llama) and Llama causal LM with a locally
built word-level tokenizer and chat template: built offline in a second, saved by path. Shared by the
``hf`` adapter tests and the served-model tests (``transformers serve`` loads the same files)."""

from pathlib import Path

import torch

WORDS = (["<unk>", "<pad>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "SYSTEM:"]
         + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;?!'\"()[]{}-_/")
         + ["Yes", "No", "the", "answer", "is", "You", "will", "be", "giving", "one", "question", "two", "images",
            "and", "four", "answers", "of", "them", "correct", "Please", "choose", "only", "with", "questions",
            "Your", "Which", "relation", "object", "in", "first", "image", "to", "second", "both", "show", "a"])
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def build_tokenizer():
    """The word-level tokenizer over WORDS with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", additional_special_tokens=["<image>"])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_models(root: Path) -> Path:
    """Save a tiny LLaVA under ``root/llava`` and a tiny Llama under ``root/llama``; returns ``root``."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlamaForCausalLM, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tok = build_tokenizer()
    torch.manual_seed(0)
    text_cfg = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                           bos_token_id=2, eos_token_id=3, pad_token_id=1)
    vision_cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=16, patch_size=8)
    cfg = LlavaConfig(vision_config=vision_cfg, text_config=text_cfg, image_token_index=WORDS.index("<image>"),
                      vision_feature_layer=-1, vision_feature_select_strategy="full", pad_token_id=1)
    llava = LlavaForConditionalGeneration(cfg)
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 16},
                                                             crop_size={"height": 16, "width": 16}),
                          tokenizer=tok, patch_size=8, vision_feature_select_strategy="full",
                          chat_template=CHAT_TEMPLATE, num_additional_image_tokens=1)
    llava.save_pretrained(root / "llava")
    proc.save_pretrained(root / "llava")
    lm = LlamaForCausalLM(text_cfg)
    lm.save_pretrained(root / "llama")
    build_tokenizer().save_pretrained(root / "llama")  # a fresh one: the LLaVA processor marked its own
    return root
