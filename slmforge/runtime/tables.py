"""Rows of a run's results: the base-vs-fine-tuned table (which metrics, in what order, which direction
is better) and the preference view's before/after rows (align on).

Shared by the terminal (rich), the HTML report and the studio, so all show the same rows. Pure
functions over the run directory's JSON files (eval/results.json, eval/preference.json, judge/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.rundir import RunDir, read_json

# (key, label, higher is better?, format)
METRICS: list[tuple[str, str, bool, str]] = [
    ("loss", "loss (test, reply tokens)", False, "{:.4f}"),
    ("perplexity", "perplexity", False, "{:.2f}"),
    ("bleu", "BLEU", True, "{:.2f}"),
    ("rouge_l", "ROUGE-L F1", True, "{:.4f}"),
    ("exact_match", "exact match", True, "{:.1%}"),
    ("distinct_1", "distinct-1", True, "{:.3f}"),
    ("distinct_2", "distinct-2", True, "{:.3f}"),
    ("novelty", "novel (not a training copy)", True, "{:.1%}"),
    ("exact_copies", "exact copies of training", False, "{:.0f}"),
    ("near_copies", "near copies of training", False, "{:.0f}"),
    ("empty_outputs", "empty replies", False, "{:.0f}"),
    ("coverage_labels", "labels covered", True, "{:.0f}"),
    ("coverage_tv", "label-share distance to data", False, "{:.3f}"),
    ("mae", "MAE (parsed)", False, "{:,.2f}"),
    ("mae_all", "MAE (failures charged mean)", False, "{:,.2f}"),
    ("rmse", "RMSE", False, "{:,.2f}"),
    ("within_10pct", "within 10 %", True, "{:.1%}"),
    ("parse_failures", "parse failures", False, "{:.0f}"),
    ("tokens_per_s", "generation tokens/s", True, "{:.1f}"),
]
# Metrics that mean something for the held-out references themselves (the data's own level).
REFERENCE_KEYS = {"distinct_1", "distinct_2", "novelty", "exact_copies", "near_copies", "coverage_labels", "coverage_tv"}
_NOT_METRICS = {"copied_examples", "coverage", "loss_tokens", "mean_new_tokens", "n"}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    values: dict[str, str]  # column -> formatted value ("" when absent)
    delta: str  # final - base, formatted with a sign ("" when either is missing)
    better: bool | None  # did the fine-tuned model improve on the base? None = no comparison


def _fmt(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return fmt.format(value)


def metric_rows(results: dict[str, Any]) -> tuple[list[str], list[Row]]:
    """(columns, rows) of the table: base, the fine-tuned model(s), the reference; custom metrics last."""
    models: dict[str, dict[str, Any]] = results.get("models", {})
    columns = [c for c in models if c != "reference"] + (["reference"] if "reference" in models else [])
    tuned = next((c for c in columns if c not in ("base", "reference")), None)
    known = {k for k, *_ in METRICS}
    custom = sorted({k for m in models.values() for k, v in m.items()
                     if k not in known and k not in _NOT_METRICS and isinstance(v, (int, float))})
    specs = METRICS + [(k, k, True, "{:.4g}") for k in custom]
    rows = []
    for key, label, higher, fmt in specs:
        if not any(key in models[c] for c in columns if c != "reference"):
            continue
        values = {c: (_fmt(fmt, models[c].get(key)) if key in models[c] and (c != "reference" or key in REFERENCE_KEYS or key in custom) else "")
                  for c in columns}
        base, final = models.get("base", {}).get(key), models.get(tuned, {}).get(key) if tuned else None
        delta, better = "", None
        if isinstance(base, (int, float)) and isinstance(final, (int, float)) and key != "tokens_per_s":
            diff = final - base
            delta = ("+" if diff >= 0 else "-") + _fmt(fmt, abs(diff))
            better = None if diff == 0 else (diff > 0) == higher
        rows.append(Row(key, label, values, delta, better))
    return columns, rows


def baseline_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(name, {mae, rmse, within_10pct}) for each classic baseline and each model, best MAE first."""
    entries = dict(results.get("baselines", {}))
    for name, scores in results.get("models", {}).items():
        if name != "reference" and "mae" in scores:
            entries[f"{name} model"] = scores
    ordered = sorted(entries.items(), key=lambda kv: kv[1].get("mae_all") if kv[1].get("mae_all") is not None else float("inf"))
    return [(name, {"mae": _fmt("{:,.2f}", s.get("mae")), "mae_all": _fmt("{:,.2f}", s.get("mae_all")),
                    "within_10pct": _fmt("{:.1%}", s.get("within_10pct")), "parse_failures": _fmt("{:.0f}", s.get("parse_failures"))})
            for name, s in ordered]


