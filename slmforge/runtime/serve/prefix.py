"""The KV cache of prompt beginnings the engine has already run, reused by later prompts that begin the same way.

Chat traffic repeats its beginning: every request to a served model starts with the chat template's system turn,
and an application sends the same instructions before each user's text. Running those tokens again for every
request is most of a short request's prefill (measured on a CPU, 16 clients, ~30 of ~40 prompt tokens shared:
1.10x tokens/s, time to first token 0.59x; bench/RESULTS.md). The
store keeps the keys and values of such beginnings; a prefill that starts with one runs only the rest of each
prompt. Keys and values of the first n tokens depend on those tokens alone (causal attention, positions from 0),
so an entry serves any prompt that shares its first n tokens, and a slice of it serves a shorter match.

Entries are per adapter (a LoRA changes the keys and values of the same tokens) and kept least-recently-used
within a budget of memory (256 MB holds ~5,800 tokens of SmolLM2-135M in fp32, ~1,300 of a 14B in bf16).
This is what vLLM and SGLang call prefix caching (there in pages, across every running sequence), and what
llama.cpp's server does with its slot's previous prompt. Written here because transformers has no cross-request
prefix cache to reuse: its caches live inside one `generate` call.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import torch

# Shorter shared beginnings are not worth a separate forward pass on a miss.
MIN_TOKENS = 16


class PrefixStore:
    """Keys and values, per layer, of token sequences already run, within `budget_bytes` in all."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[str | None, tuple[int, ...]], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._sizes: dict[tuple[str | None, tuple[int, ...]], int] = {}

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def lookup(self, adapter: str | None, ids: tuple[int, ...] | list[int]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The longest stored beginning of `ids` (at least MIN_TOKENS long): its length and per-layer keys and values
        (sliced to it, batch 1); (0, []) when none."""
        best, best_key, wanted = 0, None, tuple(ids)
        for key in self._entries:
            if key[0] == adapter:
                shared = len(os.path.commonprefix([key[1], wanted]))
                if shared > best:
                    best, best_key = shared, key
        if best < MIN_TOKENS or best_key is None:
            return 0, []
        self._entries.move_to_end(best_key)
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in self._entries[best_key]]

    def add(self, adapter: str | None, ids: list[int], layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store the keys and values of `ids` (batch 1), evicting the least recently used entries beyond the budget."""
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if size > self.budget_bytes:
            return
        key = (adapter, tuple(ids))
        self._entries[key], self._sizes[key] = layers, size
        while self.bytes > self.budget_bytes:
            old, _ = self._entries.popitem(last=False)
            del self._sizes[old]


def batch_cache(layers: list[tuple[torch.Tensor, torch.Tensor]], rows: int, config: Any) -> Any:
    """A DynamicCache that holds the same beginning for `rows` rows (copies: the stored tensors stay as they are)."""
    from transformers.cache_utils import DynamicCache

    return DynamicCache([(k.repeat(rows, 1, 1, 1), v.repeat(rows, 1, 1, 1)) for k, v in layers], config=config)
