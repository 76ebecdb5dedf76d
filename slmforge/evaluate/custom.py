"""Custom metrics named in the recipe as `module:function`.

The function is called as fn(outputs=[...], references=[...], metas=[...]) and returns
{name: number}; its names join the results table as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slmforge.core.errors import RecipeError
from slmforge.core.recipe import import_callable


def load_metric(spec: str) -> Callable[..., dict[str, float]]:
    return import_callable(spec, "eval.custom_metrics", example="mypkg.metrics:rhymes")


def run_custom_metrics(specs: list[str], outputs: list[str], references: list[str], metas: list[dict[str, Any]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for spec in specs:
        value = load_metric(spec)(outputs=outputs, references=references, metas=metas)
        if not isinstance(value, dict) or not all(isinstance(v, (int, float)) for v in value.values()):
            raise RecipeError(f"eval.custom_metrics: {spec} must return a dict of name -> number, got {type(value).__name__}")
        scores.update({str(k): float(v) for k, v in value.items()})
    return scores
