"""sweep.html: the sweep at a glance — objective history, parameter importance and the trials table.

Plots are matplotlib PNGs embedded as base64 like report.html's, so the page is one file.
Parameter importance is Optuna's (fANOVA over the complete trials, `optuna.importance`); it needs
at least two complete trials whose parameters differ, and says so otherwise.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slmforge.report.page import _CSS, _e, _img, _png, _table, _td

if TYPE_CHECKING:
    from slmforge.orchestrate.sweep.summary import SweepSummary, TrialRow


def history_plot(rows: list[TrialRow], objective: str, direction: str) -> str | None:
    """Objective per trial number (complete ●, pruned × at its last eval loss) and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted((r for r in rows if r.state in ("complete", "pruned") and r.value is not None and math.isfinite(r.value)),
                  key=lambda r: r.number)
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    complete = [r for r in done if r.state == "complete"]
    pruned = [r for r in done if r.state == "pruned"]
    ax.scatter([r.number for r in complete], [r.value for r in complete], label="complete", color="#1f77b4", zorder=3)
    if pruned:
        ax.scatter([r.number for r in pruned], [r.value for r in pruned], label="pruned (last eval loss)", marker="x",
                   color="#ff7f0e", zorder=3)
    best, xs, ys = None, [], []
    pick = min if direction == "minimize" else max
    for r in complete:
        best = r.value if best is None else pick(best, r.value)
        xs.append(r.number)
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="#2ca02c", label="best so far")
    failed = [r.number for r in rows if r.state == "fail"]
    ax.set_xlabel("trial" + (f" (failed: {', '.join(map(str, failed))})" if failed else ""))
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} by trial ({direction})")
    ax.legend(fontsize=8)
    return _png(fig)


def importance(study: Any) -> tuple[dict[str, float], str]:
    """Optuna's parameter importances, or an empty dict and the reason there are none."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"{len(complete)} complete trial(s): importance needs at least 2"
    try:
        return dict(optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))), ""
    except (ValueError, RuntimeError) as exc:  # e.g. every complete trial drew the same values
        return {}, str(exc).splitlines()[0]


def importance_plot(values: dict[str, float]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not values:
        return None
    names = list(values)[::-1]  # most important on top
    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.5 * len(names)))
    ax.barh(names, [values[n] for n in names], color="#1f77b4")
    ax.set_xlim(0, 1)
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_title("parameter importance")
    return _png(fig)


def render(study: Any, summary: SweepSummary, page: Path, name: str) -> str:
    keys = sorted({k for r in summary.trials for k in r.params})
    values, why_not = importance(study)
    plots = [("objective history", history_plot(summary.trials, summary.objective, summary.direction)),
             ("parameter importance", importance_plot(values))]
    shown = "".join(_img(title, data) for title, data in plots if data)
    notes = "" if values else f"<p class='muted'>No parameter importance: {_e(why_not)}.</p>"
    rows = []
    for r in summary.trials:
        link = ""
        if r.run_dir and (Path(r.run_dir) / "report.html").is_file():
            href = os.path.relpath(Path(r.run_dir) / "report.html", page.parent)
            link = f"<a href='{_e(href)}'>report</a>"
        best = summary.best is not None and r.number == summary.best.number
        rows.append([_td(r.number, "better" if best else ""), _td(r.state),
                     _td("-" if r.value is None else f"{r.value:.4f}", "num"),
                     *(_td(r.params.get(k, "-"), "num") for k in keys),
                     _td("-" if r.seconds is None else f"{r.seconds:.0f}", "num"), _td(r.note[:200]), f"<td>{link}</td>"])
    best_line = ""
    if summary.best is not None:
        best_line = (f"<p>Best: trial {summary.best.number} · {_e(summary.objective)} {summary.best.value:.4f} · "
                     f"recipe <code>{_e(summary.best_recipe)}</code> · reproduce: <code>{_e(summary.command)}</code></p>")
    return "\n".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>slmforge sweep: {_e(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>sweep {_e(name)}</h1><p class='muted'>{len(summary.trials)} trials · {_e(summary.direction)} {_e(summary.objective)}</p>",
        best_line,
        f"<h2>Plots</h2><div class='plots'>{shown}</div>{notes}",
        "<h2>Trials</h2>" + _table(["trial", "state", summary.objective, *keys, "s", "note", ""], rows),
        "</body></html>",
    ])


def write_page(study: Any, summary: SweepSummary, page: Path, name: str) -> Path:
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(render(study, summary, page, name), encoding="utf-8")
    os.replace(tmp, page)
    return page
