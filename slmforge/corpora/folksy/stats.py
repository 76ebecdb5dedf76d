"""What a folksy corpus holds: sayings per family, pairs per prompt type, output lengths in words."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LengthSummary:
    min: int
    mean: float
    p50: int
    p95: int
    max: int
    histogram: dict[str, int]  # "6-8 words" -> sayings


@dataclass(frozen=True)
class FolksyStats:
    pairs: int
    sayings: int  # unique outputs
    family_sayings: Counter[str]
    prompt_types: Counter[str]
    lengths: LengthSummary


BUCKETS = ((1, 5), (6, 8), (9, 11), (12, 14), (15, 17), (18, 99))


def length_summary(lengths: list[int]) -> LengthSummary:
    ordered = sorted(lengths) or [0]
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    histogram = {f"{lo}-{hi} words" if hi < 99 else f"{lo}+ words": sum(lo <= n <= hi for n in ordered) for lo, hi in BUCKETS}
    return LengthSummary(ordered[0], round(sum(ordered) / len(ordered), 1), at(0.5), at(0.95), ordered[-1], histogram)


def folksy_stats(records: Iterable[dict]) -> FolksyStats:
    records = list(records)
    # Invented-entity pairs are extra: the family shares are those of the corpus proper.
    family_of = {r["output"]: r["meta_template"] for r in records if r["input_type"] != "entity_seeded"}
    return FolksyStats(
        pairs=len(records),
        sayings=len(family_of),
        family_sayings=Counter(family_of.values()),
        prompt_types=Counter(r["input_type"] for r in records),
        lengths=length_summary([len(o.split()) for o in family_of]),
    )
