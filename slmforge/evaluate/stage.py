"""`slmforge eval RECIPE [--model final|base|PATH]`: every metric for the base and the fine-tuned model.

Both models answer the same test prompts with the same sampling; the table shows them side by
side with the difference, then by part of the test split (seen / unseen phrasings, data.split.unseen).
Outputs (under runs/<name>/eval/):
  results.json              metrics per model (and per part), baselines, floors, notes, the spot-check to do
  samples.jsonl             the fine-tuned model's answers (prompt, output, reference, stopped, degenerate reason, meta;
                            greedy_output where eval.number_decoding median re-chose the digits)
  base_samples.jsonl        the base model's answers to the same prompts
  diversity_samples.jsonl   several sampled answers to each of the first eval.diversity_prompts prompts (base_… too)
  spotcheck.csv             N random fine-tuned answers with an empty rating column
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from slmforge.core.errors import RunDirError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, atomic_path, write_json_atomic
from slmforge.evaluate.explain import distinct_notes
from slmforge.evaluate.floors import check_floors
from slmforge.evaluate.median import median_answers, number_width
from slmforge.evaluate.parts import parts_of
from slmforge.evaluate.records import EvalRecord, read_split
from slmforge.evaluate.scores import Answers, baseline_scores, is_number_task, side_scores
from slmforge.evaluate.spotcheck import write_spotcheck
from slmforge.evaluate.text_metrics import nearest
from slmforge.runtime.emptiness import emptiness
from slmforge.runtime.generation import Generations, Sampling, generate
from slmforge.runtime.loss import read_tokenized, token_loss
from slmforge.runtime.progress import progress
from slmforge.runtime.prompts import prompt_ids
from slmforge.runtime.tables import print_results


def _progress(console: Console) -> Any:
    return progress(console, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)


def load_side(spec: str, recipe: Recipe, run: RunDir, console: Console) -> tuple[Any, Any]:
    """(model, tokenizer) for base | final | sft | a model directory (full weights or an adapter).

    final is the aligned model (align/model/ on the SFT weights) when align is on, else model/;
    sft is always model/.
    """
    from slmforge.runtime.models import load_model
    from slmforge.runtime.placement import announce, place
    from slmforge.runtime.trained import load_final, load_trained

    placement = announce(place(recipe.model), console, run, "eval", spec if spec in ("base", "final", "sft") else Path(spec).name)
    if spec == "base":
        return load_model(recipe.model, placement)
    path = run.final_model(recipe)[0] if spec == "final" else run.model if spec == "sft" else Path(spec)
    if spec in ("final", "sft") and not path.is_dir():
        raise RunDirError(f"{path}: no fine-tuned model; run `slmforge train RECIPE` first, or evaluate the base with --model base")
    if spec in ("final", "sft"):
        return load_final(recipe, run, placement=placement, which=spec)
    return load_trained(path, recipe.model, placement=placement)


@contextmanager
def vllm_generator(spec: str, recipe: Recipe, run: RunDir, model: Any, tokenizer: Any) -> Iterator[Callable[..., Generations]]:
    """eval.engine vllm: the side's answers from vLLM (the same prompts, stop rule and sampling; one server for the
    greedy answers and the diversity samples); loss stays ours."""
    from slmforge.runtime import vllm
    from slmforge.runtime.generation import stop_ids
    from slmforge.runtime.placement import place
    from slmforge.runtime.trained import is_qlora

    if spec == "base":
        model_dir, adapter = vllm.plain_dir(recipe.model.id), None
    else:
        path, base = run.final_model(recipe) if spec == "final" else (run.model if spec == "sft" else Path(spec), recipe.model)
        model_dir, adapter = vllm.trained_files(path, base.id, is_qlora(recipe, run, path), run.export / "merged")
    stops, placement = stop_ids(model, tokenizer), place(recipe.model)

    with vllm.VllmGenerator(model_dir, tokenizer, placement, stops, adapter, run.eval / f"vllm-{spec}.log") as engine:
        def answer(conversations: list[Any], sampling: Sampling, progress: Any = None) -> Generations:
            gens = engine.generate([prompt_ids(tokenizer, c) for c in conversations], sampling)
            if progress is not None:
                progress(len(conversations))
            return gens

        yield answer


def diversity_rows(recipe: Recipe, records: list[EvalRecord], number_task: bool) -> list[int]:
    """The test rows answered several times by sampling (none for a number task: one price has no wording to vary)."""
    return [] if number_task else list(range(min(recipe.eval.diversity_prompts, len(records))))


def answer(label: str, model: Any, tokenizer: Any, records: list[EvalRecord], tokenized: tuple[list, list], recipe: Recipe,
           number_task: bool, console: Console, generator: Callable[..., Generations] | None = None,
           width: int | None = None) -> Answers:
    """Loss on the references, the answers (eval's sampling, greedy by default) and the diversity samples of one model;
    generated by ours, or by `generator` (vLLM); with `width`, a number answer's digits re-chosen at the model's
    median (evaluate.median), greedy's answers kept beside them."""
    cfg = recipe.eval
    sampling = Sampling(cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.seed, cfg.batch_size)
    several = diversity_rows(recipe, records, number_task)
    with _progress(console) as bar:
        task = bar.add_task(f"{label}: loss", total=len(tokenized[0]))
        loss = token_loss(model, *tokenized, batch_size=cfg.batch_size, progress=lambda n: bar.advance(task, n))
        task = bar.add_task(f"{label}: generate", total=len(records))
        generate_with = generator or (lambda conversations, s, progress: generate(model, tokenizer, conversations, s, progress=progress))
        gens = generate_with([r.prompt for r in records], sampling, progress=lambda n: bar.advance(task, n))
        sampled: dict[int, list[str]] = {}
        if several:
            k = cfg.diversity_samples
            task = bar.add_task(f"{label}: {k} samples each (temperature {cfg.diversity_temperature:g})", total=len(several))
            draws = generate_with([records[i].prompt for i in several],
                                  replace(sampling, temperature=cfg.diversity_temperature, n=k), progress=lambda n: bar.advance(task, n))
            sampled = {i: [t.strip() for t in texts] for i, texts in zip(several, draws.grouped(k))}
    console.print(f"{label}: {sum(gens.new_tokens):,} tokens in {gens.seconds:.1f}s = "
                  f"[bold]{gens.tokens_per_s:.1f} tokens/s[/bold] (batch {cfg.batch_size})")
    texts, greedy = [t.strip() for t in gens.texts], None
    if width is not None:
        median = median_answers(model, tokenizer, [prompt_ids(tokenizer, r.prompt) for r in records], gens.tokens, width, cfg.batch_size)
        if median is None:
            console.print(f"{label}: eval.number_decoding median needs one token per digit, and this tokenizer merges digits: "
                          "the answers are greedy's")
        else:
            texts, greedy = [t.strip() for t in median.texts], texts
            console.print(f"{label}: the digits of {median.rechosen} of {len(texts)} answers re-chosen at the model's median "
                          f"({median.kept} kept as written: no {width}-digit number)")
    return Answers(texts, list(gens.stopped), loss, sampled, gens.tokens_per_s, gens.new_tokens, greedy)


def median_width(recipe: Recipe, training: list[EvalRecord], number_task: bool) -> int | None:
    """The number width eval.number_decoding median decodes at, or None (greedy as written): a number task answered
    greedily whose training answers all hold a number of one width, so digit order is numeric order."""
    if not number_task or recipe.eval.number_decoding != "median" or recipe.eval.temperature > 0:
        return None
    return number_width([r.reference for r in training])


def score_answers(answers: Answers, rows: dict[str, list[int]], records: list[EvalRecord], training: list[EvalRecord],
                  recipe: Recipe, number_task: bool) -> dict[str, dict[str, Any]]:
    """Scores of one model over each set of rows ("all" and the parts); nearest training outputs looked up once."""
    found = None if number_task else nearest(answers.texts, [r.reference for r in training])
    return {name: side_scores(answers, idx, records, training, recipe, number_task, found) for name, idx in rows.items()}


def _distinct(rows: list[int], records: list[EvalRecord]) -> list[int]:
    """The first row of each distinct reference: a grouped split holds each reply several times, and the
    reference column is the data's own level (its diversity, its frames), not a count of repeats."""
    first: dict[str, int] = {}
    for i in rows:
        first.setdefault(records[i].reference.strip(), i)
    return sorted(first.values())


def _write_sampled(path: Path, records: list[EvalRecord], sampled: dict[int, list[str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i, outputs in sorted(sampled.items()):
            f.write(json.dumps({"id": i, "prompt": records[i].prompt_text, "outputs": outputs}, ensure_ascii=False) + "\n")


def _write_samples(path: Path, records: list[EvalRecord], answers: Answers, frame_share: float) -> None:
    reasons = emptiness(answers.texts, frame_share).reasons
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i, (record, text) in enumerate(zip(records, answers.texts)):
            row = {"id": i, "prompt": record.prompt_text, "messages": record.prompt, "output": text, "reference": record.reference,
                   "new_tokens": answers.new_tokens[i] if answers.new_tokens else None,
                   "stopped": answers.stopped[i] if answers.stopped else None,
                   "degenerate": str(reasons[i]) if reasons[i] is not None else None, "meta": record.meta}
            if answers.greedy_texts is not None:  # number task, median digits: what greedy wrote (and the server answers)
                row["greedy_output"] = answers.greedy_texts[i]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _side_files(side: str) -> tuple[str, str]:
    prefix = {"base": "base_", "sft": "sft_"}.get(side, "")
    return f"{prefix}samples.jsonl", f"{prefix}diversity_samples.jsonl"


def _sides(recipe: Recipe, model: str) -> list[str]:
    sides = ["base"] if model == "base" else (["base", model] if recipe.eval.compare_base else [model])
    if recipe.align.enabled and model == "final":  # the preference view: the SFT model answers too (last, so Δ stays final − base)
        sides.append("sft")
    return sides


def _label(side: str) -> str:
    return side if side in ("base", "final", "sft") else Path(side).name


def _store(results: dict[str, Any], label: str, scored: dict[str, dict[str, Any]]) -> None:
    results["models"][label] = scored["all"]
    for part, scores in scored.items():
        if part != "all":
            results["parts"][part]["models"][label] = scores


def evaluate(recipe: Recipe, run: RunDir, console: Console, model: str = "final") -> list[Path]:
    """Run the evaluation; returns the files written."""
    cfg = recipe.eval
    records = read_split(run.split_file("test"), limit=cfg.samples)
    if not records:
        raise RunDirError(f"{run.split_file('test')}: the test split is empty; give data.split.test a share > 0")
    training = read_split(run.split_file("train"))
    ids, labels = read_tokenized(run.tokenized_file("test"), limit=cfg.samples)
    number_task = is_number_task(recipe, [r.reference for r in records])
    width = median_width(recipe, training, number_task)
    sides = _sides(recipe, model)
    parts = parts_of(records)
    rows = {"all": list(range(len(records))), **parts}
    console.print(f"eval: {len(records)} test prompts" + "".join(f" ({len(v)} {k})" for k, v in parts.items()) +
                  f" · {len(training):,} training outputs · task {'number' if number_task else 'text'} · models {', '.join(sides)} "
                  f"· max_new_tokens {cfg.max_new_tokens} · temperature {cfg.temperature:g} · top_p {cfg.top_p:g} · batch {cfg.batch_size} "
                  f"· seed {cfg.seed}" + (f" · digits at the model's median ({width}-digit numbers)" if width else "") + (f" · {len(diversity_rows(recipe, records, number_task))} prompts x {cfg.diversity_samples} samples "
                                          f"at temperature {cfg.diversity_temperature:g}" if diversity_rows(recipe, records, number_task) else ""))
    run.eval.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"task": "number" if number_task else "text", "prompts": len(records), "models": {},
                               "parts": {p: {"prompts": len(v), "models": {}} for p, v in parts.items()}}
    outputs: list[Path] = []
    for side in sides:
        loaded, tokenizer = load_side(side, recipe, run, console)
        with vllm_generator(side, recipe, run, loaded, tokenizer) if cfg.engine == "vllm" else nullcontext(None) as generator:
            answers = answer(_label(side), loaded, tokenizer, records, (ids, labels), recipe, number_task, console, generator, width)
        if recipe.align.enabled and model == "final" and side == "final":
            from slmforge.evaluate.preference_view import preference_view

            outputs.append(preference_view(recipe, run, loaded, tokenizer, console))
        del loaded
        gc.collect()
        _store(results, _label(side), score_answers(answers, rows, records, training, recipe, number_task))
        samples_name, sampled_name = _side_files(side)
        _write_samples(run.eval / samples_name, records, answers, cfg.stock_frame_share)
        outputs.append(run.eval / samples_name)
        if answers.sampled:
            _write_sampled(run.eval / sampled_name, records, answers.sampled)
            outputs.append(run.eval / sampled_name)
        if side not in ("base", "sft") and cfg.spotcheck:
            outputs.append(write_spotcheck(run.eval / "spotcheck.csv", records, answers.texts, cfg.spotcheck, cfg.seed))
    if recipe.align.enabled and model == "final":
        from slmforge.evaluate.preference_view import add_scorer_means
        from slmforge.runtime.tables import preference_rows, preference_table

        add_scorer_means(recipe, run, console)
        console.print(preference_table(preference_rows(run)))
    references = Answers([r.reference for r in records])
    _store(results, "reference", score_answers(references, {k: _distinct(v, records) for k, v in rows.items()}, records, training,
                                               recipe, number_task))
    if width:
        results["number_decoding"] = {"method": "median", "width": width}
    finish(results, recipe, run, _label(sides[1] if len(sides) > 1 and sides[0] == "base" else sides[0]), number_task, records, training)
    results_path = run.eval / "results.json"
    write_json_atomic(results_path, results)
    outputs.append(results_path)
    print_results(results, console)
    return outputs


def finish(results: dict[str, Any], recipe: Recipe, run: RunDir, tuned: str, number_task: bool, records: list[EvalRecord],
           training: list[EvalRecord]) -> None:
    """What eval adds beside the per-model scores: baselines, floors, the notes that explain a fall, the spot-check to do."""
    cfg = recipe.eval
    if number_task and cfg.baselines:
        results["baselines"] = baseline_scores(records, training, recipe)
    if not results["parts"]:
        del results["parts"]
    decoding = "greedy" if cfg.temperature == 0 else f"temperature {cfg.temperature:g}, top_p {cfg.top_p:g}, seed {cfg.seed}"
    if results.get("number_decoding"):
        decoding += f", digits at the model's median ({results['number_decoding']['width']}-digit numbers)"
    floors = check_floors(cfg.floors, results, tuned, decoding)
    if floors is not None:
        results["floors"] = floors
    if not number_task:
        results["notes"] = distinct_notes(results["models"], tuned)
        results["diversity"] = {"prompts": len(diversity_rows(recipe, records, number_task)), "samples": cfg.diversity_samples,
                                "temperature": cfg.diversity_temperature, "top_p": cfg.top_p}
    if cfg.spotcheck and tuned != "base":
        results["spotcheck"] = {"file": str(run.eval / "spotcheck.csv"), "rows": min(cfg.spotcheck, len(records)),
                                "targets": cfg.targets.model_dump(), "command": f"slmforge rate {run.root} {run.eval / 'spotcheck.csv'}"}
