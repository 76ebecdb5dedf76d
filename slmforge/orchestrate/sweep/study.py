"""`slmforge sweep`: an Optuna study whose trials are ordinary run directories.

Reads top to bottom: resolve the space → check every key with one dry recipe → prepare the data
once → open (or continue) the study → per trial: recipe → run directory → pipeline stages →
objective → summary. The study lives in runs/<name>/sweep.db, so re-running continues it;
`--storage journal` keeps it in Optuna's journal file runs/<name>/sweep.journal instead (made for
several processes on one machine writing at once), any RDB URL shares it between machines.
Processes sharing a study split its trials (sweep/slots.py).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.errors import RecipeError, SlmforgeError
from slmforge.core.recipe import Recipe, objective_problem, validate
from slmforge.core.rundir import RunDir
from slmforge.core.sections import SweepSection
from slmforge.orchestrate.sweep.objective import needs_eval, read_objective
from slmforge.orchestrate.sweep.slots import claim_slot, fail_orphans, is_surplus
from slmforge.orchestrate.sweep.space import Param, apply_values, infer_direction, merge_params, midpoint, touches_data

# Unfinished trials of a process that died stop heartbeating; after the grace period Optuna marks
# them failed, so a resumed (or a second, concurrent) sweep does not wait on them forever.
HEARTBEAT_S, GRACE_S = 20, 60


@dataclass(frozen=True)
class SweepPlan:
    name: str
    root: Path  # runs/<name>: the sweep's directory (prepared data, sweep.db, trials/, best.yaml)
    params: list[Param]
    trials: int
    objective: str
    direction: str  # minimize | maximize
    prune: bool
    storage: str
    seed: int
    sampler: str = "tpe"  # tpe | grid


def make_plan(recipe: Recipe, runs: Path, cli_params: list[Param], trials: int | None = None, objective: str | None = None,
              direction: str | None = None, storage: str | None = None) -> SweepPlan:
    """Merge the recipe's sweep section with the command line and check it before any model loads."""
    section = recipe.sweep or SweepSection()  # the section's defaults when the recipe has none
    params = merge_params(section.params, cli_params)
    if not params:
        raise RecipeError("sweep: nothing to search; add a sweep.params section or --param train.lr=loguniform:1e-5:5e-5")
    objective = objective or section.objective
    resolved_direction = infer_direction(objective, direction or section.direction)
    problem = objective_problem(objective, recipe)  # the recipe's own objective was checked when it loaded; --objective now
    if problem:
        raise RecipeError(problem)
    root = RunDir.for_recipe(recipe, runs).root
    # Pruning judges intermediate eval losses: only meaningful when the objective is that loss.
    prune = section.pruner == "median" and objective in ("val_loss", "eval_loss")
    url = storage or section.storage or f"sqlite:///{(root / 'sweep.db').resolve()}"
    if url == "journal" or url.startswith("journal:"):
        url = f"journal:{Path(url.partition(':')[2] or root / 'sweep.journal').resolve()}"
    if section.sampler == "grid" and (loose := [p.key for p in params if p.kind != "categorical"]):
        raise RecipeError(f"sweep.sampler: grid needs categorical params; {', '.join(loose)} "
                          "is a range (write it as categorical:A,B,C or use sampler: tpe)")
    plan = SweepPlan(recipe.name, root, params, trials or section.trials, objective, resolved_direction, prune, url, section.seed,
                     section.sampler)
    trial_recipe(recipe, {p.key: midpoint(p) for p in params}, 0)  # a typo in a key fails now, not in trial 1
    return plan


def trial_recipe(base: Recipe, values: dict[str, Any], number: int) -> Recipe:
    """The base recipe with the trial's values, named trial-NNN, without the sweep section."""
    raw = apply_values(base.model_dump(mode="json"), values)
    raw["name"], raw["sweep"] = f"trial-{number:03d}", None
    try:
        return validate(raw, source=f"trial {number}")
    except RecipeError as exc:
        raise RecipeError(f"sweep params {', '.join(f'{k}={v}' for k, v in values.items())}: {exc}") from None


