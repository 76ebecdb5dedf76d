"""The Data page: what prepare kept and dropped (data/data_report.json), split rows, token-length histograms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slmforge.orchestrate.studio.runs_index import read_json
from slmforge.orchestrate.studio.safety import NotFound, StudioError

SPLITS = ("train", "val", "test")
MAX_PAGE = 200


def token_lengths(run: Path, split: str) -> list[int]:
    """Tokens per example of a prepared split (the tokenized parquet's input_ids), without loading the ids."""
    path = run / "data" / "tokenized" / f"{split}.parquet"
    if not path.is_file():
        return []
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["input_ids"]).column("input_ids")
    return [int(n) for n in pc.list_value_length(column).to_pylist() if n is not None]


def histogram(lengths: list[int], max_length: int | None, bins: int = 32) -> dict[str, Any]:
    """Equal-width bins from 0 to max_length (or the longest example); the last bin holds the truncated ones."""
    if not lengths:
        return {"edges": [], "counts": []}
    top = max(max_length or 0, max(lengths), 1)
    width = max(1, -(-top // bins))
    counts = [0] * (-(-top // width))
    for n in lengths:
        counts[min(len(counts) - 1, n // width)] += 1
    return {"edges": [i * width for i in range(len(counts) + 1)], "counts": counts}


def overview(run: Path) -> dict[str, Any]:
    report = read_json(run / "data" / "data_report.json")
    if report is None:
        raise NotFound(f"{run.name}: no data/data_report.json yet; the prepare stage writes it")
    max_length = report.get("max_length")
    lengths = {split: token_lengths(run, split) for split in SPLITS}
    return {
        "report": report,
        "histograms": {split: histogram(ls, max_length) for split, ls in lengths.items() if ls},
        "rows": {split: _count_lines(run / "data" / f"{split}.jsonl") for split in SPLITS},
    }


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def rows(run: Path, split: str, offset: int, limit: int) -> dict[str, Any]:
    """One page of a split file: rows offset … offset+limit (1-based line numbers, as data_report names them)."""
    if split not in SPLITS:
        raise StudioError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
    if offset < 0 or not 0 < limit <= MAX_PAGE:
        raise StudioError(f"offset must be >= 0 and limit 1-{MAX_PAGE}")
    path = run / "data" / f"{split}.jsonl"
    if not path.is_file():
        raise NotFound(f"{run.name}: no data/{split}.jsonl; run prepare first")
    page = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f):
            if number < offset:
                continue
            if len(page) >= limit:
                break
            try:
                page.append({"line": number + 1, "row": json.loads(line)})
            except json.JSONDecodeError:
                page.append({"line": number + 1, "row": None, "raw": line[:2000]})
    return {"split": split, "offset": offset, "rows": page, "total": _count_lines(path)}
