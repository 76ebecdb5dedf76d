"""Loss and perplexity on a tokenized split, with the labels (and -100 masking) training used.

The mean is per loss-bearing token over the whole split, not a mean of batch means, so the
number does not depend on batch size or padding, and base and fine-tuned models are measured
on exactly the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from slmforge.core.errors import RunDirError

IGNORE = -100


@dataclass(frozen=True)
class LossResult:
    loss: float  # mean cross-entropy per reply token (nats)
    perplexity: float
    tokens: int  # loss-bearing tokens measured
    rows: int
    row_nll: list[float] = field(default_factory=list, repr=False)  # summed NLL of each row, in input order
    row_tokens: list[int] = field(default_factory=list, repr=False)  # loss-bearing tokens of each row

    def subset(self, rows: list[int]) -> LossResult:
        """The same token-weighted loss over some of the rows (a part of the test split)."""
        return _result(sum(self.row_nll[i] for i in rows), sum(self.row_tokens[i] for i in rows), len(rows),
                       [self.row_nll[i] for i in rows], [self.row_tokens[i] for i in rows])


def _result(total: float, count: int, rows: int, row_nll: list[float], row_tokens: list[int]) -> LossResult:
    loss = total / count if count else float("nan")
    return LossResult(loss, math.exp(min(loss, 50.0)) if count else float("nan"), count, rows, row_nll, row_tokens)


def read_tokenized(path: Path, limit: int | None = None) -> tuple[list[list[int]], list[list[int]]]:
    """(input_ids, labels) of a tokenized split written by prepare."""
    if not path.is_file():
        raise RunDirError(f"{path}: tokenized split missing; run `slmforge prepare RECIPE` first")
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["input_ids", "labels"])
    ids, labels = table.column("input_ids").to_pylist(), table.column("labels").to_pylist()
    if limit is not None:
        ids, labels = ids[:limit], labels[:limit]
    return ids, labels


@torch.no_grad()
def token_loss(model: Any, input_ids: list[list[int]], labels: list[list[int]], batch_size: int = 16,
               progress: Any = None) -> LossResult:
    """Token-weighted mean next-token cross-entropy over labels != -100 (right padding, masked)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Length-sorted batches waste little compute on padding; the sum is order-independent.
    order = sorted(range(len(input_ids)), key=lambda i: len(input_ids[i]))
    row_nll, row_tokens = [0.0] * len(input_ids), [0] * len(input_ids)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(input_ids[i]) for i in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        lab = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for row, i in enumerate(chunk):
            n = len(input_ids[i])
            ids[row, :n] = torch.tensor(input_ids[i])
            lab[row, :n] = torch.tensor(labels[i])
            mask[row, :n] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        target = lab[:, 1:].to(device)
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=IGNORE, reduction="none"
        ).view(target.shape).sum(dim=1)
        counts = (target != IGNORE).sum(dim=1)
        for row, i in enumerate(chunk):
            row_nll[i], row_tokens[i] = float(nll[row]), int(counts[row])
        if progress is not None:
            progress(len(chunk))
    if was_training:
        model.train()
    return _result(sum(row_nll), sum(row_tokens), len(input_ids), row_nll, row_tokens)
