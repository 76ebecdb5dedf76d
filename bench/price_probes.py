"""The price task's probes (bench/RESULTS.md, "Price task", rows e1-e3, c1-c3, s1-s2): writes their data and recipes.

    python bench/price_probes.py /tmp/px          # then: slmforge run /tmp/px/e2.yaml --runs /tmp/px/runs

The data are the prices corpus's own 2,000 listings (seed 0, the prices-quick recipe's), as three prompts:
compact.jsonl (only the Title, Category, Features, Condition and Warranty lines: the title already names brand,
size and color, and the model number is random characters), catfirst.jsonl (the same with the Category line first)
cat.jsonl (the category alone: can the weights learn even the per-category price in the budget?) and short.jsonl
(the corpus's `listing: short`, rows s1-s2: category, title and condition). Nothing here runs a model; each recipe is prices-quick's eval with the training keys of its row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from slmforge.corpora import write_jsonl
from slmforge.corpora.prices import price_records

KEEP = ("Title:", "Category:", "Features:", "Condition:", "Warranty:")
TRAIN = {
    "e1": ("compact", {"method": "lora", "max_steps": 160, "batch_size": 8, "lr": 1e-3, "lora": {"r": 32, "alpha": 64}}),
    "e2": ("compact", {"method": "full", "max_steps": 54, "batch_size": 16, "lr": 3e-4}),
    "e3": ("catfirst", {"method": "full", "max_steps": 60, "batch_size": 16, "lr": 6e-4}),
    "c1": ("cat", {"method": "lora", "max_steps": 60, "batch_size": 16, "lr": 1e-3, "lora": {"r": 32, "alpha": 64}}),
    "c2": ("cat", {"method": "full", "max_steps": 60, "batch_size": 16, "lr": 3e-4}),
    "c3": ("cat", {"method": "lora", "max_steps": 60, "batch_size": 16, "lr": 4e-3, "lora": {"r": 32, "alpha": 64}}),
    "s1": ("short", {"method": "full", "max_steps": 100, "batch_size": 16, "lr": 6e-4}),
    "s2": ("short", {"method": "full", "max_steps": 170, "batch_size": 16, "lr": 6e-4}),
}


def prompts(record: dict) -> dict[str, str]:
    question, listing = record["input"].split("\n\n", 1)
    lines = [line for line in listing.split("\n") if line.startswith(KEEP)]
    category = [line for line in lines if line.startswith("Category:")]
    rest = [line for line in lines if not line.startswith("Category:")]
    return {"compact": f"{question}\n\n" + "\n".join(lines), "catfirst": f"{question}\n\n" + "\n".join(category + rest),
            "cat": category[0]}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = price_records(2000, seed=0)
    for kind in ("compact", "catfirst", "cat"):
        with open(out / f"{kind}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps({**r, "input": prompts(r)[kind]}) + "\n" for r in records)
    write_jsonl(price_records(2000, seed=0, listing="short"), out / "short.jsonl")  # the corpus's own short listing
    for name, (kind, train) in TRAIN.items():
        recipe = {
            "name": name, "model": {"id": "embedded:smollm2-135m"},
            # cat.jsonl repeats prompts with the same price: duplicates are the data there, not a mistake.
            "data": {"path": str(out / f"{kind}.jsonl"), "format": "pairs", "dedupe": kind != "cat",
                     "system_prompt": "Price the listing.", "split": {"stratify": "category", "group_by": None}, "max_length": 128},
            "train": {**train, "eval_steps": 30, "save_steps": 30},
            "eval": {"samples": 100, "max_new_tokens": 12, "compare_base": kind != "cat"},
            "export": {"formats": []},
        }
        (out / f"{name}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    print(f"{out}: {', '.join(f'{n}.yaml' for n in TRAIN)} and their data; run e.g. slmforge run {out / 'e2.yaml'} --runs {out / 'runs'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/px"))
