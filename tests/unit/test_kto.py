"""KTO on a tiny model learns the synthetic preference rule from its pairs split into good/bad rows."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from tests.helpers.prefs import write_pref_recipe

QUIET = Console(stderr=True, quiet=True)


@pytest.mark.slow  # trains, or generates with a model for many seconds
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


def write_unpaired(tmp_path, n_pairs: int = 160):
    """The rule pairs as spot-check style rows: each prompt once with a Good and once with a Bad answer."""
    from tests.helpers.prefs import write_rule_pairs

    pairs = [json.loads(x) for x in write_rule_pairs(tmp_path / "pairs.jsonl", n_pairs).read_text().splitlines()]
    path = tmp_path / "rated.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, p in enumerate(pairs):
            f.write(json.dumps({"prompt": p["prompt"], "completion": p["chosen"], "rating": "Good", "pid": i}) + "\n")
            f.write(json.dumps({"input": p["prompt"], "output": p["rejected"], "rating": "bad", "pid": i}) + "\n")
    return path


def unpaired_recipe(tmp_path, model):
    import yaml

    path = write_pref_recipe(tmp_path, model, "kto")
    raw = yaml.safe_load(path.read_text())
    raw["data"].update(path=str(write_unpaired(tmp_path)), format="unpaired", fields={"label": "rating"})
    raw["data"]["split"]["group_by"] = "pid"  # a prompt's good and bad answer stay in one split
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_kto_on_unpaired_good_bad_rows_learns_the_rule(tmp_path, tiny_qwen2):
    recipe = load(unpaired_recipe(tmp_path, tiny_qwen2))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "kto"
    rows = [json.loads(x) for x in (run / "data" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 240 and sum(r["label"] for r in rows) == 120 and rows[0]["messages"][-1]["role"] == "assistant"
    summary = json.loads((run / "logs" / "preference.json").read_text())
    print("kto unpaired", summary)  # the figures the report quotes
    before, after = summary["before"], summary["after"]
    assert after["pairs"] == 40  # the held-out prompts, paired back good against bad
    assert before["accuracy"] <= 0.7
    assert after["accuracy"] >= 0.9 and after["mean_margin"] > before["mean_margin"] + 1


def test_an_unpaired_row_with_an_unknown_label_is_named_by_file_and_line(tmp_path, tiny_qwen2):
    import pytest

    from slmforge.core.errors import DataError, RecipeError

    path = unpaired_recipe(tmp_path, tiny_qwen2)
    rated = tmp_path / "rated.jsonl"
    lines = rated.read_text().splitlines()
    lines[6] = json.dumps({"prompt": "Hi?", "completion": "Hello!", "rating": "meh", "pid": 999})
    rated.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"rated.jsonl:7: .*field 'rating' must be good/bad .*got 'meh'"):
        run_stages(load(path), tmp_path / "runs", ["prepare"])
    with pytest.raises(RecipeError, match=r"data.format: unpaired .* train.method kto .*got dpo") as err:
        load(path, ["train.method=dpo"])
    assert "\n" not in str(err.value)
    with pytest.raises(RecipeError, match=r"got lora"):
        load(path, ["train.method=lora"])