def print_results(results: dict[str, Any], console: Console) -> None:
    columns, rows = metric_rows(results)
    table = Table(title=f"eval: {results.get('prompts', '?')} test prompts ({results.get('task')} task)")
    table.add_column("metric")
    for c in columns:
        table.add_column(c, justify="right")
    if "base" in columns and len(columns) > 2:
        table.add_column("Δ fine-tuned − base", justify="right")
    for row in rows:
        cells = [row.values[c] for c in columns]
        if "base" in columns and len(columns) > 2:
            colour = "green" if row.better else "red" if row.better is False else "dim"
            cells.append(f"[{colour}]{row.delta}[/{colour}]" if row.delta else "")
        table.add_row(row.label, *cells)
    console.print(table)
    if results.get("baselines"):
        bt = Table(title="price task: models vs classic baselines (same test rows), best first")
        for col in ("predictor", "MAE (parsed)", "MAE (failures charged)", "within 10 %", "parse failures"):
            bt.add_column(col, justify="right" if col != "predictor" else "left")
        for name, v in baseline_rows(results):
            bt.add_row(name, v["mae"], v["mae_all"], v["within_10pct"], v["parse_failures"])
        console.print(bt)


# --------------------------------------------------------------------------- the preference view (align on)
def _f(value: Any, fmt: str) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else fmt.format(value)


def preference_rows(run: RunDir) -> list[tuple[str, str, str, str]]:
    """(metric, SFT before, aligned after, Δ) rows from eval/preference.json and the judge's files; [] when none."""
    view = read_json(run.eval / "preference.json")
    if not view:
        return []
    if not view.get("held_out_pairs"):
        return [("held-out pairs", "0", "0", view.get("note", ""))]
    sft, aligned = view["sft"], view["aligned"]
    rows = [
        (f"chosen over rejected ({view['held_out_pairs']} held-out pairs)", _f(sft["accuracy"], "{:.1%}"),
         _f(aligned["accuracy"], "{:.1%}"), _f(aligned["accuracy"] - sft["accuracy"], "{:+.1%}")),
        ("mean log p(chosen) − log p(rejected)", _f(sft["mean_margin"], "{:+.3f}"), _f(aligned["mean_margin"], "{:+.3f}"),
         _f(aligned["mean_margin"] - sft["mean_margin"], "{:+.3f}")),
        (f"implicit reward > 0: share of pairs (beta {view['beta']:g})", "0 (reference)", _f(view["implicit_reward_accuracy"], "{:.1%}"), ""),
        (f"implicit reward margin, mean (beta {view['beta']:g})", "0 (reference)", _f(view["implicit_reward_margin"], "{:+.4f}"), ""),
        (f"KL to SFT, per token ({view['kl_to_sft']['on']})", "0", _f(view["kl_to_sft"]["mean_per_token"], "{:.4f}"), ""),
    ]
    means = view.get("scorer_mean")
    if means and means.get("sft") is not None and means.get("aligned") is not None:
        rows.append((f"prefs scorer mean on eval answers ({means['scorer'].rsplit(':', 1)[-1]})", _f(means["sft"], "{:.2f}"),
                     _f(means["aligned"], "{:.2f}"), _f(means["aligned"] - means["sft"], "{:+.2f}")))
    judged = read_json(run.judge / "summary.json")
    judged_sft = read_json(run.judge / "sft" / "summary.json")
    if judged and judged_sft and judged.get("mean") and judged_sft.get("mean"):
        a, s = judged["mean"]["value"], judged_sft["mean"]["value"]
        rows.append(("judge mean (1-5, eval answers)", _f(s, "{:.2f}"), _f(a, "{:.2f}"), _f(a - s, "{:+.2f}")))
    ab = (read_json(run.judge / "compare.json") or {}).get("final vs sft")
    if ab and ab.get("win_rate"):
        w = ab["win_rate"]
        rows.append(("A/B win rate aligned vs SFT (both orders)", "", f"{w['value']:.1%} ({w['low']:.0%}–{w['high']:.0%})",
                     f"{ab['wins']}/{ab['ties']}/{ab['losses']} w/t/l"))
    return rows


def preference_table(rows: list[tuple[str, str, str, str]]) -> Table:
    table = Table(title="preference view: SFT (before) vs aligned (after)", title_justify="left")
    for col in ("metric", "SFT (before)", "aligned (after)", "Δ"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in rows:
        table.add_row(*row)
    return table
