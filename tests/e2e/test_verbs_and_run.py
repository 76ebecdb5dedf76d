"""Every stage verb records its stage in the manifest, so `run` afterwards skips what a verb already did,
and a recipe's relative paths mean the same under `run` as under the verb (tiny model, real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app
from tests.helpers.data import make_pairs


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_eval_then_run_skips_eval_and_every_stage_before_it(tmp_path, tiny_qwen2):
    raw = {"name": "verbs", "model": {"id": str(tiny_qwen2)},
           "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 40)), "max_length": 64, "split": {"train": 0.8, "val": 0.1, "test": 0.1}},
           "train": {"method": "full", "max_steps": 2, "batch_size": 4, "precision": "fp32", "save_steps": 100, "logging_steps": 1},
           "eval": {"samples": 4, "max_new_tokens": 4, "batch_size": 4, "spotcheck": 0}}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    runs = str(tmp_path / "runs")
    invoke("train", str(recipe), "--runs", runs)
    invoke("eval", str(recipe), "--runs", runs)
    manifest = json.loads((tmp_path / "runs" / "verbs" / "manifest.json").read_text())
    assert manifest["stages"]["eval"]["status"] == "complete"
    out = invoke("run", str(recipe), "--runs", runs)
    for stage in ("prepare", "train", "eval"):
        assert f"{stage}: skipped (inputs unchanged, outputs complete)" in out
    assert "report: done" in out
    # eval of another model is another stage record: run evaluates the final model again afterwards
    invoke("eval", str(recipe), "--runs", runs, "--model", "base")
    assert "eval: done" in invoke("run", str(recipe), "--runs", runs)


def test_a_relative_prefs_path_beside_the_recipe_works_under_run(tmp_path, tiny_qwen2, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    rows = [{"prompt": f"Tell me about the goat number {i}.", "chosen": f"The goat {i} sleeps by the warm stove.",
             "rejected": f"goat {i}"} for i in range(24)]
    (folder / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": "relprefs", "model": {"id": str(tiny_qwen2)},
           "data": {"path": str(make_pairs(tmp_path / "pairs.jsonl", 40)), "max_length": 64, "split": {"train": 0.8, "val": 0.1, "test": 0.1}},
           "train": {"method": "lora", "max_steps": 2, "batch_size": 4, "precision": "fp32", "save_steps": 100, "logging_steps": 1},
           "prefs": {"source": "file", "path": "mine.jsonl"},  # beside the recipe, not where the command runs
           "align": {"enabled": True, "method": "dpo", "max_steps": 2, "batch_size": 4, "held_out": 0.25},
           "eval": {"enabled": False}}
    recipe = folder / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    invoke("run", str(recipe), "--runs", "runs")
    run = Path("runs") / "relprefs"
    report = json.loads((run / "prefs" / "report.json").read_text())
    assert report["read"] == 24 == report["pairs"]
    assert (run / "align" / "model" / "adapter_config.json").is_file()
    assert yaml.safe_load((run / "recipe.yaml").read_text())["prefs"]["path"] == str(folder / "mine.jsonl")
