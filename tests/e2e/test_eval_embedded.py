"""`slmforge eval` / `report` through the CLI on the embedded SmolLM2 with the shipped quick recipes.

Training is not run here (it has its own tests): the run's model/ is a LoRA adapter with small
random weights saved on the embedded model, which is exactly the layout `train` leaves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--set", "eval.diversity_prompts=2", "--set", "eval.samples=6", "--set", "eval.max_new_tokens=12", "--set", "eval.batch_size=6", "--set", "eval.spotcheck=4"]


def slmforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slmforge", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "COLUMNS": "160"})


def save_small_adapter(model_dir: Path, out: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    model = get_peft_model(base, LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)


@pytest.mark.slow
def test_folksy_quick_eval_shows_base_and_fine_tuned_side_by_side_and_report(tmp_path, embedded_dir):
    recipe = str(REPO / "recipes" / "folksy-quick.yaml")
    args = [recipe, "--runs", str(tmp_path / "runs"), "--set", "data.corpus.size=60", "--set", "data.split.train=0.7",
            "--set", "data.split.test=0.25", *SMALL]
    run = tmp_path / "runs" / "folksy-quick"
    save_small_adapter(embedded_dir, run / "model")
    done = slmforge("eval", *args, cwd=tmp_path)  # prepares the data first
    assert done.returncode == 0, done.stderr
    out = done.stderr
    assert "Δ fine-tuned − base" in out and "perplexity" in out and "distinct-2" in out and "tokens/s" in out
    results = json.loads((run / "eval" / "results.json").read_text())
    assert results["task"] == "text" and {"base", "final"} <= set(results["models"])
    assert results["models"]["final"]["coverage"]["field"] == "meta_template"
    # The recipe holds phrasings and personas out: every evaluated prompt is in a part, and the demo's floors are checked.
    assert sum(p["prompts"] for p in results["parts"].values()) == 6 and results["floors"]["part"] == "unseen"
    assert "floors: final on the unseen test prompts" in out and "degenerate answers" in out
    samples = [json.loads(line) for line in (run / "eval" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and all(s["output"] for s in samples)
    done = slmforge("report", str(run), cwd=tmp_path)
    assert done.returncode == 0 and Path(done.stdout.strip()) == run / "report.html"
    assert "Metrics: base vs fine-tuned" in (run / "report.html").read_text()


@pytest.mark.slow
def test_prices_quick_eval_shows_the_baselines_row(tmp_path, embedded_dir):
    recipe = str(REPO / "recipes" / "prices-quick.yaml")
    args = [recipe, "--runs", str(tmp_path / "runs"), "--set", "data.corpus.size=200", *SMALL, "--set", "eval.compare_base=false",
            "--set", "train.method=lora"]  # the recipe trains the whole model; this test's saved model is a small adapter
    run = tmp_path / "runs" / "prices-quick"
    save_small_adapter(embedded_dir, run / "model")
    done = slmforge("eval", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "models vs classic baselines" in done.stderr
    for name in ("mean", "group median", "tf-idf ridge", "final model"):
        assert name in done.stderr, name
    results = json.loads((run / "eval" / "results.json").read_text())
    assert results["task"] == "number"
    final = results["models"]["final"]
    assert final["n"] == 6 and 0 <= final["parse_failures"] <= 6
