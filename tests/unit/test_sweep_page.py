"""sweep.html: both plots (objective history, parameter importance) are real PNGs, the table lists every trial."""

from __future__ import annotations

import base64
import io
import re

import optuna

from slmforge.orchestrate.sweep.page import render
from slmforge.orchestrate.sweep.summary import SweepSummary, sort_rows, trial_rows

optuna.logging.set_verbosity(optuna.logging.ERROR)


def pngs(html: str) -> dict[str, tuple[int, int]]:
    """title -> (width, height) of every embedded image, decoded."""
    import matplotlib.image

    out = {}
    for title, data in re.findall(r'<img alt="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"', html):
        raw = base64.b64decode(data)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        out[title] = matplotlib.image.imread(io.BytesIO(raw), format="png").shape[:2]
    return out


def study_with(n_complete: int):
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):
        lr = trial.suggest_float("train.lr", 1e-5, 1e-2, log=True)
        r = trial.suggest_categorical("train.lora.r", [8, 16])
        if trial.number == 1:
            trial.report(9.0, 2)
            raise optuna.TrialPruned()
        return (lr - 3e-3) ** 2 * 1e4 + (0.1 if r == 8 else 0.0)

    study.optimize(objective, n_trials=n_complete + 1)
    return study


def summary_of(study):
    rows = sort_rows(trial_rows(study), "minimize")
    complete = [r for r in rows if r.state == "complete"]
    return SweepSummary("val_loss", "minimize", rows, complete[0] if complete else None)


def test_page_has_objective_history_and_parameter_importance_plots_and_every_trial(tmp_path):
    study = study_with(5)
    html = render(study, summary_of(study), tmp_path / "sweep.html", "demo")
    images = pngs(html)
    assert set(images) == {"objective history", "parameter importance"}
    assert all(h > 100 and w > 100 for h, w in images.values())
    assert html.count("<tr>") == 1 + 6  # header + every trial, pruned one included
    assert "pruned" in html and "train.lora.r" in html


def test_page_with_one_complete_trial_says_why_there_is_no_importance(tmp_path):
    study = study_with(1)
    html = render(study, summary_of(study), tmp_path / "sweep.html", "demo")
    assert set(pngs(html)) == {"objective history"}
    assert "No parameter importance: 1 complete trial(s): importance needs at least 2" in html
