"""Two `slmforge sweep` processes sharing one study (the local-study and PostgreSQL sweep tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.data import make_pairs


def two_sweeps(tmp_path: Path, model: Path, name: str, sweep: dict, extra_args: list[list[str]]) -> list[set[int]]:
    """Two `slmforge sweep` processes at once on a tiny LoRA recipe (one per entry of extra_args); the trial numbers each ran."""
    raw = {
        "name": name, "model": {"id": str(model)},
        "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl")), "max_length": 64, "num_proc": 1,
                 "split": {"train": 0.7, "val": 0.2, "test": 0.1}},
        "train": {"method": "lora", "max_steps": 2, "batch_size": 4, "precision": "fp32", "eval_steps": 2, "save_steps": 100,
                  "logging_steps": 1},
        "eval": {"enabled": False},
        "sweep": {"pruner": "none", "params": {"train.lr": "loguniform:1e-4:1e-2"}, **sweep},
    }
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "slmforge", "sweep", str(recipe), *args], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in extra_args]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return [{int(n) for n in re.findall(r"trial (\d+): val_loss", err)} for _, err in outs]
