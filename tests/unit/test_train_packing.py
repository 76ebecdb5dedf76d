"""Packing: several examples share a row, yet none attends to another and our labels survive as is."""

from __future__ import annotations

import pytest
import torch


def examples(tokenizer, n: int = 12) -> list[dict]:
    from slmforge.runtime.prompts import tokenize_chat

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

    # 45-token examples: only two fit a 128-token row, so 16 examples need 8 rows (not 16 × 45 / 128 → 6).
    assert packs_per_step(batch_size=16, lengths=[45] * 100, pack_length=128) == 8
    assert packs_per_step(batch_size=16, lengths=[30, 90] * 50, pack_length=128) == 8  # one short + one long per row
    assert packs_per_step(batch_size=1, lengths=[300] * 10, pack_length=512) == 1


def test_cpu_row_collator_keeps_packs_as_rows_and_no_example_attends_to_another(tiny_qwen2):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.data_utils import pack_dataset

    from slmforge.train.data import RowPackCollator

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    rows = examples(tokenizer)
    packed = pack_dataset(Dataset.from_list(rows), seq_length=128, strategy="bfd")
    batch = RowPackCollator(tokenizer.pad_token_id)(list(packed))
    assert batch["input_ids"].shape[0] == len(packed) > 1 and "attention_mask" not in batch
    by_ids = {tuple(r["input_ids"]): r for r in rows}
    seen = 0
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for r in range(len(packed)):
            n = int(sum(packed[r]["seq_lengths"]))
            starts = (batch["position_ids"][r, :n] == 0).nonzero().flatten().tolist() + [n]
            for start, end in zip(starts, starts[1:]):
                row = by_ids[tuple(batch["input_ids"][r, start:end].tolist())]
                labels = torch.tensor(row["labels"])
                alone = model(input_ids=torch.tensor([row["input_ids"]])).logits[0]
                assert summed_nll(logits[r, start:end], labels).item() == pytest.approx(summed_nll(alone, labels).item(), rel=1e-5)
                seen += 1
            assert (batch["labels"][r, n:] == -100).all()  # right padding carries no loss
    assert seen == len(rows)
