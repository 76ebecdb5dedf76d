"""`slmforge train` on tiny models: LoRA and full outputs that plain transformers/peft load, logs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from rich.console import Console
from typer.testing import CliRunner

from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from slmforge.runtime.memory import MicroBatches, micro_batches
from tests.helpers.data import make_pairs

QUIET = Console(stderr=True, quiet=True)


def write_recipe(tmp_path: Path, model: Path, **train) -> Path:
    raw = {
        "name": "tiny",
        "model": {"id": str(model)},
        "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 80)), "max_length": 64},
        "train": {"max_steps": 6, "batch_size": 8, "lr": 5e-3, "precision": "fp32", "eval_steps": 3, "save_steps": 3, "logging_steps": 1, **train},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def train_run(tmp_path: Path, model: Path, **train) -> Path:
    recipe = load(write_recipe(tmp_path, model, **train))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    return tmp_path / "runs" / "tiny"


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_lora_writes_an_adapter_that_plain_peft_loads_and_that_learned(tmp_path, tiny_llama):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    run = train_run(tmp_path, tiny_llama, method="lora")
    model_dir = run / "model"
    assert (model_dir / "adapter_config.json").is_file() and (model_dir / "adapter_model.safetensors").is_file()
    assert not (model_dir / "config.json").exists()  # an adapter, not a copy of the base
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), str(model_dir))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: non-zero means it trained
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    assert tokenizer.convert_ids_to_tokens(eos) == "<|im_end|>"

    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    train_lines = [x for x in lines if "loss" in x]
    assert [x["step"] for x in train_lines] == [1, 2, 3, 4, 5, 6]
    assert all(x["tokens_per_s"] > 0 for x in train_lines) and max(x["lr"] for x in train_lines) > 0
    assert [x["step"] for x in lines if "eval_loss" in x] == [3, 6]
    assert list((run / "logs").glob("events.out.tfevents.*"))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["train"]["status"] == "complete"
    assert "model/adapter_model.safetensors" in manifest["stages"]["train"]["outputs"]


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_full_fine_tune_writes_weights_plain_transformers_loads_and_they_changed(tmp_path, tiny_qwen2):
    from transformers import AutoModelForCausalLM

    from slmforge.runtime.trained import load_trained

    run = train_run(tmp_path, tiny_qwen2, method="full", save_total_limit=1)
    trained = AutoModelForCausalLM.from_pretrained(run / "model")
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen2)
    changed = [n for n, p in trained.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert changed
    assert [p.name for p in (run / "checkpoints").glob("checkpoint-*")] == ["checkpoint-6"]  # last K=1 kept
    model, _ = load_trained(run / "model", load(tmp_path / "recipe.yaml").model)
    assert not hasattr(model, "peft_config")


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_resuming_with_a_changed_recipe_is_refused_with_what_to_do(tmp_path, tiny_qwen2):
    from slmforge.core.errors import RunDirError

    train_run(tmp_path, tiny_qwen2, method="lora")
    changed = load(tmp_path / "recipe.yaml", ["train.lr=1e-3"])
    with pytest.raises(RunDirError, match="--resume never"):
        run_stages(changed, tmp_path / "runs", ["train"])
    fresh = load(tmp_path / "recipe.yaml", ["train.lr=1e-3", "train.resume=never"])
    run_stages(fresh, tmp_path / "runs", ["train"])  # starts over


def test_training_without_prepared_data_says_to_run_prepare(tmp_path, tiny_qwen2):
    from slmforge.core.errors import RunDirError
    from slmforge.core.rundir import RunDir
    from slmforge.train.sft import train

    recipe = load(write_recipe(tmp_path, tiny_qwen2, method="lora"))
    with pytest.raises(RunDirError, match="slmforge prepare"):
        train(recipe, RunDir(tmp_path / "runs" / "tiny"), QUIET)


def test_report_to_without_its_package_is_one_line_naming_the_key_and_the_pip_command(tmp_path, tiny_qwen2, monkeypatch):
    import sys

    from slmforge.orchestrate.cli import app

    monkeypatch.setitem(sys.modules, "mlflow", None)  # importlib then finds no mlflow, installed or not
    recipe = write_recipe(tmp_path, tiny_qwen2, report_to=["mlflow"])
    run_stages(load(recipe), tmp_path / "runs", ["prepare"])
    result = CliRunner().invoke(app, ["train", str(recipe), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.report_to" in errors[0] and "pip install mlflow" in errors[0]
    assert not (tmp_path / "runs" / "tiny" / "model").exists()


def test_report_to_reaches_training_arguments_and_unknown_loggers_are_refused(tmp_path, tiny_qwen2, monkeypatch):
    from slmforge.core.errors import RecipeError
    from slmforge.core.rundir import RunDir
    from slmforge.train.sft import sft_config

    # An importable `mlflow` (this test does not need the real package: only the config is built).
    (tmp_path / "site" / "mlflow").mkdir(parents=True)
    (tmp_path / "site" / "mlflow" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    recipe = load(write_recipe(tmp_path, tiny_qwen2, report_to=["mlflow", "tensorboard"]))
    run = RunDir(tmp_path / "runs" / "tiny")
    assert sft_config(recipe, run, "fp32", 2, MicroBatches(2, 1), has_eval=False, cuda=False).report_to == ["mlflow"]  # tensorboard: ours, always on
    assert sft_config(load(write_recipe(tmp_path, tiny_qwen2)), run, "fp32", 2, MicroBatches(2, 1), has_eval=False, cuda=False).report_to == []
    with pytest.raises(RecipeError, match="train.report_to: 'wandbb'"):
        sft_config(load(write_recipe(tmp_path, tiny_qwen2, report_to=["wandbb"])), run, "fp32", 2, MicroBatches(2, 1), has_eval=False, cuda=False)


def test_liger_kernel_is_taken_on_cuda_when_installed_refused_clearly_when_on_is_impossible_and_off_wins(tmp_path, tiny_qwen2, monkeypatch):
    # No CUDA and no liger-kernel here: the package's presence is faked (find_spec); only the config is built.
    from slmforge.core.errors import SlmforgeError
    from slmforge.core.rundir import RunDir
    from slmforge.train import sft

    run = RunDir(tmp_path / "runs" / "tiny")
    config = lambda setting, cuda: sft.sft_config(load(write_recipe(tmp_path, tiny_qwen2, liger_kernel=setting)), run, "fp32", 2,  # noqa: E731
                                                  MicroBatches(2, 1), has_eval=False, cuda=cuda)
    monkeypatch.setattr(sft, "_has", lambda module: module == "liger_kernel")
    assert config("auto", cuda=True).use_liger_kernel is True
    assert config("off", cuda=True).use_liger_kernel is False
    assert config("auto", cuda=False).use_liger_kernel is False  # Triton kernels: never on a CPU
    with pytest.raises(SlmforgeError, match="train.liger_kernel: on needs CUDA"):
        config("on", cuda=False)
    monkeypatch.setattr(sft, "_has", lambda module: False)
    assert config("auto", cuda=True).use_liger_kernel is False
    with pytest.raises(SlmforgeError, match=r"train.liger_kernel: on needs the liger-kernel package \(pip install liger-kernel\)"):
        config("on", cuda=True)


def test_liger_on_without_cuda_stops_train_before_the_model_loads(tmp_path, tiny_qwen2):
    from slmforge.orchestrate.cli import app

    recipe = write_recipe(tmp_path, tiny_qwen2, liger_kernel="on")
    run_stages(load(recipe), tmp_path / "runs", ["prepare"])
    result = CliRunner().invoke(app, ["train", str(recipe), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.liger_kernel: on needs CUDA" in errors[0]
    assert not (tmp_path / "runs" / "tiny" / "model").exists()


def test_micro_batches_split_a_step_into_equal_parts_that_fit_the_token_budget():

    assert micro_batches(8, 128, 256) == MicroBatches(2, 4)
    assert micro_batches(6, 64, 256) == MicroBatches(3, 2)  # 6 rows × 64 = 384 tokens: 2 passes of 3 rows
    assert micro_batches(7, 128, 256) == MicroBatches(1, 7)  # prime: equal parts only of one row
    assert micro_batches(2, 128, 256) == MicroBatches(2, 1)  # fits: one pass
    assert micro_batches(8, 512, 256) == MicroBatches(1, 8)  # a row above the budget still trains, alone
    assert micro_batches(8, 128, None) == MicroBatches(8, 1)  # 0 / CUDA auto: never split


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_micro_batches_train_the_same_steps_as_the_whole_batch_at_once(tmp_path, tiny_qwen2):
    """Splitting a step into forward passes of ≤ 64 tokens (one packed row) changes memory, not training.

    Same examples per optimizer step (the sampler's order does not depend on the per-device batch) and
    the loss normalised over the accumulation window: losses and gradient norms agree to 1e-5 relative."""
    (tmp_path / "whole").mkdir(), (tmp_path / "split").mkdir()
    whole = train_run(tmp_path / "whole", tiny_qwen2, method="full", max_steps=4, micro_batch_tokens=0, eval_steps=2)
    split = train_run(tmp_path / "split", tiny_qwen2, method="full", max_steps=4, micro_batch_tokens=64, eval_steps=2)

    def logged(run: Path, key: str) -> list[float]:
        return [x[key] for x in map(json.loads, (run / "logs" / "metrics.jsonl").read_text().splitlines()) if key in x]

    assert len(logged(whole, "loss")) == 4 and logged(whole, "loss")[-1] < logged(whole, "loss")[0]
    rows = {run: json.loads((run / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())["train_batch_size"]
            for run in (whole, split)}
    assert rows[split] == 1 < rows[whole]  # the split really ran one packed row per forward pass
    for key in ("loss", "grad_norm", "eval_loss"):
        assert logged(split, key) == pytest.approx(logged(whole, key), rel=1e-5), key
