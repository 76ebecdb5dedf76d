"""`slmforge train`: supervised fine-tuning (full, LoRA, QLoRA) from a prepared run directory.

Reads top to bottom: check → data → model → trainer → (resume) train → save model/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.errors import RunDirError, SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, fingerprint
from slmforge.runtime.memory import MicroBatches, micro_batch_budget, micro_batches
from slmforge.runtime.placement import announce, choose_precision, place
from slmforge.runtime.trained import load_base
from slmforge.train import checkpoints
from slmforge.train.callbacks import GracefulStop, MetricsJsonl, RichProgress, TokenCounter, report_targets, start_metrics_log
from slmforge.train.data import load_split, packs_per_step, token_stats

SFT_METHODS = ("full", "lora", "qlora")
# Train keys that change neither the weights nor the data order: a checkpoint stays resumable.
_RESUME_NEUTRAL = {"resume", "eval_steps", "save_steps", "save_total_limit", "logging_steps", "early_stopping_patience", "report_to",
                   "distributed"}


class TrainingInterrupted(SlmforgeError):
    """SIGINT/SIGTERM stopped training after saving a checkpoint."""


def check_method(recipe: Recipe) -> None:
    method = recipe.train.method
    if method not in SFT_METHODS:
        raise SlmforgeError(f"train.method: {method} is not trained by `slmforge train` yet; use full, lora or qlora")


def checkpoint_fingerprint(recipe: Recipe) -> str:
    train = recipe.train.model_dump(mode="json", exclude=_RESUME_NEUTRAL | {"batch_size", "grad_accum"})
    # The global batch, not how `train --nproc N` split it: a checkpoint of N processes resumes on any number.
    train["global_batch"] = recipe.train.batch_size * recipe.train.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
    return fingerprint({"model": recipe.model.model_dump(mode="json"), "data": recipe.data.model_dump(mode="json"), "train": train})


def find_resume_checkpoint(recipe: Recipe, run: RunDir, console: Console) -> str | None:
    """The checkpoint to continue from (train.resume: auto | never | a checkpoint path), skipping broken ones."""
    setting = recipe.train.resume
    if setting == "never":
        if run.checkpoints.exists():
            console.print(f"resume never: removing {run.checkpoints}")
            shutil.rmtree(run.checkpoints)
        return None
    if setting != "auto":
        path = Path(setting)
        problem = checkpoints.check(path) if path.is_dir() else "not a directory"
        if problem:
            raise RunDirError(f"train.resume: {path}: {problem}; pass --resume auto or a complete checkpoint-N directory")
        return str(path)
    found = checkpoints.scan(run.checkpoints)
    for path, problem in found.broken:
        console.print(f"[yellow]skipping {path}: {problem}[/yellow]")
    checkpoints.discard([p for p, _ in found.broken])
    latest = found.latest
    if latest is None:
        return None
    if checkpoints.fingerprint_of(latest) != checkpoint_fingerprint(recipe):
        raise RunDirError(
            f"{latest} was trained with a different model/data/train recipe; "
            "pass --resume never to start over (deletes checkpoints/) or restore the recipe"
        )
    if (latest / "pytorch_model_fsdp.bin").is_file() and os.environ.get("ACCELERATE_USE_FSDP", "false") != "true":
        # transformers resumes an FSDP checkpoint only under FSDP (it raises a ValueError otherwise).
        raise RunDirError(f"{latest} was saved by FSDP (consolidated weights, pytorch_model_fsdp.bin) and resumes only under FSDP: "
                          "keep train.distributed=fsdp and run slmforge train RECIPE (any --nproc, it launches FSDP), or --resume never to start over")
    console.print(f"resuming from [bold]{latest}[/bold]")
    return str(latest)


def train_until_done_or_stopped(trainer: Any, resume: str | None, stop: GracefulStop, run: RunDir) -> None:
    """Train (from `resume` when given). On SIGINT/SIGTERM the step finishes, a checkpoint is saved
    and the user is told how to go on; every method (SFT, preference, GRPO) ends its run this way."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our bar and metrics.jsonl replace the dict dumps
    trainer.train(resume_from_checkpoint=resume)
    if stop.signal is not None:
        raise TrainingInterrupted(
            f"{stop.signal}: stopped at step {trainer.state.global_step}, checkpoint saved in {run.checkpoints}; "
            "run the same command again to resume"
        )


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends an assistant turn under the chat template (what generation must stop on)."""
    from slmforge.runtime.prompts import end_of_turn_token

    return tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))


def lora_config(recipe: Recipe) -> Any:
    from peft import LoraConfig

    lora = recipe.train.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
                      task_type="CAUSAL_LM", bias="none")


def shared_trainer_args(recipe: Recipe, run: RunDir, precision: str, has_eval: bool, cuda: bool) -> dict[str, Any]:
    """TrainingArguments every method sets the same way from the recipe (SFT, DPO, ORPO, reward)."""
    t = recipe.train
    return dict(
        output_dir=str(run.checkpoints),
        gradient_accumulation_steps=t.grad_accum,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.lr,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float < 1 is a share of the steps
        weight_decay=t.weight_decay,
        gradient_checkpointing=t.gradient_checkpointing,  # TRL's preference configs default it on
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        report_to=report_targets(t.report_to),
        disable_tqdm=True,  # our rich bar shows useful tokens/s
        dataset_num_proc=None,  # a prepared Parquet is fast to pack; a pool costs more than it saves
    )


def plan_micro_batches(recipe: Recipe, model: Any, train_set: Any, packs: int, precision: str, cuda: bool) -> MicroBatches:
    """How the rows of one step are split into forward passes (train.micro_batch_tokens)."""
    from slmforge.runtime.memory import arch_from_config, micro_budget

    try:
        budget = micro_budget(recipe, arch_from_config(model.config.to_dict()), cuda, 2 if precision in ("bf16", "fp16") else 4)
    except (KeyError, TypeError):  # a config without the usual decoder fields: auto falls back to a token count
        budget = micro_batch_budget(recipe, cuda, None)
    t = recipe.train
    # Packed rows fill up to max_length; unpacked batches pad to their longest example.
    row_tokens = recipe.data.max_length if t.packing else max((len(ids) for ids in train_set["input_ids"]), default=1)
    return micro_batches(packs if t.packing else t.batch_size, row_tokens, budget)


def sft_config(recipe: Recipe, run: RunDir, precision: str, packs: int, micro: MicroBatches, has_eval: bool, cuda: bool) -> Any:
    """TRL's SFTConfig for the recipe; `micro`: the rows per forward pass and passes per step."""
    from trl import SFTConfig

    t = recipe.train
    liger = use_liger(t.liger_kernel, cuda)
    shared = shared_trainer_args(recipe, run, precision, has_eval, cuda)
    shared["gradient_accumulation_steps"] = t.grad_accum * micro.splits
    return SFTConfig(
        **shared,
        max_length=recipe.data.max_length,
        packing=t.packing,
        packing_strategy="bfd",  # best-fit-decreasing packs + position_ids: no attention across examples
        per_device_train_batch_size=micro.rows,
        # Eval keeps the whole batch: no activations are saved there, and eval_loss (a mean of batch means)
        # stays comparable between runs with and without micro-batches.
        per_device_eval_batch_size=micro.step_rows,
        optim="adamw_torch_fused",  # fused AdamW runs on CPU (torch >= 2.4) and CUDA
        metric_for_best_model="eval_loss" if has_eval and t.early_stopping_patience else None,
        greater_is_better=False if has_eval and t.early_stopping_patience else None,
        use_liger_kernel=liger,
        completion_only_loss=None,  # labels come precomputed from prepare and are used as is
    )


