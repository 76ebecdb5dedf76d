"""The prepared token data as training datasets, and the step arithmetic packing implies.

Prepare already tokenized and masked every example (labels = -100 outside assistant replies);
training only reads those columns, it never tokenizes again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from slmforge.errors import RunDirError
from slmforge.rundir import RunDir


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


def packs_per_step(batch_size: int, mean_tokens: float, pack_length: int) -> int:
    """Packs (rows of pack_length tokens) per device step that hold about batch_size examples.

    train.batch_size counts examples; a packed row holds several. Keeping examples per step the
    same as without packing keeps the recipe's lr and step count meaning the same thing.
    """
    return max(1, math.ceil(batch_size * mean_tokens / pack_length))
