"""The search space and the objective of a sweep: parsed from strings, pure (no optuna, no I/O).

A parameter is `KEY=KIND:ARGS` on the command line or `KEY: KIND:ARGS` in the recipe's sweep
section: loguniform:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH, categorical:A,B,C.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from slmforge.core.errors import RecipeError
from slmforge.core.recipe import set_dotted

KINDS = ("loguniform", "float", "int", "categorical")
# Objectives whose name says "smaller is better"; everything else (accuracy, rouge, bleu ...) is maximized.
_LOWER_IS_BETTER = ("loss", "error", "mae", "rmse", "mse", "perplexity", "ppl", "degenerate", "copies", "frame_share", "failures",
                    "empty", "identical")


@dataclass(frozen=True)
class Param:
    key: str  # dotted recipe key, e.g. train.lr
    kind: Literal["loguniform", "float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.key} ∈ {{{', '.join(map(str, self.choices))}}}"
        return f"{self.key} {self.kind} [{self.low:g}, {self.high:g}]"


def parse_param(key: str, spec: str, where: str = "--param") -> Param:
    """`train.lr`, `loguniform:1e-5:5e-5` → Param; a one-line RecipeError naming the key otherwise."""
    key = key.strip()
    kind, _, rest = str(spec).strip().partition(":")
    example = "e.g. train.lr=loguniform:1e-5:5e-5, train.epochs=int:2:5, train.lora.r=categorical:8,16"
    if not key or key == "name" or key.startswith("sweep."):
        raise RecipeError(f"{where} {key or '?'}: not a sweepable recipe key; {example}")
    if kind not in KINDS:
        raise RecipeError(f"{where} {key}: unknown space {kind!r}; use one of {', '.join(KINDS)} ({example})")
    if kind == "categorical":
        choices = tuple(_scalar(c) for c in rest.split(",") if c.strip())
        if len(choices) < 2:
            raise RecipeError(f"{where} {key}: categorical needs at least two choices, e.g. categorical:8,16,32")
        return Param(key, "categorical", choices=choices)
    bounds = rest.split(":")
    try:
        low, high = (int(b) if kind == "int" else float(b) for b in bounds)
    except ValueError:
        raise RecipeError(f"{where} {key}: {kind} needs LOW:HIGH numbers, got {rest!r}") from None
    if low >= high:
        raise RecipeError(f"{where} {key}: low must be < high, got {low:g} >= {high:g}")
    if kind == "loguniform" and low <= 0:
        raise RecipeError(f"{where} {key}: loguniform needs low > 0, got {low:g}")
    return Param(key, kind, low=low, high=high)  # type: ignore[arg-type]


def parse_cli_params(assignments: list[str]) -> list[Param]:
    params = []
    for a in assignments:
        if "=" not in a:
            raise RecipeError(f"--param {a}: expected KEY=SPACE, e.g. --param train.lr=loguniform:1e-5:5e-5")
        key, _, spec = a.partition("=")
        params.append(parse_param(key, spec))
    return params


def merge_params(from_recipe: dict[str, str], cli: list[Param]) -> list[Param]:
    """The recipe's sweep.params, with command-line --param replacing the same key."""
    merged = {k: parse_param(k, v, where="sweep.params:") for k, v in from_recipe.items()}
    merged.update({p.key: p for p in cli})
    return list(merged.values())


def _scalar(text: str) -> Any:
    """'16' → 16, '1e-4' → 0.0001, 'true' → True, 'cosine' → 'cosine' (YAML rules, like --set)."""
    try:
        return yaml.safe_load(text.strip())
    except yaml.YAMLError:
        return text.strip()


def infer_direction(objective: str, direction: str = "auto") -> Literal["minimize", "maximize"]:
    if direction in ("minimize", "maximize"):
        return direction  # type: ignore[return-value]
    name = objective.lower()
    return "minimize" if any(word in name for word in _LOWER_IS_BETTER) else "maximize"


def apply_values(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the raw recipe with each dotted key set (sections created as needed)."""
    out = copy.deepcopy(raw)
    for key, value in values.items():
        set_dotted(out, key, value, f"sweep param {key}")
    return out


def midpoint(param: Param) -> Any:
    """A value inside the space, to validate the keys before the first trial runs."""
    if param.kind == "categorical":
        return param.choices[0]
    if param.kind == "int":
        return int(param.low)  # type: ignore[arg-type]
    return float(param.low)  # type: ignore[arg-type]


def touches_data(params: list[Param]) -> bool:
    """True when a parameter changes what `prepare` writes: then each trial prepares its own data."""
    return any(p.key.split(".")[0] in ("model", "data") for p in params)
