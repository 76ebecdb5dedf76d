"""Custom metrics named in the recipe as `module:function`.

The function is called as fn(outputs=[...], references=[...], metas=[...]) and returns
{name: number}; its names join the results table as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from slmforge.errors import RecipeError


def load_metric(spec: str) -> Callable[..., dict[str, float]]:
    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise RecipeError(f"eval.custom_metrics: {spec!r} is not module:function (e.g. mypkg.metrics:rhymes)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"eval.custom_metrics: cannot import {module_name} ({exc}); put it on PYTHONPATH") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise RecipeError(f"eval.custom_metrics: {module_name} has no function {function}")
    return fn


def run_custom_metrics(specs: list[str], outputs: list[str], references: list[str], metas: list[dict[str, Any]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for spec in specs:
        value = load_metric(spec)(outputs=outputs, references=references, metas=metas)
        if not isinstance(value, dict) or not all(isinstance(v, (int, float)) for v in value.values()):
            raise RecipeError(f"eval.custom_metrics: {spec} must return a dict of name -> number, got {type(value).__name__}")
        scores.update({str(k): float(v) for k, v in value.items()})
    return scores
