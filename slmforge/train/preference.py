"""`slmforge train` for train.method dpo | orpo | reward, from prepared `preference` data.

Reads top to bottom like sft.py: check → pairs → score before → model → trainer → (resume)
train → score after → save model/ and logs/preference.json. Reuses SFT's resume, precision,
LoRA config, callbacks and model saving; only the TRL trainer and its config differ.

With LoRA (train.pref.adapter, the default) DPO's reference model is the frozen base under the
adapter (TRL disables the adapter for the reference pass), so no second copy is held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.runtime.pair_metrics import PairScore, lm_pair_score, read_pairs, reward_pair_score
from slmforge.runtime.placement import Placement, announce, choose_precision, place
from slmforge.train.callbacks import GracefulStop, RichProgress, TokenCounter, start_metrics_log
from slmforge.train.sft import checkpoint_fingerprint, find_resume_checkpoint, lora_config, save_model, shared_trainer_args, train_until_done_or_stopped

PREFERENCE_METHODS = ("dpo", "orpo", "kto", "reward")


def check_preference_recipe(recipe: Recipe, run: RunDir) -> None:
    if recipe.train.method not in PREFERENCE_METHODS:
        raise SlmforgeError(f"train.method: {recipe.train.method} is not a preference method ({', '.join(PREFERENCE_METHODS)})")
    if recipe.data.format == "unpaired" and recipe.train.method != "kto":
        raise SlmforgeError(f"train.method: {recipe.train.method} needs pairs (data.format: preference); "
                            "data.format: unpaired (good/bad labels) trains with train.method: kto")
    if recipe.data.format not in ("preference", "unpaired"):
        raise SlmforgeError(f"train.method: {recipe.train.method} needs data.format: preference (prompt, chosen, rejected), "
                            f"got {recipe.data.format}; run `slmforge prefs RECIPE` to make pairs")
    if not run.split_file("train").is_file():
        raise SlmforgeError(f"{run.split_file('train')} is missing; run `slmforge prepare RECIPE` first")


def pref_dataset(rows: list[dict[str, Any]]) -> Any:
    """TRL's conversational preference format: prompt turns, then chosen / rejected assistant turns."""
    from datasets import Dataset

    from slmforge.train.kto import is_unpaired, kto_dataset

    if is_unpaired(rows):  # data.format: unpaired, for kto
        return kto_dataset(rows)
    return Dataset.from_list([
        {"prompt": r["messages"], "chosen": [{"role": "assistant", "content": r["chosen"]}],
         "rejected": [{"role": "assistant", "content": r["rejected"]}]}
        for r in rows
    ])


def max_length(recipe: Recipe) -> int:
    return recipe.train.pref.max_length or recipe.data.max_length


def trainer_args(recipe: Recipe, run: RunDir, precision: str, has_eval: bool, cuda: bool) -> Any:
    """The method's TRL config: the keys every Trainer shares (as SFT sets them) plus the method's own."""
    t, p = recipe.train, recipe.train.pref
    common: dict[str, Any] = dict(
        **shared_trainer_args(recipe, run, precision, has_eval, cuda),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        max_length=max_length(recipe),
    )
    if t.method == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common, beta=p.beta, loss_type=[p.loss_type], truncation_mode=p.truncation_mode)
    if t.method == "orpo":
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig(**common, beta=p.beta, max_completion_length=p.max_completion_length)
    if t.method == "kto":
        from trl import KTOConfig

        # Paired rows become one desirable + one undesirable row each, so the default weights 1.0 are balanced.
        return KTOConfig(**common, beta=p.beta, desirable_weight=p.desirable_weight, undesirable_weight=p.undesirable_weight)
    from trl import RewardConfig

    return RewardConfig(**common)


