"""Split examples into train/val/test: grouped (a group never spans two splits), stratified, seeded.

Why grouped by default: the folksy corpus has ~4 prompts per saying; a per-row split puts the
same saying in train and test, and the test score then measures recall, not generalization.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from slmforge.core.errors import DataError
from slmforge.core.sections import SplitSection
from slmforge.runtime.examples.formats import Example

SPLITS = ("train", "val", "test")


@dataclass
class SplitResult:
    splits: dict[str, list[Example]]
    groups: dict[str, int]  # groups per split


def _value(example: Example, field: str, key: str) -> Any:
    if field == "reply":
        return example.reply.strip()
    if field not in example.meta:
        raise DataError(f"{example.source}: field {field!r} named by {key} is missing from this record")
    value = example.meta[field]
    return repr(value) if isinstance(value, (list, dict)) else value


def split_by_group(examples: list[Example], cfg: SplitSection) -> SplitResult:
    fractions = {"train": cfg.train, "val": cfg.val, "test": cfg.test}
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        key = _value(ex, cfg.group_by, "data.split.group_by") if cfg.group_by else i
        groups[key].append(i)

    # A group belongs to the stratum of its first row.
    strata: dict[Any, list[Any]] = defaultdict(list)
    for key, rows in groups.items():
        stratum = _value(examples[rows[0]], cfg.stratify, "data.split.stratify") if cfg.stratify else None
        strata[stratum].append(key)

    rng = random.Random(cfg.seed)
    assigned: dict[str, list[int]] = {s: [] for s in SPLITS}
    group_counts = {s: 0 for s in SPLITS}
    seen = 0  # rows placed so far, over all strata
    for stratum in sorted(strata, key=repr):
        keys = sorted(strata[stratum], key=repr)
        rng.shuffle(keys)
        total = sum(len(groups[k]) for k in keys)
        filled = {s: 0 for s in SPLITS}
        for key in keys:
            size = len(groups[key])
            seen += size
            # The split furthest below its target takes the next group: below its share in this
            # stratum, plus below its share overall. The stratum term keeps every stratum within
            # a group of its ideal; the overall term stops many small strata (say 7 rows each,
            # 5 % test) from rounding the same way every time and starving the small splits.
            def deficit(s: str) -> tuple[float, int]:
                local = fractions[s] * total - filled[s]
                overall = fractions[s] * seen - len(assigned[s])
                return (local + overall, -SPLITS.index(s))

            target = max(SPLITS, key=deficit)
            filled[target] += size
            group_counts[target] += 1
            assigned[target].extend(groups[key])
    # File order inside each split keeps the output readable and byte-stable.
    return SplitResult({s: [examples[i] for i in sorted(assigned[s])] for s in SPLITS}, group_counts)
