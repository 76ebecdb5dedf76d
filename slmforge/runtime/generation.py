"""Batched generation over chat prompts: left padding, KV cache, the recipe's sampling, seeded.

Prompts are sorted by length before batching (little padding, so little wasted compute) and
answers are returned in the caller's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 16


@dataclass
class Generations:
    texts: list[str]
    new_tokens: list[int]  # generated tokens per prompt, end-of-turn included
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0


def prompt_texts(tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[str]:
    """Render each conversation (ending with a user turn) with the chat template and the assistant header."""
    return [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in conversations]


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    return ids


@torch.no_grad()
def generate(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]], sampling: Sampling,
             progress: Callable[[int], None] | None = None) -> Generations:
    """Answer every conversation; `progress(n)` is called after each batch of n prompts."""
    model.eval()
    device = next(model.parameters()).device
    texts = prompt_texts(tokenizer, conversations)
    stop = _stop_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(stop), 0)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    answers: list[str] = [""] * len(texts)
    counts: list[int] = [0] * len(texts)
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
    sample = sampling.temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": sample, "use_cache": True,
                              "pad_token_id": pad_id, "eos_token_id": sorted(stop) or None}
    if sample:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
    else:  # clear sampling defaults a model's generation_config may carry, so greedy stays greedy and quiet
        kwargs.update(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(sampling.seed)
    started = time.perf_counter()
    try:
        for start in range(0, len(order), sampling.batch_size):
            chunk = order[start : start + sampling.batch_size]
            enc = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device), **kwargs)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            for i, row in zip(chunk, new):
                end = next((k + 1 for k, t in enumerate(row) if t in stop), len(row))
                counts[i] = end
                answers[i] = tokenizer.decode(row[:end], skip_special_tokens=True).strip()
            if progress is not None:
                progress(len(chunk))
    finally:
        tokenizer.padding_side = saved_side
    return Generations(answers, counts, time.perf_counter() - started)
