"""LRU cache of deterministic answers: the same greedy request always gets the same reply, so
generating it twice is waste (judges and evaluation loops repeat prompts a lot)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable

from slmforge.runtime.serve.engine import GenerationResult, SamplingParams


def cache_key(model: str, prompt_ids: list[int], params: SamplingParams) -> Hashable | None:
    """None when the request is not deterministic (sampling) and must not be cached."""
    if params.temperature > 0:
        return None
    return (model, tuple(prompt_ids), params.max_tokens, params.stop)


class ResponseCache:
    """Used from the event loop thread only, so it needs no lock."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, GenerationResult] = OrderedDict()

    def get(self, key: Hashable | None) -> GenerationResult | None:
        if key is None or self.size <= 0 or key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable | None, result: GenerationResult) -> None:
        if key is None or self.size <= 0:
            return
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
