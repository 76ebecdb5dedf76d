"""The running batch's keys and values: written in place as it decodes, and kept no wider than its rows need.

transformers' DynamicLayer grows by `torch.cat` at every decoding step, copying every key and value the batch
holds to add one column: measured on a CPU (SmolLM2-135M, bf16, 16 rows, ~60 columns), 12–33 % of a
step's time was those copies (torch.profiler, two runs), and the share grows with the context. `GrowingLayer`
keeps the keys and values in a buffer with room past them, so a step writes its own column and copies nothing;
the buffer grows by a block when it is full (vLLM's paged KV cache is the fuller form of the same idea).

A batch that keeps taking newcomers never ends while traffic lasts, and each newcomer is left-padded to the
batch's width: without `drop_unused_columns` the width would grow by one column a step for as long as the
server is busy (measured: 208 columns after 20 s of 16 clients whose prompts and answers need ~75), and with it
every step's attention and the cache's memory.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

# Columns added when a buffer is full: a reallocation (one copy) every BLOCK decoding steps instead of every step.
BLOCK = 64
# Columns no row attends to are dropped once they are this many and a quarter of the width (one copy of the cache).
MIN_UNUSED = 16


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose `keys` and `values` are views of buffers with room past them.

    Assigning `keys` or `values` (as `_merge`, `crop` and transformers' own methods do) replaces the buffer with
    exactly that tensor; the next `update` makes room again."""

    def __init__(self, keys: torch.Tensor | None = None, values: torch.Tensor | None = None) -> None:
        # Each buffer has its own length: `_merge` assigns keys, then computes the values from the old ones.
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None
        self._key_len = self._value_len = 0
        super().__init__()  # sets keys = values = None through the setters below
        if keys is not None and values is not None:
            self.device, self.keys, self.values = keys.device, keys, values
            self.is_initialized = True

    @staticmethod
    def _width(tensor: torch.Tensor | None) -> int:
        return 0 if tensor is None or tensor.dim() < 2 else tensor.shape[-2]

    def _get_keys(self) -> torch.Tensor | None:
        return None if self._keys is None else self._keys[:, :, : self._key_len]

    def _set_keys(self, tensor: torch.Tensor | None) -> None:
        self._keys, self._key_len = tensor, self._width(tensor)

    def _get_values(self) -> torch.Tensor | None:
        return None if self._values is None else self._values[:, :, : self._value_len]

    def _set_values(self, tensor: torch.Tensor | None) -> None:
        self._values, self._value_len = tensor, self._width(tensor)

    keys = property(_get_keys, _set_keys)
    values = property(_get_values, _set_values)

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if not self._key_len:
            self.keys, self.values = key_states, value_states
            return self.keys, self.values
        self._keys, self._key_len = self._written(self._keys, self._key_len, key_states)
        self._values, self._value_len = self._written(self._values, self._value_len, value_states)
        return self.keys, self.values

    @staticmethod
    def _written(buffer: torch.Tensor, length: int, states: torch.Tensor) -> tuple[torch.Tensor, int]:
        """`buffer` (or a larger copy of its first `length` columns, when full) with `states` written after them."""
        end = length + states.shape[-2]
        if buffer.shape[-2] < end:
            shape = list(buffer.shape)
            shape[-2] = end + BLOCK
            grown = buffer.new_empty(shape)
            grown[:, :, :length] = buffer[:, :, :length]
            buffer = grown
        buffer[:, :, length:end] = states
        return buffer, end

    def get_seq_length(self) -> int:
        return self._key_len if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self._key_len:  # the buffers' room past the columns stays
            self._keys, self._values = self._keys[indices], self._values[indices]


def growable(cache: Any) -> Any:
    """`cache` with its plain dynamic layers as GrowingLayers (the same tensors: nothing is copied now)."""
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicLayer and layer.keys is not None and layer.keys.dim() == 4:
            cache.layers[i] = GrowingLayer(layer.keys, layer.values)
    return cache


def is_joinable(layer: Any) -> bool:
    """Layers whose keys the engine may pad, slice and concatenate by hand: plain (non-sliding) dynamic ones."""
    return type(layer) in (DynamicLayer, GrowingLayer) and layer.keys is not None


def drop_unused_columns(cache: Any, mask: torch.Tensor) -> torch.Tensor:
    """Remove the columns of `cache` and `mask` that no row attends to (left padding of rows that have left,
    newcomers' padding), once they are worth a copy; returns the mask. Positions are given to the model per row,
    so which columns a row's keys sit in does not change what it computes."""
    used = mask.any(dim=0)
    unused = int(used.numel() - used.sum())
    if unused < max(MIN_UNUSED, used.numel() // 4) or not all(is_joinable(layer) for layer in cache.layers):
        return mask
    index = used.nonzero()[:, 0]
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys.index_select(-2, index), layer.values.index_select(-2, index)
    return mask[:, index]
