"""A tiny CSV shaped like RecipeNLG's full_dataset.csv (unnamed index column first), for tests and demos."""

from __future__ import annotations

import csv
import json
from pathlib import Path

RECIPES = [
    ("Cherry Cobbler", ["2 c. cherries", "1 c. flour", "1/2 c. butter", "1 c. sugar"],
     ["Preheat oven to 350°.", "Melt butter in a baking dish.", "Mix flour and sugar.", "Pour batter over butter and top with cherries.",
      "Bake 40 to 45 minutes.", "Meanwhile, whisk cream for topping.", "Serve warm."]),
    ("Quick Rice", ["1 c. rice", "2 c. water", "salt"],
     ["Bring water to a boil.", "Add rice and salt.", "Cover and simmer for 20 minutes.", "Chop parsley.", "Fluff with a fork."]),
    ("Ice Box Pie", ["1 graham crust", "1 can condensed milk", "1/2 c. lemon juice"],
     ["Beat milk and lemon juice.", "Pour into crust.", "Chill 2 hours.", "Slice and serve."]),
    ("Buttered Toast", ["bread", "butter"], ["Toast bread.", "Spread butter."]),
]


def write_sample_csv(path: Path) -> Path:
    """Four recipes and three broken rows (bad JSON, no title, no directions), in RecipeNLG's columns."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["", "title", "ingredients", "directions", "link", "source", "NER"])
        for i, (title, ingredients, directions) in enumerate(RECIPES):
            writer.writerow([i, title, json.dumps(ingredients), json.dumps(directions), f"example.com/{i}", "Gathered", json.dumps(["x"])])
        writer.writerow([10, "Broken Stew", "[not json", json.dumps(["Stir."]), "", "Gathered", "[]"])
        writer.writerow([11, "", json.dumps(["salt"]), json.dumps(["Salt it."]), "", "Gathered", "[]"])
        writer.writerow([12, "No Steps", json.dumps(["salt"]), "[]", "", "Gathered", "[]"])
    return path
