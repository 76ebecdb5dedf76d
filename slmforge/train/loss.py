"""Validation loss measured the same way for any model: mean NLL per loss-bearing token.

Trainer's eval_loss averages per-batch means, so it depends on how examples were batched or
packed; this one does not, which is what comparing two trainings (or a model with its base) needs.
"""

from __future__ import annotations

from typing import Any

import torch


@torch.no_grad()
def validation_loss(model: Any, dataset: Any, batch_size: int = 16) -> float:
    """Token-weighted mean cross-entropy over the labels (-100 ignored) of a tokenized dataset."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    rows = list(zip(dataset["input_ids"], dataset["labels"]))
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for i, (row_ids, row_labels) in enumerate(chunk):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            labels[i, : len(row_labels)] = torch.tensor(row_labels)
            mask[i, : len(row_ids)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        shifted = labels[:, 1:].to(device)
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), shifted.reshape(-1),
                                                ignore_index=-100, reduction="sum")
        total += float(nll)
        count += int((shifted != -100).sum())
    if was_training:
        model.train()
    return total / max(1, count)
