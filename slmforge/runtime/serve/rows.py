"""One sequence's decoding state inside a batch: its own sampling (temperature, top_p, seed), stop strings and
max_tokens, and the text streamed so far (held back while it could still grow into a stop string)."""

from __future__ import annotations

from typing import Any

import torch

from slmforge.runtime.serve.requests import GenerationResult, GenRequest, RequestError, SamplingParams, answer


def longest_partial_stop(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that could still grow into a stop string.

    A stream must hold that suffix back: sending "Hel" and then discovering the stop "Hello"
    would leak text the client asked never to see.
    """
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


class _Row:
    """Decoding state of one request inside a batch."""

    def __init__(self, request: GenRequest, eos_ids: set[int]):
        self.request = request
        self.eos_ids = eos_ids
        self.ids: list[int] = []
        self.emitted = ""
        self.generator = None
        if request.params.seed is not None:
            try:
                self.generator = torch.Generator().manual_seed(request.params.seed)
            except (RuntimeError, ValueError, OverflowError) as exc:
                raise RequestError(f"seed {request.params.seed} is out of range: use an integer in "
                                   "[-2**63, 2**64)") from exc

    def advance(self, token: int, tokenizer: Any) -> bool:
        """Take one sampled token; answer the request and return True when it is finished."""
        params = self.request.params
        if token in self.eos_ids:
            return self._finish(tokenizer.decode(self.ids, skip_special_tokens=True), "stop")
        self.ids.append(token)
        text = tokenizer.decode(self.ids, skip_special_tokens=True)
        for stop in params.stop:
            at = text.find(stop)
            if at >= 0:
                return self._finish(text[:at], "stop")
        if len(self.ids) >= params.max_tokens:
            return self._finish(text, "length")
        if self.request.on_delta is not None:
            # A trailing U+FFFD is half a multi-byte character: wait for the rest of it.
            safe = text.rstrip("\ufffd")
            safe = safe[: len(safe) - longest_partial_stop(safe, params.stop)]
            if len(safe) > len(self.emitted) and safe.startswith(self.emitted):
                self.request.on_delta(safe[len(self.emitted):])
                self.emitted = safe
        return False

    def cancel_if_asked(self, tokenizer: Any) -> bool:
        """The client went away (closed stream): answer with what there is and leave the batch."""
        if not self.request.cancelled.is_set():
            return False
        return self._finish(tokenizer.decode(self.ids, skip_special_tokens=True), "stop")

    def _finish(self, text: str, reason: str) -> bool:
        if self.request.on_delta is not None and text.startswith(self.emitted) and len(text) > len(self.emitted):
            self.request.on_delta(text[len(self.emitted):])
        answer(self.request, GenerationResult(text, reason, len(self.request.prompt_ids), len(self.ids)))
        return True


def sample_token(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """One token from one row's float32 logits with its own temperature (> 0) and top_p."""
    scores = logits / params.temperature
    if params.top_p < 1.0:
        sorted_scores, order = scores.sort(descending=True)
        probs = sorted_scores.softmax(-1)
        # Keep the smallest prefix whose mass reaches top_p. The first token always stays: a top_p
        # below float32's smallest number (1e-46) would otherwise drop every token.
        drop = probs.cumsum(-1) - probs >= params.top_p
        drop[0] = False
        scores = scores.scatter(0, order[drop], float("-inf"))
    return int(torch.multinomial(scores.softmax(-1), 1, generator=generator))
