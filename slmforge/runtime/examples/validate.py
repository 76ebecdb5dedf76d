"""Validate rows into examples: every problem is named with file:line and reason, and counted.

Counts in = counts out + dropped, always: `Validated.check_counts` asserts it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from slmforge.core.errors import DataError
from slmforge.core.sections import DataSection
from slmforge.runtime.examples.formats import Example, FormatProblem, to_example
from slmforge.runtime.examples.read import Row

MAX_LISTED = 10


@dataclass
class Problem:
    source: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class Validated:
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    read: int = 0

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(p.reason for p in self.problems).items()))

    def check_counts(self) -> None:
        if self.read != len(self.examples) + len(self.problems):
            raise AssertionError(f"count identity broken: read {self.read} != kept {len(self.examples)} + dropped {len(self.problems)}")


def validate_rows(rows: Iterable[Row], data: DataSection) -> Validated:
    """Convert rows, drop exact duplicates (when data.dedupe), and apply data.on_error."""
    out = Validated()
    first_seen: dict[str, str] = {}
    for row in rows:
        out.read += 1
        if row.problem is not None:
            out.problems.append(Problem(row.source, *row.problem))
            continue
        assert row.value is not None
        try:
            example = to_example(row.source, row.value, data)
        except FormatProblem as exc:
            out.problems.append(Problem(row.source, exc.reason, str(exc)))
            continue
        if data.dedupe:
            key = example.dedupe_key()
            if key in first_seen:
                out.problems.append(Problem(row.source, "duplicate", f"exact duplicate of {first_seen[key]}"))
                continue
            first_seen[key] = row.source
        out.examples.append(example)
    out.check_counts()
    if out.problems and data.on_error == "fail":
        shown = out.problems[:MAX_LISTED]
        more = len(out.problems) - len(shown)
        lines = [str(p) for p in shown]
        tail = f" (and {more} more)" if more else ""
        lines.append(f"{len(out.problems)} problem(s) in {out.read} rows{tail}; fix them, or set data.on_error: skip to drop and count them")
        raise DataError("\n".join(lines))
    if not out.examples:
        raise DataError(f"data: no usable examples in {out.read} rows; check data.format and data.fields")
    return out
