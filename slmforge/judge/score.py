"""`slmforge judge RECIPE`: score the fine-tuned model's answers 1-5 with an LLM judge and a rubric.

    samples (eval/samples.jsonl) → rubric prompt → judge endpoint → parse score → judge/scores.jsonl
                                                                               → judge/summary.json + table

Resumable: a reply already in scores.jsonl (same rubric, judge, prompt and answer) is not asked
again. An unparsable reply is a reply: it is kept, counted, and not asked again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.core.sections import JudgeTargets
from slmforge.judge.samples import ResultLog, Sample, read_samples, result_key
from slmforge.runtime.judge.client import EndpointDown, JudgeError, JudgeSettings, Reply, ask_all, connected
from slmforge.runtime.judge.parse import parse_score
from slmforge.runtime.judge.rubrics import Rubric, load_rubric
from slmforge.runtime.judge.stats import mean_ci, share_ci


def summarize(rows: list[dict[str, Any]], samples: int, targets: JudgeTargets) -> dict[str, Any]:
    """Counts, mean with 95 % CI, distribution, share scoring 1-2, and pass/fail against the targets.

    The mean and the low share are over parsed scores; unparsable replies and errors are counted
    beside them so a judge that cannot follow the format is visible, not averaged away.
    """
    scores = [r["score"] for r in rows if r.get("score") is not None]
    replies = [r for r in rows if r.get("reply") is not None]
    errors = [r for r in rows if r.get("reply") is None]
    mean = mean_ci(scores)
    low = share_ci(sum(1 for s in scores if s <= 2), len(scores))
    # Half scores (3.5) land in the bin they round to, halves rounding up.
    distribution = Counter(min(5, int(s + 0.5)) for s in scores)
    unjudged = samples - len(scores)  # unparsable, refused or never answered
    not_judged = verdict_withheld(unjudged, samples, len(replies) - len(scores), len(errors), targets.max_unjudged)
    passed_mean = None if not_judged else mean is not None and mean.value >= targets.mean
    passed_low = None if not_judged else low is not None and low.value < targets.max_low_share
    return {
        "samples": samples,
        "replies": len(replies),
        "scored": len(scores),
        "unparsable": len(replies) - len(scores),
        "errors": len(errors),
        "missing": samples - len(rows),
        "mean": mean.as_dict() if mean else None,
        "distribution": {str(k): distribution.get(k, 0) for k in range(1, 6)},
        "low_share": low.as_dict() if low else None,
        "targets": targets.model_dump(),
        "pass": {"mean": passed_mean, "low_share": passed_low, "all": None if not_judged else bool(passed_mean and passed_low)},
        "verdict": "not judged" if not_judged else "pass" if passed_mean and passed_low else "fail",
        "verdict_reason": not_judged,
        "complete": len(replies) == samples,
    }


def verdict_withheld(unjudged: int, samples: int, unparsable: int, errors: int, max_share: float) -> str | None:
    """Why there is no pass/fail (too many samples without a score), or None when the scores earn a verdict."""
    if samples and unjudged / samples <= max_share:
        return None
    if not samples:
        return "no samples were judged"
    missing = unjudged - unparsable - errors
    parts = [f"{unparsable} unparsable", f"{errors} errors"] + ([f"{missing} not asked"] if missing else [])
    return (f"{unjudged} of {samples} samples have no score ({', '.join(parts)}): {unjudged / samples:.0%} > "
            f"{max_share:.0%} (judge.targets.max_unjudged); a mean over the rest would not be the model's")


def summary_table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("metric", "value", "95 % CI", "target", "pass"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    mark = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "[yellow]not judged[/yellow]"}
    mean, low, t = summary["mean"], summary["low_share"], summary["targets"]
    if mean:
        table.add_row("mean score", f"{mean['value']:.2f}", f"{mean['low']:.2f}–{mean['high']:.2f}", f"≥ {t['mean']:g}",
                      mark[summary["pass"]["mean"]])
    if low:
        table.add_row("scored 1–2", f"{low['value']:.1%}", f"{low['low']:.1%}–{low['high']:.1%}",
                      f"< {t['max_low_share']:.0%}", mark[summary["pass"]["low_share"]])
    dist = summary["distribution"]
    table.add_row("distribution 1…5", " ".join(str(dist[str(k)]) for k in range(1, 6)), "", "", "")
    table.add_row("scored / samples", f"{summary['scored']} / {summary['samples']}", "", "", "")
    table.add_row("unparsable replies", str(summary["unparsable"]), "", "", "")
    if summary["errors"] or summary["missing"]:
        table.add_row("errors / not asked", f"{summary['errors']} / {summary['missing']}", "", "", "")
    if summary.get("verdict") == "not judged":
        table.add_row("[yellow]verdict: not judged[/yellow]", "", "", f"≤ {t.get('max_unjudged', 0.1):.0%} unscored", "[yellow]no verdict[/yellow]")
        table.caption = summary["verdict_reason"]
    return table


def _score_row(sample: Sample, key: str, rubric: Rubric, reply: Reply) -> dict[str, Any]:
    return {
        "key": key, "id": sample.id, "prompt": sample.prompt, "output": sample.output,
        "score": parse_score(reply.text) if reply.text is not None else None,
        "reply": reply.text, "error": reply.error, "attempts": reply.attempts, "seconds": round(reply.seconds, 3),
        "rubric": rubric.name,
    }


def judge_samples(
    samples: list[Sample],
    rubric: Rubric,
    settings: JudgeSettings,
    out_dir: Path,
    targets: JudgeTargets,
    console: Console,
) -> dict[str, Any]:
    """Score `samples` into out_dir/scores.jsonl and out_dir/summary.json; returns the summary."""
    log = ResultLog(out_dir / "scores.jsonl")
    settings = connected(settings)
    keys = [result_key("score", rubric.digest, settings.model or "", s.prompt, s.output) for s in samples]
    have = log.load()
    todo = [(k, s) for k, s in zip(keys, samples) if have.get(k, {}).get("reply") is None]
    by_key = dict(zip(keys, samples))
    if len(todo) < len(samples):
        console.print(f"judge: {len(samples) - len(todo)} of {len(samples)} replies already in {log.path}; asking for {len(todo)}")

    def save(key: str, reply: Reply) -> None:
        row = _score_row(by_key[key], key, rubric, reply)
        have[key] = row
        log.append(row)

    try:
        model = ask_all(settings, [(k, rubric.render(s.prompt, s.output)) for k, s in todo], save, console,
                        f"judging with {Path(rubric.name).name}")
    except EndpointDown as exc:
        kept = sum(1 for k in keys if have.get(k, {}).get("reply") is not None)
        raise JudgeError(f"{exc}; {kept} of {len(samples)} replies kept in {log.path}, re-run to continue") from None

    rows = [have[k] for k in keys if k in have]
    log.rewrite(rows)  # one line per sample, in sample order, without replies to older rubrics or answers
    summary = summarize(rows, len(samples), targets)
    summary = {"rubric": rubric.name, "judge_model": model, "endpoint": settings.endpoint, **summary}
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def judge(recipe: Recipe, run: RunDir, console: Console, samples_path: Path | None = None) -> list[Path]:
    """The `judge` stage: score the run's evaluation samples; returns the files it wrote."""
    cfg = recipe.judge
    settings = JudgeSettings.from_recipe(cfg)
    rubric = load_rubric(cfg.rubric)
    samples = read_samples(samples_path or run.eval / "samples.jsonl", cfg.samples)
    console.print(
        f"judge: {len(samples)} samples, rubric {rubric.name}, {settings.endpoint} "
        f"(concurrency {settings.concurrency}, timeout {settings.timeout:g} s, retries {settings.retries})"
    )
    run.judge.mkdir(parents=True, exist_ok=True)
    summary = judge_samples(samples, rubric, settings, run.judge, cfg.targets, console)
    console.print(summary_table(summary, f"judge: {recipe.name} ({summary['judge_model']})"))
    if summary["errors"]:
        console.print(f"[yellow]{summary['errors']} requests were refused (see \"error\" in scores.jsonl); re-run to ask again[/yellow]")
    return [run.judge / "scores.jsonl", run.judge / "summary.json"]
