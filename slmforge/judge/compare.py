"""`slmforge compare RECIPE --a final --b base|template|RUN_DIR`: pairwise A/B on the same prompts.

The judge sees every pair twice, A first and B first. Judges favour a position (often the
first), so one order alone measures the judge as much as the answers. A side wins a prompt only
when both orders prefer it; a split verdict is a tie (MT-Bench's conservative rule), which is
what cancels position bias. Order agreement is the share of prompts whose two verdicts match.

Results: judge/ab.jsonl (one line per order and prompt, resumable like scores.jsonl) and
judge/compare.json (one summary per opponent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.errors import RecipeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.judge.samples import ResultLog, read_samples, result_key
from slmforge.runtime.judge.client import EndpointDown, JudgeError, JudgeSettings, Reply, ask_all, connected
from slmforge.runtime.judge.parse import parse_preference
from slmforge.runtime.judge.rubrics import Rubric, load_rubric
from slmforge.runtime.judge.stats import share_ci

# Where the evaluation stage (evaluate/stage.py) leaves the base model's answers.
BASE_SAMPLES = "base_samples.jsonl"


def template_answers(prompts: list[str]) -> list[str]:
    """The folksy template engine's own answer to each prompt: the baseline a fine-tune must beat."""
    try:
        from slmforge.corpora.folksy import say  # imported here: corpora is optional for judging
    except ImportError as exc:
        raise JudgeError(f"--b template: the folksy template engine is not available ({exc}); compare against base or a run") from None
    return [say(p) for p in prompts]


def resolve_side(spec: str, run: RunDir, prompts: list[str] | None = None) -> tuple[str, dict[str, str]]:
    """(label, prompt → answer) for final | base | template | a run directory | a samples .jsonl file."""
    if spec == "template":
        if prompts is None:
            raise RecipeError("--a template: the template engine can only be side B (it answers side A's prompts)")
        return "template", dict(zip(prompts, template_answers(prompts)))
    if spec == "final":
        path, label = run.eval / "samples.jsonl", "final"
    elif spec == "base":
        path, label = run.eval / BASE_SAMPLES, "base"
    else:
        given = Path(spec)
        path = given / "eval" / "samples.jsonl" if given.is_dir() else given
        label = given.stem if given.suffix == ".jsonl" else given.name
        if not path.is_file():
            raise RecipeError(f"--a/--b {spec}: not final, base, template, a run directory or a samples .jsonl file")
    hint = "run `slmforge eval RECIPE --model base` first" if spec == "base" else "run `slmforge eval RECIPE` for that model first"
    samples = read_samples(path, hint=hint)
    return label, {s.prompt: s.output for s in samples}


def verdict(choice_ab: str | None, choice_ba: str | None) -> str | None:
    """Combine the two orders into 'a', 'b' or 'tie' (None when either reply was unreadable).

    choice_ab is the judge's pick with A shown first, choice_ba with B shown first ('1', '2', 'tie').
    """
    if choice_ab is None or choice_ba is None:
        return None
    first = {"1": "a", "2": "b", "tie": "tie"}[choice_ab]
    second = {"1": "b", "2": "a", "tie": "tie"}[choice_ba]
    return first if first == second else "tie"


def summarize_pairs(rows: list[dict[str, Any]], pairs: int, min_win_rate: float) -> dict[str, Any]:
    by_pair: dict[str, dict[str, str | None]] = {}
    for row in rows:
        by_pair.setdefault(row["pair"], {})[row["order"]] = row.get("choice")
    wins = ties = losses = undecided = agree = 0
    firsts = picks = 0
    for orders in by_pair.values():
        ab, ba = orders.get("ab"), orders.get("ba")
        for choice in (ab, ba):
            if choice in ("1", "2"):
                picks += 1
                firsts += choice == "1"
        result = verdict(ab, ba)
        if result is None:
            undecided += 1
            continue
        wins += result == "a"
        losses += result == "b"
        ties += result == "tie"
        # Agreement: both orders name the same winner (or both call it a tie).
        agree += {"1": "a", "2": "b", "tie": "tie"}[ab] == {"1": "b", "2": "a", "tie": "tie"}[ba]
    decided = wins + ties + losses
    win = share_ci(wins, decided)
    return {
        "pairs": pairs, "decided": decided, "undecided": undecided, "missing": pairs - len(by_pair),
        "wins": wins, "ties": ties, "losses": losses,
        "win_rate": win.as_dict() if win else None,
        "win_rate_ties_half": round((wins + ties / 2) / decided, 4) if decided else None,
        "order_agreement": round(agree / decided, 4) if decided else None,
        # Share of non-tie picks that went to whichever answer was shown first: 0.5 = no position bias.
        "first_position_share": round(firsts / picks, 4) if picks else None,
        "target_win_rate": min_win_rate,
        "pass": bool(win and win.value > min_win_rate),
    }


def _pair_row(key: str, pair: str, order: str, labels: tuple[str, str], prompt: str, a: str, b: str,
              reply: Reply) -> dict[str, Any]:
    return {
        "key": key, "pair": pair, "order": order, "a": labels[0], "b": labels[1], "prompt": prompt,
        "output_a": a, "output_b": b, "reply": reply.text,
        "choice": parse_preference(reply.text) if reply.text is not None else None,
        "error": reply.error, "attempts": reply.attempts,
    }


