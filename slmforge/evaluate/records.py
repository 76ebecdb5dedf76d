"""The evaluation's view of a prepared split: prompt turns, reference reply, meta per record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmforge.core.errors import RunDirError


@dataclass(frozen=True)
class EvalRecord:
    prompt: list[dict[str, str]]  # every turn before the last (the conversation the model answers)
    reference: str  # the last message: the assistant reply we compare with
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """The last user turn: what a person reading the report sees as 'the prompt'."""
        users = [m["content"] for m in self.prompt if m.get("role") == "user"]
        return users[-1] if users else (self.prompt[-1]["content"] if self.prompt else "")


def read_split(path: Path, limit: int | None = None) -> list[EvalRecord]:
    """Records of a prepared split (data/{split}.jsonl); the first `limit` when given."""
    if not path.is_file():
        raise RunDirError(f"{path}: prepared split missing; run `slmforge prepare RECIPE` first")
    records: list[EvalRecord] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            messages = row.get("messages") or []
            if not messages or messages[-1].get("role") != "assistant":
                raise RunDirError(f"{path}:{lineno}: the last message is not an assistant reply; re-run `slmforge prepare`")
            meta = dict(row.get("meta") or {})
            records.append(EvalRecord(messages[:-1], messages[-1]["content"], meta))
            if limit is not None and len(records) >= limit:
                break
    return records


def labels_of(records: list[EvalRecord], key: str) -> list[str] | None:
    """The meta[key] of every record as text, or None when any record lacks it."""
    values = [r.meta.get(key) for r in records]
    if not values or any(v is None for v in values):
        return None
    return [str(v) for v in values]
