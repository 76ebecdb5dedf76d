"""Blind A/B votes, written where the CLI reads them.

- runs/_studio/votes/preferences.jsonl: one prompt/chosen/rejected row per decided vote, the shape
  `slmforge prefs` reads with prefs.source file (prompt as chat messages; the models in meta fields).
- runs/_studio/votes/<run>.spotcheck.csv: the spot-check columns `slmforge rate RUN FILE` reads, for
  answers to the run's own eval prompts (rate accepts only ids of its eval/samples.jsonl). A vote
  rates the picked answer Good and the other Bad; a tie rates both Okay, "both bad" both Bad. A
  second vote on the same prompt replaces the first (rate refuses an id rated twice).
- runs/_studio/votes/votes.jsonl: every vote, ties included, with both models named (the tally).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmforge.orchestrate.studio.jobs import slug
from slmforge.orchestrate.studio.safety import STATE_DIR, NotFound, StudioError

VOTES = ("first", "second", "tie", "both_bad")
SPOTCHECK_COLUMNS = ("id", "prompt", "output", "reference", "rating")
PENDING_KEPT = 200  # unvoted pairs remembered (a page left open with a pair never voted on)


@dataclass
class Side:
    model: str  # model key: run:<id> | base:<id>
    answer: str
    sample_id: int | None = None  # the id of this prompt in the run's eval/samples.jsonl, when it is one of them


@dataclass
class Pending:
    id: str
    messages: list[dict[str, str]]
    reference: str | None
    sides: list[Side]  # in the order shown: first, second
    created: float = field(default_factory=time.time)


class VoteBook:
    def __init__(self, runs_root: Path, seed: int | None = None) -> None:
        self.folder = runs_root / STATE_DIR / "votes"
        self._pending: dict[str, Pending] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def preferences(self) -> Path:
        return self.folder / "preferences.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / "votes.jsonl"

    def spotcheck(self, run_id: str) -> Path:
        return self.folder / f"{slug(run_id)}.spotcheck.csv"

    def open(self, messages: list[dict[str, str]], reference: str | None, a: Side, b: Side) -> Pending:
        """A pair shown blind: the order is a coin flip, so position says nothing about the model."""
        sides = [a, b]
        self._random.shuffle(sides)
        pending = Pending(uuid.uuid4().hex, messages, reference, sides)
        with self._lock:
            self._pending[pending.id] = pending
            while len(self._pending) > PENDING_KEPT:
                self._pending.pop(next(iter(self._pending)))
        return pending

    def vote(self, pair_id: str, vote: str) -> dict[str, Any]:
        if vote not in VOTES:
            raise StudioError(f"vote: must be one of {', '.join(VOTES)}, got {vote!r}")
        with self._lock:
            pending = self._pending.pop(pair_id, None)
        if pending is None:
            raise NotFound(f"pair {pair_id}: unknown or already voted; ask for a new pair")
        first, second = pending.sides
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        wrote: list[str] = []
        skipped = None
        if vote in ("first", "second"):
            chosen, rejected = (first, second) if vote == "first" else (second, first)
            # Rows prefs would refuse are not written: it needs two texts, and equal texts teach nothing.
            if not chosen.answer.strip() or not rejected.answer.strip():
                skipped = "no preference row: one answer is empty (prefs needs a chosen and a rejected text)"
            elif chosen.answer.strip() == rejected.answer.strip():
                skipped = "no preference row: the two answers are the same text"
            else:
                _append(self.preferences, {"prompt": pending.messages, "chosen": chosen.answer, "rejected": rejected.answer,
                                           "chosen_model": chosen.model, "rejected_model": rejected.model,
                                           "chosen_score": 1.0, "rejected_score": 0.0, "source": "studio blind A/B", "time": now})
                wrote.append(str(self.preferences))
        ratings = {"first": ("Good", "Bad"), "second": ("Bad", "Good"), "tie": ("Okay", "Okay"), "both_bad": ("Bad", "Bad")}[vote]
        for side, rating in zip(pending.sides, ratings):
            if side.sample_id is not None and side.model.startswith("run:"):
                path = self.spotcheck(side.model.removeprefix("run:"))
                self._rate(path, side, pending, rating)
                wrote.append(str(path))
        _append(self.log, {"pair": pending.id, "vote": vote, "first": first.model, "second": second.model,
                           "prompt": pending.messages, "time": now})
        return {"vote": vote, "first": first.model, "second": second.model, "wrote": sorted(set(wrote)), "skipped": skipped}

    def _rate(self, path: Path, side: Side, pending: Pending, rating: str) -> None:
        prompt = pending.messages[-1]["content"] if pending.messages else ""
        with self._lock:
            rows = read_csv(path)
            rows = [r for r in rows if r.get("id") != str(side.sample_id)]
            rows.append({"id": str(side.sample_id), "prompt": prompt, "output": side.answer,
                         "reference": pending.reference or "", "rating": rating})
            rows.sort(key=lambda r: int(r["id"]) if r["id"].isdigit() else 0)
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=SPOTCHECK_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
            os.replace(tmp, path)

    def tally(self) -> dict[str, Any]:
        """Wins, losses and ties per model pair, from votes.jsonl."""
        pairs: dict[str, dict[str, Any]] = {}
        if self.log.is_file():
            for line in self.log.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                a, b = sorted((row["first"], row["second"]))
                entry = pairs.setdefault(f"{a} vs {b}", {"a": a, "b": b, "a_wins": 0, "b_wins": 0, "ties": 0, "both_bad": 0})
                winner = {"first": row["first"], "second": row["second"]}.get(row["vote"])
                if winner is None:
                    entry["ties" if row["vote"] == "tie" else "both_bad"] += 1
                else:
                    entry["a_wins" if winner == a else "b_wins"] += 1
        return {"pairs": list(pairs.values()), "preferences": str(self.preferences), "votes": str(self.log)}


def _append(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [dict(row) for row in csv.DictReader(f)]
