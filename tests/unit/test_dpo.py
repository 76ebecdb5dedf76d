"""DPO and ORPO on a tiny model learn a clear preference rule; wrong recipes fail in one line."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from tests.helpers.prefs import write_pref_recipe

QUIET = Console(stderr=True, quiet=True)


def train_pref(tmp_path, model, method, **train) -> dict:
    recipe = load(write_pref_recipe(tmp_path, model, method, **train))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / method
    summary = json.loads((run / "logs" / "preference.json").read_text())
    print(method, summary)  # the figures the report quotes
    return summary


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_dpo_makes_the_model_prefer_chosen_on_held_out_pairs(tmp_path, tiny_qwen2):
    from peft import PeftConfig

    summary = train_pref(tmp_path, tiny_qwen2, "dpo")
    before, after = summary["before"], summary["after"]
    assert summary["held_out"] == "test" and after["pairs"] == 40
    assert before["accuracy"] <= 0.7  # noise: the random model knows no rule
    assert after["accuracy"] >= 0.95 and after["mean_margin"] > before["mean_margin"] + 2
    run = tmp_path / "runs" / "dpo"
    # An adapter on the recipe's base (the frozen reference): no second model copy was saved.
    assert PeftConfig.from_pretrained(run / "model").base_model_name_or_path == str(tiny_qwen2)
    assert not (run / "model" / "model.safetensors").exists()
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [4, 8, 12, 16]
    assert lines[-1]["rewards_accuracies"] > lines[0]["rewards_accuracies"]


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_orpo_makes_the_model_prefer_chosen_on_held_out_pairs(tmp_path, tiny_qwen2):
    summary = train_pref(tmp_path, tiny_qwen2, "orpo", pref={"beta": 1.0})
    before, after = summary["before"], summary["after"]
    assert before["accuracy"] <= 0.7
    assert after["accuracy"] >= 0.85 and after["accuracy"] - before["accuracy"] >= 0.25


def test_preference_method_on_pairs_data_is_one_line_naming_the_key(tmp_path, tiny_qwen2):
    path = write_pref_recipe(tmp_path, tiny_qwen2, "dpo")
    recipe = load(path, ["data.format=pairs"])
    from slmforge.core.rundir import RunDir
    from slmforge.train.preference import check_preference_recipe

    with pytest.raises(SlmforgeError) as err:
        check_preference_recipe(recipe, RunDir(tmp_path / "runs" / "dpo"))
    assert "data.format: preference" in str(err.value) and "\n" not in str(err.value)


def test_pref_keys_are_validated_before_any_model_loads(tmp_path, tiny_qwen2):
    from slmforge.core.errors import RecipeError

    path = write_pref_recipe(tmp_path, tiny_qwen2, "dpo")
    with pytest.raises(RecipeError, match=r"train.pref.bet: unknown key, did you mean beta"):
        load(path, ["train.pref.bet=0.2"])
    with pytest.raises(RecipeError, match=r"train.pref.loss_type: must be one of"):
        load(path, ["train.pref.loss_type=nope"])
