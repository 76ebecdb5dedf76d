"""`slmforge eval RECIPE [--model final|base|PATH]`: every metric for the base and the fine-tuned model.

Both models answer the same test prompts with the same sampling; the table shows them side by
side with the difference. Outputs (under runs/<name>/eval/):
  results.json          metrics per model, baselines, coverage, throughput
  samples.jsonl         the fine-tuned model's answers (prompt, output, reference, meta)
  base_samples.jsonl    the base model's answers to the same prompts
  spotcheck.csv         N random fine-tuned answers with an empty rating column
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from slmforge.core.errors import RunDirError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, atomic_path, write_json_atomic
from slmforge.evaluate import task_metrics as tm
from slmforge.evaluate import text_metrics as txt
from slmforge.evaluate.custom import run_custom_metrics
from slmforge.evaluate.records import EvalRecord, labels_of, read_split
from slmforge.evaluate.spotcheck import write_spotcheck
from slmforge.runtime.generation import Generations, Sampling, generate
from slmforge.runtime.loss import read_tokenized, token_loss
from slmforge.runtime.progress import progress
from slmforge.runtime.tables import print_results

# Share of references that must parse as a number for task: auto to mean "number".
_NUMBER_TASK_SHARE = 0.9


def is_number_task(recipe: Recipe, references: list[str]) -> bool:
    if recipe.eval.task != "auto":
        return recipe.eval.task == "number"
    parsed = sum(1 for r in references if tm.is_number_answer(r))
    return bool(references) and parsed / len(references) >= _NUMBER_TASK_SHARE


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


def vllm_generator(spec: str, recipe: Recipe, run: RunDir, model: Any, tokenizer: Any) -> Callable[..., Generations]:
    """eval.engine vllm: the side's answers from vLLM (the same prompts, stop rule and sampling); loss stays ours."""
    from slmforge.runtime import vllm
    from slmforge.runtime.generation import stop_ids
    from slmforge.runtime.placement import place
    from slmforge.runtime.prompts import prompt_ids
    from slmforge.runtime.trained import is_qlora

    if spec == "base":
        model_dir, adapter = vllm.plain_dir(recipe.model.id), None
    else:
        path, base = run.final_model(recipe) if spec == "final" else (run.model if spec == "sft" else Path(spec), recipe.model)
        model_dir, adapter = vllm.trained_files(path, base.id, is_qlora(recipe, run, path), run.export / "merged")
    stops, placement = stop_ids(model, tokenizer), place(recipe.model)

    def answer(conversations: list[Any], sampling: Sampling, progress: Any = None) -> Generations:
        ids = [prompt_ids(tokenizer, c) for c in conversations]
        with vllm.VllmGenerator(model_dir, tokenizer, placement, stops, adapter, run.eval / f"vllm-{spec}.log") as engine:
            gens = engine.generate(ids, sampling)
        if progress is not None:
            progress(len(conversations))
        return gens

    return answer


def score_side(
    label: str, model: Any, tokenizer: Any, records: list[EvalRecord], tokenized: tuple[list, list],
    training: list[EvalRecord], recipe: Recipe, number_task: bool, console: Console,
    generator: Callable[..., Generations] | None = None,
) -> tuple[dict[str, Any], Generations]:
    """Loss, generation (ours, or `generator`: vLLM) and every metric for one model."""
    cfg = recipe.eval
    sampling = Sampling(cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.seed, cfg.batch_size)
    with _progress(console) as bar:
        task = bar.add_task(f"{label}: loss", total=len(tokenized[0]))
        loss = token_loss(model, *tokenized, batch_size=cfg.batch_size, progress=lambda n: bar.advance(task, n))
        task = bar.add_task(f"{label}: generate", total=len(records))
        answer = generator or (lambda conversations, s, progress: generate(model, tokenizer, conversations, s, progress=progress))
        gens = answer([r.prompt for r in records], sampling, progress=lambda n: bar.advance(task, n))
    gens.texts = [t.strip() for t in gens.texts]
    console.print(f"{label}: {sum(gens.new_tokens):,} tokens in {gens.seconds:.1f}s = "
                  f"[bold]{gens.tokens_per_s:.1f} tokens/s[/bold] (batch {cfg.batch_size})")
    scores = output_scores(gens.texts, records, training, recipe, number_task)
    scores.update({"loss": loss.loss, "perplexity": loss.perplexity, "loss_tokens": loss.tokens,
                   "tokens_per_s": gens.tokens_per_s, "mean_new_tokens": sum(gens.new_tokens) / max(1, len(records))})
    return scores, gens


