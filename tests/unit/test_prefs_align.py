"""One recipe, SFT → prefs → DPO → eval → report, on a tiny model through `slmforge run`."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app

LENGTH_SCORER = """
def words(prompt, answer):
    return float(len(answer.split()))
"""


def write_align_recipe(tmp_path, model, **align) -> str:
    (tmp_path / "len_scorer.py").write_text(LENGTH_SCORER)
    animals = ["goat", "mule", "hen", "hog", "cow", "cat"]
    rows = [{"input": f"Tell me about the {animals[i % 6]} number {i}.", "output": f"The {animals[i % 6]} {i} sleeps by the warm stove."}
            for i in range(60)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {
        "name": "al", "model": {"id": str(model)},
        "data": {"path": str(tmp_path / "d.jsonl"), "max_length": 64, "split": {"train": 0.8, "val": 0.0, "test": 0.2}},
        "train": {"method": "lora", "max_steps": 4, "batch_size": 8, "lr": 5e-3, "precision": "fp32", "save_steps": 100,
                  "logging_steps": 2, "pref": {"beta": 0.5}},
        "prefs": {"samples": 40, "k": 3, "temperature": 1.5, "max_new_tokens": 8, "batch_size": 8, "margin": 1.0,
                  "scorer": "len_scorer:words"},
        "align": {"enabled": True, "method": "dpo", "lr": 1e-2, "max_steps": 6, "batch_size": 4, "held_out": 0.3, **align},
        "eval": {"samples": 6, "max_new_tokens": 6, "batch_size": 6, "spotcheck": 0, "temperature": 1.5},  # greedy tiny answers are empty
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_run_trains_sft_then_dpo_from_it_and_shows_before_and_after(tmp_path, tiny_qwen2, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = write_align_recipe(tmp_path, tiny_qwen2)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", recipe, "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    run = runs / "al"
    manifest = json.loads((run / "manifest.json").read_text())
    assert [s for s in manifest["stages"]] == ["prepare", "train", "prefs", "align", "eval", "report"]
    assert all(s["status"] == "complete" for s in manifest["stages"].values())

    prefs = json.loads((run / "prefs" / "report.json").read_text())
    assert prefs["read"] == 40 == prefs["pairs"] + prefs["dropped"] and prefs["pairs"] > 10

    # DPO started from the SFT weights: its adapter sits on the merged SFT model, not on the original base.
    adapter = json.loads((run / "align" / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(run / "align" / "sft_merged")
    assert (run / "align" / "sft_merged" / "config.json").is_file()
    trained = json.loads((run / "align" / "logs" / "preference.json").read_text())

    view = json.loads((run / "eval" / "preference.json").read_text())
    assert view["held_out_pairs"] == trained["after"]["pairs"] > 0
    # eval's "SFT" side (the aligned model with its adapter off) is the model DPO started from.
    assert abs(view["sft"]["mean_margin"] - trained["before"]["mean_margin"]) < 1e-3
    assert abs(view["aligned"]["mean_margin"] - trained["after"]["mean_margin"]) < 1e-3
    assert view["kl_to_sft"]["tokens"] > 0 and view["kl_to_sft"]["mean_per_token"] > 0
    assert 0 <= view["implicit_reward_accuracy"] <= 1 and view["implicit_reward_margin"] != 0
    sft_answers = [json.loads(x)["output"] for x in (run / "eval" / "sft_samples.jsonl").read_text().splitlines()]
    assert view["scorer_mean"]["sft"] == sum(len(a.split()) for a in sft_answers) / len(sft_answers)  # the prefs scorer, on eval answers
    results = json.loads((run / "eval" / "results.json").read_text())
    assert {"base", "final", "sft"} <= set(results["models"])
    assert (run / "eval" / "sft_samples.jsonl").is_file()

    html = (run / "report.html").read_text()
    assert "Preference alignment: SFT vs aligned" in html and "aligned (after)" in html and "KL to SFT" in html
    assert f"pairs {prefs['pairs']}" in html and "prefs scorer mean on eval answers (words)" in html

    again = CliRunner().invoke(app, ["run", recipe, "--runs", str(runs)])
    assert again.exit_code == 0 and again.output.count("skipped (inputs unchanged") == 6, again.output


def test_align_without_pairs_source_is_one_line(tmp_path, tiny_qwen2):
    from slmforge.core.errors import RecipeError
    from slmforge.core.recipe import load

    recipe = write_align_recipe(tmp_path, tiny_qwen2)
    try:
        load(recipe, ["prefs.source=file"])
    except RecipeError as exc:
        assert str(exc) == "prefs: source: file needs prefs.path (a prompt/chosen/rejected file)"
    else:
        raise AssertionError("prefs.source file without prefs.path validated")


def longer_answer_wins(content: str, seen: int):
    """Pairwise prompts: the longer answer wins; score prompts: 1 + words in the answer, capped at 5."""
    import re

    if "Which answer is better" in content:
        first, second = re.search(r"Answer 1:\n(.*)\n\nAnswer 2:\n(.*)\n\n", content, re.S).groups()
        return 200, "1" if len(first) >= len(second) else "2", 0.0
    answer = re.search(r"Answer:\n(.*)\n\nScore the answer", content, re.S).group(1)
    return 200, f"Score: {min(5, 1 + len(answer.split()))}", 0.0


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_with_a_judge_the_view_adds_judge_means_and_the_ab_of_aligned_against_sft(tmp_path, tiny_qwen2, monkeypatch):
    from tests.helpers.judge_fake import FakeJudge

    monkeypatch.syspath_prepend(str(tmp_path))
    with FakeJudge(longer_answer_wins) as fake:
        recipe = write_align_recipe(tmp_path, tiny_qwen2)
        judge = ["--set", "judge.enabled=true", "--set", f"judge.endpoint={fake.url}", "--set", "judge.retries=0"]
        result = CliRunner().invoke(app, ["run", recipe, "--runs", str(tmp_path / "runs"), *judge])
        assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "al"
    sft_summary = json.loads((run / "judge" / "sft" / "summary.json").read_text())
    sft_answers = [json.loads(x)["output"] for x in (run / "eval" / "sft_samples.jsonl").read_text().splitlines()]
    assert abs(sft_summary["mean"]["value"] - sum(min(5, 1 + len(a.split())) for a in sft_answers) / len(sft_answers)) < 1e-3
    ab = json.loads((run / "judge" / "compare.json").read_text())["final vs sft"]
    assert ab["pairs"] == 6 and ab["decided"] == 6
    html = (run / "report.html").read_text()
    assert "judge mean (1-5, eval answers)" in html and "A/B win rate aligned vs SFT" in html


def test_align_after_a_preference_train_stage_is_refused_in_one_line(tmp_path, tiny_qwen2):
    import pytest

    from slmforge.core.errors import RecipeError
    from slmforge.core.recipe import load

    with pytest.raises(RecipeError, match=r"^recipe: align.enabled: the train stage must be SFT .*got dpo; the preference method goes in align.method$"):
        load(write_align_recipe(tmp_path, tiny_qwen2), ["train.method=dpo"])
