"""Built-in corpora: data people can train on today, made here because no dataset hub is reachable.

- folksy: fake folk wisdom from a template engine, ~4 prompts per saying (`slmforge corpus folksy`)
- prices: appliance listings priced by a hidden function plus heavy-tailed noise (`corpus prices`)
- recipenlg: converts the RecipeNLG CSV into cooking-assistant pairs (`corpus recipenlg`)

The recipe pipeline calls `generate_corpus` to make a recipe's data from `data.corpus`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from slmforge.core.errors import DataError

GENERATED = ("folksy", "prices")


def write_jsonl(records: Iterable[dict[str, Any]], out: Path) -> int:
    """Write one JSON object a line, atomically (a killed run leaves no half file); returns the count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return n


def generate_corpus(name: str, out: Path, *, seed: int = 0, size: int | None = None, **options: Any) -> int:
    """Write corpus `name` to `out` as JSONL and return the number of records.

    size is the number of sayings (folksy, default 9,000 -> ~36,000 pairs) or items (prices,
    default 25,000). folksy also takes balance=True and entities=N (True: 250); prices takes listing="short".
    """
    out = Path(out)
    if size is not None and size < 1:
        raise DataError(f"corpus {name}: size must be at least 1, got {size}")
    if name == "folksy":
        from slmforge.corpora.folksy import DEFAULT_ENTITIES, DEFAULT_SAYINGS, FolksyOptions, build_pairs

        unknown = set(options) - {"balance", "entities"}
        if unknown:
            raise DataError(f"corpus folksy: unknown option(s) {', '.join(sorted(unknown))}; it takes balance and entities")
        entities = options.get("entities", 0)
        entities = DEFAULT_ENTITIES if entities is True else int(entities or 0)
        folksy = FolksyOptions(sayings=size or DEFAULT_SAYINGS, seed=seed, balance=bool(options.get("balance", False)), entities=entities)
        return write_jsonl((p.to_record() for p in build_pairs(folksy)), out)
    if name == "prices":
        from slmforge.corpora.prices import DEFAULT_ITEMS, price_records

        unknown = set(options) - {"listing"}
        if unknown:
            raise DataError(f"corpus prices: unknown option(s) {', '.join(sorted(unknown))}; it takes seed, size and listing")
        return write_jsonl(price_records(size or DEFAULT_ITEMS, seed, listing=options.get("listing", "full")), out)
    raise DataError(f"unknown corpus {name!r}; built-in corpora are {', '.join(GENERATED)} (recipenlg converts a CSV: slmforge corpus recipenlg)")


__all__ = ["GENERATED", "generate_corpus", "write_jsonl"]
