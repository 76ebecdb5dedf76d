"""`slmforge run` and every stage verb: the stages in order, each skipped when its inputs are unchanged
and its outputs intact.

A stage is a name, a test of whether the recipe wants it, the recipe sections it depends on, the
earlier stages whose outputs it reads, and a function of one StageContext that does the work and
returns the files it wrote. Every verb that runs a stage (`prepare`, `train`, `eval`, `judge`,
`compare`, `prefs`, `export`, `verify`, `report`) goes through `run_stages`, so the manifest
records it and a later `run` skips what is already done.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, check_input_file, fingerprint, sha256_file

console = Console(stderr=True)


@dataclass(frozen=True)
class StageContext:
    """What a stage gets: the resolved recipe (relative paths already made absolute beside the recipe file),
    its run directory, the console, a verb's options and extra trainer callbacks."""

    recipe: Recipe
    run: RunDir
    console: Console
    # A verb's flags that change what the stage does (eval --model, judge --samples, compare --a/--b).
    # They are part of the stage's fingerprint: `run` redoes a stage a verb ran with other options.
    options: Mapping[str, Any] = field(default_factory=dict)
    callbacks: tuple[Any, ...] = ()  # more TrainerCallbacks for train (the sweep's pruner), after ours


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]  # recipe sections whose values change the outputs
    after: tuple[str, ...]  # stages whose outputs this one reads
    run: Callable[[StageContext], list[Path]]
    wanted: Callable[[Recipe], bool] = lambda recipe: True
    # An optional stage that fails with a user-facing error is reported and the run goes on
    # (a judge server that does not come up must not cost the user the report).
    optional: bool = False


def _prepare(ctx: StageContext) -> list[Path]:
    from slmforge.prepare.stage import prepare

    return prepare(ctx.recipe, ctx.run, ctx.console)


def _train(ctx: StageContext) -> list[Path]:
    method = ctx.recipe.train.method
    if method in ("dpo", "orpo", "kto", "reward"):
        from slmforge.train.preference import train

        return train(ctx.recipe, ctx.run, ctx.console)
    if method == "grpo":
        from slmforge.train.grpo import train

        return train(ctx.recipe, ctx.run, ctx.console)
    from slmforge.train.sft import train

    return train(ctx.recipe, ctx.run, ctx.console, extra_callbacks=ctx.callbacks)


def _prefs(ctx: StageContext) -> list[Path]:
    from slmforge.prefs.pairs import make_pairs

    return make_pairs(ctx.recipe, ctx.run, ctx.console)


def _align(ctx: StageContext) -> list[Path]:
    """Preference training from the SFT model: the same prepare and train stages, in the sub run align/."""
    from slmforge.align.stage import align_outputs, start_align

    sub_recipe, sub, base = start_align(ctx.recipe, ctx.run, ctx.console)
    inner = dataclasses.replace(ctx, recipe=sub_recipe, run=sub, options={})
    return align_outputs(ctx.run, sub, base, _prepare(inner) + _train(inner))


def _eval(ctx: StageContext) -> list[Path]:
    from slmforge.evaluate.stage import evaluate

    return evaluate(ctx.recipe, ctx.run, ctx.console, model=ctx.options.get("model", "final"))


def _export(ctx: StageContext) -> list[Path]:
    from slmforge.export.stage import export

    return export(ctx.recipe, ctx.run, ctx.console)


def _verify(ctx: StageContext) -> list[Path]:
    from slmforge.verify.stage import verify

    return verify(ctx.recipe, ctx.run, ctx.console)


def _judge(ctx: StageContext) -> list[Path]:
    if ctx.options.get("scores_only"):  # `slmforge judge`: the scores, without the A/B comparisons
        from slmforge.judge.score import judge
        from slmforge.runtime.judge.server import judge_server

        samples = ctx.options.get("samples")
        with judge_server(ctx.recipe.judge, ctx.run.judge / "server.log", ctx.console):
            return judge(ctx.recipe, ctx.run, ctx.console, samples_path=Path(samples) if samples else None)
    from slmforge.judge.stage import judge_stage

    return judge_stage(ctx.recipe, ctx.run, ctx.console)


def _compare(ctx: StageContext) -> list[Path]:
    from slmforge.judge.compare import compare
    from slmforge.runtime.judge.server import judge_server

    with judge_server(ctx.recipe.judge, ctx.run.judge / "server.log", ctx.console):
        return compare(ctx.recipe, ctx.run, ctx.console, a=ctx.options.get("a", "final"), b=ctx.options.get("b", "template"))


def _report(ctx: StageContext) -> list[Path]:
    from slmforge.report.page import write_report

    path = write_report(ctx.run)
    ctx.console.print(f"report: [bold]{path}[/bold]")
    return [path]