def link_prepared_data(parent: RunDir, trial: RunDir, recipe: Recipe) -> None:
    """Give a trial the sweep's prepared data (hard links) and a complete prepare record, so `run` skips it."""
    from slmforge.orchestrate.pipeline import STAGES, stage_fingerprint

    if trial.data.exists():
        shutil.rmtree(trial.data)
    files = []
    for src in sorted(p for p in parent.data.rglob("*") if p.is_file()):
        dst = trial.data / src.relative_to(parent.data)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:  # another filesystem, or links not allowed: a copy costs disk, not correctness
            shutil.copy2(src, dst)
        files.append(dst)
    prepare = next(s for s in STAGES if s.name == "prepare")
    fp, inputs = stage_fingerprint(prepare, recipe, trial)
    trial.finish_stage("prepare", trial.start_stage("prepare", fp, inputs), files)


def _pruning_callback(trial: Any) -> Any:
    from transformers import TrainerCallback

    class PruneOnEvalLoss(TrainerCallback):
        """Report each eval loss to the study; stop training (checkpoint and model still saved) when the pruner says so."""

        pruned_at: int | None = None

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any) -> None:
            if not metrics or "eval_loss" not in metrics:
                return
            trial.report(float(metrics["eval_loss"]), state.global_step)
            if trial.should_prune():
                self.pruned_at = state.global_step
                control.should_training_stop = True

    return PruneOnEvalLoss()


