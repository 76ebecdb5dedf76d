"""`slmforge report RUN`: one self-contained report.html — the run at a glance.

Everything comes from files earlier stages wrote (a missing file leaves its section out with a
note, never an error): logs/metrics.jsonl (loss curves, learning rate, tokens/s),
eval/results.json (base vs fine-tuned table, baselines, coverage), eval/*samples.jsonl (samples
side by side), data/data_report.json, judge/summary.json + compare.json, eval/ratings.json, and
with align on prefs/report.json + eval/preference.json (SFT vs aligned) + align/logs/metrics.jsonl.
Plots are matplotlib PNGs embedded as base64, so the file can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from slmforge.core.rundir import RunDir, read_json, read_jsonl
from slmforge.runtime.tables import baseline_rows, floor_rows, floors_title, metric_rows, part_rows, preference_rows, spotcheck_line

SAMPLES_SHOWN = 10
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{color:#08711b;font-weight:600} .worse{color:#b3261e;font-weight:600} .muted{color:#777}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:4px 8px}
.samples td{max-width:280px;white-space:pre-wrap;word-wrap:break-word} img{max-width:100%}
.plots{display:flex;flex-wrap:wrap;gap:12px} .plots img{width:380px;border:1px solid #eee}
"""


# --------------------------------------------------------------------------- inputs
# --------------------------------------------------------------------------- plots
def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _series(logs: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(row["step"], row[key]) for row in logs if isinstance(row.get(key), (int, float)) and "step" in row]
    return [p[0] for p in points], [p[1] for p in points]


