"""A reward model (sequence-classification head) learns to score chosen above rejected on held-out pairs."""

from __future__ import annotations

import json

import pytest

from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from tests.helpers.prefs import write_pref_recipe


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_reward_model_ranks_chosen_above_rejected_on_held_out_pairs(tmp_path, tiny_qwen2):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from slmforge.runtime.pair_metrics import read_pairs, reward_pair_score

    run_stages(load(write_pref_recipe(tmp_path, tiny_qwen2, "reward")), tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "reward"
    summary = json.loads((run / "logs" / "preference.json").read_text())
    print("reward", summary)
    before, after = summary["before"], summary["after"]
    # The score head starts random (seeded), so "before" is a coin per pair, not a model preference.
    assert after["accuracy"] >= 0.95 and after["accuracy"] - before["accuracy"] >= 0.25 and after["mean_margin"] > 1

    # What was saved is the trained scorer: plain transformers + peft load it and get the same accuracy.
    base = AutoModelForSequenceClassification.from_pretrained(tiny_qwen2, num_labels=1)
    model = PeftModel.from_pretrained(base, str(run / "model"))
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    base.config.pad_token_id = tokenizer.pad_token_id
    again = reward_pair_score(model, tokenizer, read_pairs(run / "data" / "test.jsonl"))
    assert again.accuracy == after["accuracy"]
