"""DPO never loses work either: a run killed with SIGKILL resumes exactly, like SFT (test_train_resume.py)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.prefs import train_in_child, write_rule_pairs


def child(cwd: Path, recipe: Path, kill_step: int = 0) -> subprocess.CompletedProcess:
    return train_in_child(cwd, recipe, kill_step)


def write_recipe(cwd: Path, model: Path) -> Path:
    raw = {
        "name": "resume",
        "model": {"id": str(model)},
        "data": {"path": str(write_rule_pairs(cwd / "pairs.jsonl", n=80)), "format": "preference", "max_length": 64,
                 "split": {"train": 0.75, "val": 0.0, "test": 0.25}},
        # LoRA with dropout: resuming must restore data order, RNG (dropout masks), optimizer and scheduler.
        "train": {"method": "dpo", "max_steps": 12, "batch_size": 6, "lr": 5e-3, "precision": "fp32", "warmup_ratio": 0.0,
                  "save_steps": 4, "eval_steps": 100, "logging_steps": 1, "lora": {"dropout": 0.1},
                  "pref": {"eval_pairs": 8}},
    }
    path = cwd / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def metrics(run_root: Path) -> list[dict[str, Any]]:
    path = run_root / "logs" / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_dpo_sigkill_after_a_checkpoint_then_resume_logs_the_same_losses(tmp_path, tiny_qwen2):
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    ref_dir.mkdir(), cut_dir.mkdir()
    reference = child(ref_dir, write_recipe(ref_dir, tiny_qwen2))
    assert reference.returncode == 0, reference.stderr[-3000:]

    recipe = write_recipe(cut_dir, tiny_qwen2)
    killed = child(cut_dir, recipe, kill_step=6)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(r["step"] for r in metrics(cut_dir / "runs" / "resume")) == 6
    assert not (cut_dir / "runs" / "resume" / "logs" / "preference.json").exists()
    resumed = child(cut_dir, recipe)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-4" in resumed.stderr

    want = {r["step"]: r for r in metrics(ref_dir / "runs" / "resume") if "loss" in r}
    got = {r["step"]: r for r in metrics(cut_dir / "runs" / "resume") if "loss" in r}
    assert sorted(got) == list(range(1, 13))  # steps 5-6 of the killed run were dropped and relogged once
    assert want[12]["loss"] != pytest.approx(want[1]["loss"], abs=1e-3)  # it trained: the losses move
    for step in range(5, 13):
        assert got[step]["loss"] == pytest.approx(want[step]["loss"], abs=1e-4), step
        assert got[step]["rewards_margins"] == pytest.approx(want[step]["rewards_margins"], abs=1e-4), step
    # The held-out after-figures come from the same weights too.
    ref_sum = json.loads((ref_dir / "runs" / "resume" / "logs" / "preference.json").read_text())
    cut_sum = json.loads((cut_dir / "runs" / "resume" / "logs" / "preference.json").read_text())
    assert cut_sum["after"]["mean_margin"] == pytest.approx(ref_sum["after"]["mean_margin"], abs=1e-3)
