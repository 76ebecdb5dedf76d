"""Trainer callbacks: metrics.jsonl, a rich progress bar, and SIGINT/SIGTERM → save and stop."""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from transformers import TrainerCallback

from slmforge.core.errors import RecipeError
from slmforge.core.sections import REPORTERS
from slmforge.runtime.progress import progress

# train.report_to name → the module transformers' callback imports (TensorBoard is always on: ours).

@dataclass
class TokenCounter:
    """Tokens the trainer has pushed through since this process started (filled by the trainer)."""

    tokens: int = 0  # non-pad tokens
    loss_tokens: int = 0  # tokens that carry loss: the useful ones
    started: float = field(default_factory=time.perf_counter)

    def reset(self) -> None:
        """Start the clock when training starts (model loading and packing are not training)."""
        self.tokens = self.loss_tokens = 0
        self.started = time.perf_counter()

    def rates(self) -> tuple[float, float]:
        elapsed = max(1e-9, time.perf_counter() - self.started)
        return self.tokens / elapsed, self.loss_tokens / elapsed


def report_targets(names: list[str]) -> list[str] | str:
    """train.report_to as TrainingArguments.report_to, checked before training starts.

    Without this a missing package surfaced as a RuntimeError traceback from inside Trainer's
    constructor (transformers' MLflowCallback), after the model had loaded.
    """
    import importlib.util

    targets = []
    for name in names:
        if name == "tensorboard":
            continue  # already written to logs/ by our own TensorBoard callback
        module = REPORTERS[name]  # the recipe refused unknown names when it loaded
        if importlib.util.find_spec(module) is None:
            raise RecipeError(f"train.report_to: {name} needs the {module} package: pip install {module.replace('_', '-')} (or remove it from train.report_to)")
        targets.append(name)
    return targets or "none"


def truncate_metrics(path: Path, after_step: int) -> None:
    """Drop lines logged after `after_step`: a resumed run logs those steps again."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line).get("step", 0) <= after_step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def start_metrics_log(logs: Path, resume: str | None) -> Path:
    """logs/metrics.jsonl for a run about to train: emptied for a fresh start, cut back to the
    checkpoint's step when resuming (so no step appears twice)."""
    from slmforge.train.checkpoints import step_of

    path = logs / "metrics.jsonl"
    logs.mkdir(parents=True, exist_ok=True)
    if resume is None:
        path.write_text("", encoding="utf-8")  # exists even when a short run logs nothing (it is a stage output)
    else:
        truncate_metrics(path, step_of(Path(resume)))
    return path


class MetricsJsonl(TrainerCallback):
    """One JSON line per log or eval step: step, loss / eval_loss, lr, tokens/s."""

    def __init__(self, path: Path, counter: TokenCounter) -> None:
        self.path = path
        self.counter = counter

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.counter.reset()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs or "train_runtime" in logs:
            return
        tokens_s, useful_s = self.counter.rates()
        # time: wall clock (Unix seconds), so a reader can tell seconds per step and an ETA from the file alone.
        line: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "time": round(time.time(), 3)}
        for key in ("loss", "eval_loss", "grad_norm"):
            if key in logs:
                line[key] = logs[key]
        if "learning_rate" in logs:
            line["lr"] = logs["learning_rate"]
        if "loss" in logs:
            line["tokens_per_s"] = round(tokens_s, 1)
            line["useful_tokens_per_s"] = round(useful_s, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


class RichProgress(TrainerCallback):
    """step / total, last loss, useful tokens/s, ETA."""

    def __init__(self, console: Console, counter: TokenCounter) -> None:
        self.console = console
        self.counter = counter
        self.progress: Any = None
        self.task: Any = None
        self.loss = float("nan")

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = progress(
            self.console, TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} useful tok/s"), TimeRemainingColumn(), units={"tps": "useful tok/s"},
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, loss="-", tps="-")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.loss = logs["loss"]
        if logs and "eval_loss" in logs and self.progress is not None:
            self.progress.console.print(f"step {state.global_step}: eval_loss {logs['eval_loss']:.4f}")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            _, useful = self.counter.rates()
            # Before train.logging_steps there is no loss to show yet: a dash, not "nan" (which reads as a diverged run).
            loss = f"{self.loss:.4f}" if not math.isnan(self.loss) else f"- (first at step {args.logging_steps})"
            self.progress.update(self.task, completed=state.global_step, loss=loss, tps=f"{useful:,.0f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class GracefulStop(TrainerCallback):
    """SIGINT/SIGTERM: finish the current step, save a checkpoint, stop. A second signal aborts at once."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # asked twice: the user wants out now
            self._restore()
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread (e.g. inside a server): no handlers
            self._previous = {}

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.signal is not None:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._restore()
