"""SFTTrainer plus what a run needs: atomic checkpoints and a count of useful tokens."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers.trainer_utils import rotate_checkpoints
from trl import SFTTrainer

from slmforge.train import checkpoints
from slmforge.train.callbacks import TokenCounter


class RunTrainer(SFTTrainer):
    """TRL's SFTTrainer whose checkpoints appear in checkpoints/ only when complete."""

    def __init__(self, *args: Any, counter: TokenCounter, fingerprint: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter
        self.run_fingerprint = fingerprint
        self._staging: Path | None = None

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        labels = inputs.get("labels")
        if labels is not None:
            # Padding-free batches hold no pad at all; padded ones mark pad with attention_mask 0.
            mask = inputs.get("attention_mask")
            self.counter.tokens += int(mask.sum()) if mask is not None else int(labels.numel())
            self.counter.loss_tokens += int((labels != -100).sum())
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_output_dir(self, trial: Any) -> str:
        return str(self._staging) if self._staging is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        # Trainer writes checkpoint-N/ file by file; a kill in between would leave a checkpoint
        # that looks real and fails (or worse, half-loads) on resume. Write it under .staging/
        # and rename it into place once complete.
        root = Path(self.args.output_dir)
        self._staging = root / checkpoints.STAGING
        shutil.rmtree(self._staging, ignore_errors=True)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            staging, self._staging = self._staging, None
        staged = staging / f"checkpoint-{self.state.global_step}"
        checkpoints.commit(staged, root, self.run_fingerprint)
        shutil.rmtree(staging, ignore_errors=True)
        best = self.state.best_model_checkpoint
        if best and Path(best).parent == staging:
            self.state.best_model_checkpoint = str(root / Path(best).name)
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=str(root),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
            )
