"""`slmforge export` on a tiny LoRA run: merged weights, GGUF, Modelfile, card, verify.json, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from slmforge.core.errors import ModelError
from slmforge.export.ollama import translate_template
from slmforge.orchestrate.cli import app
from slmforge.runtime.models import CHATML_TEMPLATE


def write_recipe(tmp_path: Path, model_dir: Path, name: str = "tinyrun") -> Path:
    raw = {"name": name, "model": {"id": str(model_dir)}, "data": {"path": "unused.jsonl"},
           "train": {"method": "lora", "lora": {"r": 4, "alpha": 8}}, "export": {"formats": ["merged", "gguf", "ollama"]}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def make_lora_run(run: Path, base: Path) -> None:
    """A LoRA adapter with random non-zero A and B, so merging changes the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(run / "model")
    AutoTokenizer.from_pretrained(base).save_pretrained(run / "model")


def write_reports(run: Path) -> None:
    (run / "data").mkdir(parents=True)
    (run / "data" / "train.jsonl").write_text('{"messages": []}\n')
    (run / "data" / "data_report.json").write_text(json.dumps({
        "source": "data.jsonl", "format": "pairs", "max_length": 128,
        "counts": {"read": 100, "kept": 98, "dropped": 2, "dropped_by_reason": {"empty": 2}},
        "splits": {"train": {"rows": 90}, "val": {"rows": 4}, "test": {"rows": 4}}}))
    (run / "eval").mkdir()
    (run / "eval" / "results.json").write_text(json.dumps({
        "task": "text", "prompts": 4,
        "models": {"base": {"bleu": 1.5, "rougeL": 0.1}, "final": {"bleu": 12.25, "rougeL": 0.4}, "reference": {"bleu": 100}}}))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_llama):
    tmp = tmp_path_factory.mktemp("export")
    recipe = write_recipe(tmp, tiny_llama)
    run = tmp / "runs" / "tinyrun"
    make_lora_run(run, tiny_llama)
    write_reports(run)
    # A relative runs/ from the working directory, as `slmforge run` uses by default: the GGUF
    # loader once got a path relative to the wrong place (found by `make demo`).
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        result = CliRunner().invoke(app, ["export", str(recipe), "--runs", "runs", "--quant", "f16,q8_0"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return tmp, recipe, run, result.output


def test_export_writes_every_format_and_verify_json(exported):
    _, _, run, output = exported
    export = run / "export"
    for name in ("merged/model.safetensors", "merged/tokenizer.json", "merged/chat_template.jinja",
                 "merged/generation_config.json", "tinyrun-f16.gguf", "tinyrun-q8_0.gguf", "Modelfile", "README.md", "verify.json"):
        assert (export / name).is_file(), name
    report = json.loads((export / "verify.json").read_text())
    # (plus a "llamacpp" check after f16 when the optional llama-cpp-python is installed)
    assert report["passed"] and [c["kind"] for c in report["checks"] if c["kind"] != "llamacpp"] == ["merged", "f16", "q8_0"]
    assert "ollama create tinyrun" in output


def test_merged_model_includes_the_lora_and_loads_in_plain_transformers(exported, tiny_llama):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, _, run, _ = exported
    merged = AutoModelForCausalLM.from_pretrained(run / "export" / "merged", dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32), run / "model")
    ids = AutoTokenizer.from_pretrained(run / "export" / "merged")("A penny saved", return_tensors="pt").input_ids
    with torch.no_grad():
        got, want, before = merged(ids).logits, adapted(ids).logits, base(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert (got - before).abs().max() > 1e-3  # the merge mattered


def test_modelfile_uses_the_q8_gguf_a_chatml_template_and_stops(exported):
    _, _, run, _ = exported
    text = (run / "export" / "Modelfile").read_text()
    assert "FROM ./tinyrun-q8_0.gguf" in text
    assert "<|im_start|>{{ .Role }}" in text and "{{ .Content }}<|im_end|>" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "SYSTEM" not in text


def test_model_card_has_base_data_hash_method_metrics_and_usage(exported):
    _, _, run, _ = exported
    card = (run / "export" / "README.md").read_text()
    assert "tiny" in card and "method: **lora**" in card and "LoRA r 4, alpha 8" in card
    assert "training split sha256: `" in card and "rows read 100" in card
    assert "| bleu | 1.5 | 12.25 |" in card
    assert "AutoModelForCausalLM" in card and "llama-cli -m tinyrun-f16.gguf" in card and "ollama create tinyrun" in card


def test_run_skips_an_export_whose_outputs_are_intact(exported):
    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir
    from slmforge.orchestrate.pipeline import run_stages

    tmp, recipe, run, _ = exported
    before = RunDir(run).stage("export")
    run_stages(load(recipe, ["export.quant=[f16,q8_0]"]), tmp / "runs", ["export"])
    assert RunDir(run).stage("export").started == before.started


def test_export_without_a_trained_model_is_one_line(tmp_path, tiny_qwen2):
    result = CliRunner().invoke(app, ["export", str(write_recipe(tmp_path, tiny_qwen2, "empty")), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no trained model" in errors[0] and "slmforge train" in errors[0]
    assert "Traceback" not in result.output


def test_unknown_quant_type_is_refused_before_loading(tmp_path, tiny_qwen2):
    result = CliRunner().invoke(app, ["export", str(write_recipe(tmp_path, tiny_qwen2, "q4k")), "--runs", str(tmp_path / "runs"),
                                      "--quant", "q4_k"])
    assert result.exit_code == 2 and "q4_k" in result.output and "q8_0" in result.output


class _Tok:
    """Just enough tokenizer for template translation: the real Jinja rendering of transformers."""

    def __init__(self, template: str, bos: str | None = None):
        from tokenizers import Tokenizer, models
        from transformers import PreTrainedTokenizerFast

        self._tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
        self._tok.chat_template = template
        self.bos_token = bos

    def apply_chat_template(self, *args, **kwargs):
        return self._tok.apply_chat_template(*args, **kwargs)


def test_template_translation_finds_a_default_system_prompt():
    with_default = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                    "{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}"
                    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    translation = translate_template(_Tok(with_default))
    assert translation.family.name == "chatml" and translation.default_system == "You are helpful."
    assert translate_template(_Tok(CHATML_TEMPLATE)).default_system is None


def test_untranslatable_template_is_refused():
    alpaca = "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n{% endfor %}### assistant:\n"
    with pytest.raises(ModelError, match="ChatML"):
        translate_template(_Tok(alpaca))
