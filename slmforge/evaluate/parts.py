"""The test split's parts (data.split.unseen): rows asked in ways training never saw, and the rest."""

from __future__ import annotations

from slmforge.core.sections import SPLIT_PART
from slmforge.evaluate.records import EvalRecord

PARTS = ("seen", "unseen")


def parts_of(records: list[EvalRecord]) -> dict[str, list[int]]:
    """part -> indices of its records; {} when prepare wrote no parts (no data.split.unseen).

    A part none of the evaluated rows fall in is left out rather than scored as zeros (a floor on it then fails as unmeasured).
    """
    if not any(SPLIT_PART in r.meta for r in records):
        return {}
    parts = {part: [i for i, r in enumerate(records) if r.meta.get(SPLIT_PART, "seen") == part] for part in PARTS}
    return {part: rows for part, rows in parts.items() if rows}
