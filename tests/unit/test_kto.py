"""KTO on a tiny model learns the synthetic preference rule from its pairs split into good/bad rows."""

from __future__ import annotations

import json

from rich.console import Console

from slmforge.pipeline import run_stages
from slmforge.recipe import load
from pref_helpers import write_pref_recipe

QUIET = Console(stderr=True, quiet=True)


def test_kto_makes_the_model_prefer_chosen_on_held_out_pairs(tmp_path, tiny_qwen2):
    recipe = load(write_pref_recipe(tmp_path, tiny_qwen2, "kto"))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "kto"
    summary = json.loads((run / "logs" / "preference.json").read_text())
    print("kto", summary)  # the figures the report quotes
    before, after = summary["before"], summary["after"]
    assert summary["held_out"] == "test" and after["pairs"] == 40
    assert before["accuracy"] <= 0.7  # noise: the random model knows no rule
    assert after["accuracy"] >= 0.9 and after["mean_margin"] > before["mean_margin"] + 1
    assert (run / "model" / "adapter_config.json").is_file()
    assert (run / "logs" / "metrics.jsonl").read_text().strip()
