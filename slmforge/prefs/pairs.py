"""`slmforge prefs RECIPE`: preference pairs into prefs/pairs.jsonl, from one of three sources.

prefs.source samples (default): for prefs.samples training prompts, sample prefs.k answers, score
each with prefs.scorer (the judge, or a module:function) and keep (best, worst) as (chosen,
rejected) where they differ by at least prefs.margin. Every prompt in is a pair out or a drop
counted by reason; every answer is scored or counted failed. prefs.source file | spotcheck
(sources.py) write the same file and the same counted report.

Resume: prefs/samples.jsonl gains one line per prompt as each batch finishes; a rerun skips the
prompts already there (batches are seeded by position, so the answers are the ones an
uninterrupted run would have drawn). pairs.jsonl and report.json are rebuilt from it each time.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.runtime.scorers import BatchScorer, Scored, load_scorer


def pick_pair(answers: list[str], scores: list[float | None], margin: float) -> tuple[dict[str, Any] | None, str | None]:
    """Best and worst scored answers as a pair, or the reason there is none."""
    scored = [(s, a) for a, s in zip(answers, scores) if s is not None]
    if len(scored) < 2:
        return None, "fewer_than_2_scored"
    best = max(scored, key=lambda x: x[0])
    worst = min(scored, key=lambda x: x[0])
    if best[0] - worst[0] < margin:
        return None, "tie_within_margin"
    if best[1].strip() == worst[1].strip():  # a scorer that is not a function of the text
        return None, "identical_answers"
    return {"chosen": best[1], "rejected": worst[1], "chosen_score": best[0], "rejected_score": worst[0]}, None


def choose_prompts(rows: list[dict[str, Any]], n: int, seed: int, stratify: str | None) -> list[list[dict[str, str]]]:
    """n prompts (the turns before the reply), keeping each stratum's share like the data split does."""
    rnd = random.Random(seed)
    by_stratum: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_stratum.setdefault(str(row.get("meta", {}).get(stratify)) if stratify else "", []).append(row)
    n = min(n, len(rows))
    picked: list[dict[str, Any]] = []
    for key in sorted(by_stratum):
        group = by_stratum[key]
        picked += rnd.sample(group, min(len(group), round(n * len(group) / len(rows))))
    rnd.shuffle(picked)
    return [row["messages"][:-1] if row["messages"][-1]["role"] == "assistant" else row["messages"] for row in picked[:n]]


def sample_answers(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], recipe: Recipe, seed: int) -> list[list[str]]:
    """prefs.k sampled answers per prompt (the batch in one generate call)."""
    from slmforge.runtime.generation import Sampling, generate

    p = recipe.prefs
    sampling = Sampling(p.max_new_tokens, p.temperature, p.top_p, seed, batch_size=len(prompts), n=p.k)
    return [[a.strip() for a in k] for k in generate(model, tokenizer, prompts, sampling).grouped(p.k)]


def sampler_identity(recipe: Recipe, run: RunDir) -> str:
    """What the answers depend on: the model's weights and the sampling keys. Answers of another are resampled."""
    from slmforge.core.rundir import sha256_file

    p = recipe.prefs
    if p.model:
        source = p.model
    elif run.model.is_dir():  # the SFT model: retrained weights are another model
        source = "sft:" + ",".join(sha256_file(f)[:16] for f in sorted(run.model.glob("*.safetensors")))
    else:
        source = recipe.model.id
    engine = "|engine=vllm" if p.engine == "vllm" else ""  # other random draws: other answers
    return f"{source}|k={p.k}|temperature={p.temperature:g}|top_p={p.top_p:g}|max_new_tokens={p.max_new_tokens}{engine}"


def load_sampler(recipe: Recipe, run: RunDir, console: Console) -> tuple[Any, Any, str]:
    from slmforge.runtime.models import load_model
    from slmforge.runtime.placement import announce, place
    from slmforge.runtime.trained import load_final

    section = recipe.model.model_copy(update={"id": recipe.prefs.model}) if recipe.prefs.model else recipe.model
    placement = announce(place(section), console, run, "prefs", "sampler")
    if recipe.prefs.model:
        return (*load_model(section, placement), recipe.prefs.model)
    if run.model.is_dir():
        return (*load_final(recipe, run, placement=placement, which="sft"), str(run.model))
    return (*load_model(recipe.model, placement), recipe.model.id)


def read_done(path: Path) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the half line of a killed write: that prompt is redone
                continue
            done[row["index"]] = row
    return done


