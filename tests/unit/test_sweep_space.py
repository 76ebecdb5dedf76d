"""Sweep space, objective and plan: parsed and checked before any model loads (no training here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from slmforge.core.errors import RecipeError, SlmforgeError
from slmforge.core.recipe import validate
from slmforge.orchestrate.sweep.objective import needs_eval, read_objective
from slmforge.orchestrate.sweep.space import Param, apply_values, infer_direction, merge_params, parse_cli_params, parse_param, touches_data
from slmforge.orchestrate.sweep.study import make_plan, open_study, trial_recipe
from slmforge.orchestrate.sweep.summary import TrialRow, sort_rows


def base(**extra):
    return validate({"name": "demo", "data": {"path": "x.jsonl"}, **extra})


def test_every_space_kind_parses_with_its_bounds_or_choices():
    assert parse_param("train.lr", "loguniform:1e-5:5e-5") == Param("train.lr", "loguniform", 1e-5, 5e-5)
    assert parse_param("train.epochs", "int:2:5") == Param("train.epochs", "int", 2, 5)
    assert parse_param("train.warmup_ratio", "float:0:0.1") == Param("train.warmup_ratio", "float", 0.0, 0.1)
    assert parse_param("train.lora.r", "categorical:8,16,32").choices == (8, 16, 32)
    assert parse_param("train.scheduler", "categorical:cosine,linear").choices == ("cosine", "linear")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("uniform:1:2", "unknown space 'uniform'"),
        ("loguniform:0:1", "loguniform needs low > 0"),
        ("int:5:2", "low must be < high"),
        ("float:a:b", "float needs LOW:HIGH numbers"),
        ("categorical:8", "at least two choices"),
    ],
)
def test_bad_space_is_one_line_naming_the_key(spec, message):
    with pytest.raises(RecipeError) as err:
        parse_param("train.lr", spec)
    assert str(err.value).startswith("--param train.lr: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_param_without_equals_says_how_to_write_it():
    with pytest.raises(RecipeError, match="expected KEY=SPACE"):
        parse_cli_params(["train.lr"])


def test_command_line_param_replaces_the_recipe_one_for_the_same_key():
    merged = merge_params({"train.lr": "float:1e-4:1e-3", "train.epochs": "int:1:3"}, parse_cli_params(["train.lr=loguniform:1e-5:5e-5"]))
    assert {p.key: p.kind for p in merged} == {"train.lr": "loguniform", "train.epochs": "int"}


@pytest.mark.parametrize(
    ("objective", "direction"),
    [("val_loss", "minimize"), ("train_loss", "minimize"), ("mae", "minimize"), ("models.final.rmse", "minimize"),
     ("perplexity", "minimize"), ("rouge_l", "maximize"), ("bleu", "maximize"), ("exact_match", "maximize"),
     ("parts.unseen.models.final.degenerate", "minimize"), ("top_frame_share", "minimize"), ("near_copies", "minimize"),
     ("parts.unseen.models.final.sample_distinctness", "maximize"), ("stopped", "maximize")],
)
def test_direction_is_inferred_from_the_objective_name(objective, direction):
    assert infer_direction(objective) == direction


def test_explicit_direction_overrides_the_inferred_one():
    assert infer_direction("val_loss", "maximize") == "maximize"


def test_values_land_at_dotted_keys_without_touching_the_original():
    raw = {"train": {"lr": 1.0}}
    out = apply_values(raw, {"train.lr": 2.0, "train.lora.r": 8})
    assert out == {"train": {"lr": 2.0, "lora": {"r": 8}}} and raw == {"train": {"lr": 1.0}}


def test_only_model_or_data_params_make_trials_prepare_their_own_data():
    assert not touches_data([Param("train.lr", "float", 0.1, 0.2)])
    assert touches_data([Param("data.max_length", "int", 32, 64)])


def test_a_typo_in_a_swept_key_fails_up_front_naming_it(tmp_path):
    with pytest.raises(RecipeError, match=r"train\.lrr: unknown key, did you mean lr\?"):
        make_plan(base(), tmp_path, parse_cli_params(["train.lrr=float:0.1:0.2"]))


def test_a_value_outside_the_recipe_rules_fails_up_front(tmp_path):
    with pytest.raises(RecipeError, match=r"train\.lr: must be > 0"):
        make_plan(base(), tmp_path, parse_cli_params(["train.lr=float:-1:1"]))


def test_no_params_anywhere_says_where_to_put_them(tmp_path):
    with pytest.raises(RecipeError, match="add a sweep.params section or --param"):
        make_plan(base(), tmp_path, [])


def test_val_loss_objective_needs_a_validation_split(tmp_path):
    recipe = base(data={"path": "x.jsonl", "split": {"train": 0.9, "val": 0.0, "test": 0.1}})
    with pytest.raises(RecipeError, match="data.split.val > 0"):
        make_plan(recipe, tmp_path, parse_cli_params(["train.lr=float:0.1:0.2"]))


def test_plan_merges_recipe_section_and_defaults_storage_to_the_run_directory(tmp_path):
    recipe = base(sweep={"params": {"train.epochs": "int:1:3"}, "trials": 7, "objective": "rouge_l"})
    plan = make_plan(recipe, tmp_path, parse_cli_params(["train.lr=loguniform:1e-5:5e-5"]))
    assert [p.key for p in plan.params] == ["train.epochs", "train.lr"]
    assert (plan.trials, plan.direction, plan.prune) == (7, "maximize", False)  # eval-loss pruning only for a loss objective
    assert plan.storage == f"sqlite:///{(tmp_path / 'demo' / 'sweep.db').resolve()}"


def test_a_grid_sweep_runs_every_combination_once_and_refuses_ranges(tmp_path):
    grid = {"train.method": "categorical:lora,full", "train.lr": "categorical:1e-4,1e-3"}
    plan = make_plan(base(sweep={"params": grid, "sampler": "grid", "trials": 4}), tmp_path, [])
    study = open_study(replace(plan, storage=f"sqlite:///{tmp_path / 'grid.db'}"))  # the sweep's own study, its sampler set once
    for _ in range(plan.trials):
        study.optimize(lambda t: sum(hash(str(t.suggest_categorical(p.key, list(p.choices)))) % 7 for p in plan.params), n_trials=1)
    seen = sorted((t.params["train.method"], t.params["train.lr"]) for t in study.trials)
    lrs = plan.params[1].choices
    assert seen == sorted((m, lr) for m in ("lora", "full") for lr in lrs) and len(lrs) == 2
    with pytest.raises(RecipeError, match=r"sweep.sampler: grid needs categorical params; train.lr is a range"):
        make_plan(base(sweep={"params": {"train.lr": "float:0.1:0.2"}, "sampler": "grid"}), tmp_path, [])


def test_trial_recipe_is_named_by_number_and_has_no_sweep_section():
    recipe = trial_recipe(base(sweep={"params": {"train.lr": "float:0.1:0.2"}}), {"train.lr": 0.15}, 7)
    assert (recipe.name, recipe.train.lr, recipe.sweep) == ("trial-007", 0.15, None)


def test_val_loss_is_the_last_eval_loss_and_eval_metrics_come_from_results(tmp_path):
    (tmp_path / "logs").mkdir()
    lines = [{"step": 1, "loss": 3.0}, {"step": 2, "eval_loss": 2.5}, {"step": 2, "loss": 2.0}, {"step": 4, "eval_loss": 2.25}]
    (tmp_path / "logs" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert read_objective(tmp_path, "val_loss") == 2.25 and read_objective(tmp_path, "train_loss") == 2.0
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text(json.dumps({"models": {"final": {"rouge_l": 0.4}, "base": {"rouge_l": 0.1}}}))
    assert read_objective(tmp_path, "rouge_l") == 0.4 and read_objective(tmp_path, "models.base.rouge_l") == 0.1
    assert needs_eval("rouge_l") and not needs_eval("val_loss")


def test_unknown_eval_metric_lists_the_ones_there(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text(json.dumps({"models": {"final": {"rouge_l": 0.4, "bleu": 1.0}}}))
    with pytest.raises(SlmforgeError, match="metrics there: bleu, rouge_l"):
        read_objective(tmp_path, "rogue")


def test_no_eval_loss_logged_says_what_to_change(tmp_path):
    with pytest.raises(SlmforgeError, match="no eval_loss logged; set train.eval_steps"):
        read_objective(Path(tmp_path), "val_loss")


def test_table_puts_complete_trials_best_first_then_pruned_then_failed():
    rows = [TrialRow(0, "fail", None, {}, 1, "boom", None), TrialRow(1, "complete", 2.0, {}, 1, "", None),
            TrialRow(2, "pruned", 1.0, {}, 1, "", None), TrialRow(3, "complete", 1.5, {}, 1, "", None)]
    assert [r.number for r in sort_rows(rows, "minimize")] == [3, 1, 2, 0]
    assert [r.number for r in sort_rows(rows, "maximize")] == [1, 3, 2, 0]
