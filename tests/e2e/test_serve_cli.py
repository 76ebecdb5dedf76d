"""`slmforge serve` refuses what it cannot do in one line, and serves what a run directory holds."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app
from slmforge.runtime.serve.loading import load_for_serving, run_serve_section


def serve(*args: str):
    return CliRunner().invoke(app, ["serve", *args])


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_vllm_not_installed_is_one_clear_line_saying_how_to_get_it(tiny_qwen2, monkeypatch):
    monkeypatch.setenv("SLMFORGE_VLLM_PYTHON", "/nowhere/bin/python")
    line = one_error_line(serve(str(tiny_qwen2), "--engine", "vllm", "--port", "0"))
    assert "SLMFORGE_VLLM_PYTHON: /nowhere/bin/python is not a python executable; make vllm" in line
    # a python without vllm: the child's own complaint, in one line, before anything listens
    monkeypatch.setenv("SLMFORGE_VLLM_PYTHON", sys.executable)
    result = serve(str(tiny_qwen2), "--engine", "vllm", "--port", "0")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and "Traceback" not in result.output and len(errors) == 1, result.output
    assert "vLLM exited with code 1 while starting" in errors[0] and "No module named" in errors[0]


def test_llamacpp_missing_names_the_pip_install(tiny_qwen2):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        line = one_error_line(serve(str(tiny_qwen2), "--engine", "llamacpp"))
        assert "pip install llama-cpp-python" in line
    else:
        line = one_error_line(serve(str(tiny_qwen2), "--engine", "llamacpp"))
        assert "serves .gguf files" in line


def test_a_short_api_key_gets_a_warning_before_the_server_starts(tiny_qwen2, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("sk-short\n", encoding="utf-8")
    # vllm fails right after the start checks here (no CUDA): enough to see what start printed.
    result = serve(str(tiny_qwen2), "--api-keys", str(keys), "--engine", "vllm")
    assert "warning: 1 API key is shorter than 16 characters" in result.output


def test_public_address_without_keys_is_refused(tiny_qwen2):
    assert "needs --api-keys" in one_error_line(serve(str(tiny_qwen2), "--host", "0.0.0.0"))


def test_split_naming_an_unserved_variant_is_refused(tiny_qwen2):
    line = one_error_line(serve(str(tiny_qwen2), "--name", "a", "--split", "a=0.9,b=0.1"))
    assert "--split: b not served" in line


def test_unknown_engine_and_dtype_are_refused(tiny_qwen2):
    assert "--engine onnx: must be one of" in one_error_line(serve(str(tiny_qwen2), "--engine", "onnx"))
    assert "--dtype int3: must be one of" in one_error_line(serve(str(tiny_qwen2), "--dtype", "int3"))


def make_run(tmp_path: Path, base: Path, model_dir_maker) -> Path:
    run = tmp_path / "runs" / "demo"
    run.mkdir(parents=True)
    recipe = {"name": "demo", "model": {"id": str(base)}, "data": {"path": "data.jsonl"}, "serve": {"max_batch": 3}}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    model_dir_maker(run / "model")
    return run


def test_run_directory_with_full_weights_serves_its_model_and_recipe_defaults(tmp_path, tiny_qwen2):
    run = make_run(tmp_path, tiny_qwen2, lambda target: shutil.copytree(tiny_qwen2, target))
    model, tokenizer = load_for_serving(str(run))
    assert model.config.model_type == "qwen2" and tokenizer.chat_template
    assert run_serve_section(str(run)).max_batch == 3


def test_run_directory_with_a_lora_adapter_serves_base_plus_adapter(tmp_path, tiny_llama):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def save_adapter(target: Path) -> None:
        base = AutoModelForCausalLM.from_pretrained(tiny_llama)
        peft = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        peft.save_pretrained(target)
        AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(target)

    run = make_run(tmp_path, tiny_llama, save_adapter)
    served, _ = load_for_serving(str(run))
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert not torch.allclose(served(ids).logits, plain(ids).logits), "the adapter changed nothing"
