"""`slmforge export recipes/folksy-quick.yaml` on the embedded SmolLM2 with a LoRA adapter, and llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "folksy-quick.yaml"
# verify compares greedy answers token for token for min(32, eval.max_new_tokens) tokens in four runtimes (reference,
# merged, server, llama.cpp): 12 still shows a template or stop difference, at ~1/3 of the generation time on 2 cores.
SHORT = ["--set", "eval.max_new_tokens=12"]


@pytest.fixture(scope="module")
def folksy_export(tmp_path_factory, embedded_dir):
    """A folksy-quick run whose model/ is a random non-zero LoRA on SmolLM2 (training is not this test's job)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    runs = tmp_path_factory.mktemp("runs")
    # Prepared data first: `verify` checks prompts against the ids training would have seen.
    prepared = CliRunner().invoke(app, ["prepare", str(RECIPE), "--runs", str(runs), *SHORT])
    assert prepared.exit_code == 0, prepared.output
    model_dir = runs / "folksy-quick" / "model"
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(embedded_dir, dtype=torch.float32)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(embedded_dir).save_pretrained(model_dir)
    from transformers import GenerationConfig

    GenerationConfig(eos_token_id=2, pad_token_id=2).save_pretrained(model_dir)  # as train/sft.py::save_model writes it
    # F16 only: each SmolLM2 GGUF costs ~30 s to load back through transformers' GGUF loader on 2 cores.
    result = CliRunner().invoke(app, ["export", str(RECIPE), "--runs", str(runs), "--quant", "f16", *SHORT])
    assert result.exit_code == 0, result.output
    return runs / "folksy-quick"


@pytest.mark.slow
def test_folksy_quick_exports_verified_merged_gguf_modelfile_and_card(folksy_export):
    export = folksy_export / "export"
    report = json.loads((export / "verify.json").read_text())
    assert report["passed"], report
    f16 = next(c for c in report["checks"] if c["kind"] == "f16")
    assert f16["rel_diff"] <= 0.02 and f16["top1_agreement"] >= 0.99 and f16["tokenizer_ok"]
    modelfile = (export / "Modelfile").read_text()
    assert "FROM ./folksy-quick-f16.gguf" in modelfile
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in modelfile
    assert "embedded:smollm2-135m" in (export / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.llamacpp
def test_llama_cpp_greedy_matches_transformers_for_20_tokens(folksy_export):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is an optional extra: pip install llama-cpp-python")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slmforge.export import loadback

    merged = folksy_export / "export" / "merged"
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged)
    check = loadback.verify_llamacpp(folksy_export / "export" / "folksy-quick-f16.gguf", model, tokenizer, n=20)
    assert check.passed, check.problems
    assert check.positions == 20 or check.top1_agreement == 1.0
    # the export stage ran the same check itself when llama.cpp was there
    kinds = [c["kind"] for c in json.loads((folksy_export / "export" / "verify.json").read_text())["checks"]]
    assert "llamacpp" in kinds


@pytest.mark.slow
def test_verify_finds_the_template_stop_token_and_answers_equal_in_every_runtime(folksy_export):
    import os
    import subprocess
    import sys

    # Its own process, like a user's: verify starts a server whose loggers must not outlive an
    # in-process runner's swapped (then closed) stderr.
    result = subprocess.run([sys.executable, "-m", "slmforge", "verify", str(folksy_export)], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "2"}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    parity = json.loads((folksy_export / "export" / "parity.json").read_text())
    assert parity["passed"] and parity["end_of_turn"]["token"] == "<|im_end|>" and parity["max_new_tokens"] == 12
    rows = {(r["runtime"].split(" (")[0], r["check"]): r for r in parity["rows"]}
    for key in [("tokenizer", "prompt"), ("export/merged", "prompt"), ("server", "prompt"), ("server", "output"),
                ("export/merged", "output"), ("merge", "merge"), ("server", "stop")]:
        assert rows[key]["status"] == "passed", rows[key]
    # SmolLM2's template adds a default system prompt: the Modelfile's SYSTEM must reproduce it in Go
    ollama = rows[("Ollama Modelfile", "prompt")]
    assert ollama["status"] == "passed" or "Go is not installed" in ollama["detail"], ollama
    report = CliRunner().invoke(app, ["report", str(folksy_export)])
    assert report.exit_code == 0 and "Parity: training → every runtime" in (folksy_export / "report.html").read_text()