def load_policy(recipe: Recipe, placement: Placement) -> tuple[Any, Any]:
    """As SFT loads its base (fp32 master weights; an adapter's frozen base in the placement's dtype on CUDA):
    a causal LM for dpo/orpo/kto, a one-score sequence classifier for reward."""
    from slmforge.runtime.models import load_tokenizer, local_dir, resolve_source
    from slmforge.runtime.trained import load_base

    if recipe.train.method != "reward":
        return load_base(recipe.model, "full" if recipe.train.pref.adapter == "full" else "lora", placement)
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(recipe.train.seed)  # the score head starts random: same seed, same head, same "before" figure

    tokenizer = load_tokenizer(recipe.model)
    source = resolve_source(recipe.model.id)
    where = local_dir(source) or source.location
    model = AutoModelForSequenceClassification.from_pretrained(where, num_labels=1, dtype=torch.float32,
                                                               trust_remote_code=recipe.model.trust_remote_code)
    model.config.pad_token_id = tokenizer.pad_token_id  # the score is read at the last non-pad token
    return model, tokenizer


def peft_config(recipe: Recipe) -> Any:
    if recipe.train.pref.adapter == "full":
        return None
    config = lora_config(recipe)
    if recipe.train.method == "reward":
        # SEQ_CLS makes peft train and save the new score head along with the adapter.
        config.task_type = "SEQ_CLS"
    return config


def pair_score(recipe: Recipe, model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> PairScore:
    scorer = reward_pair_score if recipe.train.method == "reward" else lm_pair_score
    return scorer(model, tokenizer, rows, batch_size=recipe.train.batch_size, max_length=max_length(recipe))


def train(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Train a dpo / orpo / reward model on the prepared preference pairs; returns the files written."""
    from slmforge.train.pref_trainers import TRAINERS, PrefMetricsJsonl

    check_preference_recipe(recipe, run)
    placement = announce(place(recipe.model), console, run, "train")
    cuda = placement.cuda
    t, p = recipe.train, recipe.train.pref
    train_rows = read_pairs(run.split_file("train"))
    val_rows = read_pairs(run.split_file("val"))
    held_out = read_pairs(run.split_file("test"), p.eval_pairs) or val_rows[: p.eval_pairs]
    if recipe.data.format == "unpaired":  # scored as pairs: a prompt's good answer against its bad one
        from slmforge.train.kto import held_out_pairs

        held_out = held_out_pairs(read_pairs(run.split_file("test")) or val_rows, p.eval_pairs)
    precision = choose_precision(t.precision, placement)
    console.print(
        f"train [bold]{t.method}[/bold] ({p.adapter}) · {len(train_rows):,} pairs, {len(val_rows):,} val, "
        f"{len(held_out):,} held out · beta {p.beta:g}{f' loss {p.loss_type}' if t.method == 'dpo' else ''} · "
        f"precision {precision.name} ({precision.reason}) · batch {t.batch_size} × accum {t.grad_accum} · lr {t.lr:g} {t.scheduler}"
    )
    resume = find_resume_checkpoint(recipe, run, console)

    model, tokenizer = load_policy(recipe, placement)
    before = pair_score(recipe, model, tokenizer, held_out)
    counter = TokenCounter()
    metrics = start_metrics_log(run.logs, resume)
    stop = GracefulStop()
    trainer = TRAINERS[t.method](
        model=model,
        args=trainer_args(recipe, run, precision.name, bool(val_rows), cuda),
        train_dataset=pref_dataset(train_rows),
        eval_dataset=pref_dataset(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config(recipe),
        callbacks=[PrefMetricsJsonl(metrics, counter), RichProgress(console, counter), stop],
        counter=counter,
        fingerprint=checkpoint_fingerprint(recipe),
    )
    train_until_done_or_stopped(trainer, resume, stop, run)
    after = pair_score(recipe, trainer.model, tokenizer, held_out)
    written = save_model(trainer, tokenizer, run)
    summary = run.logs / "preference.json"
    write_json_atomic(summary, {"method": t.method, "held_out": "test" if run.split_file("test").is_file() else "val",
                                "before": before.as_dict(), "after": after.as_dict()})
    console.print(f"chosen over rejected on {after.pairs} held-out pairs: {before.accuracy:.0%} → [bold]{after.accuracy:.0%}[/bold] "
                  f"(mean margin {before.mean_margin:+.2f} → {after.mean_margin:+.2f})")
    console.print(f"model → {run.model} ({'LoRA adapter' if p.adapter == 'lora' else 'full weights'})")
    return written + [metrics, summary]
