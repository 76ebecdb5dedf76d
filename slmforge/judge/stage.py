"""The judge stage of `slmforge run`: score the fine-tuned answers, then A/B them against the base
model (and the folksy engine); with align on, the SFT model's answers too.

The judge server (judge.server.command) is started only now, after training and evaluation have
released their memory, and stopped before the stage returns: judge and trainer never share the
accelerator.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir
from slmforge.judge.compare import compare, compare_answers, compare_table, resolve_side
from slmforge.judge.samples import read_samples
from slmforge.judge.score import judge, judge_samples, summary_table
from slmforge.runtime.judge.client import JudgeSettings
from slmforge.runtime.judge.rubrics import load_rubric
from slmforge.runtime.judge.server import judge_server

SFT_SAMPLES = "sft_samples.jsonl"


def judge_stage(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Scores, then every A/B the run has opponents for; returns the files written."""
    outputs: list[Path] = []
    with judge_server(recipe.judge, run.judge / "server.log", console):
        outputs += judge(recipe, run, console)
        opponents = ["base"] if (run.eval / "base_samples.jsonl").is_file() else []
        if recipe.data.corpus is not None and recipe.data.corpus.name == "folksy":
            opponents.append("template")
        for opponent in opponents:
            outputs += compare(recipe, run, console, a="final", b=opponent)
        if recipe.align.enabled and (run.eval / SFT_SAMPLES).is_file():
            outputs += judge_sft_side(recipe, run, console)  # judge mean of the SFT model, A/B aligned vs SFT
    return sorted(set(outputs))


def judge_sft_side(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Align on: score the SFT model's eval answers (judge/sft/) and A/B the aligned model against them."""
    cfg = recipe.judge
    settings = JudgeSettings.from_recipe(cfg)
    rubric = load_rubric(cfg.rubric)
    out = run.judge / "sft"
    out.mkdir(parents=True, exist_ok=True)
    summary = judge_samples(read_samples(run.eval / SFT_SAMPLES, cfg.samples), rubric, settings, out, cfg.targets, console)
    console.print(summary_table(summary, f"judge: {recipe.name} SFT model ({summary['judge_model']})"))
    _, aligned = resolve_side("final", run)
    _, sft = resolve_side(str(run.eval / SFT_SAMPLES), run)
    shared = [p for p in list(aligned)[: cfg.samples] if p in sft]
    ab = compare_answers(shared, aligned, sft, ("final", "sft"), rubric, settings, run.judge, cfg.targets.min_win_rate, console)
    console.print(compare_table(ab))
    return [out / "scores.jsonl", out / "summary.json", run.judge / "ab.jsonl", run.judge / "compare.json"]
