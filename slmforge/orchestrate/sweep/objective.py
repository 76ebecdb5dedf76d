"""Where a trial's objective comes from: files the pipeline already writes, read back after the trial.

val_loss / eval_loss: the last eval_loss in logs/metrics.jsonl (train stage); train_loss: the last
training loss there. Any other name is a metric of eval/results.json: `rouge_l` means
models.final.rouge_l; a dotted path (models.final.bleu, baselines.mean.mae) is read as written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import LOSS_OBJECTIVES

_METRICS_JSONL = {"val_loss": "eval_loss", "eval_loss": "eval_loss", "train_loss": "loss"}


def needs_eval(objective: str) -> bool:
    """True when the objective is read from the eval stage (so trials must run it)."""
    return objective not in LOSS_OBJECTIVES


def read_objective(run_root: Path, objective: str) -> float:
    """The objective's value in one finished trial directory; SlmforgeError naming the file otherwise."""
    if objective in _METRICS_JSONL:
        key = _METRICS_JSONL[objective]
        path = run_root / "logs" / "metrics.jsonl"
        values = [line[key] for line in _jsonl(path) if key in line]
        if not values:
            hint = "set train.eval_steps <= the steps trained and give data.split.val a share" if key == "eval_loss" else "lower train.logging_steps"
            raise SlmforgeError(f"{path}: no {key} logged; {hint}")
        return float(values[-1])
    path = run_root / "eval" / "results.json"
    if not path.is_file():
        raise SlmforgeError(f"{path}: not found; the eval stage did not run (is eval.enabled false?)")
    results = json.loads(path.read_text(encoding="utf-8"))
    dotted = objective if "." in objective else f"models.final.{objective}"
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(k for k, v in results.get("models", {}).get("final", {}).items() if isinstance(v, (int, float))))
            raise SlmforgeError(f"sweep.objective: {objective}: {dotted} is not in {path}; metrics there: {known}")
        node = node[part]
    if not isinstance(node, (int, float)) or isinstance(node, bool) or math.isnan(float(node)):
        raise SlmforgeError(f"sweep.objective: {objective}: {dotted} in {path} is not a number ({node!r})")
    return float(node)


def eval_losses(run_root: Path) -> list[tuple[int, float]]:
    """(step, eval_loss) pairs logged so far: the intermediate values a pruner judges."""
    return [(int(line["step"]), float(line["eval_loss"])) for line in _jsonl(run_root / "logs" / "metrics.jsonl") if "eval_loss" in line]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
