"""KTO's unpaired rows (data.format: unpaired): TRL's prompt / completion / label shape, and held-out pairs.

KTO learns from single answers marked good or bad (spot-check ratings, thumbs up/down). The held-out
figure every preference method reports is chosen-over-rejected accuracy, so held-out unpaired rows are
paired back where a prompt has both a good and a bad answer; prompts with only one kind are not scored.
"""

from __future__ import annotations

import json
from typing import Any


def is_unpaired(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and "label" in rows[0] and "chosen" not in rows[0]


def kto_dataset(rows: list[dict[str, Any]]) -> Any:
    """TRL's conversational unpaired format: prompt turns, the assistant completion, label True = desirable."""
    from datasets import Dataset

    return Dataset.from_list([
        {"prompt": r["messages"][:-1], "completion": [r["messages"][-1]], "label": bool(r["label"])} for r in rows
    ])


def held_out_pairs(rows: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """{"messages", "chosen", "rejected"} for each prompt with a good and a bad answer (the i-th good with the i-th bad)."""
    good: dict[str, list[str]] = {}
    bad: dict[str, list[str]] = {}
    prompts: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        key = json.dumps(r["messages"][:-1], ensure_ascii=False)
        prompts[key] = r["messages"][:-1]
        (good if r["label"] else bad).setdefault(key, []).append(r["messages"][-1]["content"])
    pairs = [{"messages": prompts[k], "chosen": c, "rejected": b}
             for k in prompts for c, b in zip(good.get(k, []), bad.get(k, []))]
    return pairs[:limit] if limit else pairs