def output_scores(outputs: list[str], records: list[EvalRecord], training: list[EvalRecord], recipe: Recipe,
                  number_task: bool) -> dict[str, Any]:
    """Metrics that need only the outputs (so references can be scored as a 'data' column too)."""
    cfg = recipe.eval
    references = [r.reference for r in records]
    train_outputs = [r.reference for r in training]
    novelty = txt.novelty(outputs, train_outputs, cfg.near_copy)
    scores: dict[str, Any] = {
        "bleu": txt.bleu(outputs, references),
        "rouge_l": txt.rouge_l(outputs, references),
        "exact_match": tm.exact_match(outputs, references),
        "distinct_1": txt.distinct_n(outputs, 1),
        "distinct_2": txt.distinct_n(outputs, 2),
        "novelty": novelty.novel,
        "exact_copies": novelty.exact_copies,
        "near_copies": novelty.near_copies,
        "empty_outputs": novelty.empty,
        "copied_examples": novelty.copied_examples,
    }
    label_field = cfg.label_field or recipe.data.split.stratify
    train_labels = labels_of(training, label_field) if label_field else None
    if train_labels is not None:
        cov = txt.coverage(outputs, train_outputs, train_labels)
        scores.update({"coverage_labels": len(cov.generated), "coverage_tv": cov.total_variation,
                       "coverage": {"field": label_field, "generated": cov.generated, "data": cov.data, "missing": cov.missing}})
    if number_task:
        truths = [tm.parse_number(r) for r in references]
        train_values = [v for v in (tm.parse_number(r) for r in train_outputs) if v is not None]
        fallback = sum(train_values) / len(train_values) if train_values else None
        keep = [i for i, t in enumerate(truths) if t is not None]
        numbers = tm.number_scores([tm.parse_number(outputs[i]) for i in keep], [truths[i] for i in keep], fallback)
        scores.update(numbers.as_dict())
    scores.update(run_custom_metrics(cfg.custom_metrics, outputs, references, [r.meta for r in records]))
    return scores


def baseline_scores(records: list[EvalRecord], training: list[EvalRecord], recipe: Recipe) -> dict[str, dict[str, Any]]:
    """Mean, per-group median and TF-IDF ridge on the same test rows (number task)."""
    train = [(r, tm.parse_number(r.reference)) for r in training]
    train = [(r, v) for r, v in train if v is not None]
    test = [(r, tm.parse_number(r.reference)) for r in records]
    test = [(r, v) for r, v in test if v is not None]
    if not train or not test:
        return {}
    group = recipe.eval.group_field
    train_groups = labels_of([r for r, _ in train], group) if group else None
    test_groups = labels_of([r for r, _ in test], group) if group else None
    result = tm.baselines([r.prompt_text for r, _ in train], [v for _, v in train], train_groups,
                          [r.prompt_text for r, _ in test], test_groups, [v for _, v in test])
    return {name: s.as_dict() for name, s in result.items()}


def _write_samples(path: Path, records: list[EvalRecord], gens: Generations) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for i, (record, text, n) in enumerate(zip(records, gens.texts, gens.new_tokens)):
            row = {"id": i, "prompt": record.prompt_text, "messages": record.prompt, "output": text,
                   "reference": record.reference, "new_tokens": n, "meta": record.meta}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def evaluate(recipe: Recipe, run: RunDir, console: Console, model: str = "final") -> list[Path]:
    """Run the evaluation; returns the files written."""
    cfg = recipe.eval
    records = read_split(run.split_file("test"), limit=cfg.samples)
    if not records:
        raise RunDirError(f"{run.split_file('test')}: the test split is empty; give data.split.test a share > 0")
    training = read_split(run.split_file("train"))
    ids, labels = read_tokenized(run.tokenized_file("test"), limit=cfg.samples)
    number_task = is_number_task(recipe, [r.reference for r in records])
    sides = ["base"] if model == "base" else (["base", model] if cfg.compare_base else [model])
    aligned = recipe.align.enabled and model == "final"
    if aligned:  # the preference view: the SFT model answers too (last, so the Δ column stays final − base)
        sides.append("sft")
    console.print(f"eval: {len(records)} test prompts · {len(training):,} training outputs · task "
                  f"{'number' if number_task else 'text'} · models {', '.join(sides)} · max_new_tokens {cfg.max_new_tokens} "
                  f"· temperature {cfg.temperature:g} · top_p {cfg.top_p:g} · batch {cfg.batch_size} · seed {cfg.seed}")
    run.eval.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"task": "number" if number_task else "text", "prompts": len(records), "models": {}}
    outputs: list[Path] = []
    for side in sides:
        label = side if side in ("base", "final", "sft") else Path(side).name
        loaded, tokenizer = load_side(side, recipe, run, console)
        generator = vllm_generator(side, recipe, run, loaded, tokenizer) if cfg.engine == "vllm" else None
        scores, gens = score_side(label, loaded, tokenizer, records, (ids, labels), training, recipe, number_task, console, generator)
        if aligned and side == "final":
            from slmforge.evaluate.preference_view import preference_view

            outputs.append(preference_view(recipe, run, loaded, tokenizer, console))
        del loaded
        gc.collect()
        results["models"][label] = scores
        path = run.eval / {"base": "base_samples.jsonl", "sft": "sft_samples.jsonl"}.get(side, "samples.jsonl")
        _write_samples(path, records, gens)
        outputs.append(path)
        if side not in ("base", "sft") and cfg.spotcheck:
            outputs.append(write_spotcheck(run.eval / "spotcheck.csv", records, gens.texts, cfg.spotcheck, cfg.seed))
    if aligned:
        from slmforge.evaluate.preference_view import add_scorer_means
        from slmforge.runtime.tables import preference_rows, preference_table

        add_scorer_means(recipe, run, console)
        console.print(preference_table(preference_rows(run)))
    results["models"]["reference"] = output_scores([r.reference for r in records], records, training, recipe, number_task)
    if number_task and cfg.baselines:
        results["baselines"] = baseline_scores(records, training, recipe)
    results_path = run.eval / "results.json"
    write_json_atomic(results_path, results)
    outputs.append(results_path)
    print_results(results, console)
    return outputs