def use_liger(setting: str, cuda: bool) -> bool:
    """train.liger_kernel (auto | on | off): Liger's kernels are Triton, so CUDA only."""
    available = cuda and _has("liger_kernel")
    if setting == "on" and not available:
        need = "the liger-kernel package (pip install liger-kernel)" if cuda else "CUDA (Liger's kernels are Triton); this machine has none"
        raise SlmforgeError(f"train.liger_kernel: on needs {need}; use --set train.liger_kernel=auto")
    return available and setting != "off"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def save_model(trainer: Any, tokenizer: Any, run: RunDir) -> list[Path]:
    """Write model/ (adapter or full weights, tokenizer, generation config) with one final rename."""
    tmp = run.model.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    eot = end_of_turn_id(tokenizer)
    if tokenizer.eos_token_id != eot:
        # A base model whose eos is not the template's end of turn (Qwen base: <|endoftext|> vs
        # <|im_end|>): the model learnt to end turns with the template's token, so that token is the
        # eos every runtime reads (tokenizer, config, generation config, GGUF, Modelfile).
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eot)
        if (tmp / "config.json").is_file():
            config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
            config["eos_token_id"] = eot
            (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(str(tmp))
    model = trainer.model
    gen = model.generation_config if getattr(model, "generation_config", None) is not None else None
    if gen is None:
        from transformers import GenerationConfig

        gen = GenerationConfig()
    gen.eos_token_id = eot
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(tmp))
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle nobody needs to load the model
    if run.model.exists():
        shutil.rmtree(run.model)
    os.replace(tmp, run.model)
    return sorted(p for p in run.model.rglob("*") if p.is_file())


