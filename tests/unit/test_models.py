"""Model loading from every source a recipe may name, with clear errors for the unsafe or missing."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from slmforge.core.errors import ModelError
from slmforge.core.sections import ModelSection
from slmforge.runtime.models import embedded_gguf, load_model, load_tokenizer

CHAT = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("arch", ["tiny_qwen2", "tiny_llama"])
def test_tiny_models_load_with_chat_template_and_generate(arch, request):
    directory = request.getfixturevalue(arch)
    model, tokenizer = load_model(ModelSection(id=str(directory)))
    assert model.config.hidden_size <= 64
    assert model.config.model_type == arch.removeprefix("tiny_")
    ids = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3 or tokenizer.eos_token_id in out[0].tolist()


def test_pickle_checkpoint_needs_the_explicit_flag(tiny_qwen2, tmp_path):
    from transformers import AutoModelForCausalLM

    target = tmp_path / "pickled"
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2)
    model.save_pretrained(target, safe_serialization=False) if _supports_pickle_save() else _torch_save(model, target)
    for path in tiny_qwen2.iterdir():
        if path.suffix != ".safetensors" and not (target / path.name).exists():
            shutil.copy(path, target / path.name)
    with pytest.raises(ModelError, match=r"only pickle weights \(pytorch_model.bin\).*model.allow_pickle: true"):
        load_model(ModelSection(id=str(target)))
    loaded, _ = load_model(ModelSection(id=str(target), allow_pickle=True))
    assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)


def _supports_pickle_save() -> bool:
    import inspect

    from transformers import PreTrainedModel

    return "safe_serialization" in inspect.signature(PreTrainedModel.save_pretrained).parameters


def _torch_save(model, target) -> None:
    target.mkdir(parents=True)
    model.config.save_pretrained(target)
    torch.save(model.state_dict(), target / "pytorch_model.bin")


def test_missing_chat_template_is_named_and_chatml_fixes_it(tiny_qwen2, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_qwen2, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="has no chat template; set model.chat_template"):
        load_tokenizer(ModelSection(id=str(bare)))
    assert "<|im_start|>" in load_tokenizer(ModelSection(id=str(bare), chat_template="chatml")).chat_template


def test_unreachable_hub_id_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        load_tokenizer(ModelSection(id="nobody-here/no-such-model"))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("model.id: could not load nobody-here/no-such-model") and "embedded:smollm2-135m" in msg


@pytest.mark.parametrize(
    "spec, words",
    [("embedded:gpt-9", "unknown embedded model embedded:gpt-9; available: embedded:smollm2-135m"),
     ("./no/such/dir", "is not a model directory or .gguf file"),
     ("missing.gguf", "GGUF file missing.gguf not found"),
     ("not a hub id", "is neither a local path")],
)
def test_bad_model_ids_are_named(spec, words):
    with pytest.raises(ModelError, match=words.replace(".", r"\.").replace("(", r"\(")):
        load_tokenizer(ModelSection(id=spec))


@pytest.mark.slow
def test_embedded_model_materialized_copy_matches_the_gguf(embedded_dir):
    from transformers import AutoModelForCausalLM

    model, tokenizer = load_model(ModelSection(id="embedded:smollm2-135m"))
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert getattr(model.config, "quantization_config", None) is None  # trainable and saveable
    gguf = embedded_gguf("smollm2-135m")
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ids = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, reference(**ids).logits)


@pytest.mark.slow
def test_a_gguf_file_path_loads_like_the_embedded_model(embedded_dir):
    model, tokenizer = load_model(ModelSection(id=str(embedded_gguf("smollm2-135m"))))
    assert model.config.model_type == "llama" and tokenizer.chat_template
