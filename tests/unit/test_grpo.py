"""GRPO on a tiny model raises a rule reward; a recipe without a usable reward fails in one line."""

from __future__ import annotations

import json
import textwrap

import pytest

from slmforge.core.errors import RecipeError
from slmforge.core.recipe import load
from slmforge.orchestrate.pipeline import run_stages
from tests.helpers.prefs import train_in_child, write_pref_recipe

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


@pytest.mark.slow  # trains, or generates with a model for many seconds
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
    from slmforge.core.rundir import RunDir
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


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_rloo_with_the_same_rule_reward_raises_it_too(tmp_path, tiny_qwen2, monkeypatch):
    recipe = load(grpo_recipe(tmp_path, tiny_qwen2, monkeypatch, algorithm="rloo"))
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    summary = json.loads((tmp_path / "runs" / "grpo" / "logs" / "grpo.json").read_text())
    print("rloo", summary)
    assert summary["algorithm"] == "rloo"
    assert summary["train_reward"]["last_steps"] > summary["train_reward"]["first_steps"] + 0.1
    assert summary["held_out"]["after"]["mean_reward"] > summary["held_out"]["before"]["mean_reward"] + 0.1


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_a_reward_model_directory_is_the_reward(tmp_path, tiny_qwen2, monkeypatch):
    # A full sequence-classification model (what train.method: reward with adapter full saves).
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    rm_dir = tmp_path / "rm"
    rm = AutoModelForSequenceClassification.from_pretrained(str(tiny_qwen2), num_labels=1)
    rm.config.pad_token_id = AutoTokenizer.from_pretrained(str(tiny_qwen2)).pad_token_id
    rm.save_pretrained(rm_dir)
    AutoTokenizer.from_pretrained(str(tiny_qwen2)).save_pretrained(rm_dir)
    path = grpo_recipe(tmp_path, tiny_qwen2, monkeypatch, reward=str(rm_dir), eval_prompts=8)
    recipe = load(path, ["train.max_steps=8", "train.logging_steps=4"])
    run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "grpo"
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [4, 8] and all(x["reward_std"] > 0 for x in lines)  # the model scored them
    held = json.loads((run / "logs" / "grpo.json").read_text())["held_out"]
    assert held["before"]["prompts"] == 8 and isinstance(held["after"]["mean_reward"], float)
    with pytest.raises(RecipeError, match="has no config.json"):
        from slmforge.train.grpo import reward_function

        reward_function(load(path, [f"train.grpo.reward={tmp_path}"]))


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_the_judge_is_the_reward_through_the_pipeline(tmp_path, tiny_qwen2, monkeypatch):
    # A real HTTP judge on loopback; its score depends on the answer it is shown, so rewards vary.
    from slmforge.runtime.judge.client import JudgeError
    from tests.helpers.judge_fake import FakeJudge

    asked: list[str] = []

    def by_length(content: str, seen: int) -> tuple[int, str, float]:
        asked.append(content)
        return 200, f"Score: {len(content) % 5 + 1}", 0.0

    path = grpo_recipe(tmp_path, tiny_qwen2, monkeypatch, reward="judge", eval_prompts=8)
    sets = ["train.max_steps=4", "train.logging_steps=2", "judge.retries=0"]
    with FakeJudge(by_length) as fake:
        recipe = load(path, [*sets, f"judge.endpoint={fake.url}"])
        run_stages(recipe, tmp_path / "runs", ["prepare", "train"])
    run = tmp_path / "runs" / "grpo"
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4] and all(1 <= x["reward"] <= 5 and x["reward_std"] > 0 for x in lines)
    assert len(asked) == 8 + 4 * 8 + 8  # held-out before, 4 steps × batch 8 completions, held-out after
    held = json.loads((run / "logs" / "grpo.json").read_text())["held_out"]
    assert held["before"]["unscored"] == 0 and 1 <= held["after"]["mean_reward"] <= 5

    down = load(path, [*sets, "judge.endpoint=http://127.0.0.1:9/v1"])
    with pytest.raises(JudgeError, match=r"^train.grpo.reward: judge: ") as err:
        run_stages(down, tmp_path / "runs2", ["prepare", "train"])
    assert "\n" not in str(err.value)




@pytest.mark.slow
def test_grpo_killed_with_sigkill_resumes_with_the_same_rewards_and_losses(tmp_path, tiny_qwen2, monkeypatch):
    # Sampling is part of the step: resuming must restore the RNG so the same completions are drawn.
    import signal
    from pathlib import Path

    def child(cwd, kill_step):
        return train_in_child(cwd, Path("recipe.yaml"), kill_step)

    def logged(cwd):
        rows = [json.loads(x) for x in (cwd / "runs" / "grpo" / "logs" / "metrics.jsonl").read_text().splitlines()]
        return {r["step"]: (r["loss"], r["reward"]) for r in rows}

    runs = {}
    for name in ("ref", "cut"):
        cwd = tmp_path / name
        cwd.mkdir()
        grpo_recipe(cwd, tiny_qwen2, monkeypatch)
        recipe = cwd / "recipe.yaml"
        recipe.write_text(recipe.read_text().replace("max_steps: 48", "max_steps: 12").replace("logging_steps: 8", "logging_steps: 1")
                          .replace("save_steps: 100", "save_steps: 4").replace("eval_prompts: 40", "eval_prompts: 8"))
        runs[name] = cwd
    assert child(runs["ref"], 0).returncode == 0
    killed = child(runs["cut"], 6)
    assert killed.returncode == -signal.SIGKILL and max(logged(runs["cut"])) == 6
    resumed = child(runs["cut"], 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-4" in resumed.stderr
    want, got = logged(runs["ref"]), logged(runs["cut"])
    assert sorted(got) == list(range(1, 13))
    for step in range(5, 13):
        assert got[step][0] == pytest.approx(want[step][0], abs=1e-4), step
        assert got[step][1] == pytest.approx(want[step][1], abs=1e-4), step
