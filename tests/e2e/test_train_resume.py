"""Never lose work: a run killed with SIGKILL resumes exactly; a half-written checkpoint is skipped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.data import make_pairs


def metrics(run_root: Path) -> list[dict[str, Any]]:
    path = run_root / "logs" / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

# The child trains and SIGKILLs itself at a chosen point: a real kill, at a deterministic step.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from slmforge.train import checkpoints
    from slmforge.train.trainer import RunTrainer

    kill_step, where = int(sys.argv[2]), sys.argv[3]
    if where == "save":
        commit = checkpoints.commit
        def commit_then_die(staged, root, fp):
            if staged.name == f"checkpoint-{kill_step}":
                os.kill(os.getpid(), signal.SIGKILL)  # files written to staging, never renamed
            return commit(staged, root, fp)
        checkpoints.commit = commit_then_die
    elif kill_step > 0:
        step, sent = RunTrainer.training_step, []
        def step_then_die(self, *args, **kwargs):
            if self.state.global_step == kill_step and not sent:  # once: a step runs one training_step per micro-batch
                sent.append(True)
                os.kill(os.getpid(), signal.SIGTERM if where == "term" else signal.SIGKILL)
            return step(self, *args, **kwargs)
        RunTrainer.training_step = step_then_die
    from slmforge.orchestrate.cli import main
    sys.argv = ["slmforge", "train", sys.argv[1]]
    main()
    """
)


def child(tmp_path: Path, recipe: Path, kill_step: int = 0, where: str = "step") -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, str(script), str(recipe), str(kill_step), where], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(root)})


def write_recipe(tmp_path: Path, model: Path, method: str) -> Path:
    raw = {
        "name": "resume",
        "model": {"id": str(model)},
        "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 60)), "max_length": 64},
        "train": {"method": method, "max_steps": 16, "batch_size": 6, "lr": 2e-3, "precision": "fp32",
                  "save_steps": 4, "eval_steps": 8, "logging_steps": 1, "lora": {"dropout": 0.1},
                  # one packed row per forward pass: resume must also land on the right micro-batch of a step
                  "micro_batch_tokens": 64},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_logs_the_same_losses(tmp_path, tiny_qwen2):
    # LoRA with dropout: resuming must restore data order, RNG (dropout masks), optimizer and scheduler.
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    ref_dir.mkdir(), cut_dir.mkdir()
    reference = child(ref_dir, write_recipe(ref_dir, tiny_qwen2, "lora"))
    assert reference.returncode == 0, reference.stderr[-3000:]

    recipe = write_recipe(cut_dir, tiny_qwen2, "lora")
    killed = child(cut_dir, recipe, kill_step=10)
    assert killed.returncode == -signal.SIGKILL
    assert max(r["step"] for r in metrics(cut_dir / "runs" / "resume")) == 10
    resumed = child(cut_dir, recipe)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-8" in resumed.stderr

    want = {r["step"]: r["loss"] for r in metrics(ref_dir / "runs" / "resume") if "loss" in r}
    got = {r["step"]: r["loss"] for r in metrics(cut_dir / "runs" / "resume") if "loss" in r}
    assert sorted(got) == list(range(1, 17))  # steps 9-10 of the killed run were dropped and relogged once
    for step in range(9, 17):
        assert got[step] == pytest.approx(want[step], abs=1e-4), step


@pytest.mark.slow
def test_kill_during_save_leaves_no_checkpoint_and_resume_uses_the_previous_one(tmp_path, tiny_qwen2):
    recipe = write_recipe(tmp_path, tiny_qwen2, "full")
    killed = child(tmp_path, recipe, kill_step=12, where="save")
    assert killed.returncode == -signal.SIGKILL
    ckpts = tmp_path / "runs" / "resume" / "checkpoints"
    assert not (ckpts / "checkpoint-12").exists() and (ckpts / ".staging" / "checkpoint-12").exists()
    resumed = child(tmp_path, recipe)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "staging leftover" in resumed.stderr and "resuming from" in resumed.stderr
    assert "checkpoint-8" in resumed.stderr
    assert (tmp_path / "runs" / "resume" / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_sigterm_finishes_the_step_saves_a_checkpoint_and_exits_with_a_clear_line(tmp_path, tiny_qwen2):
    stopped = child(tmp_path, write_recipe(tmp_path, tiny_qwen2, "lora"), kill_step=5, where="term")
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    assert "SIGTERM: stopped at step 6" in stopped.stderr and "Traceback" not in stopped.stderr
    assert (tmp_path / "runs" / "resume" / "checkpoints" / "checkpoint-6" / "slmforge_complete.json").is_file()
