"""Preference pairs from a user's own file or from a rated spot-check CSV (prefs.source file | spotcheck).

Both end in the same place as the sampled pairs: a list of {"prompt": messages, "chosen",
"rejected", "chosen_score", "rejected_score"} plus counts where every unit in is a pair out or a
drop counted by reason (rows for a file, prompts for a spot-check).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmforge.core.errors import DataError
from slmforge.core.recipe import Recipe
from slmforge.core.sections import DataSection

# Spot-check ratings as scores: only Good over Bad makes a pair, Okay is neither.
RATING_SCORES = {"good": 3.0, "okay": 2.0, "bad": 1.0}


@dataclass
class SourcePairs:
    unit: str  # what was counted in: "rows" or "prompts"
    pairs: list[dict[str, Any]] = field(default_factory=list)
    drops: Counter[str] = field(default_factory=Counter)

    @property
    def read(self) -> int:
        return len(self.pairs) + sum(self.drops.values())


def pairs_from_file(recipe: Recipe, path: Path) -> SourcePairs:
    """prompt/chosen/rejected rows read and validated by data/ (errors name file:line, like prepare's)."""
    from slmforge.runtime.examples.read import read_rows, row_byte_limit
    from slmforge.runtime.examples.validate import validate_rows

    p = recipe.prefs
    section = DataSection(path=str(path), format="preference", on_error=p.on_error,
                          system_prompt=recipe.data.system_prompt)
    try:
        validated = validate_rows(read_rows(str(path), row_byte_limit(recipe.data.max_length), key="prefs.path"), section)
    except DataError as exc:  # the problems name file:line; the advice names this section's keys
        message = str(exc).replace("data.path", "prefs.path").replace("data.on_error", "prefs.on_error")
        raise DataError(message.replace("check data.format and data.fields", "each row needs prompt, chosen and rejected")) from None
    out = SourcePairs("rows")
    for ex in validated.examples:
        out.pairs.append({"prompt": ex.messages, "chosen": ex.chosen, "rejected": ex.rejected,
                          "chosen_score": _number(ex.meta.get("chosen_score"), 1.0),
                          "rejected_score": _number(ex.meta.get("rejected_score"), 0.0)})
    out.drops.update(problem.reason for problem in validated.problems)
    return out


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _prompt_messages(samples_path: Path) -> dict[str, list[dict[str, str]]]:
    """id → the prompt turns eval asked with (system prompt included), when eval/samples.jsonl is there."""
    found: dict[str, list[dict[str, str]]] = {}
    if samples_path.is_file():
        for line in samples_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("messages"), list):
                found[str(row.get("id"))] = row["messages"]
    return found


def pairs_from_spotcheck(path: Path, samples_path: Path) -> SourcePairs:
    """Good beats Bad on the same prompt; a prompt without both is a drop counted by reason.

    One eval's spot-check has one answer per prompt, so pairs come from prompts asked more than
    once or from several rated CSVs concatenated (rows of other runs carry their own answers).
    An unknown rating is an error naming its line; an empty one is an unrated row.
    """
    if not path.is_file():
        raise DataError(f"prefs.path: {path}: no such spot-check file; `slmforge eval RECIPE` writes eval/spotcheck.csv: "
                        "rate a copy of it (Good/Okay/Bad) and point prefs.path at the copy")
    messages = _prompt_messages(samples_path)
    by_prompt: dict[str, list[tuple[str, str]]] = {}  # prompt → [(rating, answer)] in file order
    prompt_turns: dict[str, list[dict[str, str]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"prompt", "output", "rating"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: needs the columns prompt, output and rating (missing {', '.join(sorted(missing))})")
        for row in reader:
            raw = (row.get("rating") or "").strip().lower()
            if raw and raw not in RATING_SCORES:
                raise DataError(f"{path}:{reader.line_num}: unknown rating {row['rating'].strip()!r}; write Good, Okay or Bad (or leave it empty)")
            prompt = row.get("prompt") or ""
            by_prompt.setdefault(prompt, []).append((raw, row.get("output") or ""))
            prompt_turns.setdefault(prompt, messages.get(str(row.get("id")), [{"role": "user", "content": prompt}]))
    out = SourcePairs("prompts")
    for prompt, rated in by_prompt.items():
        good = [a for r, a in rated if r == "good" and a.strip()]
        bad = [a for r, a in rated if r == "bad" and a.strip()]
        if not any(r for r, _ in rated):
            out.drops["unrated"] += 1
        elif not good and not bad:
            out.drops["only_okay"] += 1
        elif not bad:
            out.drops["no_bad_answer"] += 1
        elif not good:
            out.drops["no_good_answer"] += 1
        elif good[0].strip() == bad[0].strip():
            out.drops["identical_answers"] += 1
        else:
            out.pairs.append({"prompt": prompt_turns[prompt], "chosen": good[0], "rejected": bad[0],
                              "chosen_score": RATING_SCORES["good"], "rejected_score": RATING_SCORES["bad"]})
    return out
