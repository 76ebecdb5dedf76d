"""`slmforge run`: the stages in order, each skipped when its inputs are unchanged and outputs intact.

A stage is a name, a test of whether the recipe wants it, the recipe sections it depends on,
the earlier stages whose outputs it reads, and a function that does the work and returns the
files it wrote. Later stages join STAGES as they land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, fingerprint, sha256_file

console = Console(stderr=True)


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]  # recipe sections whose values change the outputs
    after: tuple[str, ...]  # stages whose outputs this one reads
    run: Callable[[Recipe, RunDir, Console], list[Path]]
    wanted: Callable[[Recipe], bool] = lambda recipe: True
    # An optional stage that fails with a user-facing error is reported and the run goes on
    # (a judge server that does not come up must not cost the user the report).
    optional: bool = False


def _prepare(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.prepare.stage import prepare

    return prepare(recipe, run, con)


def _train(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    if recipe.train.method in ("dpo", "orpo", "kto", "reward"):
        from slmforge.train.preference import train
    elif recipe.train.method == "grpo":
        from slmforge.train.grpo import train

        if recipe.train.grpo.reward == "judge":  # train may not import evaluate; the pipeline sits above both
            return train(recipe, run, con, judge_reward=_judge_reward(recipe))
    else:
        from slmforge.train.sft import train

    return train(recipe, run, con)


def _judge_reward(recipe: Recipe):  # noqa: ANN202 (grpo's Scorer)
    """train.grpo.reward: judge — the prefs judge scorer (1-5 per answer; None when a call fails or the score is unreadable)."""
    from slmforge.runtime.judge.client import JudgeError
    from slmforge.runtime.judge.scorer import JudgeScorer

    judge = JudgeScorer(recipe)
    try:
        judge.connect()  # a judge that is down fails before the model loads
    except JudgeError as exc:
        raise JudgeError(str(exc).replace("prefs.scorer: judge", "train.grpo.reward: judge")) from None

    def reward(prompts: list[str], completions: list[str]) -> list[float | None]:
        scored = judge([[{"role": "user", "content": p}] for p in prompts], [[c] for c in completions])
        return [row[0][0] for row in scored]

    return reward


def _prefs(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.prefs.pairs import make_pairs

    return make_pairs(recipe, run, con)


def _align(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.align.stage import align

    return align(recipe, run, con)


def _eval(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.evaluate.stage import evaluate

    return evaluate(recipe, run, con)


def _export(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.export.stage import export

    return export(recipe, run, con)


def _verify(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.verify.stage import verify

    return verify(recipe, run, con)


def _report(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    from slmforge.report.page import write_report

    path = write_report(run)
    con.print(f"report: [bold]{path}[/bold]")
    return [path]


def _judge(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    """Score the fine-tuned answers, then A/B them against the base model (and the folksy engine).

    The judge server (judge.server.command) is started only now, after training and evaluation
    have released their memory, and stopped before the stage returns: judge and trainer never
    share the accelerator.
    """
    from slmforge.judge.compare import compare
    from slmforge.judge.score import judge
    from slmforge.runtime.judge.server import judge_server

    outputs: list[Path] = []
    with judge_server(recipe.judge, run.judge / "server.log", con):
        outputs += judge(recipe, run, con)
        opponents = ["base"] if (run.eval / "base_samples.jsonl").is_file() else []
        if recipe.data.corpus is not None and recipe.data.corpus.name == "folksy":
            opponents.append("template")
        for opponent in opponents:
            outputs += compare(recipe, run, con, a="final", b=opponent)
        if recipe.align.enabled and (run.eval / "sft_samples.jsonl").is_file():
            from slmforge.evaluate.preference_view import judge_sft_side

            outputs += judge_sft_side(recipe, run, con)  # judge mean of the SFT model, A/B aligned vs SFT
    return sorted(set(outputs))


STAGES: list[Stage] = [
    Stage("prepare", ("model", "data"), (), _prepare),
    Stage("train", ("model", "data", "train"), ("prepare",), _train),
    # SFT → preference pairs → preference training, when align.enabled (train/align.py).
    Stage("prefs", ("model", "data", "train", "prefs"), ("train",), _prefs, wanted=lambda r: r.align.enabled),
    Stage("align", ("model", "data", "train", "prefs", "align"), ("prefs",), _align, wanted=lambda r: r.align.enabled),
    Stage("eval", ("model", "data", "eval", "align"), ("train", "align"), _eval, wanted=lambda r: r.eval.enabled),
    Stage("export", ("model", "export", "align"), ("train", "align"), _export, wanted=lambda r: bool(r.export.formats)),
    # Parity of template, stop token and answers across every runtime export produced (parity/).
    Stage("verify", ("model", "data", "eval"), ("prepare", "export"), _verify, wanted=lambda r: bool(r.export.formats)),
    Stage("judge", ("judge",), ("eval",), _judge, wanted=lambda r: r.judge.enabled, optional=True),
    # Last: the report reads every earlier stage (stages it does not find are left out of the page).
    Stage("report", (), ("prepare", "train", "prefs", "align", "eval", "export", "verify", "judge"), _report),
]


def stage_fingerprint(stage: Stage, recipe: Recipe, run: RunDir) -> tuple[str, dict[str, str]]:
    inputs: dict[str, str] = {}
    if stage.name == "prepare" and recipe.data.path and not recipe.data.path.startswith("hf:"):
        inputs[recipe.data.path] = sha256_file(Path(recipe.data.path))
    if stage.name == "prefs" and recipe.prefs.source != "samples" and recipe.prefs.path and Path(recipe.prefs.path).is_file():
        inputs[recipe.prefs.path] = sha256_file(Path(recipe.prefs.path))  # an edited file or rating makes other pairs
    for earlier in stage.after:
        inputs.update({f"{earlier}:{k}": v for k, v in run.stage(earlier).outputs.items()})
    parts = {"sections": {s: getattr(recipe, s).model_dump(mode="json") for s in stage.sections}, "inputs": inputs}
    return fingerprint(parts), inputs


def run_stages(
    recipe: Recipe, runs: Path, only: list[str] | None = None, force: bool = False,
    replace: dict[str, Callable[[Recipe, RunDir, Console], list[Path]]] | None = None,
) -> RunDir:
    """Run the recipe's stages (all wanted ones, or `only`) in order.

    `replace` swaps a stage's function while keeping its manifest bookkeeping (the sweep trains
    with an extra pruning callback this way).
    """
    run = RunDir.for_recipe(recipe, runs)
    run.ensure(recipe)
    known = {s.name for s in STAGES}
    for name in only or []:
        if name not in known:
            raise SlmforgeError(f"unknown stage {name}; stages: {', '.join(known)}")
    console.print(f"run [bold]{recipe.name}[/bold] → {run.root}")
    for stage in STAGES:
        if only is not None and stage.name not in only:
            continue
        if only is None and not stage.wanted(recipe):
            continue
        fp, inputs = stage_fingerprint(stage, recipe, run)
        if not force and run.is_complete(stage.name, fp):
            console.print(f"[dim]{stage.name}: skipped (inputs unchanged, outputs complete)[/dim]")
            continue
        console.rule(f"[bold]{stage.name}")
        record = run.start_stage(stage.name, fp, inputs)
        started = time.time()
        try:
            outputs = (replace or {}).get(stage.name, stage.run)(recipe, run, console)
        except BaseException as exc:
            run.fail_stage(stage.name, record, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            if stage.optional and isinstance(exc, SlmforgeError):
                for line in str(exc).splitlines():
                    console.print(f"[red]{stage.name} failed:[/red] {line}", highlight=False)
                console.print(f"[yellow]{stage.name}: skipped; the rest of the run goes on (re-run to retry)[/yellow]")
                continue
            raise
        run.finish_stage(stage.name, record, outputs)
        console.print(f"[green]{stage.name}: done in {time.time() - started:.1f}s[/green]")
    return run
