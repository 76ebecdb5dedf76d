"""What the judge reads (answers to score) and how its results survive an interrupted run.

Samples come from the evaluation stage's eval/samples.jsonl, read loosely: each line needs a
prompt ("prompt" or "input") and an answer ("output", "generation", "completion" or
"prediction"); "reference" and "id" are kept when present.

Results are appended one JSON line per reply as soon as it lands, so a run killed half-way has
everything it received on disk; the next run reads them back by key and asks only for the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import DataError, RunDirError

PROMPT_FIELDS = ("prompt", "input")
OUTPUT_FIELDS = ("output", "generation", "completion", "prediction")


@dataclass(frozen=True)
class Sample:
    id: str
    prompt: str
    output: str
    reference: str | None = None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    # An OpenAI-style message list: the judge sees the last user turn (prompt) / reply text.
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        content = value[-1].get("content")
        return content if isinstance(content, str) else None
    return None


def read_samples(path: Path, limit: int | None = None, hint: str = "run `slmforge eval RECIPE` first") -> list[Sample]:
    """The first `limit` samples of a JSONL file; every unreadable line is named with its number."""
    if not path.is_file():
        raise RunDirError(f"{path}: no samples to judge; {hint}")
    samples: list[Sample] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{path}:{lineno}: not valid JSON; fix or delete the line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object with a prompt and an output")
            prompt = next((_text(row[k]) for k in PROMPT_FIELDS if k in row), None)
            output = next((_text(row[k]) for k in OUTPUT_FIELDS if k in row), None)
            if prompt is None or output is None:
                raise DataError(
                    f"{path}:{lineno}: needs text fields {' or '.join(PROMPT_FIELDS)} and {' or '.join(OUTPUT_FIELDS)}, "
                    f"found {', '.join(sorted(row)) or 'none'}"
                )
            reference = row.get("reference")
            samples.append(Sample(str(row.get("id", lineno)), prompt, output, reference if isinstance(reference, str) else None))
            if limit is not None and len(samples) >= limit:
                break
    if not samples:
        raise RunDirError(f"{path}: the file holds no samples; {hint}")
    return samples


def result_key(*parts: str) -> str:
    """Identity of one judgement: changes when the rubric, judge, prompt or answer change."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:20]


class ResultLog:
    """A JSONL file of judge results keyed by "key"; later lines win over earlier ones."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return rows
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a crash mid-write: that one reply is asked again
                if isinstance(row, dict) and "key" in row:
                    rows[row["key"]] = row
        return rows

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file with exactly these rows (one per key, in order), atomically."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, self.path)
