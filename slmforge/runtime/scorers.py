"""Scorers of (prompt, answer): the judge, a `module:function`, or a reward-model directory.

One loader for every place that scores answers — prefs (pairs from sampled answers), eval's
preference view (the scorer's mean on SFT vs aligned answers), GRPO's reward model — so a recipe's
scorer means the same thing everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmforge.core.errors import RecipeError
from slmforge.core.recipe import Recipe, import_callable
from slmforge.core.sections import ModelSection
from slmforge.runtime.models import check_no_pickle
from slmforge.runtime.placement import place
from slmforge.runtime.prompts import conversation_text

Scorer = Callable[[list[dict[str, str]], str], float]
Scored = tuple[float | None, str | None]
# Scores a batch at once: prompts × their k answers → (score, None) or (None, failure reason) each.
BatchScorer = Callable[[list[list[dict[str, str]]], list[list[str]]], list[list[Scored]]]


def load_scorer(recipe: Recipe) -> tuple[BatchScorer, str]:
    """prefs.scorer: judge (the judge section's endpoint and rubric) or module:function(prompt_messages, answer) -> float.

    Returns the scorer and its identity, stored with every scored prompt: answers scored by
    another scorer (or rubric, or judge model) are scored again on the next run, not reused.
    """
    if recipe.prefs.scorer == "judge":
        from slmforge.runtime.judge.scorer import JudgeScorer

        judge = JudgeScorer(recipe)
        return judge, f"judge:{judge.rubric.digest}:{recipe.judge.model or ''}"
    if Path(recipe.prefs.scorer).expanduser().is_dir():
        # A reward model (train.method: reward, full weights) scores all k answers of a prompt in one batch.
        _, reward = load_reward_scorer(Path(recipe.prefs.scorer), recipe.data.max_length, "prefs.scorer", recipe.model.allow_pickle)

        def score_with_model(prompts: list[list[dict[str, str]]], answers: list[list[str]]) -> list[list[Scored]]:
            out: list[list[Scored]] = []
            for prompt, k in zip(prompts, answers):
                kept = [a for a in k if a.strip()]
                scores = iter(reward([prompt] * len(kept), kept) if kept else [])
                out.append([(next(scores), None) if a.strip() else (None, "empty_answer") for a in k])
            return out

        return score_with_model, f"reward_model:{Path(recipe.prefs.scorer).expanduser().resolve()}"
    fn = import_callable(recipe.prefs.scorer, "prefs.scorer", example="slmforge.prefs.rules:folksy_shape")
    if getattr(fn, "batch", False):  # fn(prompts, answers per prompt) -> scores per prompt: it sees the batch's answers together
        return batch_rule(fn), recipe.prefs.scorer

    def score_batch(prompts: list[list[dict[str, str]]], answers: list[list[str]]) -> list[list[Scored]]:
        return [[score_answer(fn, prompt, a) for a in k] for prompt, k in zip(prompts, answers)]

    return score_batch, recipe.prefs.scorer


def batch_rule(fn: Callable[..., Any]) -> BatchScorer:
    """A rule marked `fn.batch = True` scores a whole batch at once (what it needs: how often the batch's answers reuse a
    frame); a failure or a wrong shape fails the batch's answers, counted like score_answer's, never fatal."""

    def score_batch(prompts: list[list[dict[str, str]]], answers: list[list[str]]) -> list[list[Scored]]:
        try:
            values = fn(prompts, answers)
            ok = len(values) == len(answers) and all(len(v) == len(k) for v, k in zip(values, answers))
        except Exception:  # a user's scorer may fail any way; the count says how often
            return [[(None, "empty_answer") if not a.strip() else (None, "scorer_error") for a in k] for k in answers]
        if not ok:
            return [[(None, "unparsable_score")] * len(k) for k in answers]
        return [[(None, "empty_answer") if not a.strip() else _number(v) for a, v in zip(k, vs)] for k, vs in zip(answers, values)]

    return score_batch


def _number(value: Any) -> Scored:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, "unparsable_score"
    return (number, None) if math.isfinite(number) else (None, "unparsable_score")


def score_answer(scorer: Scorer, prompt: list[dict[str, str]], answer: str) -> tuple[float | None, str | None]:
    """(score, None) or (None, reason): a scorer that raises or returns no number is counted, never fatal."""
    if not answer.strip():
        return None, "empty_answer"
    try:
        value = scorer(prompt, answer)
    except Exception:  # a user's scorer may fail any way; the count says how often
        return None, "scorer_error"
    return _number(value)


def load_reward_scorer(where: Path, max_length: int, key: str, allow_pickle: bool = False) -> tuple[Any, Any]:
    """(model, score) for a full reward-model directory (train.method: reward, pref.adapter: full):
    score(prompt_messages_list, answers) -> one float per answer, read from the score head.
    `key` names the recipe key in the error."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    where = Path(where).expanduser()
    if not (where / "config.json").is_file():
        raise RecipeError(f"{key}: {where} has no config.json; give a full reward model "
                          "(train.method: reward with train.pref.adapter: full)")
    check_no_pickle(where, allow_pickle, key)
    # fp32 scores on the placement's device: a reward model is small beside the policy, and ties must not come from rounding.
    placement = place(ModelSection(id=str(where)))
    model = AutoModelForSequenceClassification.from_pretrained(str(where), num_labels=1, **placement.load_kwargs("fp32")).eval()
    tok = AutoTokenizer.from_pretrained(str(where))
    model.config.pad_token_id = tok.pad_token_id

    @torch.no_grad()
    def score(prompts: list[Any], answers: list[str]) -> list[float]:
        texts = [conversation_text(tok, p, a) for p, a in zip(prompts, answers)]
        batch = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length * 2).to(model.device)
        return model(**batch).logits[:, 0].float().tolist()

    return model, score
