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

# (key, label, higher is better? (None: neither), format)
METRICS: list[tuple[str, str, bool | None, str]] = [
    ("loss", "loss (test, reply tokens)", False, "{:.4f}"),
    ("perplexity", "perplexity", False, "{:.2f}"),
    ("bleu", "BLEU", True, "{:.2f}"),
    ("rouge_l", "ROUGE-L F1", True, "{:.4f}"),
    ("exact_match", "exact match", True, "{:.1%}"),
    ("distinct_1", "distinct-1", True, "{:.3f}"),
    ("distinct_2", "distinct-2", True, "{:.3f}"),
    ("sample_distinctness", "distinctness of sampled answers to one prompt", True, "{:.3f}"),
    ("degenerate", "degenerate answers (say nothing)", False, "{:.1%}"),
    ("top_frame_share", "most common 3-word frame", False, "{:.0%}"),
    ("mean_words", "words per answer", None, "{:.1f}"),
    ("stopped", "stopped on end of turn", True, "{:.1%}"),
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
# Labels of what results.json holds beyond the table's rows, for the floors table.
LABELS = {k: label for k, label, *_ in METRICS} | {"coverage_missing": "labels no answer landed on", "sample_identical": "identical sampled answers"}
# Metrics that mean something for the held-out references themselves (the data's own level).
REFERENCE_KEYS = {"distinct_1", "distinct_2", "novelty", "exact_copies", "near_copies", "coverage_labels", "coverage_tv",
                  "degenerate", "top_frame_share", "mean_words"}
# Rows that say nothing about a number task's "Price is $X" answers (an old results.json may still hold them).
TEXT_ONLY = {"bleu", "rouge_l", "distinct_1", "distinct_2", "sample_distinctness", "degenerate", "top_frame_share", "mean_words",
             "novelty", "exact_copies", "near_copies", "coverage_labels", "coverage_tv"}
_NOT_METRICS = {"copied_examples", "coverage", "coverage_missing", "loss_tokens", "mean_new_tokens", "n", "sample_identical",
                "degenerate_by_reason", "degenerate_examples", "top_frame"}


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


def _value(key: str, fmt: str, scores: dict[str, Any]) -> str:
    text = _fmt(fmt, scores.get(key))
    if key == "top_frame_share" and scores.get("top_frame"):
        text += f" '{scores['top_frame']}'"
    return text


def tuned_column(columns: list[str]) -> str | None:
    return next((c for c in columns if c not in ("base", "reference")), None)


def _rows(models: dict[str, dict[str, Any]], columns: list[str], pair: tuple[str | None, str | None], task: str | None,
          reference: set[str]) -> list[Row]:
    """One row per metric any model has; Δ = pair[1] − pair[0]; `reference` = the columns that show only data-level metrics."""
    known = {k for k, *_ in METRICS}
    custom = sorted({k for m in models.values() for k, v in m.items()
                     if k not in known and k not in _NOT_METRICS and isinstance(v, (int, float))})
    specs = METRICS + [(k, k, True, "{:.4g}") for k in custom]
    rows = []
    for key, label, higher, fmt in specs:
        if (task == "number" and key in TEXT_ONLY) or not any(key in models[c] for c in columns if c not in reference):
            continue
        values = {c: (_value(key, fmt, models[c]) if key in models[c] and (c not in reference or key in REFERENCE_KEYS or key in custom) else "")
                  for c in columns}
        a = models.get(pair[0], {}).get(key) if pair[0] else None
        b = models.get(pair[1], {}).get(key) if pair[1] else None
        delta, better = "", None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and key != "tokens_per_s":
            diff = b - a
            delta = ("+" if diff >= 0 else "-") + _fmt(fmt, abs(diff))
            better = None if diff == 0 or higher is None else (diff > 0) == higher
        rows.append(Row(key, label, values, delta, better))
    return rows


def metric_rows(results: dict[str, Any]) -> tuple[list[str], list[Row]]:
    """(columns, rows) of the table: base, the fine-tuned model(s), the reference; custom metrics last."""
    models: dict[str, dict[str, Any]] = results.get("models", {})
    columns = [c for c in models if c != "reference"] + (["reference"] if "reference" in models else [])
    pair = ("base", tuned_column(columns)) if "base" in models else (None, None)
    return columns, _rows(models, columns, pair, results.get("task"), {"reference"})


def part_rows(results: dict[str, Any]) -> tuple[list[str], list[Row], str | None]:
    """The same metrics by part of the test split ("final · seen", "final · unseen", ...), Δ = the tuned model's unseen − seen.

    Returns (columns, rows, tuned model); no columns when the split has no parts.
    """
    parts: dict[str, dict[str, Any]] = results.get("parts") or {}
    if not parts:
        return [], [], None
    names = [c for c in results.get("models", {}) if c != "reference"] + ["reference"]
    models = {f"{m} · {p}": parts[p]["models"][m] for m in names for p in parts if m in parts[p].get("models", {})}
    tuned = tuned_column(names)
    pair = (f"{tuned} · seen", f"{tuned} · unseen") if tuned else (None, None)
    return list(models), _rows(models, list(models), pair, results.get("task"), {c for c in models if c.startswith("reference")}), tuned


def floor_rows(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(metric, bar, measured, passed) of eval.floors; [] when the recipe sets none."""
    floors = results.get("floors") or {}
    fmt = {k: f for k, _, _, f in METRICS}
    out = []
    for row in floors.get("rows", []):
        f = fmt.get(row["metric"], "{:.4g}")
        lo, hi = row.get("min"), row.get("max")
        bar = (f"{_fmt(f, lo)} – {_fmt(f, hi)}" if lo is not None and hi is not None else
               f"≥ {_fmt(f, lo)}" if lo is not None else f"≤ {_fmt(f, hi)}")
        out.append((LABELS.get(row["metric"], row["metric"]), bar, _fmt(f, row.get("value")), bool(row.get("pass"))))
    return out


def floors_title(results: dict[str, Any]) -> str:
    floors = results.get("floors") or {}
    verdict = "pass" if floors.get("pass") else "FAIL"
    decoding = f", {floors['decoding']}" if floors.get("decoding") else ""
    return f"floors: {floors.get('model')} on the {floors.get('part')} test prompts ({floors.get('prompts')}{decoding}): {verdict}"


def spotcheck_line(results: dict[str, Any], ratings: dict[str, Any] | None) -> str | None:
    """The human spot-check beside the metrics: the ratings against the targets, or how to give them."""
    spot = results.get("spotcheck")
    if not spot:
        return None
    t = spot["targets"]
    target = f"targets > {t['min_good']:.0%} Good, < {t['max_bad']:.0%} Bad"
    if ratings:
        verdict = "pass" if ratings.get("passed") else "below target"
        return (f"human spot-check: {ratings['total']} rated, Good {ratings['good']:.0%}, Bad {ratings['bad']:.0%} "
                f"({target}): {verdict}")
    return f"human spot-check: not rated yet ({target}); rate the {spot['rows']} answers in {spot['file']}, then run: {spot['command']}"


def _table(title: str, columns: list[str], rows: list[Row], delta: str | None) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for c in columns:
        table.add_column(c, justify="right")
    if delta:
        table.add_column(delta, justify="right")
    for row in rows:
        cells = [row.values[c] for c in columns]
        if delta:
            colour = "green" if row.better else "red" if row.better is False else "dim"
            cells.append(f"[{colour}]{row.delta}[/{colour}]" if row.delta else "")
        table.add_row(row.label, *cells)
    return table


def print_results(results: dict[str, Any], console: Console, ratings: dict[str, Any] | None = None) -> None:
    columns, rows = metric_rows(results)
    comparing = "base" in columns and len(columns) > 2
    console.print(_table(f"eval: {results.get('prompts', '?')} test prompts ({results.get('task')} task)", columns, rows,
                         "Δ fine-tuned − base" if comparing else None))
    for note in results.get("notes") or []:
        console.print(f"[yellow]{note}[/yellow]")
    part_columns, prows, tuned = part_rows(results)
    if part_columns:
        sizes = ", ".join(f"{p} {v['prompts']}" for p, v in results["parts"].items())
        console.print(_table(f"eval by part of the test split ({sizes} prompts): unseen = phrasings training never saw",
                             part_columns, prows, f"Δ {tuned}: unseen − seen" if tuned else None))
    if results.get("floors"):
        ft = Table(title=floors_title(results))
        for col in ("floor", "bar", "measured", "pass"):
            ft.add_column(col, justify="left" if col == "floor" else "right")
        for label, bar, value, ok in floor_rows(results):
            ft.add_row(label, bar, value, "[green]yes[/green]" if ok else "[red]no[/red]")
        console.print(ft)
    line = spotcheck_line(results, ratings)
    if line:
        console.print(line)
    if results.get("baselines"):
        bt = Table(title="price task: models vs classic baselines (same test rows), best first")
        for col in ("predictor", "MAE (parsed)", "MAE (failures charged)", "within 10 %", "parse failures"):
            bt.add_column(col, justify="right" if col != "predictor" else "left")
        for name, v in baseline_rows(results):
            bt.add_row(name, v["mae"], v["mae_all"], v["within_10pct"], v["parse_failures"])
        console.print(bt)


def baseline_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(name, {mae, rmse, within_10pct}) for each classic baseline and each model, best MAE first."""
    entries = dict(results.get("baselines", {}))
    for name, scores in results.get("models", {}).items():
        if name != "reference" and "mae" in scores:
            median = "greedy" in scores  # eval.number_decoding median: greedy's own figures beside the median's
            entries[f"{name} model" + (" (median digits)" if median else "")] = scores
            if median:
                entries[f"{name} model (greedy digits)"] = scores["greedy"]
    ordered = sorted(entries.items(), key=lambda kv: kv[1].get("mae_all") if kv[1].get("mae_all") is not None else float("inf"))
    return [(name, {"mae": _fmt("{:,.2f}", s.get("mae")), "mae_all": _fmt("{:,.2f}", s.get("mae_all")),
                    "within_10pct": _fmt("{:.1%}", s.get("within_10pct")), "parse_failures": _fmt("{:.0f}", s.get("parse_failures"))})
            for name, s in ordered]


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
        withheld = " — not judged (too many unscored replies)" if "not judged" in (judged.get("verdict"), judged_sft.get("verdict")) else ""
        rows.append((f"judge mean (1-5, eval answers){withheld}", _f(s, "{:.2f}"), _f(a, "{:.2f}"), _f(a - s, "{:+.2f}")))
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
