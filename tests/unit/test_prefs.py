"""`slmforge prefs`: every prompt is a pair or a counted drop; an interrupted run resumes."""

from __future__ import annotations

import json

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app
from slmforge.prefs.pairs import pick_pair

QUIET = Console(stderr=True, quiet=True)


RULE_SCORER = """
def length_score(prompt, answer):
    # Rule scorer: longer answers are better; answers with 'e' sometimes fail, to be counted.
    if answer.count("e") > 2:
        raise ValueError("too many e")
    return float(len(answer.split()))
"""


def test_best_and_worst_become_a_pair_only_beyond_the_margin():
    assert pick_pair(["a b c", "a"], [3.0, 1.0], 1.0)[0] == {"chosen": "a b c", "rejected": "a", "chosen_score": 3.0, "rejected_score": 1.0}
    assert pick_pair(["a b", "a"], [2.0, 1.5], 1.0) == (None, "tie_within_margin")
    assert pick_pair(["a b", "a"], [2.0, None], 0.0) == (None, "fewer_than_2_scored")


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_prefs_counts_every_prompt_and_resumes_where_it_stopped(tmp_path, tiny_qwen2, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "rule_scorer.py").write_text(RULE_SCORER)
    rows = [{"input": f"Tell me about the goat number {i}.", "output": f"The goat {i} sleeps."} for i in range(40)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "p", "model": {"id": str(tiny_qwen2)}, "data": {"path": str(tmp_path / "pairs.jsonl"), "max_length": 64},
              "prefs": {"samples": 12, "k": 3, "temperature": 1.5, "max_new_tokens": 8, "batch_size": 4, "margin": 1.0,
                        "scorer": "rule_scorer:length_score"}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    out = runs / "p" / "prefs"
    report = json.loads((out / "report.json").read_text())
    assert report["prompts"] == 12 and report["pairs"] + report["dropped"] == 12
    assert sum(report["dropped_by_reason"].values()) == report["dropped"]
    pairs_text = (out / "pairs.jsonl").read_text()
    pairs = [json.loads(x) for x in pairs_text.splitlines()]
    assert len(pairs) == report["pairs"]
    assert all(p["chosen_score"] - p["rejected_score"] >= 1.0 and p["prompt"][-1]["role"] == "user" for p in pairs)

    # Kill after the first batch: drop the later prompts' lines (and leave half a line), rerun.
    samples = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(samples[:4]) + "\n" + samples[4][:20])
    result = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    assert "4 done before, 8 to go" in result.output.replace("\n", " ")
    again = json.loads((out / "report.json").read_text())
    assert again == report  # batches are seeded by position: same answers, same pairs
    assert (out / "pairs.jsonl").read_text() == pairs_text
    # The killed run's half line is gone, not glued to the next row: every prompt has one whole line.
    assert sorted(json.loads(x)["index"] for x in (out / "samples.jsonl").read_text().splitlines()) == list(range(12))

    # Other sampling keys (or a retrained model) make other answers: none of the kept ones is reused.
    path.write_text(yaml.safe_dump({**recipe, "prefs": {**recipe["prefs"], "temperature": 1.2}}))
    result = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "12 prompts were sampled from another model or with other sampling keys" in flat and "0 done before, 12 to go" in flat
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all("temperature=1.2" in r["sampler"] for r in rows)


def test_unknown_scorer_is_one_line_naming_the_key(tmp_path, tiny_qwen2):
    (tmp_path / "d.jsonl").write_text(json.dumps({"input": "a", "output": "b"}) + "\n")
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "model": {"id": str(tiny_qwen2)}, "data": {"path": str(tmp_path / "d.jsonl")},
                                    "prefs": {"scorer": "no_such_module_xyz:f"}}))
    result = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "prefs.scorer: cannot import no_such_module_xyz" in result.output


@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_a_reward_model_directory_scores_the_answers(tmp_path, tiny_qwen2):
    """prefs.scorer: a reward model (what train.method: reward with full weights saves) ranks the k answers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    rm_dir = tmp_path / "rm"
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_qwen2))
    rm = AutoModelForSequenceClassification.from_pretrained(str(tiny_qwen2), num_labels=1)
    rm.config.pad_token_id = tokenizer.pad_token_id
    rm.save_pretrained(rm_dir)
    tokenizer.save_pretrained(rm_dir)
    rows = [{"input": f"Tell me about the goat number {i}.", "output": f"The goat {i} sleeps."} for i in range(20)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "rm", "model": {"id": str(tiny_qwen2)}, "data": {"path": str(tmp_path / "pairs.jsonl"), "max_length": 64},
              "prefs": {"samples": 8, "k": 3, "temperature": 1.5, "max_new_tokens": 8, "batch_size": 4, "margin": 0.0,
                        "scorer": str(rm_dir)}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "rm" / "prefs"
    report = json.loads((out / "report.json").read_text())
    assert report["prompts"] == 8 == report["pairs"] + report["dropped"]
    pairs = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen_score"] >= p["rejected_score"] for p in pairs)
    # the scores are the reward model's own: recompute one
    from slmforge.runtime.scorers import load_reward_scorer

    _, score = load_reward_scorer(rm_dir, 64, "prefs.scorer")
    first = pairs[0]
    assert abs(score([first["prompt"]], [first["chosen"]])[0] - first["chosen_score"]) < 1e-4
    # a directory that is not a model is one line naming the key
    (tmp_path / "empty").mkdir()
    path.write_text(yaml.safe_dump({**recipe, "prefs": {**recipe["prefs"], "scorer": str(tmp_path / "empty")}}))
    bad = CliRunner().invoke(app, ["prefs", str(path), "--runs", str(tmp_path / "runs")])
    assert bad.exit_code == 2 and "prefs.scorer:" in bad.output and "has no config.json" in bad.output
