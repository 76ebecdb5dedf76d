"""The align stage: preference training (align.method) from the SFT model, on prefs/pairs.jsonl.

    model/ (SFT adapter) ─merge once→ align/sft_merged/ ─┐
    prefs/pairs.jsonl ─prepare (split)→ align/data/ ──────┴→ preference trainer → align/model/

The trainer is the one `train.method: dpo` uses, run on a sub run directory (runs/<name>/align/)
with model.id = the merged SFT weights. So DPO starts from the SFT model, and with LoRA its
reference is those frozen SFT weights under the adapter (no second copy in memory); checkpoints,
exact resume, metrics.jsonl and the before/after held-out score (align/logs/preference.json)
come with it. Why merge rather than stack a second adapter: the reference of a LoRA DPO is "the
model with the adapter disabled", which must be the SFT model, not the original base.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console

from slmforge.core.errors import RunDirError
from slmforge.core.recipe import Recipe, validate
from slmforge.core.rundir import RunDir, sha256_file

MERGED = "sft_merged"
_STAMP = ".merged_from"  # sha256 of the adapter merged in: a retrained SFT model is merged again


def sft_base(recipe: Recipe, run: RunDir, console: Console) -> Path:
    """A plain model directory holding the SFT weights: model/ itself when full, else the merge of its adapter."""
    if not run.model.is_dir():
        raise RunDirError(f"{run.model}: no SFT model to align; run `slmforge run RECIPE` (train comes before align)")
    adapter = run.model / "adapter_model.safetensors"
    if not adapter.is_file():
        # Full fine-tune: already a plain model directory. A merge left by an earlier LoRA run
        # would be taken for the base by RunDir.final_model: remove it.
        shutil.rmtree(run.aligned().root / MERGED, ignore_errors=True)
        return run.model
    out = run.aligned().root / MERGED
    stamp = sha256_file(adapter)
    if (out / _STAMP).is_file() and (out / _STAMP).read_text(encoding="utf-8") == stamp:
        return out
    from slmforge.runtime.placement import announce, place
    from slmforge.runtime.trained import load_final

    console.print(f"align: merging the SFT adapter {run.model} into its base → {out}")
    # fp32: these are the starting (and with LoRA the reference) weights of preference training.
    placement = announce(place(recipe.model), console, run, "align", "SFT merge")
    model, tokenizer = load_final(recipe, run, merge=True, placement=placement, dtype="fp32", which="sft")
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    # The SFT model's generation config ends generation at the end of turn: keep it.
    if (run.model / "generation_config.json").is_file():
        shutil.copy(run.model / "generation_config.json", tmp / "generation_config.json")
    (tmp / _STAMP).write_text(stamp, encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def align_recipe(recipe: Recipe, base: Path, pairs: Path) -> Recipe:
    """The recipe of the sub run: model = the SFT weights, data = the pairs, train = align's keys over train's."""
    raw = recipe.model_dump(mode="json")
    a = recipe.align
    raw["model"]["id"] = str(base)
    raw["data"] = {"path": str(pairs), "format": "preference", "max_length": recipe.data.max_length, "on_error": "skip",
                   "split": {"train": round(1 - a.held_out, 6), "val": 0.0, "test": a.held_out, "group_by": "reply",
                             "seed": recipe.data.split.seed}}
    raw["train"].update(method=a.method, lr=a.lr, epochs=a.epochs, max_steps=a.max_steps, batch_size=a.batch_size,
                        grad_accum=a.grad_accum)
    raw["align"]["enabled"] = False
    raw["eval"]["enabled"] = False
    raw["sweep"] = None
    raw["export"]["formats"] = []
    return validate(raw, "align")


def start_align(recipe: Recipe, run: RunDir, console: Console) -> tuple[Recipe, RunDir, Path]:
    """Check the pairs, merge the SFT model once and write the sub run's recipe; returns (sub recipe, sub run, SFT base).

    The pipeline then prepares the pairs and trains align.method in the sub run, with the same prepare
    and train stages a recipe of its own would run (align/data/, checkpoints/, logs/, model/).
    """
    pairs = run.pairs
    if not pairs.is_file():
        raise RunDirError(f"{pairs}: no preference pairs; run `slmforge prefs RECIPE` (or `slmforge run`) first")
    sub = run.aligned()
    base = sft_base(recipe, run, console)
    sub_recipe = align_recipe(recipe, base, pairs)
    sub.ensure(sub_recipe)
    a = recipe.align
    console.print(f"align [bold]{a.method}[/bold] from the SFT model ({base}) on {pairs} · lr {a.lr:g} · "
                  f"batch {a.batch_size} × accum {a.grad_accum} · {'max_steps ' + str(a.max_steps) if a.max_steps > 0 else f'{a.epochs:g} epochs'}")
    return sub_recipe, sub, base


def align_outputs(run: RunDir, sub: RunDir, base: Path, written: list[Path]) -> list[Path]:
    """Every file the align stage wrote under align/: the sub run's prepare and train outputs, the merge and the recipe."""
    if base != run.model:
        written = written + [p for p in base.rglob("*") if p.is_file()]
    written = written + [sub.recipe_path]
    # A run shorter than train.logging_steps writes no metrics.jsonl, though the trainer names it.
    return sorted({p for p in written if p.is_file()})
