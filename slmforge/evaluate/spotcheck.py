"""Human spot-check: a CSV of random answers to rate Good / Okay / Bad, and reading the ratings back.

`slmforge rate RUN spotcheck.csv` refuses a file it cannot trust (a rating it does not know, a
row that is not one of the written samples, an unrated row), naming the line, because a share
computed over a silently filtered file would be a number nobody measured.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from slmforge.core.errors import DataError
from slmforge.core.rundir import atomic_path
from slmforge.evaluate.records import EvalRecord

RATINGS = ("Good", "Okay", "Bad")
COLUMNS = ("id", "prompt", "output", "reference", "rating")


def write_spotcheck(path: Path, records: list[EvalRecord], outputs: list[str], size: int, seed: int) -> Path:
    """N random (seeded) samples with an empty rating column; id = the sample's line in samples.jsonl."""
    picked = sorted(random.Random(seed).sample(range(len(records)), min(size, len(records))))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i in picked:
            writer.writerow([i, records[i].prompt_text, outputs[i], records[i].reference, ""])
    return path


@dataclass(frozen=True)
class Ratings:
    counts: dict[str, int]
    total: int
    good: float
    bad: float
    min_good: float
    max_bad: float

    @property
    def passed(self) -> bool:
        return self.good > self.min_good and self.bad < self.max_bad


def read_ratings(path: Path, known_ids: set[str] | None, min_good: float = 0.6, max_bad: float = 0.1) -> Ratings:
    """Shares of Good/Okay/Bad in a rated spot-check CSV; every bad row is an error naming its line."""
    if not path.is_file():
        raise DataError(f"{path}: no such spot-check file; `slmforge eval RECIPE` writes runs/NAME/eval/spotcheck.csv")
    counts = {r: 0 for r in RATINGS}
    seen: set[str] = set()
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "id" not in reader.fieldnames or "rating" not in reader.fieldnames:
            raise DataError(f"{path}: needs the columns id and rating (found {', '.join(reader.fieldnames or []) or 'none'})")
        for row in reader:
            line = reader.line_num
            rid, raw = (row.get("id") or "").strip(), (row.get("rating") or "").strip()
            if known_ids is not None and rid not in known_ids:
                raise DataError(f"{path}:{line}: id {rid!r} is not a sample of this run's eval; rate the spotcheck.csv eval wrote")
            if rid in seen:
                raise DataError(f"{path}:{line}: id {rid} is rated twice; keep one row per sample")
            seen.add(rid)
            rating = next((r for r in RATINGS if r.lower() == raw.lower()), None)
            if rating is None:
                what = "no rating" if not raw else f"unknown rating {raw!r}"
                raise DataError(f"{path}:{line}: {what}; write Good, Okay or Bad")
            counts[rating] += 1
    total = sum(counts.values())
    if total == 0:
        raise DataError(f"{path}: no rated rows; fill the rating column with Good, Okay or Bad")
    return Ratings(counts, total, counts["Good"] / total, counts["Bad"] / total, min_good, max_bad)


def rate(run_root: Path, csv_path: Path, console) -> Ratings:  # noqa: ANN001 (rich Console)
    """`slmforge rate RUN FILE`: shares against the recipe's targets, saved to eval/ratings.json."""
    import json

    from slmforge.core.recipe import load
    from slmforge.core.rundir import RunDir, write_json_atomic

    run = RunDir(run_root)
    if not run.recipe_path.is_file():
        raise DataError(f"{run.root}: not a run directory (no recipe.yaml); pass runs/NAME")
    targets = load(run.recipe_path, []).eval.targets
    samples = run.eval / "samples.jsonl"
    known = None
    if samples.is_file():
        with open(samples, encoding="utf-8") as f:
            known = {str(json.loads(line).get("id")) for line in f if line.strip()}
    ratings = read_ratings(csv_path, known, targets.min_good, targets.max_bad)
    verdict = "[green]pass[/green]" if ratings.passed else "[red]below target[/red]"
    console.print(
        f"{ratings.total} rated: Good {ratings.good:.0%} (target > {targets.min_good:.0%}), "
        f"Okay {ratings.counts['Okay'] / ratings.total:.0%}, Bad {ratings.bad:.0%} (target < {targets.max_bad:.0%}): {verdict}"
    )
    run.eval.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.eval / "ratings.json", {**ratings.__dict__, "passed": ratings.passed, "file": str(csv_path)})
    return ratings
