"""eval.floors: pass/fail bars on one model's metrics, over the whole test split or one of its parts."""

from __future__ import annotations

from typing import Any

from slmforge.core.sections import FloorsSection


def check_floors(floors: FloorsSection, results: dict[str, Any], model: str, decoding: str = "greedy") -> dict[str, Any] | None:
    """{"part", "model", "decoding", "rows": [{metric, min, max, value, pass}], "pass"}; None when the recipe sets no floors.

    `decoding` says how the answers were drawn ("greedy", "temperature 0.8, top_p 0.95, seed 0"): a bar met by sampled
    answers is not one met by greedy ones, and the title says which.

    A metric the run did not produce (a part with no rows, a custom metric that did not run) fails:
    a bar nobody measured is not cleared.
    """
    if not floors.metrics:
        return None
    scope = results if floors.part == "all" else results.get("parts", {}).get(floors.part, {})
    scores = scope.get("models", {}).get(model, {})
    rows = []
    for metric, bound in floors.metrics.items():
        value = scores.get(metric)
        measured = isinstance(value, (int, float)) and value == value
        ok = measured and (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)
        rows.append({"metric": metric, "min": bound.min, "max": bound.max, "value": value if measured else None, "pass": bool(ok)})
    return {"part": floors.part, "model": model, "decoding": decoding, "prompts": scope.get("prompts", 0), "rows": rows, "pass": all(r["pass"] for r in rows)}
