"""`slmforge verify`: the trained prompt ids, the stop token and the greedy answers are the same in
the saved tokenizer, the merged export, our HTTP server, llama.cpp and Ollama's Go template.

Tiny Qwen2 (a *base*-style tokenizer whose eos is <|endoftext|>, not the template's <|im_end|>)
trained fully, and tiny Llama with no chat template of its own (recipe: chatml) trained with LoRA,
each through `slmforge run` with export on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from slmforge.runtime.tiny_models import build_tiny_model

ANIMALS = ["goat", "mule", "hen", "hog", "cow", "cat"]


def _recipe(tmp: Path, model: Path, name: str, method: str, lr: float, **model_keys) -> Path:
    rows = [{"input": f"Tell me about the {ANIMALS[i % 6]} number {i}.", "output": f"The {ANIMALS[i % 6]} {i} sleeps."}
            for i in range(60)]
    (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": name, "model": {"id": str(model), **model_keys},
           "data": {"path": str(tmp / "d.jsonl"), "max_length": 64, "split": {"train": 0.8, "val": 0.1, "test": 0.1}},
           "train": {"method": method, "max_steps": 60, "batch_size": 8, "lr": lr, "precision": "fp32", "save_steps": 100,
                     "logging_steps": 20},
           "eval": {"enabled": False, "max_new_tokens": 16},
           "export": {"formats": ["merged", "gguf", "ollama"], "quant": ["f16", "q8_0"]}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real `slmforge` command in its own process: verify starts a server and llama.cpp, whose
    loggers must not outlive an in-process runner's swapped (then closed) stdout/stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "slmforge", *args], capture_output=True, text=True, env=env, timeout=600)


def _run(recipe: Path, runs: Path) -> str:
    result = _cli("run", str(recipe), "--runs", str(runs))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def qwen_base_run(tmp_path_factory):
    """A Qwen-base-like tokenizer: eos <|endoftext|>, while ChatML ends turns with <|im_end|>."""
    tmp = tmp_path_factory.mktemp("parity_qwen")
    model = build_tiny_model(tmp / "base", arch="qwen2")
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["eos_token"] = "<|endoftext|>"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    for name in ("config.json", "generation_config.json"):
        data = json.loads((model / name).read_text())
        data["eos_token_id"] = 0  # <|endoftext|>
        (model / name).write_text(json.dumps(data))
    output = _run(_recipe(tmp, model, "pq", "full", 1e-3), tmp / "runs")
    return tmp / "runs" / "pq", output


@pytest.fixture(scope="module")
def llama_lora_run(tmp_path_factory):
    """A tokenizer without a chat template: the recipe's model.chat_template: chatml is used and saved."""
    tmp = tmp_path_factory.mktemp("parity_llama")
    model = build_tiny_model(tmp / "base", arch="llama")
    (model / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    output = _run(_recipe(tmp, model, "pl", "lora", 5e-3, chat_template="chatml"), tmp / "runs")
    return tmp / "runs" / "pl", output


def _rows(run: Path) -> list[dict]:
    return json.loads((run / "export" / "parity.json").read_text())["rows"]


def _assert_all_rows_pass(run: Path) -> list[dict]:
    rows = _rows(run)
    failed = [r for r in rows if r["status"] == "failed"]
    assert not failed, failed
    for r in rows:
        if r["status"] == "skipped":  # only for what this machine lacks, never silently
            assert re.search(r"not installed|full weights|CUDA", r["detail"]), r
    return rows


def _row(rows: list[dict], runtime_start: str, check: str) -> dict:
    return next(r for r in rows if r["runtime"].startswith(runtime_start) and r["check"] == check)


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_every_runtime_matches_training_on_a_base_model_whose_eos_is_not_the_end_of_turn(qwen_base_run):
    run, output = qwen_base_run
    # prepare says, in one line, that the template's end of turn is trained and saved as eos
    assert re.search(r"tokenizer's eos <\|endoftext\|> is not the chat template's end of turn <\|im_end\|>", " ".join(output.split()))
    rows = _assert_all_rows_pass(run)
    for runtime in ("tokenizer (model/)", "export/merged", "server", "Ollama Modelfile"):
        assert _row(rows, runtime, "prompt")["status"] in ("passed", "skipped")
    assert _row(rows, "server", "prompt")["status"] == "passed"
    # <|im_end|> is the eos everywhere the model was saved
    for where in (run / "model", run / "export" / "merged"):
        assert json.loads((where / "tokenizer_config.json").read_text())["eos_token"] == "<|im_end|>"
        assert json.loads((where / "generation_config.json").read_text())["eos_token_id"] in (2, [2])
        assert json.loads((where / "config.json").read_text())["eos_token_id"] == 2
    parity = json.loads((run / "export" / "parity.json").read_text())
    assert parity["end_of_turn"] == {"token": "<|im_end|>", "id": 2}
    # the model learnt to stop, and every runtime stopped where it did
    merged = _row(rows, "export/merged", "output")
    assert merged["status"] == "passed" and not merged["detail"].endswith("on 0 of 6"), merged
    assert _row(rows, "server (HTTP", "output")["status"] == "passed"
    assert "Parity: training → every runtime" in (run / "report.html").read_text()


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_lora_on_a_model_without_a_template_merges_and_serves_identically(llama_lora_run):
    run, _ = llama_lora_run
    rows = _assert_all_rows_pass(run)
    merge = _row(rows, "merge", "merge")
    assert merge["status"] == "passed" and "adapter + base" in merge["detail"]
    assert _row(rows, "export/merged", "output")["status"] == "passed"
    # the recipe's ChatML template travelled with the model into every export
    assert "<|im_start|>" in (run / "model" / "chat_template.jinja").read_text()
    assert "<|im_start|>" in (run / "export" / "merged" / "chat_template.jinja").read_text()
    assert "<|im_start|>" in (run / "export" / "Modelfile").read_text()


def _copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run, copy)
    return copy


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_a_generation_config_that_lost_the_end_of_turn_is_caught(qwen_base_run, tmp_path):
    run = _copy_run(qwen_base_run[0], tmp_path)
    gen = json.loads((run / "model" / "generation_config.json").read_text())
    gen["eos_token_id"] = 0  # back to the base's <|endoftext|>: the model would never stop
    (run / "model" / "generation_config.json").write_text(json.dumps(gen))
    result = _cli("verify", str(run))
    assert result.returncode == 2
    line = " ".join(result.stderr.split())
    assert "model/generation_config.json fails stop parity" in line and "<|im_end|>" in line
    row = _row(_rows(run), "model/generation_config.json", "stop")
    assert row["status"] == "failed" and row["fix"]


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_a_modelfile_template_that_drops_the_system_prompt_is_caught(llama_lora_run, tmp_path):
    if shutil.which("go") is None:
        pytest.skip("Go is not installed (apt-get install golang-go): the Modelfile TEMPLATE cannot be rendered")
    run = _copy_run(llama_lora_run[0], tmp_path)
    modelfile = run / "export" / "Modelfile"
    text = modelfile.read_text()
    dropped = text.replace("{{- range .Messages }}", '{{- range .Messages }}{{ if ne .Role "system" }}', 1) \
                  .replace("<|im_end|>\n{{ end }}", "<|im_end|>\n{{ end }}{{ end }}", 1)
    assert dropped != text
    modelfile.write_text(dropped)
    result = _cli("verify", str(run))
    assert result.returncode == 2, result.stderr[-2000:]
    row = _row(_rows(run), "Ollama Modelfile (Go", "prompt")
    assert row["status"] == "failed" and row["detail"].startswith("system prompt:"), row
