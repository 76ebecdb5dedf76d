"""The New run page's back end: shipped recipes, the schema the form is built from, live checks and the plan.

A check runs the CLI's own `recipe.validate`, so the page shows exactly the lines `slmforge run`
would print, and `train/plan.py`'s memory table for the same recipe.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe, validate
from slmforge.orchestrate.studio.safety import NotFound

GIB = 1024**3


def recipe_dirs(cwd: Path) -> list[Path]:
    """recipes/ where the studio was started, and beside the package in a source checkout."""
    here = Path(__file__).resolve().parents[2] / "recipes"
    found = []
    for folder in (cwd / "recipes", here):
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in found]:
            found.append(folder)
    return found


def shipped_recipes(cwd: Path) -> list[dict[str, str]]:
    """name, path and the first comment line (what the recipe is for) of every shipped recipe."""
    out = []
    for folder in recipe_dirs(cwd):
        for path in sorted(folder.glob("*.yaml")):
            first = next((line.lstrip("# ").strip() for line in path.read_text(encoding="utf-8").splitlines()
                          if line.startswith("#")), "")
            out.append({"name": path.stem, "path": str(path), "about": first})
    return out


def load_shipped(cwd: Path, name: str) -> dict[str, Any]:
    """A shipped recipe as written (raw) and with every default filled in (resolved), for the form."""
    match = next((r for r in shipped_recipes(cwd) if r["name"] == name), None)
    if match is None:
        raise NotFound(f"{name}: no such recipe in {', '.join(str(d) for d in recipe_dirs(cwd)) or 'recipes/'}")
    raw = yaml.safe_load(Path(match["path"]).read_text(encoding="utf-8")) or {}
    return {"raw": raw, "resolved": validate(raw, match["path"]).model_dump(mode="json")}


def starter_for_data(path: str, fmt: str) -> dict[str, Any]:
    """A recipe around a user's data file: the embedded model, LoRA, defaults elsewhere."""
    stem = Path(path).stem.replace(" ", "-") or "my-run"
    raw = {"name": stem, "model": {"id": "embedded:smollm2-135m"}, "data": {"path": path, "format": fmt}, "train": {"method": "lora"}}
    return {"raw": raw, "resolved": validate(raw, "recipe").model_dump(mode="json")}


def guess_format(first_row: dict[str, Any]) -> str:
    keys = set(first_row)
    if "messages" in keys:
        return "messages"
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if "label" in keys:
        return "unpaired"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    return "pairs"


@functools.cache
def form_schema() -> dict[str, Any]:
    """Recipe's JSON schema: sections, descriptions (the help text), defaults, enums and bounds."""
    return Recipe.model_json_schema()


@dataclass
class Check:
    errors: list[dict[str, str]] = field(default_factory=list)  # {key, line}: line is what the CLI prints after "error: "
    yaml: str | None = None
    recipe: Recipe | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.errors, "errors": self.errors, "yaml": self.yaml}


def check(raw: Any) -> Check:
    try:
        recipe = validate(raw, "recipe")
    except SlmforgeError as exc:
        return Check([{"key": line.split(":", 1)[0], "line": line} for line in str(exc).splitlines()])
    return Check(yaml=recipe.to_yaml(), recipe=recipe)


def memory_table(recipe: Recipe) -> dict[str, Any]:
    """`slmforge plan`'s memory table as data: GiB per part and column, and whether it fits here."""
    import torch

    from slmforge.runtime.memory import SFT_COLUMNS, arch_for, available_memory, fits_here, job_length, memory_plans, micro_batches, micro_budget

    cuda = torch.cuda.is_available()
    try:
        a = arch_for(recipe.model.id)
    except SlmforgeError as exc:
        return {"error": str(exc)}
    plans = memory_plans(recipe, a, cuda)
    have = available_memory(cuda)
    parts = ["weights", "gradients", "optimizer", "activations", "logits", "overhead"]
    parts += [p for p in ("reference", "generation") if any(getattr(m, p) for m in plans.values())]
    batch, length = recipe.train.batch_size, job_length(recipe)
    micro = micro_batches(batch, length, micro_budget(recipe, a, cuda)) if recipe.train.method in SFT_COLUMNS else None
    per_forward = f" (micro-batches of {micro.rows} × {micro.splits})" if micro and micro.splits > 1 else ""
    return {
        "title": f"{recipe.model.id}: {a.params / 1e6:,.0f}M parameters · batch {batch}{per_forward} × length "
                 f"{length} · {'CUDA' if cuda else 'CPU'} {have / GIB:.0f} GiB",
        "columns": list(plans),
        "method": recipe.train.method,
        "rows": [{"part": part, "gib": [round(getattr(m, part) / GIB, 4) for m in plans.values()]} for part in (*parts, "total")],
        "fits": [fits_here(col, m, have, cuda) for col, m in plans.items()],
    }