def training_plots(logs: list[dict[str, Any]]) -> dict[str, str]:
    """title -> base64 PNG for the loss curves, learning rate and tokens/s found in the logs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    steps, loss = _series(logs, "loss")
    eval_steps, eval_loss = _series(logs, "eval_loss")
    if loss or eval_loss:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        if loss:
            ax.plot(steps, loss, label="train loss", color="#1f77b4")
        if eval_loss:
            ax.plot(eval_steps, eval_loss, "o-", label="val loss", color="#d62728")
        ax.set(xlabel="step", ylabel="loss (nats / reply token)", title="Loss")
        ax.grid(alpha=0.3)
        ax.legend()
        plots["Loss"] = _png(fig)
    for key, title, ylabel in (("lr", "Learning rate", "lr"), ("tokens_per_s", "Training throughput", "tokens / s")):
        xs, ys = _series(logs, key)
        if xs:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            ax.plot(xs, ys, color="#2ca02c")
            ax.set(xlabel="step", ylabel=ylabel, title=title)
            ax.grid(alpha=0.3)
            if key == "lr":
                ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            plots[title] = _png(fig)
    return plots


def coverage_plot(results: dict[str, Any]) -> str | None:
    """Grouped bars: each label's share in the training data and among each model's generations."""
    models = {k: v["coverage"] for k, v in results.get("models", {}).items() if isinstance(v.get("coverage"), dict) and k != "reference"}
    if not models:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(models.values()))
    labels = sorted(set(first["data"]) | {k for c in models.values() for k in c["generated"]})
    series = {"training data": first["data"], **{name: c["generated"] for name, c in models.items()}}
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels) + 2), 3.4))
    for i, (name, shares) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], [shares.get(k, 0.0) for k in labels], width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set(ylabel="share", title=f"Coverage of {first['field']}")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# --------------------------------------------------------------------------- html pieces
def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _td(value: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>'


def _img(title: str, data: str) -> str:
    return f'<img alt="{_e(title)}" title="{_e(title)}" src="data:image/png;base64,{data}">'


def _metric_table(columns: list[str], rows: list, delta: str | None) -> str:
    header = ["metric", *columns] + ([delta] if delta else [])
    body = []
    for row in rows:
        cells = [_td(row.label)] + [_td(row.values[c], "num") for c in columns]
        if delta:
            cells.append(_td(row.delta, "num " + ({True: "better", False: "worse"}.get(row.better, "muted"))))
        body.append(cells)
    return _table(header, body, "metrics")


def metrics_section(results: dict[str, Any] | None, ratings: dict[str, Any] | None = None) -> str:
    if not results:
        return "<h2>Metrics</h2><p class='muted'>No eval/results.json: run <code>slmforge eval RECIPE</code>.</p>"
    columns, rows = metric_rows(results)
    comparing = "base" in columns and len([c for c in columns if c != "reference"]) > 1
    out = [f"<h2>Metrics: base vs fine-tuned</h2><p>{_e(results.get('prompts'))} test prompts, {_e(results.get('task'))} task. "
           "The reference column scores the distinct held-out answers themselves (the data's own diversity and novelty).</p>",
           _metric_table(columns, rows, "Δ fine-tuned − base" if comparing else None)]
    out += [f"<p class='note'>{_e(note)}</p>" for note in results.get("notes") or []]
    out.append(spotcheck_html(results, ratings))
    out.append(floors_html(results))
    part_columns, prows, tuned = part_rows(results)
    if part_columns:
        sizes = ", ".join(f"{_e(p)} {v['prompts']}" for p, v in results["parts"].items())
        out.append(f"<h3>By part of the test split</h3><p>{sizes} prompts. Unseen = asked with a phrasing (or persona) training never "
                   "saw (data.split.unseen); seen = the rest of the test split.</p>")
        out.append(_metric_table(part_columns, prows, f"Δ {tuned}: unseen − seen" if tuned else None))
    if results.get("baselines"):
        out.append("<h3>Price task: models vs classic baselines (same test rows, best first)</h3>")
        out.append(_table(["predictor", "MAE (parsed)", "MAE (failures charged the mean)", "within 10 %", "parse failures"],
                          [[_td(n), _td(v["mae"], "num"), _td(v["mae_all"], "num"), _td(v["within_10pct"], "num"),
                            _td(v["parse_failures"], "num")] for n, v in baseline_rows(results)]))
    plot = coverage_plot(results)
    if plot:
        out.append(f"<h3>Label coverage</h3>{_img('coverage', plot)}")
    if results.get("task") != "number":
        out.append(examples_html(results))
    return "".join(out)


def spotcheck_html(results: dict[str, Any], ratings: dict[str, Any] | None) -> str:
    """The plan's human targets beside the automatic metrics: the ratings, or how to give them."""
    line = spotcheck_line(results, ratings)
    if line is None and ratings:  # a run evaluated before eval recorded its spot-check
        line = (f"human spot-check: {ratings['total']} rated, Good {ratings['good']:.0%} (target > {ratings['min_good']:.0%}), "
                f"Bad {ratings['bad']:.0%} (target < {ratings['max_bad']:.0%}): {'pass' if ratings.get('passed') else 'below target'}")
    if line is None:
        return ""
    cls = "muted" if not ratings else "better" if ratings.get("passed") else "worse"
    return f"<h3>Human spot-check</h3><p class='{cls}'>{_e(line)}</p>"


def floors_html(results: dict[str, Any]) -> str:
    if not results.get("floors"):
        return ""
    rows = [[_td(label), _td(bar, "num"), _td(value, "num"), _td("pass" if ok else "fail", "better" if ok else "worse")]
            for label, bar, value, ok in floor_rows(results)]
    return f"<h3>{_e(floors_title(results))}</h3>" + _table(["floor", "bar", "measured", "result"], rows, "floors")


def examples_html(results: dict[str, Any]) -> str:
    """The first few copies of training outputs and degenerate answers, per model, so a number has faces."""
    out = []
    models = [(n, m) for n, m in results.get("models", {}).items() if n != "reference"]
    copies = [(name, m.get("copied_examples") or []) for name, m in models]
    if any(c for _, c in copies):
        out.append("<h3>Copies of training outputs (first few)</h3>")
        out.append(_table(["model", "output", "training text"], [[_td(name), _td(o), _td(t)] for name, c in copies for o, t in c]))
    hollow = [(name, m.get("degenerate_examples") or []) for name, m in models]
    if any(h for _, h in hollow):
        out.append("<h3>Degenerate answers (first few, with the reason)</h3>")
        out.append(_table(["model", "answer", "reason"], [[_td(name), _reply(o), _td(r)] for name, h in hollow for o, r in h]))
    return "".join(out)