def make_pairs(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Write prefs/pairs.jsonl and prefs/report.json from prefs.source; returns the files written."""
    p = recipe.prefs
    out_dir = run.root / "prefs"
    if p.source != "samples":
        from slmforge.prefs.sources import pairs_from_file, pairs_from_spotcheck

        if p.source == "file":
            found = pairs_from_file(recipe, Path(p.path or ""))
        else:
            found = pairs_from_spotcheck(Path(p.path or ""), run.eval / "samples.jsonl")
        out_dir.mkdir(parents=True, exist_ok=True)
        return write_report(recipe, out_dir, found.pairs, dict(found.drops), {}, found.unit, console)
    return sample_pairs(recipe, run, console)


def sample_pairs(recipe: Recipe, run: RunDir, console: Console) -> list[Path]:
    """Sample, score and pair; returns prefs/pairs.jsonl, prefs/samples.jsonl and prefs/report.json."""
    p = recipe.prefs
    scorer, identity = load_scorer(recipe)  # before any model loads: a typo fails in a second
    train_file = run.split_file("train")
    if not train_file.is_file():
        raise SlmforgeError(f"{train_file} is missing; run `slmforge prepare RECIPE` first")
    rows = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    prompts = choose_prompts(rows, p.samples, p.seed, recipe.data.split.stratify)
    out_dir = run.root / "prefs"
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_path = out_dir / "samples.jsonl"
    done = {i: row for i, row in read_done(samples_path).items() if i < len(prompts)}
    if any(done[i]["prompt"] != prompts[i] for i in done):
        raise SlmforgeError(f"{samples_path} holds samples of other prompts (data or prefs.seed changed); delete it to start over")
    sampler = sampler_identity(recipe, run)
    outdated = [i for i in done if done[i].get("sampler") != sampler]
    if outdated:
        console.print(f"prefs: {len(outdated)} prompts were sampled from another model or with other sampling keys; sampling them again")
        done = {i: row for i, row in done.items() if i not in outdated}
    todo = [i for i in range(len(prompts)) if i not in done]
    # Answers kept, scores redone: another scorer's scores, and judge calls that failed last time.
    stale = [i for i in sorted(done) if done[i].get("scorer") != identity or "judge_error" in done[i]["failures"]]
    console.print(f"prefs · {len(prompts)} prompts × {p.k} answers (temperature {p.temperature:g}) · scorer {p.scorer} · "
                  f"margin {p.margin:g} · {len(done)} done before, {len(todo)} to go"
                  + (f" · {len(stale)} to score again" if stale else ""))
    if todo or stale:
        from slmforge.runtime.judge.server import judge_server

        # The judge (when prefs.scorer is judge and judge.server.command is set) runs only while scoring.
        with judge_server(recipe.judge, run.judge / "server.log", console) if p.scorer == "judge" else nullcontext():
            if p.scorer == "judge":
                scorer.connect()  # type: ignore[attr-defined]
            if stale:
                rescore(scorer, identity, [done[i] for i in stale], p.batch_size, samples_path, done)
            if todo:
                sample_and_score(recipe, run, console, scorer, (identity, sampler), prompts, done, samples_path)
    return write_pairs(recipe, out_dir, [done[i] for i in sorted(done)], console)


def _row(i: int, prompt: list[dict[str, str]], answers: list[str], scored: list[Scored], identity: str,
         sampler: str) -> dict[str, Any]:
    return {"index": i, "prompt": prompt, "answers": answers, "scores": [s for s, _ in scored],
            "failures": [r for _, r in scored], "scorer": identity, "sampler": sampler}


def rescore(scorer: BatchScorer, identity: str, rows: list[dict[str, Any]], batch_size: int, samples_path: Path,
            done: dict[int, dict[str, Any]]) -> None:
    """Score kept answers again, batch by batch, rewriting samples.jsonl (atomically) after each batch.

    A row of another scorer is scored whole; a row of this scorer only at its failed judge calls.
    """
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        redo = [[j for j, r in enumerate(row["failures"]) if row.get("scorer") != identity or r == "judge_error"] for row in batch]
        scored = scorer([row["prompt"] for row in batch], [[row["answers"][j] for j in js] for row, js in zip(batch, redo)])
        for row, js, new in zip(batch, redo, scored):
            merged = list(zip(row["scores"], row["failures"]))
            for j, value in zip(js, new):
                merged[j] = value
            done[row["index"]] = _row(row["index"], row["prompt"], row["answers"], merged, identity, row["sampler"])
        rewrite_samples(samples_path, done)


def rewrite_samples(samples_path: Path, done: dict[int, dict[str, Any]]) -> None:
    """samples.jsonl holding exactly the rows in `done` (drops the half line a kill may have left)."""
    tmp = samples_path.with_name(samples_path.name + ".tmp")
    tmp.write_text("".join(json.dumps(done[i], ensure_ascii=False) + "\n" for i in sorted(done)), encoding="utf-8")
    tmp.replace(samples_path)


def sample_and_score(recipe: Recipe, run: RunDir, console: Console, scorer: BatchScorer, identities: tuple[str, str],
                     prompts: list[list[dict[str, str]]], done: dict[int, dict[str, Any]], samples_path: Path) -> None:
    """Sample the prompts not done yet, batch by batch; each batch's lines are appended once scored."""
    with _sampler(recipe, run, console) as sample:
        _sample_batches(recipe, scorer, identities, prompts, done, samples_path, sample)


@contextmanager
def _sampler(recipe: Recipe, run: RunDir, console: Console) -> Iterator[Callable[[list[list[dict[str, str]]], int], list[list[str]]]]:
    """(prompts, seed) -> k answers each: vLLM's (prefs.engine vllm) or the in-process model's."""
    if recipe.prefs.engine == "vllm":
        from slmforge.prefs.vllm_sampler import vllm_sampler

        with vllm_sampler(recipe, run, console) as sample:
            yield sample
        return
    model, tokenizer, name = load_sampler(recipe, run, console)
    console.print(f"sampling from {name}")
    model.eval()
    yield lambda prompts, seed: sample_answers(model, tokenizer, prompts, recipe, seed)


def _sample_batches(recipe: Recipe, scorer: BatchScorer, identities: tuple[str, str], prompts: list[list[dict[str, str]]],
                    done: dict[int, dict[str, Any]], samples_path: Path,
                    sample: Callable[[list[list[dict[str, str]]], int], list[list[str]]]) -> None:
    p = recipe.prefs
    identity, sampler = identities
    rewrite_samples(samples_path, done)  # appending after a killed run's half line would glue two rows together
    with open(samples_path, "a", encoding="utf-8") as f:
        for start in range(0, len(prompts), p.batch_size):
            batch = [i for i in range(start, min(start + p.batch_size, len(prompts))) if i not in done]
            if not batch:
                continue
            answers = sample([prompts[i] for i in batch], p.seed + start)
            scored = scorer([prompts[i] for i in batch], answers)
            for i, k_answers, k_scored in zip(batch, answers, scored):
                done[i] = _row(i, prompts[i], k_answers, k_scored, identity, sampler)
                f.write(json.dumps(done[i], ensure_ascii=False) + "\n")
            f.flush()


def write_pairs(recipe: Recipe, out_dir: Path, samples: list[dict[str, Any]], console: Console) -> list[Path]:
    drops: Counter[str] = Counter()
    answer_failures: Counter[str] = Counter(r for s in samples for r in s["failures"] if r)
    pairs: list[dict[str, Any]] = []
    for s in samples:
        pair, reason = pick_pair(s["answers"], s["scores"], recipe.prefs.margin)
        if pair is None:
            drops[reason or "unknown"] += 1
        else:
            pairs.append({"prompt": s["prompt"], **pair})
    extra = {"answers": len(samples) * recipe.prefs.k, "answer_failures": dict(answer_failures)}
    return write_report(recipe, out_dir, pairs, dict(drops), extra, "prompts", console) + [out_dir / "samples.jsonl"]


def write_report(recipe: Recipe, out_dir: Path, pairs: list[dict[str, Any]], drops: dict[str, int], extra: dict[str, Any],
                 unit: str, console: Console) -> list[Path]:
    """pairs.jsonl (atomically) and report.json: read = pairs + dropped, drops by reason."""
    pairs_path = out_dir / "pairs.jsonl"
    tmp = pairs_path.with_name("pairs.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair, ensure_ascii=False) + "\n")
    tmp.replace(pairs_path)
    p = recipe.prefs
    read = len(pairs) + sum(drops.values())
    report = {"source": p.source, "unit": unit, "read": read, "prompts": read if unit == "prompts" else None,
              "pairs": len(pairs), "dropped": sum(drops.values()), "dropped_by_reason": dict(sorted(drops.items())), **extra,
              "margin": p.margin if p.source == "samples" else None, "scorer": p.scorer if p.source == "samples" else None}
    report_path = out_dir / "report.json"
    write_json_atomic(report_path, report)
    why = ", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"
    console.print(f"{unit} {read} = pairs {len(pairs)} + dropped {sum(drops.values())} ({why}) → {pairs_path}")
    if not pairs:
        raise SlmforgeError(f"prefs: no pairs from {read} {unit} ({why}); see {report_path}"
                            + ("; lower prefs.margin or raise prefs.k / prefs.temperature" if p.source == "samples" else ""))
    return [pairs_path, report_path]
