"""A synthetic preference task with one clear rule, and a recipe that trains on it.

Rule: the chosen reply ends with "!", the rejected one with ".". Bodies are three random
single-token nouns for both (different words, same token count), so a random model's
log-probability margin is noise around zero (~50 % before) and only the rule can lift it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import yaml

NOUNS = "cat cheese corn eggs farmer fox goat mouse penny pot stove sugar water worm".split()


def write_rule_pairs(path: Path, n: int = 160, seed: int = 0) -> Path:
    rnd = random.Random(seed)

    def body() -> str:
        return "The " + " ".join(rnd.choice(NOUNS) for _ in range(3))

    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            prompt = f"Tell me about the {rnd.choice(NOUNS)} number {i}."
            f.write(json.dumps({"prompt": prompt, "chosen": body() + "!", "rejected": body() + "."}) + "\n")
    return path


def write_pref_recipe(tmp_path: Path, model: Path, method: str, **train) -> Path:
    raw = {
        "name": method,
        "model": {"id": str(model)},
        "data": {"path": str(write_rule_pairs(tmp_path / "pairs.jsonl")), "format": "preference", "max_length": 64,
                 "split": {"train": 0.75, "val": 0.0, "test": 0.25}},
        "train": {"method": method, "max_steps": 16, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "warmup_ratio": 0.0,
                  "eval_steps": 100, "save_steps": 100, "logging_steps": 4, **train},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# `slmforge train RECIPE` in a child process that SIGKILLs itself at a chosen optimizer step: a real
# kill at a deterministic point. The preference and GRPO trainers share AtomicCheckpoints.training_step.
KILL_CHILD = """
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
from slmforge.orchestrate.cli import main
sys.argv = ["slmforge", "train", sys.argv[1]]
main()
"""


def train_in_child(cwd: Path, recipe: Path, kill_step: int = 0) -> subprocess.CompletedProcess:
    """Train `recipe` from `cwd` (kill_step 0: to the end); cwd is on the path for reward modules."""
    (cwd / "child.py").write_text(KILL_CHILD)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{cwd}"}
    return subprocess.run([sys.executable, "child.py", str(recipe), str(kill_step)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
