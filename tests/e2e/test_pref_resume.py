"""DPO never loses work either: a run killed with SIGKILL resumes exactly, like SFT (test_train_resume.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from pref_helpers import write_rule_pairs  # noqa: E402

# The child trains and SIGKILLs itself at a chosen optimizer step: a real kill, at a deterministic point.
# The preference trainers share AtomicCheckpoints.training_step, so that is where the kill goes.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from slmforge.train.pref_trainers import AtomicCheckpoints

    kill_step = int(sys.argv[2])
    if kill_step > 0:
        step = AtomicCheckpoints.training_step
        def step_then_die(self, *args, **kwargs):
            if self.state.global_step == kill_step:
                os.kill(os.getpid(), signal.SIGKILL)
            return step(self, *args, **kwargs)
        AtomicCheckpoints.training_step = step_then_die
    from slmforge.cli import main
    sys.argv = ["slmforge", "train", sys.argv[1]]
    main()
    """
)


def child(cwd: Path, recipe: Path, kill_step: int = 0) -> subprocess.CompletedProcess:
    script = cwd / "child.py"
    script.write_text(CHILD)
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, str(script), str(recipe), str(kill_step)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})


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
