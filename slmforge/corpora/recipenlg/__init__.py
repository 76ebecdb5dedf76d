"""RecipeNLG as instruction pairs for a cooking assistant.

Four tasks: a recipe from its title and ingredients; putting shuffled steps back in order; what
to prep during the longest wait (read from the directions' timings); a plan for two dishes at
once. Rows stream through, so the 2-million-row CSV never sits in memory.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from slmforge.corpora.recipenlg.pairs import prep_while_cooking, recipe_from_ingredients, step_order, two_dish_plan
from slmforge.corpora.recipenlg.rows import MalformedRow, Recipe, parse_row, read_recipes
from slmforge.corpora.recipenlg.timing import longest_wait, read_steps

TASKS = ("recipe_from_ingredients", "step_order", "prep_while_cooking", "two_dish_plan")


@dataclass
class RecipeReport:
    rows: int = 0
    recipes: int = 0
    malformed: Counter[str] = field(default_factory=Counter)  # reason -> rows
    pairs: Counter[str] = field(default_factory=Counter)  # task -> pairs


def recipe_pairs(items: Iterable[Recipe | MalformedRow], seed: int = 0, report: RecipeReport | None = None) -> Iterator[dict]:
    """Pairs for each recipe in order; each timed recipe is planned together with the next timed one."""
    report = report if report is not None else RecipeReport()
    rng = random.Random(seed)
    waiting_for_partner: Recipe | None = None
    for item in items:
        report.rows += 1
        if isinstance(item, MalformedRow):
            report.malformed[item.reason] += 1
            continue
        report.recipes += 1
        made = [recipe_from_ingredients(item, rng), step_order(item, rng), prep_while_cooking(item, rng)]
        if longest_wait(read_steps(item.directions)) is not None:
            if waiting_for_partner is None:
                waiting_for_partner = item
            else:
                made.append(two_dish_plan(waiting_for_partner, item))
                waiting_for_partner = None
        for record in made:
            if record is not None:
                report.pairs[record["task"]] += 1
                yield record


__all__ = ["TASKS", "MalformedRow", "Recipe", "RecipeReport", "parse_row", "read_recipes", "recipe_pairs"]
