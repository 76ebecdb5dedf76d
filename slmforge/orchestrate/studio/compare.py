"""The Compare page: loss curves, metrics side by side and per-example outputs of base and each run.

"Better" and "worse" are decided per example offline, with the score eval already reports in its
mean: ROUGE-L F1 of the reply against the reference (text tasks), or the relative error of the
first number in the reply (number tasks, as eval parses it). An example is marked when a run's
score differs from the baseline's (the base model's answer, else the first run's) by at least
MARGIN; smaller changes are noise on a handful of tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slmforge.orchestrate.studio.metrics_feed import read_all
from slmforge.orchestrate.studio.run_detail import read_jsonl
from slmforge.orchestrate.studio.runs_index import read_json, read_recipe

MARGIN = 0.1
EXAMPLES_SHOWN = 300
_METRIC_KEYS = ("loss", "perplexity", "rouge_l", "bleu", "exact_match", "distinct_2", "novelty", "mae", "rmse", "within_10pct",
                "empty_outputs", "tokens_per_s")


def example_score(output: str | None, reference: str | None, task: str) -> float | None:
    """Higher is better: ROUGE-L F1 (0-1), or 1 − relative error of the parsed number (clipped at 0)."""
    if output is None or reference is None:
        return None
    if task == "number":
        from slmforge.evaluate.task_metrics import parse_number

        want, got = parse_number(reference), parse_number(output)
        if want is None:
            return None
        if got is None:
            return 0.0
        return max(0.0, 1.0 - abs(got - want) / max(abs(want), 1e-9))
    from slmforge.evaluate.text_metrics import rouge_l

    return rouge_l([output], [reference])


def mark(score: float | None, baseline: float | None) -> str | None:
    if score is None or baseline is None:
        return None
    if score - baseline >= MARGIN:
        return "better"
    if baseline - score >= MARGIN:
        return "worse"
    return "same"


def curves(run: Path) -> dict[str, list[list[float]]]:
    lines = read_all(run / "logs" / "metrics.jsonl")
    out: dict[str, list[list[float]]] = {"loss": [], "eval_loss": []}
    for line in lines:
        for key in out:
            if isinstance(line.get(key), (int, float)) and isinstance(line.get("step"), int):
                out[key].append([line["step"], line[key]])
    return out


def _metrics(run: Path) -> dict[str, Any]:
    results = read_json(run / "eval" / "results.json") or {}
    manifest = read_json(run / "manifest.json") or {}
    judge = read_json(run / "judge" / "summary.json") or {}
    final = (results.get("models") or {}).get("final") or {}
    out = {k: final[k] for k in _METRIC_KEYS if isinstance(final.get(k), (int, float))}
    evals = [line["eval_loss"] for line in read_all(run / "logs" / "metrics.jsonl") if isinstance(line.get("eval_loss"), (int, float))]
    if evals:
        out["val_loss (last)"] = evals[-1]
    train = (manifest.get("stages") or {}).get("train") or {}
    if isinstance(train.get("seconds"), (int, float)):
        out["train seconds"] = train["seconds"]
    if isinstance(judge.get("mean"), dict):
        out["judge mean"] = judge["mean"].get("value")
    return out


def _task(runs: list[Path]) -> str:
    for run in runs:
        task = (read_json(run / "eval" / "results.json") or {}).get("task")
        if task:
            return task
    return "text"


def compare(runs: dict[str, Path]) -> dict[str, Any]:
    """runs: id → run directory, in the order the user picked them."""
    paths = list(runs.values())
    task = _task(paths)
    base_rows: dict[str, dict[str, Any]] = {}
    for path in paths:  # the base model's answer to each prompt, from the first run that asked it
        for row in read_jsonl(path / "eval" / "base_samples.jsonl"):
            base_rows.setdefault(row.get("prompt", ""), row)
    outputs = {rid: {r.get("prompt", ""): r for r in read_jsonl(p / "eval" / "samples.jsonl")} for rid, p in runs.items()}
    prompts = list(dict.fromkeys(p for rows in [base_rows, *outputs.values()] for p in rows))[:EXAMPLES_SHOWN]
    basis = "base" if base_rows else (next(iter(runs)) if runs else None)
    examples = []
    for prompt in prompts:
        reference = next((rows[prompt].get("reference") for rows in [base_rows, *outputs.values()] if prompt in rows), None)
        base_out = base_rows.get(prompt, {}).get("output")
        base_score = example_score(base_out, reference, task) if prompt in base_rows else None
        cells = []
        for rid in runs:
            out = outputs[rid].get(prompt, {}).get("output")
            cells.append({"run": rid, "output": out, "score": example_score(out, reference, task)})
        baseline = base_score if base_rows else cells[0]["score"]
        for i, cell in enumerate(cells):
            cell["mark"] = None if (not base_rows and i == 0) else mark(cell["score"], baseline)
        examples.append({"prompt": prompt, "reference": reference, "base": {"output": base_out, "score": base_score} if base_rows else None,
                         "outputs": cells})
    base_metrics = {}
    for path in paths:
        found = ((read_json(path / "eval" / "results.json") or {}).get("models") or {}).get("base")
        if found:
            base_metrics = {k: found[k] for k in _METRIC_KEYS if isinstance(found.get(k), (int, float))}
            break
    return {
        "task": task,
        "score": "ROUGE-L F1 vs the reference" if task == "text" else "1 − relative error of the number vs the reference",
        "margin": MARGIN,
        "basis": basis,
        "runs": [{"id": rid, "method": (read_recipe(p).get("train") or {}).get("method"), "curves": curves(p), "metrics": _metrics(p)}
                 for rid, p in runs.items()],
        "base_metrics": base_metrics,
        "examples": examples,
    }