STAGES: list[Stage] = [
    Stage("prepare", ("model", "data"), (), _prepare),
    Stage("train", ("model", "data", "train"), ("prepare",), _train),
    # SFT → preference pairs → preference training, when align.enabled (align/stage.py).
    Stage("prefs", ("model", "data", "train", "prefs"), ("train",), _prefs, wanted=lambda r: r.align.enabled),
    Stage("align", ("model", "data", "train", "prefs", "align"), ("prefs",), _align, wanted=lambda r: r.align.enabled),
    Stage("eval", ("model", "data", "eval", "align"), ("train", "align"), _eval, wanted=lambda r: r.eval.enabled),
    Stage("export", ("model", "export", "align"), ("train", "align"), _export, wanted=lambda r: bool(r.export.formats)),
    # Parity of template, stop token and answers across every runtime export produced (verify/).
    Stage("verify", ("model", "data", "eval"), ("prepare", "export"), _verify, wanted=lambda r: bool(r.export.formats)),
    Stage("judge", ("judge",), ("eval",), _judge, wanted=lambda r: r.judge.enabled, optional=True),
    # `slmforge compare --a X --b Y`: one A/B of the judge's (the judge stage already runs the usual ones).
    Stage("compare", ("judge",), ("eval",), _compare, wanted=lambda r: False),
    # Last: the report reads every earlier stage (stages it does not find are left out of the page).
    Stage("report", (), ("prepare", "train", "prefs", "align", "eval", "export", "verify", "judge"), _report),
]


def stage_fingerprint(stage: Stage, recipe: Recipe, run: RunDir, options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    inputs: dict[str, str] = {}
    if stage.name == "prepare" and recipe.data.path and not recipe.data.path.startswith("hf:"):
        inputs[recipe.data.path] = sha256_file(check_input_file(recipe.data.path, "data.path"))
    if stage.name == "prefs" and recipe.prefs.source != "samples" and recipe.prefs.path:
        # an edited file or rating makes other pairs
        inputs[recipe.prefs.path] = sha256_file(check_input_file(recipe.prefs.path, "prefs.path"))
    for earlier in stage.after:
        inputs.update({f"{earlier}:{k}": v for k, v in run.stage(earlier).outputs.items()})
    parts: dict[str, Any] = {"sections": {s: getattr(recipe, s).model_dump(mode="json") for s in stage.sections}, "inputs": inputs}
    if options:
        parts["options"] = json.loads(json.dumps(dict(options), default=str))
    return fingerprint(parts), inputs


def run_stages(
    recipe: Recipe, runs: Path, only: list[str] | None = None, force: bool = False, *,
    options: Mapping[str, Any] | None = None, callbacks: tuple[Any, ...] = (),
    replace: dict[str, Callable[[StageContext], list[Path]]] | None = None,
) -> RunDir:
    """Run the recipe's stages (all wanted ones, or `only`) in order.

    `options` are a verb's flags for the stages it runs (see StageContext); `replace` swaps a
    stage's function while keeping its manifest bookkeeping (a distributed worker trains with the
    per-device batch this way).
    """
    run = RunDir.for_recipe(recipe, runs)
    run.ensure(recipe)
    known = {s.name for s in STAGES}
    for name in only or []:
        if name not in known:
            raise SlmforgeError(f"unknown stage {name}; stages: {', '.join(known)}")
    console.print(f"run [bold]{recipe.name}[/bold] → {run.root}")
    ctx = StageContext(recipe, run, console, dict(options or {}), callbacks)
    for stage in STAGES:
        if only is not None and stage.name not in only:
            continue
        if only is None and not stage.wanted(recipe):
            continue
        fp, inputs = stage_fingerprint(stage, recipe, run, ctx.options)
        if not force and run.is_complete(stage.name, fp):
            console.print(f"[dim]{stage.name}: skipped (inputs unchanged, outputs complete)[/dim]")
            continue
        # An optional stage may fail without ending a whole run; asked for by name (its verb), its failure is the command's.
        _run_one(stage, ctx, fp, inputs, (replace or {}).get(stage.name, stage.run), may_skip=stage.optional and only is None)
    return run


def _run_one(stage: Stage, ctx: StageContext, fp: str, inputs: dict[str, str], fn: Callable[[StageContext], list[Path]],
             may_skip: bool = False) -> None:
    """One stage with its manifest record: running → complete, or failed with the first line of the error."""
    run = ctx.run
    console.rule(f"[bold]{stage.name}")
    record = run.start_stage(stage.name, fp, inputs)
    started = time.time()
    try:
        outputs = fn(ctx)
    except BaseException as exc:
        try:
            run.fail_stage(stage.name, record, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except OSError:  # a disk still full: the error itself says so, and the next run redoes the stage
            pass
        if may_skip and isinstance(exc, SlmforgeError):
            for line in str(exc).splitlines():
                console.print(f"[red]{stage.name} failed:[/red] {line}", highlight=False)
            console.print(f"[yellow]{stage.name}: skipped; the rest of the run goes on (re-run to retry)[/yellow]")
            return
        raise
    run.finish_stage(stage.name, record, outputs)
    console.print(f"[green]{stage.name}: done in {time.time() - started:.1f}s[/green]")
