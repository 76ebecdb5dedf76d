"""Split examples into train/val/test: grouped (a group never spans two splits), stratified, seeded,
and optionally with held-out values (data.split.unseen) that never reach train or val.

Why grouped by default: the folksy corpus has ~4 prompts per saying; a per-row split puts the
same saying in train and test, and the test score then measures recall, not generalization.

Held-out values (a share of a field's values, e.g. 20 % of the prompt phrasings) make the
test split's *unseen* part: requests phrased in ways training never saw. Both rules hold at once:
  - a group whose rows all carry a held-out value goes to test whole, beyond test's share;
  - a group with held-out and ordinary rows is offered to test first (while test is below its
    share), so its ordinary rows are the test's *seen* part asked about the same replies;
  - one that lands in train or val loses its held-out rows (counted as drops, reason
    `held_out_value`): moving them to test would put their reply in two splits.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from slmforge.core.errors import DataError
from slmforge.core.sections import SPLIT_PART, UNSEEN_FIELDS, HoldOut, SplitSection
from slmforge.runtime.examples.formats import Example

SPLITS = ("train", "val", "test")


@dataclass
class SplitResult:
    splits: dict[str, list[Example]]
    groups: dict[str, int]  # groups per split
    held_out: dict[str, list[str]] = field(default_factory=dict)  # field -> its held-out values (data.split.unseen)
    values: dict[str, int] = field(default_factory=dict)  # field -> how many distinct values it has
    dropped: list[Example] = field(default_factory=list)  # held-out rows of groups that train (or validate)
    unseen_groups: int = 0  # groups sent to test whole because every row of theirs is held out


def _value(example: Example, field: str, key: str) -> Any:
    if field == "reply":
        return example.reply.strip()
    if field not in example.meta:
        raise DataError(f"{example.source}: field {field!r} named by {key} is missing from this record")
    value = example.meta[field]
    return repr(value) if isinstance(value, (list, dict)) else value


def _held_out_values(examples: list[Example], hold: HoldOut, seed: int) -> tuple[set[str], int]:
    """A seeded share of the field's distinct values (at least one, never all); rows without the field have none."""
    values = sorted({str(ex.meta[hold.field]) for ex in examples if ex.meta.get(hold.field) is not None})
    if not values:
        present = sorted({k for ex in examples[:50] for k in ex.meta})
        raise DataError(f"data.split.unseen: no row has the field {hold.field!r} (fields: {', '.join(present) or 'none'})")
    if len(values) < 2:
        raise DataError(f"data.split.unseen: {hold.field!r} has one value ({values[0]!r}); holding it out would leave training none")
    count = min(len(values) - 1, max(1, round(hold.share * len(values))))
    rng = random.Random(f"unseen:{seed}:{hold.field}")  # str seeds are hashed stably (sha512), unlike hash()
    return set(rng.sample(values, count)), len(values)


def _unseen_fields(examples: list[Example], cfg: SplitSection) -> tuple[list[list[str]], dict[str, list[str]], dict[str, int]]:
    """Per row, the fields whose value is held out; and per field its held-out values and its value count."""
    held: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for hold in cfg.unseen:
        held[hold.field], counts[hold.field] = _held_out_values(examples, hold, cfg.seed)
    rows = [[f for f, vs in held.items() if ex.meta.get(f) is not None and str(ex.meta[f]) in vs] for ex in examples]
    return rows, {f: sorted(vs) for f, vs in held.items()}, counts


def _assign(groups: dict[Any, list[int]], strata: dict[Any, list[Any]], mixed: set[Any], cfg: SplitSection) -> dict[Any, str]:
    """group key -> split, stratum by stratum; groups in `mixed` are offered to test first."""
    fractions = {"train": cfg.train, "val": cfg.val, "test": cfg.test}
    rng = random.Random(cfg.seed)
    placed: dict[str, int] = {s: 0 for s in SPLITS}
    where: dict[Any, str] = {}
    seen = 0  # rows placed so far, over all strata
    for stratum in sorted(strata, key=repr):
        keys = sorted(strata[stratum], key=repr)
        rng.shuffle(keys)
        keys.sort(key=lambda k: k not in mixed)  # stable: mixed groups first, each part still shuffled
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
                overall = fractions[s] * seen - placed[s]
                return (local + overall, -SPLITS.index(s))

            target = "test" if key in mixed and deficit("test")[0] > 0 else max(SPLITS, key=deficit)
            filled[target] += size
            placed[target] += size
            where[key] = target
    return where


def split_by_group(examples: list[Example], cfg: SplitSection) -> SplitResult:
    unseen, held_out, values = _unseen_fields(examples, cfg) if cfg.unseen else ([[] for _ in examples], {}, {})
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        key = _value(ex, cfg.group_by, "data.split.group_by") if cfg.group_by else i
        groups[key].append(i)
    whole = {k for k, rows in groups.items() if all(unseen[i] for i in rows)}
    mixed = {k for k, rows in groups.items() if k not in whole and any(unseen[i] for i in rows)}

    # A group belongs to the stratum of its first row.
    strata: dict[Any, list[Any]] = defaultdict(list)
    for key, rows in groups.items():
        if key not in whole:
            stratum = _value(examples[rows[0]], cfg.stratify, "data.split.stratify") if cfg.stratify else None
            strata[stratum].append(key)
    where = {**_assign(groups, strata, mixed, cfg), **{k: "test" for k in whole}}

    assigned: dict[str, list[int]] = {s: [] for s in SPLITS}
    dropped: list[int] = []
    for key, rows in groups.items():
        keep = rows if where[key] == "test" else [i for i in rows if not unseen[i]]
        assigned[where[key]].extend(keep)
        dropped.extend(sorted(set(rows) - set(keep)))

    def tagged(i: int, split: str) -> Example:
        if split != "test" or not cfg.unseen:
            return examples[i]
        part = {SPLIT_PART: "unseen", UNSEEN_FIELDS: unseen[i]} if unseen[i] else {SPLIT_PART: "seen"}
        return replace(examples[i], meta={**examples[i].meta, **part})

    group_counts = {s: sum(1 for k in groups if where[k] == s) for s in SPLITS}
    # File order inside each split keeps the output readable and byte-stable.
    return SplitResult({s: [tagged(i, s) for i in sorted(assigned[s])] for s in SPLITS}, group_counts, held_out, values,
                       [examples[i] for i in sorted(dropped)], len(whole))
