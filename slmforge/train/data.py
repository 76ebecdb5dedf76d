"""The prepared token data as training datasets, and the step arithmetic packing implies.

Prepare already tokenized and masked every example (labels = -100 outside assistant replies);
training only reads those columns, it never tokenizes again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from slmforge.core.errors import RunDirError
from slmforge.core.rundir import RunDir


@dataclass(frozen=True)
class TokenStats:
    examples: int
    tokens: int  # all tokens of all examples
    loss_tokens: int  # tokens that carry loss (assistant replies + end of turn)

    @property
    def mean_tokens(self) -> float:
        return self.tokens / max(1, self.examples)


def load_split(run: RunDir, split: str) -> Any:
    """A datasets.Dataset with input_ids and labels of one prepared split (examples without loss dropped)."""
    from datasets import Dataset

    path = run.tokenized_file(split)
    if not path.is_file():
        raise RunDirError(f"{path} is missing; run `slmforge prepare RECIPE` first")
    dataset = Dataset.from_parquet(str(path)).select_columns(["input_ids", "labels"])
    # An example whose reply was truncated away teaches nothing and would divide loss by zero.
    return dataset.filter(lambda labels: any(t != -100 for t in labels), input_columns="labels")


def token_stats(dataset: Any) -> TokenStats:
    lengths = [len(ids) for ids in dataset["input_ids"]]
    loss = sum(sum(1 for t in labels if t != -100) for labels in dataset["labels"])
    return TokenStats(len(lengths), sum(lengths), loss)


def packs_per_step(batch_size: int, lengths: Sequence[int], pack_length: int) -> int:
    """Packs (rows of ≤ pack_length tokens) per device step that hold about batch_size examples.

    train.batch_size counts examples; a packed row holds several. Keeping examples per step the
    same as without packing keeps the recipe's lr and step count meaning the same thing. The
    examples per row come from running TRL's best-fit-decreasing packing on the real lengths: a
    row is rarely full (two 45-token examples fill 70 % of 128), and assuming full rows gave
    ~25 % fewer examples per step, so more optimizer steps than the unpacked run for the same data.
    """
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    if not lengths:
        return 1
    rows = len(pack_dataset(Dataset.from_dict({"input_ids": [[0] * n for n in lengths]}), seq_length=pack_length, strategy="bfd"))
    return max(1, math.ceil(batch_size * rows / len(lengths)))


class RowPackCollator:
    """Packed rows kept as separate rows of a [packs, ≤ pack_length] batch, with per-example position_ids.

    TRL's padding-free collator concatenates every pack of a step into one row: on CUDA flash
    attention handles that varlen row, but on CPU sdpa attends over the whole row with a
    block-diagonal mask, (packs × length)² work — a step of 6 packs × 128 ran 1.6x slower than
    the same tokens as 16 padded rows (tiny Qwen2, 1 thread, 2026-11-27). Separate rows cost
    (packs × length²). No attention_mask: transformers then derives the block-diagonal mask from
    position_ids (masking_utils.find_packed_sequence_indices), so examples never attend across.
    Right padding gets position 0 (a one-token "sequence" of its own) and label -100.
    """

    def __init__(self, pad_token_id: int) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.inner = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=False, return_position_ids=True)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(examples)
        batch.pop("attention_mask")
        return batch
