"""GGUF export on tiny Qwen2 / Llama models: real files read back by transformers' GGUF loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer

from slmforge.core.errors import ModelError
from slmforge.export import loadback
from slmforge.export.gguf_tokenizer import pre_tokenizer_name
from slmforge.export.gguf_write import check_supported, write_gguf

# The bounds verify.py holds; asserted here on tiny models where they are far from binding.
F16_REL_BOUND = loadback.REL_LOGIT_BOUND["f16"]
Q8_TOP1_BOUND = loadback.TOP1_BOUND["q8_0"]


def _load(model_dir: Path):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def tiny(request, tiny_qwen2, tiny_llama):
    return request.param, _load(tiny_qwen2 if request.param == "qwen2" else tiny_llama)


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_loads_back_in_transformers_with_the_same_logits(tiny, quant, tmp_path):
    arch, (model, tokenizer) = tiny
    path = write_gguf(model, tokenizer, tmp_path / f"tiny-{quant}.gguf", quant, "tiny")
    texts, reference = loadback.reference_logits(model, tokenizer)
    check = loadback.verify_gguf(path, quant, reference, tokenizer, texts)
    assert check.passed, check.problems
    assert check.positions > 100
    if quant == "f16":
        assert check.rel_diff <= F16_REL_BOUND
        assert check.top1_agreement == 1.0
    else:
        assert check.top1_agreement >= Q8_TOP1_BOUND


def test_gguf_holds_hyperparameters_tokenizer_and_chat_template(tiny, tmp_path):
    arch, (model, tokenizer) = tiny
    path = write_gguf(model, tokenizer, tmp_path / "tiny.gguf", "q8_0", "tiny")
    fields = GGUFReader(str(path)).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    assert value("general.architecture") == arch
    assert value(f"{arch}.block_count") == model.config.num_hidden_layers
    assert value(f"{arch}.attention.head_count_kv") == model.config.num_key_value_heads
    assert value(f"{arch}.rope.freq_base") == pytest.approx(model.config.rope_parameters["rope_theta"])
    assert value("tokenizer.ggml.model") == "gpt2"
    # the pre-tokenizer the loaded tokenizer really uses (transformers may swap in its class's own)
    backend_pre = json.loads(tokenizer.backend_tokenizer.to_str())["pre_tokenizer"]
    assert value("tokenizer.ggml.pre") == pre_tokenizer_name(backend_pre) in ("gpt-2", "qwen2")
    assert len(value("tokenizer.ggml.tokens")) == model.config.vocab_size
    assert value("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert value("tokenizer.ggml.add_bos_token") is False
    assert value("tokenizer.chat_template") == tokenizer.chat_template
    names = {t.name: t.tensor_type.name for t in GGUFReader(str(path)).tensors}
    assert "output.weight" not in names  # tied embeddings
    assert names["blk.0.attn_q.weight"] == "Q8_0" and names["output_norm.weight"] == "F32"


def test_gguf_tokenizer_rebuilt_by_transformers_encodes_the_same_ids(tiny, tmp_path):
    _, (model, tokenizer) = tiny
    path = write_gguf(model, tokenizer, tmp_path / "tiny.gguf", "f16", "tiny")
    rebuilt = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=str(path))
    texts = loadback.probe_prompts(tokenizer) + ["<|im_start|>user\nHi<|im_end|>\n", "ünïcödé 東京 🙂"]
    for text in texts:
        assert rebuilt(text).input_ids == tokenizer(text).input_ids, text
    assert rebuilt.chat_template == tokenizer.chat_template
    assert rebuilt.eos_token == tokenizer.eos_token == "<|im_end|>"
    chat = [{"role": "user", "content": "hello"}]
    assert rebuilt.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == \
        tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def test_untied_model_writes_output_weight(tmp_path):
    from slmforge.runtime.tiny_models import build_tiny_model

    directory = build_tiny_model(tmp_path / "untied", arch="llama")
    model, tokenizer = _load(directory)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight) * 0.1)
    path = write_gguf(model, tokenizer, tmp_path / "untied.gguf", "f16", "untied")
    assert "output.weight" in {t.name for t in GGUFReader(str(path)).tensors}
    texts, reference = loadback.reference_logits(model, tokenizer)
    assert loadback.verify_gguf(path, "f16", reference, tokenizer, texts).passed


def test_unsupported_architecture_is_one_line_naming_the_supported_ones(tmp_path):
    from transformers import GPT2Config

    with pytest.raises(ModelError) as err:
        check_supported(GPT2Config(n_embd=32, n_layer=1, n_head=2))
    message = str(err.value)
    assert "\n" not in message and "gpt2" in message and "llama" in message and "qwen2" in message


def test_rope_scaling_is_refused_rather_than_silently_dropped(tiny_llama):
    model, _ = _load(tiny_llama)
    model.config.rope_parameters = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    with pytest.raises(ModelError, match="linear"):
        check_supported(model.config)


def test_pre_tokenizer_names_follow_llama_cpp():
    bytelevel = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    assert pre_tokenizer_name(bytelevel) == "gpt-2"
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    qwen = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": PRETOKENIZE_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    assert pre_tokenizer_name(qwen) == "qwen2"
    with pytest.raises(ModelError, match="byte-level BPE"):
        pre_tokenizer_name({"type": "Metaspace", "replacement": "▁"})
