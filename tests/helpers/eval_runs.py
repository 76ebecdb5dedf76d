"""Build prepared run directories with a 'fine-tuned' model for evaluation tests (tiny models, no training)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir
from slmforge.orchestrate.pipeline import run_stages

FAMILIES = ["futile", "ironic", "denial"]
CATEGORIES = {"kettle": 30.0, "fridge": 900.0, "toaster": 45.0}

quiet = Console(quiet=True)


def folksy_rows(n: int = 60) -> list[dict]:
    """Sayings made of random words, so no two are near-copies of each other."""
    import random

    rng = random.Random(0)
    vocab = ("mule goat hen pig cow dog cat fox owl duck barn field river kettle hammer fence stove roof rain snow "
             "never always only twice tired stubborn lazy clever muddy quiet borrow trust count sing fix chase").split()
    return [{"input": f"Tell me a saying about a {vocab[i % 10]} number {i}.",
             "output": " ".join(rng.sample(vocab, 7)).capitalize() + ".",
             "meta_template": FAMILIES[i % 3]} for i in range(n)]


def price_rows(n: int = 60) -> list[dict]:
    rows = []
    for i in range(n):
        category = list(CATEGORIES)[i % 3]
        price = CATEGORIES[category] + (i % 7) * 3
        rows.append({"input": f"How much does this cost? Brand{i % 4} {category}, model {i}.",
                     "output": f"Price is ${price:.2f}", "category": category, "brand": f"Brand{i % 4}", "price": price})
    return rows


def prepared_run(tmp_path: Path, model_dir: Path, rows: list[dict], stratify: str | None = "meta_template", split: dict | None = None,
                 **eval_cfg) -> tuple[Recipe, RunDir]:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = Recipe.model_validate({
        "name": "evaltest",
        "model": {"id": str(model_dir)},
        "data": {"path": str(data), "split": {"train": 0.6, "val": 0.1, "test": 0.3, "stratify": stratify, **(split or {})}, "max_length": 64},
        "eval": {"samples": 12, "max_new_tokens": 8, "batch_size": 4, "spotcheck": 5, **eval_cfg},
    })
    run = run_stages(recipe, tmp_path / "runs", ["prepare"])
    return recipe, run


def save_adapter(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter with random (non-zero) B, so the 'fine-tuned' model differs from its base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    peft_model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out
