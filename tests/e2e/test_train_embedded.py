"""The embedded SmolLM2 learns from a few hundred pairs: val loss after LoRA training is below the base model's.

Until recipes/folksy-quick.yaml can generate its corpus here, the recipe is written in the test's
tmp dir: folksy-style pairs (template family → saying), same model and method as folksy-quick.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

SUBJECTS = ["goat", "mule", "rooster", "tractor", "fence", "kettle", "barn cat", "hay bale"]
FAMILIES = {
    "futile": "Trying to {v} is like teaching a {s} to whistle.",
    "ironic": "The {s} that brags about the weather is the first one wet.",
    "denial": "Just because the {s} is quiet doesn't mean the {s} agrees with you.",
}
VERBS = ["hurry the harvest", "argue with a mule", "fix a fence in the dark", "count the rain"]
ASKS = ["Give me a folksy saying about a {s} and how folks {v} ({family}).", "Say something {family} about a {s}; they {v}.",
        "What would grandpa say about a {s} when people {v}? Make it {family}."]


def folksy_pairs(path: Path, n: int = 300) -> Path:
    combos = [(fam, s, v, ask) for fam in sorted(FAMILIES) for s in SUBJECTS for v in VERBS for ask in ASKS]
    random.Random(0).shuffle(combos)
    with open(path, "w", encoding="utf-8") as f:
        for family, s, v, ask in combos[:n]:
            prompt = ask.format(s=s, v=v, family=family)
            f.write(json.dumps({"input": prompt, "output": FAMILIES[family].format(s=s, v=v), "meta_template": family}) + "\n")
    return path


@pytest.mark.slow
def test_lora_on_the_embedded_model_beats_the_base_model_val_loss(tmp_path):
    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir
    from slmforge.orchestrate.cli import app
    from slmforge.runtime.loss import read_tokenized, token_loss
    from slmforge.runtime.models import load_model
    from slmforge.runtime.trained import load_trained

    raw = {
        "name": "folksy-tiny",
        "model": {"id": "embedded:smollm2-135m"},
        "data": {"path": str(folksy_pairs(tmp_path / "pairs.jsonl", 200)), "max_length": 64,
                 "split": {"train": 0.8, "val": 0.1, "test": 0.1, "stratify": "meta_template", "group_by": None}},
        # Few, small steps: the CPU is shared in CI and a 135M step costs ~1 s even alone.
        "train": {"method": "lora", "max_steps": 8, "batch_size": 4, "lr": 2e-3, "eval_steps": 8, "save_steps": 8,
                  "logging_steps": 2, "lora": {"r": 8, "alpha": 16}},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["train", str(path), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output[-3000:]

    recipe = load(path)
    run = RunDir(tmp_path / "runs" / "folksy-tiny")
    val = read_tokenized(run.tokenized_file("val"))
    base, _ = load_model(recipe.model)
    base_loss = token_loss(base, *val).loss  # the same masked, batching-independent loss eval reports
    trained, _ = load_trained(run.model, recipe.model)
    trained_loss = token_loss(trained, *val).loss
    assert trained_loss < base_loss * 0.8, (trained_loss, base_loss)