def _reply(text: str | None) -> str:
    if text is None:
        return "<td></td>"
    return _td(text) if text.strip() else "<td class='muted'>(empty reply)</td>"


def samples_section(run: RunDir) -> str:
    final = read_jsonl(run.eval / "samples.jsonl")
    base = {row.get("id"): row for row in read_jsonl(run.eval / "base_samples.jsonl")}
    if not final and not base:
        return ""
    rows = final[:SAMPLES_SHOWN] if final else list(base.values())[:SAMPLES_SHOWN]
    body = [[_td(r.get("prompt", "")), _reply(base.get(r.get("id"), {}).get("output")),
             _reply(r.get("output") if final else None), _td(r.get("reference", ""))] for r in rows]
    return f"<h2>Samples</h2>{_table(['prompt', 'base', 'fine-tuned', 'reference'], body, 'samples')}"


def data_section(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    counts = report.get("counts", {})
    drops = ", ".join(f"{k}: {v:,}" for k, v in counts.get("dropped_by_reason", {}).items()) or "none"
    out = [f"<h2>Data</h2><p>{_e(report.get('source'))} ({_e(report.get('format'))}): read {counts.get('read', 0):,}, "
           f"kept {counts.get('kept', 0):,}, dropped {counts.get('dropped', 0):,} ({_e(drops)}).</p>"]
    splits = report.get("splits", {})
    names = list(splits)
    strata = sorted({k for s in splits.values() for k in s.get("by_stratum", {})})
    rows = [[_td(st)] + [_td(f"{splits[s]['by_stratum'].get(st, 0):,}", "num") for s in names] for st in strata]
    rows.append([_td("rows")] + [_td(f"{splits[s].get('rows', 0):,}", "num") for s in names])
    tokens = report.get("tokens", {})
    if tokens:
        def length(s: str, k: str) -> str:
            return str(tokens.get(s, {}).get("length", {}).get(k, "-"))

        rows.append([_td("tokens p50 / p95 / max")] + [_td(f"{length(s, 'p50')} / {length(s, 'p95')} / {length(s, 'max')}", "num") for s in names])
        rows.append([_td("truncated")] + [_td(tokens.get(s, {}).get("truncated", "-"), "num") for s in names])
    out.append(_table(["", *names], rows))
    unseen = report.get("unseen")
    if unseen:
        held = ", ".join(f"{_e(f)}: {len(v['held_out'])} of {v['values']} values ({_e(', '.join(map(str, v['held_out'][:12])))})"
                         for f, v in unseen["fields"].items())
        out.append(f"<p>Held out of train and val (data.split.unseen): {held}. {_e(unseen['why'])}.</p>")
    return "".join(out)


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flat(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [(prefix.rstrip("."), ", ".join(map(str, value[:10])))]
    return [(prefix.rstrip("."), f"{value:.4g}" if isinstance(value, float) else str(value))]


def judge_section(run: RunDir) -> str:
    out = []
    for name, title in (("summary.json", "Judge scores"), ("compare.json", "Pairwise A/B")):
        found = read_json(run.judge / name)
        if found:
            out.append(f"<h3>{title}</h3>" + judge_verdict(found) + _table(["key", "value"], [[_td(k), _td(v, "num")] for k, v in _flat(found)]))
    return ("<h2>Judge</h2>" + "".join(out)) if out else ""


def judge_verdict(summary: dict[str, Any]) -> str:
    """The judge's verdict first: pass, fail, or not judged and why (too many replies without a score)."""
    verdict = summary.get("verdict")
    if verdict is None:
        return ""
    cls = {"pass": "better", "fail": "worse"}.get(verdict, "muted")
    reason = f": {_e(summary['verdict_reason'])}" if summary.get("verdict_reason") else ""
    return f"<p class='{cls}'>Verdict: <b>{_e(verdict)}</b>{reason}</p>"


def preference_section(run: RunDir) -> str:
    """SFT → prefs → align: the pairs made, then SFT (before) vs aligned (after) on held-out pairs and by the judge."""
    rows = preference_rows(run)
    prefs = read_json(run.root / "prefs" / "report.json")
    if not rows and not prefs:
        return ""
    out = ["<h2>Preference alignment: SFT vs aligned</h2>"]
    if prefs:
        drops = ", ".join(f"{k}: {v:,}" for k, v in (prefs.get("dropped_by_reason") or {}).items()) or "none"
        out.append(f"<p>Pairs ({_e(prefs.get('source'))}{', scorer ' + _e(prefs['scorer']) if prefs.get('scorer') else ''}): "
                   f"{_e(prefs.get('unit'))} {prefs.get('read', 0):,} = pairs {prefs.get('pairs', 0):,} + dropped "
                   f"{prefs.get('dropped', 0):,} ({_e(drops)}).</p>")
    if rows:
        out.append(_table(["metric", "SFT (before)", "aligned (after)", "Δ"],
                          [[_td(r[0])] + [_td(v, "num") for v in r[1:]] for r in rows], "preference"))
    loss = training_plots(read_jsonl(run.root / "align" / "logs" / "metrics.jsonl")).get("Loss")
    if loss:
        out.append(f"<div class='plots'>{_img('Preference training loss (align)', loss)}</div>")
    return "".join(out)


def parity_section(run: RunDir) -> str:
    """export/parity.json: one template and one stop token from training to every runtime."""
    parity = read_json(run.export / "parity.json")
    if not parity:
        return ""
    status_cls = {"passed": "better", "failed": "worse", "skipped": "muted"}
    rows = [[_td(r["runtime"]), _td(r["check"]), _td(r["status"], status_cls.get(r["status"], "")),
             _td(r["detail"] + (f" → {r['fix']}" if r["status"] == "failed" and r.get("fix") else ""))] for r in parity["rows"]]
    counts = {k: sum(r["status"] == k for r in parity["rows"]) for k in ("passed", "failed", "skipped")}
    eot = parity.get("end_of_turn") or {}
    head = (f"<h2>Parity: training → every runtime</h2><p>{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} "
            f"skipped · end of turn {_e(eot.get('token'))} (id {_e(eot.get('id'))}) · {len(parity.get('prompts', []))} prompts, "
            f"greedy answers to {_e(parity.get('output_prompts'))} compared up to {_e(parity.get('max_new_tokens'))} tokens</p>")
    return head + _table(["runtime", "check", "result", "detail"], rows, "parity")


def training_section(run: RunDir) -> str:
    logs = read_jsonl(run.logs / "metrics.jsonl")
    if not logs:
        return "<h2>Training</h2><p class='muted'>No logs/metrics.jsonl: this run has no training logs.</p>"
    plots = training_plots(logs)
    return "<h2>Training</h2><div class='plots'>" + "".join(_img(t, d) for t, d in plots.items()) + "</div>"


def render(run: RunDir) -> str:
    manifest = read_json(run.manifest_path) or {}
    stages = manifest.get("stages", {})
    timing = ", ".join(f"{k} {v.get('status')} ({v.get('seconds') or 0:.0f}s)" for k, v in stages.items())
    recipe_text = run.recipe_path.read_text(encoding="utf-8") if run.recipe_path.is_file() else ""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>slmforge report: {_e(run.root.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(run.root.name)}</h1><p class='muted'>{_e(run.root)} · git {_e(manifest.get('git_rev') or '?')} · {_e(timing)}</p>",
        training_section(run),
        metrics_section(read_json(run.eval / "results.json"), read_json(run.eval / "ratings.json")),
        preference_section(run),
        samples_section(run),
        data_section(read_json(run.data / "data_report.json")),
        judge_section(run),
        parity_section(run),
        f"<h2>Recipe</h2><pre>{_e(recipe_text)}</pre>" if recipe_text else "",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report(run_root: Path | RunDir) -> Path:
    """Write report.html into the run directory and return its path."""
    run = run_root if isinstance(run_root, RunDir) else RunDir(Path(run_root))
    if not run.root.is_dir():
        from slmforge.core.errors import RunDirError

        raise RunDirError(f"{run.root}: no such run directory; pass runs/NAME")
    path = run.report
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(run), encoding="utf-8")
    tmp.replace(path)
    return path