def open_study(plan: SweepPlan) -> Any:
    """Open (or create) the study; processes starting together on one machine take turns (file lock)."""
    import fcntl

    plan.root.mkdir(parents=True, exist_ok=True)
    with open(plan.root / ".sweep.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for attempt in range(3):
            try:
                study = _open_study(plan)
                break
            except Exception as exc:  # bad URL, unreachable server, unsupported driver
                # Machines creating one RDB study at once race on its tables: a retry finds them made.
                if "already exists" in str(exc) and attempt < 2:
                    time.sleep(1 + attempt)
                    continue
                raise SlmforgeError(f"sweep.storage: {plan.storage}: {str(exc).splitlines()[0]}") from None
    if study.direction.name.lower() != plan.direction:
        raise SlmforgeError(f"{plan.storage}: study {plan.name} was created to {study.direction.name.lower()}; "
                            f"keep --direction {study.direction.name.lower()} or use another --storage")
    return study


def _open_study(plan: SweepPlan) -> Any:
    import warnings

    import optuna

    # Our per-trial lines replace Optuna's; its "trial failed" warning carries a traceback a user must not see
    # (unexpected errors keep theirs in the trial's error.log).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat is "experimental"
    # Median of how many finished trials before pruning starts: 1 in a 4-trial sweep, Optuna's 5 from 20 trials on.
    startup = min(5, max(1, plan.trials // 4))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=startup) if plan.prune else optuna.pruners.NopPruner()
    storage: Any = plan.storage
    if plan.storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(plan.storage.partition(":")[2])
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    elif plan.storage.startswith(("sqlite:", "postgresql", "mysql")):
        storage = optuna.storages.RDBStorage(plan.storage, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    # The grid sampler must be the study's from its first trial on (it tags each trial with its grid point as the trial
    # starts); TPE is reseeded per trial in Trials.objective.
    return optuna.create_study(storage=storage, study_name=plan.name, direction=plan.direction, load_if_exists=True, pruner=pruner,
                               sampler=_sampler(plan, 0))


def finished(study: Any) -> int:
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if not is_surplus(t))


def sweep(base: Recipe, plan: SweepPlan, console: Console) -> Any:
    """Run trials until the study holds plan.trials finished ones; returns the study."""
    from slmforge.orchestrate.pipeline import run_stages

    plan.root.mkdir(parents=True, exist_ok=True)
    study = open_study(plan)
    for number in fail_orphans(study):
        console.print(f"[yellow]trial {number}: its process ended while it ran; marked failed[/yellow]")
    shared_data = not touches_data(plan.params)
    if shared_data:
        import fcntl

        # Processes starting together on one machine prepare once: the others wait, then find it complete and skip.
        with open(plan.root / ".prepare.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            run_stages(base.model_copy(update={"sweep": None}), plan.root.parent, ["prepare"])  # skipped when already prepared
    todo = max(0, plan.trials - finished(study))
    console.print(
        f"sweep [bold]{plan.name}[/bold]: {plan.trials} trials ({todo} to run) · {plan.direction} {plan.objective} · "
        f"pruning {'median of eval losses' if plan.prune else 'off'} · data {'prepared once' if shared_data else 'per trial'} · "
        f"study {plan.storage}"
    )
    for p in plan.params:
        console.print(f"  {p.describe()}")
    if todo:
        trials = Trials(base, plan, study, console, shared_data)
        # Each trial claims one of the plan.trials slots first: processes sharing the study stop together, none overshoots.
        study.optimize(trials.objective, n_trials=todo, catch=(Exception,), callbacks=[trials.report])
    return study


@dataclass
class Trials:
    """One sweep's trials: each is an ordinary run directory under runs/<name>/trials/."""

    base: Recipe
    plan: SweepPlan
    study: Any
    console: Console
    shared_data: bool  # the sweep's prepared data is linked into every trial

    def objective(self, trial: Any) -> float:
        import optuna

        plan, study = self.plan, self.study
        if not claim_slot(study, trial, plan.trials):  # other processes sharing the study took the last trials
            study.stop()
            raise optuna.TrialPruned("surplus")
        # Seeded by trial number: a resumed study draws new points instead of replaying its first ones, processes
        # sharing the study draw different ones, and trial N of the same study always starts from the same seed.
        if plan.sampler != "grid":
            study.sampler = _sampler(plan, trial.number)
        values = {p.key: _suggest(trial, p) for p in plan.params}
        recipe = trial_recipe(self.base, values, trial.number)
        run = RunDir(plan.root / "trials" / recipe.name)
        trial.set_user_attr("run_dir", str(run.root))
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        self.console.rule(f"[bold]trial {trial.number}[/bold] ({finished(study) + 1}/{plan.trials}) · {shown}")
        started = time.time()
        try:
            return self._run(trial, recipe, run)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            line = (str(exc).splitlines() or [type(exc).__name__])[0]
            if not isinstance(exc, SlmforgeError):  # a bug, not a user mistake: keep the traceback for the report
                import traceback

                run.root.mkdir(parents=True, exist_ok=True)
                (run.root / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
                line = f"{type(exc).__name__}: {line} (traceback in {run.root / 'error.log'})"
            trial.set_user_attr("error", line)
            raise
        finally:
            trial.set_user_attr("seconds", round(time.time() - started, 1))

    def _run(self, trial: Any, recipe: Recipe, run: RunDir) -> float:
        import optuna

        from slmforge.orchestrate.pipeline import run_stages
        from slmforge.train.sft import SFT_METHODS

        plan = self.plan
        if run.root.exists():  # left by a study that was deleted: trial numbers restart, the files must too
            shutil.rmtree(run.root)
        run.ensure(recipe)
        if self.shared_data:
            link_prepared_data(RunDir(plan.root), run, recipe)
        pruner = _pruning_callback(trial) if plan.prune and recipe.train.method in SFT_METHODS else None
        # Eval and report are skipped for a pruned trial: stopping was the point.
        run_stages(recipe, run.root.parent, ["prepare", "train"], callbacks=(pruner,) if pruner is not None else ())
        if pruner is not None and pruner.pruned_at is not None:
            trial.set_user_attr("note", f"pruned at step {pruner.pruned_at}")
            raise optuna.TrialPruned(f"pruned at step {pruner.pruned_at}")
        run_stages(recipe, run.root.parent, (["eval"] if needs_eval(plan.objective) else []) + ["report"])
        return read_objective(run.root, plan.objective)

    def report(self, study: Any, frozen: Any) -> None:
        from optuna.trial import TrialState

        if is_surplus(frozen):
            return
        best = _best(study)
        tail = f" · best {best.value:.4f} (trial {best.number})" if best else ""
        if frozen.state == TrialState.COMPLETE:
            self.console.print(f"[green]trial {frozen.number}: {self.plan.objective} {frozen.value:.4f}[/green]{tail}")
        elif frozen.state == TrialState.PRUNED:
            self.console.print(f"[yellow]trial {frozen.number}: {frozen.user_attrs.get('note', 'pruned')}[/yellow]{tail}")
        else:
            self.console.print(f"[red]trial {frozen.number} failed:[/red] {frozen.user_attrs.get('error', '?')}{tail}", highlight=False)


def _sampler(plan: SweepPlan, number: int) -> Any:
    import optuna

    if plan.sampler == "grid":  # Optuna's grid sampler skips combinations the study already ran (other processes' too)
        return optuna.samplers.GridSampler({p.key: list(p.choices) for p in plan.params}, seed=plan.seed)
    return optuna.samplers.TPESampler(seed=plan.seed + number)


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def _suggest(trial: Any, p: Param) -> Any:
    if p.kind == "categorical":
        return trial.suggest_categorical(p.key, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high))  # type: ignore[arg-type]
    return trial.suggest_float(p.key, float(p.low), float(p.high), log=p.kind == "loguniform")  # type: ignore[arg-type]


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
