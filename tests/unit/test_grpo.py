"""GRPO on a tiny model raises a rule reward; a recipe without a usable reward fails in one line."""

from __future__ import annotations

import json
import textwrap

import pytest

from slmforge.errors import RecipeError
from slmforge.pipeline import run_stages
from slmforge.recipe import load
from pref_helpers import write_pref_recipe

# The rule: the share of a completion's characters that are vowels. Dense (every completion scores
# differently, so every group has a spread to learn from) and reachable by shifting token choice.
REWARD = textwrap.dedent(
    """
    def vowels(prompts, completions, **kw):
        assert len(prompts) == len(completions) and all(isinstance(c, str) for c in completions)
        return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]
    """
)


def grpo_recipe(tmp_path, model, monkeypatch, **grpo):
    (tmp_path / "grpo_rules.py").write_text(REWARD)
    monkeypatch.syspath_prepend(str(tmp_path))
    keys = {"reward": "grpo_rules:vowels", "num_generations": 4, "max_completion_length": 16, "eval_prompts": 40, **grpo}
    return write_pref_recipe(tmp_path, model, "grpo", batch_size=8, lr=1e-2, max_steps=48, logging_steps=8, scheduler="constant",
                             pref={"adapter": "full"}, grpo=keys)


def test_grpo_with_a_rule_reward_raises_the_mean_reward(tmp_path, tiny_qwen2, monkeypatch):
    recipe = load(grpo_recipe(tmp_path, tiny_qwen2, monkeypatch))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "grpo"
    summary = json.loads((run / "logs" / "grpo.json").read_text())
    print("grpo", summary)  # the figures the report quotes
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [8, 16, 24, 32, 40, 48] and all("reward" in x for x in lines)
    train_reward = summary["train_reward"]
    assert train_reward["last_steps"] > train_reward["first_steps"] + 0.1
    held = summary["held_out"]
    assert held["before"]["prompts"] == 40
    assert held["after"]["mean_reward"] > held["before"]["mean_reward"] + 0.1
    assert (run / "model" / "model.safetensors").is_file()


def test_grpo_without_a_reward_or_with_a_bad_group_is_one_line(tmp_path, tiny_qwen2, monkeypatch):
    from slmforge.rundir import RunDir
    from slmforge.train.grpo import check_grpo_recipe, reward_function

    path = grpo_recipe(tmp_path, tiny_qwen2, monkeypatch)
    run = RunDir(tmp_path / "runs" / "grpo")
    with pytest.raises(RecipeError, match=r"^train.grpo.reward: grpo needs a reward") as err:
        check_grpo_recipe(load(path, ["train.grpo.reward=null"]), run)
    assert "\n" not in str(err.value)
    with pytest.raises(RecipeError, match=r"train.grpo.num_generations: 3 must divide train.batch_size \(8\)"):
        check_grpo_recipe(load(path, ["train.grpo.num_generations=3"]), run)
    with pytest.raises(RecipeError, match=r"train.grpo.reward: grpo_rules has no function nope"):
        reward_function(load(path, ["train.grpo.reward=grpo_rules:nope"]))
