"""Chosen-over-rejected accuracy on held-out preference pairs, for a language model or a reward model.

A language model prefers the chosen reply when log p(chosen | prompt) > log p(rejected | prompt)
(sums over the reply's tokens, end of turn included: the same quantity DPO and ORPO push apart).
A reward model prefers it when its score of (prompt, chosen) is higher.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from slmforge.runtime.prompts import conversation_text, prompt_and_reply_ids


@dataclass(frozen=True)
class PairScore:
    pairs: int
    accuracy: float  # share of pairs where chosen beats rejected (ties count as losses)
    mean_margin: float  # mean of score(chosen) - score(rejected)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def read_pairs(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a prepared preference split: {"messages": prompt turns, "chosen", "rejected", ...}."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


@torch.no_grad()
def reply_logprobs(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], replies: list[str],
                   batch_size: int = 16, max_length: int = 512) -> list[float]:
    """Sum of log p(reply token) given the prompt, one value per (prompt, reply)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        seqs, starts = [], []
        for prompt, reply in zip(prompts[start:start + batch_size], replies[start:start + batch_size]):
            p, r = prompt_and_reply_ids(tokenizer, prompt, reply)
            ids = (p + r)[-max_length:]  # keep the reply when too long (truncation_mode keep_end)
            seqs.append(ids)
            starts.append(max(1, len(ids) - len(r)))
        width = max(len(s) for s in seqs)
        pad = tokenizer.pad_token_id or 0
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        for row, (seq, begin) in enumerate(zip(seqs, starts)):
            out.append(float(logp[row, begin - 1:len(seq) - 1].sum()))
    return out


def lm_pair_score(model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch_size: int = 16, max_length: int = 512) -> PairScore:
    """How often the language model gives the chosen reply a higher log-probability than the rejected one."""
    prompts = [r["messages"] for r in rows]
    chosen = reply_logprobs(model, tokenizer, prompts, [r["chosen"] for r in rows], batch_size, max_length)
    rejected = reply_logprobs(model, tokenizer, prompts, [r["rejected"] for r in rows], batch_size, max_length)
    return _score(chosen, rejected)


@torch.no_grad()
def reward_scores(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], replies: list[str],
                  batch_size: int = 16, max_length: int = 512) -> list[float]:
    """A sequence-classification reward model's score of each (prompt, reply) conversation."""
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        texts = [conversation_text(tokenizer, p, r) for p, r in zip(prompts[start:start + batch_size], replies[start:start + batch_size])]
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                          add_special_tokens=False).to(device)
        out.extend(float(x) for x in model(**batch).logits[:, 0])
    return out


def reward_pair_score(model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch_size: int = 16, max_length: int = 512) -> PairScore:
    prompts = [r["messages"] for r in rows]
    chosen = reward_scores(model, tokenizer, prompts, [r["chosen"] for r in rows], batch_size, max_length)
    rejected = reward_scores(model, tokenizer, prompts, [r["rejected"] for r in rows], batch_size, max_length)
    return _score(chosen, rejected)


def _score(chosen: list[float], rejected: list[float]) -> PairScore:
    if not chosen:
        return PairScore(0, float("nan"), float("nan"))
    margins = [c - r for c, r in zip(chosen, rejected)]
    return PairScore(len(margins), sum(m > 0 for m in margins) / len(margins), sum(margins) / len(margins))
