"""One generation path for every stage that asks a transformers model for answers: eval, prefs
sampling, GRPO's held-out prompts, verify's greedy parity and export's load-back check.

Batched with left padding and the KV cache; prompts are sorted by length before batching (little
padding, so little wasted compute) and answers come back in the caller's order. Sampling means
what our server and vLLM mean by it: temperature (0 = greedy) and top_p, nothing else — no top-k
from a model's generation_config sneaks in. One stop rule (`stop_ids`) for batch generation and the
serving engine alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from slmforge.runtime.prompts import end_of_turn_token, prompt_ids

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 16
    n: int = 1  # answers per prompt (sampled: n different draws)


@dataclass
class Generations:
    """Answers in the caller's prompt order (n per prompt, one prompt's answers side by side)."""

    texts: list[str]  # decoded without special tokens, not stripped
    tokens: list[list[int]]  # generated ids, the stop token left out
    stopped: list[bool]  # ended on a stop token (not on max_new_tokens)
    seconds: float

    @property
    def new_tokens(self) -> list[int]:
        """Generated tokens per answer, the stop token included (what the model spent)."""
        return [len(t) + s for t, s in zip(self.tokens, self.stopped)]

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0

    def grouped(self, n: int) -> list[list[str]]:
        """texts as one list of n answers per prompt."""
        return [self.texts[i:i + n] for i in range(0, len(self.texts), n)]


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every id that ends a turn: the tokenizer's eos, the generation config's (often a list) and the chat
    template's end-of-turn token (what training taught the model to stop on, even where a base model's
    eos is another token)."""
    return stop_ids_of(tokenizer, getattr(getattr(model, "generation_config", None), "eos_token_id", None))


def stop_ids_of(tokenizer: Any, config_eos: Any = None) -> set[int]:
    """stop_ids without a loaded model: `config_eos` is a generation config's eos_token_id (an id or a list)."""
    ids: set[int] = set()
    for value in (getattr(tokenizer, "eos_token_id", None), config_eos):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value if isinstance(v, int))
    if getattr(tokenizer, "chat_template", None):
        try:
            eot = tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))
        except Exception:  # a template without an end-of-turn token: prepare refuses it with a clear line
            eot = None
        if isinstance(eot, int) and eot != getattr(tokenizer, "unk_token_id", None):
            ids.add(eot)
    return ids


def _sampling_kwargs(sampling: Sampling, stops: set[int], pad_id: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "use_cache": True, "pad_token_id": pad_id,
                              "eos_token_id": sorted(stops) or None, "num_return_sequences": sampling.n}
    if sampling.temperature > 0:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    else:  # clear sampling defaults a model's generation_config may carry, so greedy stays greedy and quiet
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def left_padded(prompts: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts (token ids) as one left-padded batch and its attention mask: new tokens must follow each prompt directly."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


@torch.no_grad()
def generate_ids(model: Any, tokenizer: Any, prompts: list[list[int]], sampling: Sampling, stops: set[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> Generations:
    """Answer every prompt (token ids); `stops` None = the stop rule above; `progress(k)` after each batch of k prompts."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    stops = stop_ids(model, tokenizer) if stops is None else stops
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(sorted(stops)), 0)
    kwargs = _sampling_kwargs(sampling, stops, pad_id)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    n = sampling.n
    tokens: list[list[int]] = [[] for _ in range(len(prompts) * n)]
    stopped = [False] * (len(prompts) * n)
    torch.manual_seed(sampling.seed)
    started = time.perf_counter()
    try:
        for start in range(0, len(order), sampling.batch_size):
            chunk = order[start:start + sampling.batch_size]
            ids, mask = left_padded([prompts[i] for i in chunk], pad_id, device)
            out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)[:, ids.shape[1]:].tolist()
            for row, new in enumerate(out):
                slot = chunk[row // n] * n + row % n
                end = next((k for k, t in enumerate(new) if t in stops), None)
                tokens[slot], stopped[slot] = (new, False) if end is None else (new[:end], True)
            if progress is not None:
                progress(len(chunk))
    finally:
        model.train(was_training)
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
    return Generations(texts, tokens, stopped, time.perf_counter() - started)


def generate(model: Any, tokenizer: Any, conversations: list[Messages], sampling: Sampling,
             progress: Callable[[int], None] | None = None) -> Generations:
    """Answer every conversation (ending with a user turn), prompted exactly as training and the server prompt it."""
    return generate_ids(model, tokenizer, [prompt_ids(tokenizer, m) for m in conversations], sampling, progress=progress)
