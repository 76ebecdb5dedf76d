"""RecipeNLG conversion on a small CSV written here, with the real file's shape (unnamed index column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slmforge.core.errors import DataError
from slmforge.corpora.recipenlg import TASKS, RecipeReport, read_recipes, recipe_pairs
from slmforge.corpora.recipenlg.pairs import plan_two
from slmforge.corpora.recipenlg.rows import Recipe
from slmforge.corpora.recipenlg.sample import RECIPES, write_sample_csv
from slmforge.corpora.recipenlg.timing import duration_minutes, read_steps


@pytest.fixture
def fixture_csv(tmp_path) -> Path:
    return write_sample_csv(tmp_path / "full_dataset.csv")


def convert(path: Path, seed: int = 0) -> tuple[list[dict], RecipeReport]:
    report = RecipeReport()
    return list(recipe_pairs(read_recipes(path), seed, report)), report


def test_conversion_makes_every_task_and_counts_malformed_rows(fixture_csv):
    pairs, report = convert(fixture_csv)
    assert report.rows == 7 and report.recipes == 4
    assert report.malformed == {"bad_json_ingredients": 1, "empty_title": 1, "empty_directions": 1}
    assert {p["task"] for p in pairs} == set(TASKS)
    assert report.pairs["recipe_from_ingredients"] == 4
    assert all(p["input"].strip() and p["output"].strip() for p in pairs)


def test_recipe_pair_lists_ingredients_and_answers_with_numbered_directions(fixture_csv):
    pairs, _ = convert(fixture_csv)
    cobbler = next(p for p in pairs if p["task"] == "recipe_from_ingredients" and p["title"] == "Cherry Cobbler")
    assert "Cherry Cobbler" in cobbler["input"] and "- 2 c. cherries" in cobbler["input"]
    assert cobbler["output"].splitlines()[0] == "1. Preheat oven to 350°." and cobbler["output"].splitlines()[-1] == "7. Serve warm."


def test_step_order_shuffles_the_steps_and_the_answer_restores_them(fixture_csv):
    pairs, _ = convert(fixture_csv)
    orders = [p for p in pairs if p["task"] == "step_order"]
    assert {p["title"] for p in orders} == {"Cherry Cobbler", "Quick Rice", "Ice Box Pie"}  # toast has 2 steps
    for p in orders:
        directions = dict((t, d) for t, _, d in RECIPES)[p["title"]]
        shown = [line[2:] for line in p["input"].splitlines() if line.startswith("- ")]
        assert sorted(shown) == sorted(directions) and shown != directions
        assert p["output"] == "\n".join(f"{i}. {d}" for i, d in enumerate(directions, start=1))


def test_prep_while_cooking_names_the_longest_wait_and_a_later_prep_step(fixture_csv):
    pairs, _ = convert(fixture_csv)
    prep = {p["title"]: p["output"] for p in pairs if p["task"] == "prep_while_cooking"}
    assert "Step 5" in prep["Cherry Cobbler"] and "40 to 45 minutes" in prep["Cherry Cobbler"] and "step 6" in prep["Cherry Cobbler"]
    assert "simmer for 20 minutes" in prep["Quick Rice"] and "step 4 (Chop parsley)" in prep["Quick Rice"]
    assert "Buttered Toast" not in prep  # no timed wait, nothing to say


def test_two_dish_plan_uses_every_step_once_and_fills_the_long_wait():
    a = Recipe(1, "Cherry Cobbler", ("x",), tuple(RECIPES[0][2]))
    b = Recipe(2, "Quick Rice", ("y",), tuple(RECIPES[1][2]))
    lines, minutes = plan_two(b, a)
    steps = [line for line in lines if "step" in line]
    assert len(steps) == len(RECIPES[0][2]) + len(RECIPES[1][2])
    assert steps[0].startswith("- Cherry Cobbler")  # the longest wait starts first
    bake = next(i for i, line in enumerate(lines) if "Bake 40 to 45 minutes" in line)
    assert lines[bake + 1].startswith("While that bakes") and lines[bake + 2].startswith("  - Quick Rice")
    assert 45 <= minutes < 45 + 5 * 12


@pytest.mark.parametrize(("text", "minutes"), [("Bake 40 to 45 minutes.", 45), ("Chill 2 hours.", 120), ("Let rise an hour.", 60),
                                              ("Simmer 1 1/2 hours.", 90), ("Rest 1/2 hour.", 30), ("Stir well.", None)])
def test_durations_are_read_from_the_directions(text, minutes):
    found = duration_minutes(text)
    assert (found[0] if found else None) == minutes


def test_waiting_steps_are_told_from_work():
    steps = read_steps(("Chop onions.", "Bake 30 minutes.", "Stir for 2 minutes."))
    assert [s.waiting for s in steps] == [False, True, False] and steps[1].verb == "bake" and steps[2].minutes == 2


def test_missing_file_and_wrong_columns_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file.*--csv"):
        read_recipes(tmp_path / "nope.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,steps\nToast,[]\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column.*title"):
        list(read_recipes(wrong))
