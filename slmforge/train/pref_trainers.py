"""TRL's DPO, ORPO and Reward trainers with the run's atomic checkpoints, token counts and metrics.

The SFT trainer (`trainer.RunTrainer`) gets the same behaviour by subclassing SFTTrainer; these
trainers have other bases, so the checkpoint logic lives here as a mixin over the same
`checkpoints` helpers (staging dir, completion marker, rename, rotation).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from transformers.trainer_utils import rotate_checkpoints
from trl import DPOTrainer, GRPOTrainer, KTOTrainer, RewardTrainer, RLOOTrainer
from trl.experimental.orpo import ORPOTrainer

from slmforge.train import checkpoints
from slmforge.train.callbacks import MetricsJsonl, TokenCounter

# What the preference trainers log beyond loss: how far chosen is ahead of rejected, in training.
PREF_LOG_KEYS = ("rewards/accuracies", "rewards/margins", "eval_rewards/accuracies", "eval_rewards/margins",
                 "accuracy", "eval_accuracy", "margin", "eval_margin", "log_odds_ratio", "nll_loss",
                 "reward", "reward_std", "kl", "completions/mean_length")


class AtomicCheckpoints:
    """Checkpoints appear in checkpoints/ only when complete; counts tokens pushed through."""

    counter: TokenCounter
    run_fingerprint: str
    _staging: Path | None = None

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        if not isinstance(inputs, dict):  # GRPO/RLOO: raw prompts, the tokens come after generation (OnlineTokens)
            return super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]
        # DPO batches carry attention_mask + completion_mask; ORPO and Reward ones chosen_/rejected_ masks.
        masks = [v for k, v in inputs.items() if k.endswith("attention_mask") and hasattr(v, "sum")]
        self.counter.tokens += sum(int(m.sum()) for m in masks)
        completion = inputs.get("completion_mask")
        labels = [v for k, v in inputs.items() if k.endswith("labels") and hasattr(v, "sum")]
        if completion is not None:
            self.counter.loss_tokens += int(completion.sum())
        elif labels:
            self.counter.loss_tokens += sum(int((x != -100).sum()) for x in labels)
        else:  # a reward model scores every token of the conversation
            self.counter.loss_tokens += sum(int(m.sum()) for m in masks)
        return super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]

    def _get_output_dir(self, trial: Any) -> str:
        return str(self._staging) if self._staging is not None else super()._get_output_dir(trial)  # type: ignore[misc]

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        # Same protocol as RunTrainer: write under .staging/, mark complete, rename into place.
        root = Path(self.args.output_dir)  # type: ignore[attr-defined]
        self._staging = root / checkpoints.STAGING
        shutil.rmtree(self._staging, ignore_errors=True)
        try:
            super()._save_checkpoint(model, trial)  # type: ignore[misc]
        finally:
            staging, self._staging = self._staging, None
        state = self.state  # type: ignore[attr-defined]
        checkpoints.commit(staging / f"checkpoint-{state.global_step}", root, self.run_fingerprint)
        shutil.rmtree(staging, ignore_errors=True)
        best = state.best_model_checkpoint
        if best and Path(best).parent == staging:
            state.best_model_checkpoint = str(root / Path(best).name)
        if self.args.should_save:  # type: ignore[attr-defined]
            rotate_checkpoints(output_dir=str(root), save_total_limit=self.args.save_total_limit,  # type: ignore[attr-defined]
                               best_model_checkpoint=state.best_model_checkpoint)


class OnlineTokens:
    """GRPO/RLOO count tokens once completions exist: prompt + completion pass through, completion is trained."""

    counter: TokenCounter

    def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if model.training:
            completion = int(inputs["completion_mask"].sum())
            self.counter.tokens += int(inputs["prompt_mask"].sum()) + completion
            self.counter.loss_tokens += completion
        return super().compute_loss(model, inputs, *args, **kwargs)  # type: ignore[misc]


def _with_run(base: type, *mixins: type) -> type:
    def __init__(self: Any, *args: Any, counter: TokenCounter, fingerprint: str, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self.counter = counter
        self.run_fingerprint = fingerprint
        self._staging = None

    return type(f"Run{base.__name__}", (*mixins, AtomicCheckpoints, base), {"__init__": __init__})


TRAINERS: dict[str, type] = {"dpo": _with_run(DPOTrainer), "orpo": _with_run(ORPOTrainer), "reward": _with_run(RewardTrainer),
                              "kto": _with_run(KTOTrainer),  # KTO unpairs prompt/chosen/rejected rows itself
                              "grpo": _with_run(GRPOTrainer, OnlineTokens), "rloo": _with_run(RLOOTrainer, OnlineTokens)}


class PrefMetricsJsonl(MetricsJsonl):
    """metrics.jsonl lines that also carry the preference trainers' reward accuracy and margin."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        before = self.path.stat().st_size if self.path.is_file() else 0
        super().on_log(args, state, control, logs=logs, **kwargs)
        extra = {k.replace("/", "_"): v for k, v in (logs or {}).items() if k in PREF_LOG_KEYS}
        if not extra or not self.path.is_file() or self.path.stat().st_size == before:
            return
        # Rewrite the line just appended with the extra keys (the base class owns the line's shape).
        with open(self.path, "r+", encoding="utf-8") as f:
            f.seek(before)
            line = json.loads(f.read())
            line.update(extra)
            f.seek(before)
            f.truncate()
            f.write(json.dumps(line) + "\n")
