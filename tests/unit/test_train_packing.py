"""Packing: several examples share a row, yet none attends to another and our labels survive as is."""

from __future__ import annotations

import pytest
import torch


def examples(tokenizer, n: int = 12) -> list[dict]:
    from slmforge.data.tokenize import tokenize_chat

    out = []
    for i in range(n):
        messages = [{"role": "user", "content": f"Tell me about goat number {i} " + "and the barn " * (i % 4)},
                    {"role": "assistant", "content": f"The goat {i} sleeps by the warm stove" + ", quietly" * (i % 3) + "."}]
        tok = tokenize_chat(tokenizer, messages, max_length=96)
        out.append({"input_ids": tok.input_ids, "labels": tok.labels})
    return out


def summed_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits[:-1].float(), labels[1:], ignore_index=-100, reduction="sum")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_each_example_has_the_same_loss_packed_as_alone(tiny_qwen2, attn):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2, attn_implementation=attn).eval()
    rows = examples(tokenizer)
    # The same packing and collation SFTTrainer does with packing_strategy="bfd" (padding-free rows + position_ids).
    packed = pack_dataset(Dataset.from_list(rows), seq_length=128, strategy="bfd")
    assert len(packed) < len(rows)  # several examples per row, or this test proves nothing
    batch = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(list(packed))
    assert "attention_mask" not in batch  # boundaries come from position_ids alone

    by_ids = {tuple(r["input_ids"]): r for r in rows}
    with torch.no_grad():
        # use_cache=False as SFTTrainer.compute_loss sets it: transformers derives the block-diagonal mask
        # from position_ids only when there is no KV cache (with one, packed rows WOULD attend across).
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist() + [batch["input_ids"].size(1)]
        seen = 0
        for start, end in zip(starts, starts[1:]):
            ids = batch["input_ids"][0, start:end]
            row = by_ids[tuple(ids.tolist())]
            # Our precomputed labels are kept (TRL only masks each row's first token, which prepare masked already).
            assert batch["labels"][0, start:end].tolist() == row["labels"]
            alone = model(input_ids=ids[None]).logits[0]
            labels = torch.tensor(row["labels"])
            assert summed_nll(logits[start:end], labels).item() == pytest.approx(summed_nll(alone, labels).item(), rel=1e-5)
            seen += 1
    assert seen == len(rows)


def test_packs_per_step_keep_examples_per_step_near_batch_size():
    from slmforge.train.data import packs_per_step

    assert packs_per_step(batch_size=16, mean_tokens=40.0, pack_length=128) == 5  # 5 × 128 ≥ 16 × 40
    assert packs_per_step(batch_size=1, mean_tokens=300.0, pack_length=512) == 1
