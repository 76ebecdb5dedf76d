"""Read RecipeNLG's CSV: title, ingredients, directions, link, source, NER (lists are JSON strings).

A row that cannot be a recipe is counted by reason, never fatal; a file that is not RecipeNLG at
all (missing, unreadable, wrong columns) is a DataError naming the file and what to do.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from slmforge.core.errors import DataError

csv.field_size_limit(1 << 30)  # some directions run long
REQUIRED_COLUMNS = ("title", "ingredients", "directions")


@dataclass(frozen=True)
class Recipe:
    row: int  # 1-based data row in the CSV
    title: str
    ingredients: tuple[str, ...]
    directions: tuple[str, ...]
    link: str = ""
    source: str = ""
    ner: tuple[str, ...] = ()


class MalformedRow(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _json_list(row: dict[str, str | None], column: str, required: bool) -> tuple[str, ...]:
    raw = row.get(column) or ""
    if not raw.strip():
        if required:
            raise MalformedRow(f"empty_{column}")
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise MalformedRow(f"bad_json_{column}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedRow(f"bad_json_{column}")
    items = tuple(v.strip() for v in value if v.strip())
    if required and not items:
        raise MalformedRow(f"empty_{column}")
    return items


def parse_row(number: int, row: dict[str, str | None]) -> Recipe:
    """One CSV row as a Recipe, or MalformedRow with the reason."""
    if None in row:  # DictReader puts surplus cells under the None key
        raise MalformedRow("extra_cells")
    title = (row.get("title") or "").strip()
    if not title:
        raise MalformedRow("empty_title")
    return Recipe(number, title, _json_list(row, "ingredients", True), _json_list(row, "directions", True),
                  (row.get("link") or "").strip(), (row.get("source") or "").strip(), _json_list(row, "NER", False))


def read_recipes(path: Path, limit: int | None = None) -> Iterator[Recipe | MalformedRow]:
    """Each data row as a Recipe or the reason it is not one, in file order. A missing file fails now, not on first read."""
    if not path.is_file():
        raise DataError(f"{path}: no such file; download RecipeNLG's full_dataset.csv and pass it with --csv")
    return _rows(path, limit)


def _rows(path: Path, limit: int | None) -> Iterator[Recipe | MalformedRow]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: not a RecipeNLG CSV: missing column(s) {', '.join(missing)} "
                                f"(found: {', '.join(reader.fieldnames or []) or 'no header'}); pass full_dataset.csv")
            for number, row in enumerate(reader, start=1):
                if limit is not None and number > limit:
                    return
                try:
                    yield parse_row(number, row)
                except MalformedRow as problem:
                    yield problem
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the CSV as UTF-8") from None
