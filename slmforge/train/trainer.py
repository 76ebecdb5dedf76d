"""SFTTrainer plus what a run needs: atomic checkpoints, a count of useful tokens, and on CPU a
loss that projects only the loss-bearing positions through the LM head (train/lean_loss.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers.trainer_utils import rotate_checkpoints
from trl import SFTTrainer

from slmforge.train import checkpoints
from slmforge.train.callbacks import TokenCounter
from slmforge.train.data import RowPackCollator
from slmforge.train.lean_loss import linear_cross_entropy, plain_head


class RunTrainer(SFTTrainer):
    """TRL's SFTTrainer whose checkpoints appear in checkpoints/ only when complete."""

    def __init__(self, *args: Any, counter: TokenCounter, fingerprint: str, lean_loss: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter
        self.run_fingerprint = fingerprint
        self._staging: Path | None = None
        attention = getattr(getattr(self.model, "config", None), "_attn_implementation", None)
        if self.args.packing and self.padding_free and attention != "flash_attention_2":
            # One long row is right for flash-attention's varlen kernel only; sdpa (CPU or CUDA) would attend
            # over the whole row. See RowPackCollator.
            tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
            self.data_collator = RowPackCollator(tokenizer.pad_token_id)
        # CUDA keeps TRL's fused head (Triton scores only loss-bearing positions there) or Liger's;
        # MoE aux losses, label smoothing and custom loss functions need TRL's own path; so do
        # DDP/FSDP/DeepSpeed (--nproc, or fsdp on one process), whose wrappers must see the root module's
        # forward call to sync or gather weights.
        self.lean_loss = (
            lean_loss
            and not self.args.use_liger_kernel
            and self.accelerator.device.type == "cpu"
            and self.accelerator.num_processes == 1
            and not self.is_fsdp_enabled
            and not self.is_deepspeed_enabled
            and not self.aux_loss_enabled
            and self.label_smoother is None
            and self.compute_loss_func is None
        )

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        if not self.lean_loss or return_outputs or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        if not plain_head(causal_lm):
            return super().compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        features = {k: v for k, v in inputs.items() if k != "labels"}
        hidden = causal_lm.base_model(**features, use_cache=False).last_hidden_state
        total, scored = linear_cross_entropy(hidden, causal_lm.get_output_embeddings().weight, inputs["labels"])
        # Same normalisation as the model's loss and TRL's: over the accumulation window when known.
        loss = total / (num_items_in_batch if num_items_in_batch is not None else max(1, scored))
        if mode == "train":
            mask = inputs.get("attention_mask")
            self._total_train_tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

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
