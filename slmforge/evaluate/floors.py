"""eval.floors: pass/fail bars on one model's metrics, over the whole test split or one of its parts."""

from __future__ import annotations

from typing import Any

from slmforge.core.sections import FloorsSection


def check_floors(floors: FloorsSection, results: dict[str, Any], model: str) -> dict[str, Any] | None:
    """{"part", "model", "rows": [{metric, min, max, value, pass}], "pass"}; None when the recipe sets no floors.

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
    return {"part": floors.part, "model": model, "prompts": scope.get("prompts", 0), "rows": rows, "pass": all(r["pass"] for r in rows)}
