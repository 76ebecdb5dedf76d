"""One run in full for its page: stages with timings, checkpoints, eval results, parity, judge, samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slmforge.orchestrate.studio.metrics_feed import read_all
from slmforge.orchestrate.studio.runs_index import read_json
from slmforge.train.checkpoints import check as check_checkpoint
from slmforge.train.checkpoints import step_of

SAMPLES_SHOWN = 200


def checkpoints(run: Path) -> list[dict[str, Any]]:
    """checkpoint-N directories, newest first, each complete or with what is wrong with it."""
    folder = run / "checkpoints"
    found = [p for p in folder.iterdir() if p.is_dir() and step_of(p) >= 0] if folder.is_dir() else []
    out = []
    for path in sorted(found, key=step_of, reverse=True):
        problem = check_checkpoint(path)
        out.append({"name": path.name, "step": step_of(path), "complete": problem is None, "problem": problem})
    return out


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    import json

    rows: list[dict[str, Any]] = []
    if not path.is_file():
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if limit is not None and len(rows) >= limit:
                break
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                rows.append(value)
    return rows


def samples(run: Path, limit: int = SAMPLES_SHOWN) -> list[dict[str, Any]]:
    """eval samples of the fine-tuned model beside the base model's answer to the same prompt."""
    final = read_jsonl(run / "eval" / "samples.jsonl", limit)
    base = {row.get("id"): row for row in read_jsonl(run / "eval" / "base_samples.jsonl")}
    rows = final or list(base.values())[:limit]
    return [{"id": r.get("id"), "prompt": r.get("prompt", ""), "reference": r.get("reference"),
             "final": r.get("output") if final else None, "base": base.get(r.get("id"), {}).get("output")} for r in rows]


def planned_stages(run: Path) -> list[str]:
    """The stages `slmforge run` will go through for this recipe (the page shows the ones not started yet as pending)."""
    from slmforge.core.errors import SlmforgeError
    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import STAGES

    try:
        recipe = load(run / "recipe.yaml")
    except SlmforgeError:
        return []
    return [stage.name for stage in STAGES if stage.wanted(recipe)]


def detail(run: Path) -> dict[str, Any]:
    manifest = read_json(run / "manifest.json") or {}
    recipe_file = run / "recipe.yaml"
    return {
        "stages": manifest.get("stages") or {},
        "versions": manifest.get("versions"),
        "git_rev": manifest.get("git_rev"),
        "platform": manifest.get("platform"),
        "planned_stages": planned_stages(run),
        "checkpoints": checkpoints(run),
        "results": read_json(run / "eval" / "results.json"),
        "parity": read_json(run / "export" / "parity.json"),
        "judge": {"summary": read_json(run / "judge" / "summary.json"), "compare": read_json(run / "judge" / "compare.json")},
        "ratings": read_json(run / "eval" / "ratings.json"),
        "data_report": (run / "data" / "data_report.json").is_file(),
        "recipe_yaml": recipe_file.read_text(encoding="utf-8") if recipe_file.is_file() else None,
        "has_report": (run / "report.html").is_file(),
        "align_metrics": read_all(run / "align" / "logs" / "metrics.jsonl"),
    }
