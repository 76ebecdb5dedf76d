"""Read the clock out of recipe directions: which steps are waits (bake 30 minutes) and which are work."""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTIVE_MINUTES = 5  # a step with no time given: about five minutes of hands-on work
# Verbs where the cook waits and the food works; their durations free the cook's hands.
WAITING_VERBS = ("bake", "simmer", "boil", "roast", "chill", "refrigerate", "rise", "marinate", "rest", "cool",
                 "freeze", "steep", "soak", "set", "cook", "braise", "smoke", "stand", "proof", "broil", "slow cook")
PREP_VERBS = ("chop", "dice", "slice", "mince", "whisk", "mix", "combine", "beat", "grate", "peel", "measure",
              "toss", "cut", "blend", "shred", "stir together", "prepare", "make the", "wash", "trim", "crush", "meanwhile")
_NUMBER = r"\d+(?:\.\d+)?(?:\s+\d/\d)?|\d/\d"  # 20, 1.5, 1 1/2, 1/2
_DURATION = re.compile(rf"\b({_NUMBER}|an?|one|two|three|four|five|ten|fifteen|twenty|thirty|forty|forty-five|sixty)"
                       rf"(?:\s*(?:-|to|or)\s*({_NUMBER}))?\s*(minutes?|mins?\.?|hours?|hrs?\.?)\b", re.IGNORECASE)
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20,
          "thirty": 30, "forty": 40, "forty-five": 45, "sixty": 60}


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as the directions list it
    text: str
    minutes: int  # how long the step takes (the wait for a waiting step)
    waiting: bool  # the food is working and the cook is free
    verb: str = ""  # the waiting verb ("bake")
    duration: str = ""  # the time as the step says it ("30 to 35 minutes")

    @property
    def prep(self) -> bool:
        text = self.text.lower()
        return not self.waiting and any(re.search(rf"\b{v}\b", text) for v in PREP_VERBS)


def _amount(text: str) -> float:
    """'1 1/2' -> 1.5, '1/2' -> 0.5, '20' -> 20."""
    total = 0.0
    for part in text.split():
        top, _, bottom = part.partition("/")
        total += float(top) / float(bottom) if bottom else float(top)
    return total


def duration_minutes(text: str) -> tuple[int, str] | None:
    """The longest time a step mentions, in minutes, and how it was written; None without one."""
    best: tuple[int, str] | None = None
    for match in _DURATION.finditer(text):
        low, high, unit = match.groups()
        amount = _amount(high) if high else (_amount(low) if low[0].isdigit() else _WORDS[low.lower()])
        minutes = round(amount * (60 if unit.lower().startswith(("h",)) else 1))
        if minutes > 0 and (best is None or minutes > best[0]):
            best = (minutes, match.group(0))
    return best


def read_steps(directions: tuple[str, ...]) -> list[Step]:
    steps = []
    for number, text in enumerate(directions, start=1):
        timed = duration_minutes(text)
        verb = next((v for v in WAITING_VERBS if re.search(rf"\b{v}(?:s|ed|ing)?\b", text, re.IGNORECASE)), "")
        if timed and verb:
            steps.append(Step(number, text, timed[0], True, verb, timed[1]))
        else:
            steps.append(Step(number, text, timed[0] if timed else ACTIVE_MINUTES, False))
    return steps


def longest_wait(steps: list[Step]) -> Step | None:
    waits = [s for s in steps if s.waiting]
    return max(waits, key=lambda s: s.minutes) if waits else None
