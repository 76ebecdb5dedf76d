"""The engine's keys and values: decoding writes each step's column in place, past block boundaries, with the
same logits as running the whole sequence; columns no row attends to are dropped without changing an answer."""

from __future__ import annotations

import torch

from slmforge.runtime.serve.kv import BLOCK, MIN_UNUSED, GrowingLayer, drop_unused_columns, growable


def whole(model, ids: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([ids])).logits[0, -1]


@torch.inference_mode()
def test_decoding_past_a_block_writes_in_place_and_matches_the_whole_sequence(sharp):
    model, _ = sharp
    torch.manual_seed(0)
    ids = torch.randint(5, 200, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # the second row is left-padded
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = growable(model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True).cache)
    assert all(type(layer) is GrowingLayer for layer in cache.layers)
    sequences, last = [ids[0].tolist(), ids[1, 4:].tolist()], positions[:, -1:]
    buffers, moved = cache.layers[0]._keys.data_ptr(), 0
    for _ in range(BLOCK + 8):
        tokens = torch.randint(5, 200, (2, 1))
        mask, last = torch.cat([mask, torch.ones(2, 1, dtype=mask.dtype)], 1), last + 1
        out = model(input_ids=tokens, attention_mask=mask, position_ids=last, cache=cache, use_cache=True)
        for row in range(2):
            sequences[row].append(int(tokens[row]))
            assert torch.allclose(out.logits[row, -1], whole(model, sequences[row]), atol=1e-3)
        moved += cache.layers[0]._keys.data_ptr() != buffers
        buffers = cache.layers[0]._keys.data_ptr()
    assert cache.get_seq_length() == 12 + BLOCK + 8
    assert moved == 2, "the buffer should grow once at the first step and once a block later, never in between"


@torch.inference_mode()
def test_dropping_the_columns_of_rows_that_left_keeps_the_rest_of_the_answers(sharp):
    model, _ = sharp
    torch.manual_seed(1)
    pad = MIN_UNUSED + 4
    ids = torch.randint(5, 200, (2, pad + 10))
    mask = torch.ones_like(ids)
    mask[1, :pad] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = growable(model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True).cache)
    sequence, last = ids[1, pad:].tolist(), positions[1:, -1:]
    cache.batch_select_indices(torch.tensor([1]))  # the first row finished: its columns are the second row's padding
    mask = mask[1:]
    mask = drop_unused_columns(cache, mask)
    assert mask.shape[1] == 10 and cache.get_seq_length() == 10 and bool(mask.all())
    for _ in range(6):
        token = int(whole(model, sequence).argmax())
        mask, last = torch.cat([mask, torch.ones(1, 1, dtype=mask.dtype)], 1), last + 1
        out = model(input_ids=torch.tensor([[token]]), attention_mask=mask, position_ids=last, cache=cache, use_cache=True)
        sequence.append(token)
        assert torch.allclose(out.logits[0, -1], whole(model, sequence), atol=1e-3)


def test_a_few_unused_columns_are_not_worth_a_copy():
    layer = GrowingLayer(torch.zeros(1, 1, 40, 2), torch.zeros(1, 1, 40, 2))
    cache = type("Cache", (), {"layers": [layer]})()
    mask = torch.ones(1, 40, dtype=torch.long)
    mask[0, :MIN_UNUSED - 1] = 0
    assert drop_unused_columns(cache, mask) is mask and layer.get_seq_length() == 40
