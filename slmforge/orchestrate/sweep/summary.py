"""The sweep's summary: a table of trials sorted by the objective, the best recipe as YAML, the command.

Written to runs/<name>/sweep.json (every trial), runs/<name>/best.yaml (ready for `slmforge run`) and
runs/<name>/sweep.html (objective history, parameter importance, the table; sweep/page.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.recipe import Recipe, validate
from slmforge.core.rundir import write_json_atomic, write_text_atomic
from slmforge.orchestrate.sweep.slots import is_surplus
from slmforge.orchestrate.sweep.space import apply_values
from slmforge.orchestrate.sweep.study import SweepPlan


@dataclass
class TrialRow:
    number: int
    state: str  # complete | pruned | fail | running | waiting
    value: float | None  # the objective; for a pruned trial its last reported eval loss
    params: dict[str, Any]
    seconds: float | None
    note: str  # error line, "pruned at step N", or ""
    run_dir: str | None


@dataclass
class SweepSummary:
    objective: str
    direction: str
    trials: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    best_recipe: Path | None = None
    command: str | None = None


def trial_rows(study: Any) -> list[TrialRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if is_surplus(t):  # claimed after other processes had taken every slot: never ran
            continue
        state = t.state.name.lower()
        value = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        note = t.user_attrs.get("error") or t.user_attrs.get("note") or ""
        rows.append(TrialRow(t.number, state, value, dict(t.params), t.user_attrs.get("seconds"), note, t.user_attrs.get("run_dir")))
    return rows


def sort_rows(rows: list[TrialRow], direction: str) -> list[TrialRow]:
    """Complete trials best first, then pruned (by their last loss), then failed and unfinished ones."""
    rank = {"complete": 0, "pruned": 1}
    sign = 1.0 if direction == "minimize" else -1.0

    def key(row: TrialRow) -> tuple[int, float, int]:
        value = row.value if row.value is not None and not math.isnan(row.value) else math.inf * sign
        return rank.get(row.state, 2), sign * value, row.number

    return sorted(rows, key=key)


def summarize(study: Any, base: Recipe, plan: SweepPlan, recipe_path: Path) -> SweepSummary:
    """Collect the trials, write sweep.json and best.yaml; the reproducing command names both ways to rerun."""
    rows = sort_rows(trial_rows(study), plan.direction)
    summary = SweepSummary(plan.objective, plan.direction, rows)
    complete = [r for r in rows if r.state == "complete"]
    if complete:
        best = summary.best = complete[0]
        raw = apply_values(base.model_dump(mode="json"), best.params)
        raw["name"], raw["sweep"] = f"{base.name}-best", None
        summary.best_recipe = plan.root / "best.yaml"
        header = (f"# Best trial ({best.number}) of sweep {base.name}: {plan.objective} = {best.value:.6g}\n"
                  f"# slmforge run {summary.best_recipe}\n")
        write_text_atomic(summary.best_recipe, header + validate(raw).to_yaml())
        sets = " ".join(f"--set {k}={_yaml_scalar(v)}" for k, v in best.params.items())
        summary.command = f"slmforge run {recipe_path} {sets}"
    write_json_atomic(plan.root / "sweep.json", {
        "objective": plan.objective, "direction": plan.direction, "storage": plan.storage,
        "best": asdict(summary.best) if summary.best else None, "best_recipe": str(summary.best_recipe or ""),
        "command": summary.command, "trials": [asdict(r) for r in rows],
    })
    from slmforge.orchestrate.sweep.page import write_page

    write_page(study, summary, plan.root / "sweep.html", base.name)
    return summary


def _yaml_scalar(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def print_summary(summary: SweepSummary, console: Console) -> None:
    keys = sorted({k for r in summary.trials for k in r.params})
    table = Table(title=f"trials by {summary.objective} ({summary.direction})")
    for col in ("trial", "state", summary.objective, *keys, "s", "note"):
        table.add_column(col, justify="right" if col not in ("state", "note") else "left")
    for r in summary.trials:
        value = "-" if r.value is None else f"{r.value:.4f}"
        style = "bold green" if summary.best is not None and r.number == summary.best.number else None
        table.add_row(str(r.number), r.state, value, *(_yaml_scalar(r.params[k]) if k in r.params else "-" for k in keys),
                      "-" if r.seconds is None else f"{r.seconds:.0f}", r.note[:80], style=style)
    console.print(table)
    if summary.best is None:
        console.print("[red]no trial completed[/red]: see the notes above; fix the cause and re-run to continue the study")
        return
    params = ", ".join(f"{k}={_yaml_scalar(v)}" for k, v in summary.best.params.items())
    console.print(f"best: trial {summary.best.number} · {summary.objective} {summary.best.value:.4f} · {params}")
    console.print(f"best recipe: [bold]{summary.best_recipe}[/bold] (slmforge run {summary.best_recipe})")
    console.print(f"reproduce: {summary.command}", highlight=False, soft_wrap=True)