def train(recipe: Recipe, run: RunDir, console: Console, extra_callbacks: tuple[Any, ...] = ()) -> list[Path]:
    """Train the recipe's model on its prepared data; returns the files written under model/ and logs/metrics.jsonl.

    `extra_callbacks`: more TrainerCallbacks (the sweep's pruner), run after ours so metrics.jsonl is written first.
    """
    from torch.utils.tensorboard import SummaryWriter
    from transformers import EarlyStoppingCallback
    from transformers.integrations import TensorBoardCallback

    check_method(recipe)
    placement = announce(place(recipe.model, four_bit=recipe.train.method == "qlora"), console, run, "train")
    cuda = placement.cuda
    use_liger(recipe.train.liger_kernel, cuda)  # an impossible `on` fails here, before a model loads
    train_set, val_set = load_split(run, "train"), _optional_split(run, "val")
    stats = token_stats(train_set)
    precision = choose_precision(recipe.train.precision, placement)
    packs = packs_per_step(recipe.train.batch_size, [len(ids) for ids in train_set["input_ids"]], recipe.data.max_length)
    t = recipe.train
    console.print(
        f"train [bold]{t.method}[/bold] · {stats.examples:,} examples, {stats.tokens:,} tokens ({stats.loss_tokens:,} with loss) · "
        f"precision {precision.name} ({precision.reason}) · "
        + (f"packing: {packs} packs of ≤{recipe.data.max_length} tokens ≈ {t.batch_size} examples" if t.packing else f"batch {t.batch_size}")
        + f" × accum {t.grad_accum} per step · lr {t.lr:g} {t.scheduler}"
    )
    resume = find_resume_checkpoint(recipe, run, console)

    model, tokenizer = load_base(recipe.model, t.method, placement)
    micro = plan_micro_batches(recipe, model, train_set, packs, precision.name, cuda)
    if micro.splits > 1:
        console.print(f"micro-batches: {micro.rows} rows per forward pass × {micro.splits} per step (train.micro_batch_tokens "
                      f"{t.micro_batch_tokens}: activations of one micro-batch at a time; same examples and loss per step)")
    counter = TokenCounter()
    metrics = start_metrics_log(run.logs, resume)
    stop = GracefulStop()
    callbacks = [MetricsJsonl(metrics, counter), RichProgress(console, counter), stop,
                 TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run.logs)))]
    if t.early_stopping_patience and val_set is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    callbacks.extend(extra_callbacks)

    from slmforge.train.trainer import RunTrainer

    trainer = RunTrainer(
        model=model,
        args=sft_config(recipe, run, precision.name, packs, micro, val_set is not None, cuda),
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        peft_config=lora_config(recipe) if t.method in ("lora", "qlora") else None,
        callbacks=callbacks,
        counter=counter,
        fingerprint=checkpoint_fingerprint(recipe),
    )
    train_until_done_or_stopped(trainer, resume, stop, run)
    written = save_model(trainer, tokenizer, run)
    console.print(f"model → {run.model} ({'LoRA adapter' if t.method != 'full' else 'full weights'})")
    return written + [metrics]


def _optional_split(run: RunDir, split: str) -> Any:
    if not run.tokenized_file(split).is_file():
        return None
    dataset = load_split(run, split)
    return dataset if len(dataset) else None
