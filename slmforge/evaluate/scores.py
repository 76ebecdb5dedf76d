"""Every metric of one model's answers, over the whole test split or a part of it (seen / unseen).

A model's answers are generated once (`Answers`); the scores of a part are the same functions over
that part's rows, so the whole split and its parts can never disagree about what a metric means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slmforge.core.recipe import Recipe
from slmforge.evaluate import task_metrics as tm
from slmforge.evaluate import text_metrics as txt
from slmforge.evaluate.custom import run_custom_metrics
from slmforge.evaluate.records import EvalRecord, labels_of
from slmforge.runtime.emptiness import emptiness, sample_diversity
from slmforge.runtime.loss import LossResult

# Share of references that must parse as a number for task: auto to mean "number".
_NUMBER_TASK_SHARE = 0.9


def is_number_task(recipe: Recipe, references: list[str]) -> bool:
    if recipe.eval.task != "auto":
        return recipe.eval.task == "number"
    parsed = sum(1 for r in references if tm.is_number_answer(r))
    return bool(references) and parsed / len(references) >= _NUMBER_TASK_SHARE


@dataclass
class Answers:
    """What one model produced for the test prompts (index i = record i)."""

    texts: list[str]
    stopped: list[bool] | None = None  # ended on the end-of-turn token; None for the references
    loss: LossResult | None = None  # per-row losses on the references' tokens
    sampled: dict[int, list[str]] | None = None  # record index -> several sampled answers (diversity prompts)
    tokens_per_s: float | None = None
    new_tokens: list[int] | None = None
    greedy_texts: list[str] | None = None  # number task, median decoding: the answers as greedy wrote them


def text_scores(outputs: list[str], records: list[EvalRecord], training: list[EvalRecord], recipe: Recipe,
                found: list[txt.Neighbour] | None = None) -> dict[str, Any]:
    """What only means something for prose: overlap, diversity, copies, coverage, emptiness."""
    cfg = recipe.eval
    train_outputs = [r.reference for r in training]
    found = txt.nearest(outputs, train_outputs) if found is None else found
    novelty = txt.novelty(outputs, train_outputs, cfg.near_copy, found)
    empty = emptiness(outputs, cfg.stock_frame_share)
    references = [r.reference for r in records]
    scores: dict[str, Any] = {
        "bleu": txt.bleu(outputs, references),
        "rouge_l": txt.rouge_l(outputs, references),
        "distinct_1": txt.distinct_n(outputs, 1),
        "distinct_2": txt.distinct_n(outputs, 2),
        "novelty": novelty.novel,
        "exact_copies": novelty.exact_copies,
        "near_copies": novelty.near_copies,
        "copied_examples": novelty.copied_examples,
        "mean_words": txt.mean_words(outputs),
        "degenerate": empty.share,
        "degenerate_by_reason": empty.by_reason,
        "degenerate_examples": empty.examples(outputs),
        "top_frame": empty.top_frame,
        "top_frame_share": empty.top_frame_share,
    }
    label_field = cfg.label_field or recipe.data.split.stratify
    train_labels = labels_of(training, label_field) if label_field else None
    if train_labels is not None:
        cov = txt.coverage(outputs, train_outputs, train_labels, found)
        scores.update({"coverage_labels": len(cov.generated), "coverage_missing": len(cov.missing), "coverage_tv": cov.total_variation,
                       "coverage": {"field": label_field, "generated": cov.generated, "data": cov.data, "missing": cov.missing}})
    return scores


def number_scores(outputs: list[str], records: list[EvalRecord], training: list[EvalRecord]) -> dict[str, Any]:
    """MAE and friends over the rows whose reference is a number; unparsable answers counted, never dropped."""
    truths = [tm.parse_number(r.reference) for r in records]
    train_values = [v for v in (tm.parse_number(r.reference) for r in training) if v is not None]
    fallback = sum(train_values) / len(train_values) if train_values else None
    keep = [i for i, t in enumerate(truths) if t is not None]
    return tm.number_scores([tm.parse_number(outputs[i]) for i in keep], [truths[i] for i in keep], fallback).as_dict()


def output_scores(outputs: list[str], records: list[EvalRecord], training: list[EvalRecord], recipe: Recipe,
                  number_task: bool, found: list[txt.Neighbour] | None = None) -> dict[str, Any]:
    """Metrics that need only the outputs (so references can be scored as a 'data' column too).

    A number task gets no prose metrics: novelty, copies, distinct-n and frames of "Price is $X"
    answers say nothing about the prices.
    """
    scores: dict[str, Any] = {"exact_match": tm.exact_match(outputs, [r.reference for r in records]),
                              "empty_outputs": sum(1 for o in outputs if not txt.normalize(o))}
    scores.update(number_scores(outputs, records, training) if number_task else text_scores(outputs, records, training, recipe, found))
    scores.update(run_custom_metrics(recipe.eval.custom_metrics, outputs, [r.reference for r in records], [r.meta for r in records]))
    return scores


def side_scores(answers: Answers, rows: list[int], records: list[EvalRecord], training: list[EvalRecord], recipe: Recipe,
                number_task: bool, found: list[txt.Neighbour] | None = None) -> dict[str, Any]:
    """Every metric of one model over the records `rows` (all of them, or one part of the split)."""
    picked = [records[i] for i in rows]
    scores = output_scores([answers.texts[i] for i in rows], picked, training, recipe, number_task,
                           [found[i] for i in rows] if found is not None else None)
    if answers.loss is not None:
        loss = answers.loss.subset(rows)
        scores.update({"loss": loss.loss, "perplexity": loss.perplexity, "loss_tokens": loss.tokens})
    if answers.stopped is not None and rows:
        scores["stopped"] = sum(answers.stopped[i] for i in rows) / len(rows)
    if answers.new_tokens is not None and rows:
        scores["mean_new_tokens"] = sum(answers.new_tokens[i] for i in rows) / len(rows)
    if answers.sampled and not number_task:
        diversity = sample_diversity([answers.sampled[i] for i in rows if i in answers.sampled])
        if diversity is not None:
            scores.update({"sample_distinctness": diversity.distinctness, "sample_identical": diversity.identical})
    if answers.greedy_texts is not None and number_task:
        greedy = number_scores([answers.greedy_texts[i] for i in rows], picked, training)
        scores["greedy"] = {k: greedy[k] for k in ("mae", "mae_all", "rmse", "within_10pct", "parse_failures")}
    if answers.tokens_per_s is not None and len(rows) == len(records):
        scores["tokens_per_s"] = answers.tokens_per_s
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