def compare_answers(
    prompts: list[str], a: dict[str, str], b: dict[str, str], labels: tuple[str, str], rubric: Rubric,
    settings: JudgeSettings, out_dir: Path, min_win_rate: float, console: Console,
) -> dict[str, Any]:
    """Judge each prompt's A and B answers in both orders into out_dir/ab.jsonl; returns the summary."""
    log = ResultLog(out_dir / "ab.jsonl")
    settings = connected(settings)
    jobs: dict[str, tuple[str, str, str, str, str]] = {}  # key → (pair, order, prompt, text shown first, second)
    for prompt in prompts:
        pair = result_key("pair", *labels, rubric.digest, settings.model or "", prompt, a[prompt], b[prompt])
        jobs[result_key(pair, "ab")] = (pair, "ab", prompt, a[prompt], b[prompt])
        jobs[result_key(pair, "ba")] = (pair, "ba", prompt, b[prompt], a[prompt])
    have = log.load()
    todo = [k for k in jobs if have.get(k, {}).get("reply") is None]
    if len(todo) < len(jobs):
        console.print(f"compare: {len(jobs) - len(todo)} of {len(jobs)} verdicts already in {log.path}; asking for {len(todo)}")

    def save(key: str, reply: Reply) -> None:
        pair, order, prompt, _, _ = jobs[key]
        have[key] = _pair_row(key, pair, order, labels, prompt, a[prompt], b[prompt], reply)
        log.append(have[key])

    content = [(k, rubric.render_pair(jobs[k][2], jobs[k][3], jobs[k][4])) for k in todo]
    try:
        model = ask_all(settings, content, save, console, f"comparing {labels[0]} vs {labels[1]}")
    except EndpointDown as exc:
        kept = sum(1 for k in jobs if have.get(k, {}).get("reply") is not None)
        raise JudgeError(f"{exc}; {kept} of {len(jobs)} verdicts kept in {log.path}, re-run to continue") from None

    # Keep other opponents' rows (they share the file) and this comparison's current rows.
    others = [r for k, r in have.items() if k not in jobs and (r.get("a"), r.get("b")) != labels]
    log.rewrite(others + [have[k] for k in jobs if k in have])
    rows = [have[k] for k in jobs if k in have]
    summary = {"a": labels[0], "b": labels[1], "judge_model": model, "rubric": rubric.name,
               **summarize_pairs(rows, len(prompts), min_win_rate)}
    path = out_dir / "compare.json"
    everything = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    everything[f"{labels[0]} vs {labels[1]}"] = summary
    write_json_atomic(path, everything)
    return summary


def compare_table(s: dict[str, Any]) -> Table:
    table = Table(title=f"A/B: {s['a']} vs {s['b']} ({s['judge_model']}, both orders)", title_justify="left")
    for col in ("metric", "value", "95 % CI", "target", "pass"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    w = s["win_rate"]
    if w:
        table.add_row(f"{s['a']} win rate", f"{w['value']:.1%}", f"{w['low']:.1%}–{w['high']:.1%}",
                      f"> {s['target_win_rate']:.0%}", "[green]yes[/green]" if s["pass"] else "[red]no[/red]")
    table.add_row("win / tie / loss", f"{s['wins']} / {s['ties']} / {s['losses']}", "", "", "")
    if s["order_agreement"] is not None:
        table.add_row("order agreement", f"{s['order_agreement']:.1%}", "", "", "")
    if s["first_position_share"] is not None:
        table.add_row("picks of the first shown", f"{s['first_position_share']:.1%}", "", "", "")
    table.add_row("decided / pairs", f"{s['decided']} / {s['pairs']}", "", "", "")
    if s["undecided"]:
        table.add_row("undecided (unreadable or refused)", str(s["undecided"]), "", "", "")
    return table


def compare(recipe: Recipe, run: RunDir, console: Console, a: str = "final", b: str = "template") -> list[Path]:
    """The `compare` verb: A/B the run's answers against base, the template engine, or another run."""
    cfg = recipe.judge
    settings = JudgeSettings.from_recipe(cfg)
    rubric = load_rubric(cfg.rubric)
    label_a, answers_a = resolve_side(a, run)
    prompts = list(answers_a)[: cfg.samples]
    label_b, answers_b = resolve_side(b, run, prompts)
    if label_a == label_b:
        label_b += "-b"  # two runs with the same directory name still need two labels
    shared = [p for p in prompts if p in answers_b]
    if not shared:
        raise JudgeError(f"compare: {label_a} and {label_b} answered no prompt in common; compare runs evaluated on the same test split")
    if len(shared) < len(prompts):
        console.print(f"[yellow]compare: {len(prompts) - len(shared)} of {len(prompts)} prompts have no {label_b} answer; skipped[/yellow]")
    console.print(f"compare: {label_a} vs {label_b} on {len(shared)} prompts, both orders ({2 * len(shared)} judge calls)")
    run.judge.mkdir(parents=True, exist_ok=True)
    summary = compare_answers(shared, answers_a, answers_b, (label_a, label_b), rubric, settings, run.judge,
                              cfg.targets.min_win_rate, console)
    console.print(compare_table(summary))
    return [run.judge / "ab.jsonl", run.judge / "compare.json"]
