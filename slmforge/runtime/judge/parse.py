"""Read a score (1-5) or a preference (1, 2, tie) out of a judge's free-text reply.

Judges rarely answer with the bare number they were asked for: "Score: 4/5 — nice", "**3**",
"I'd give it a five", a reasoning block first. The rules below go from the most explicit form
to the loosest, so a labelled score wins over a stray digit ("2 words too long; score 3" → 3).
A reply no rule reads returns None: the caller counts and keeps it, never drops it.
"""

from __future__ import annotations

import re

LOW, HIGH = 1, 5
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUM = r"(\d+(?:\.\d+)?)"

# Reasoning models (Qwen3, DeepSeek-R1) put their thinking first; it is full of numbers.
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
# "on a 1-5 scale", "from 1 to 5": a range is not a score.
_RANGE = re.compile(r"\b1\s*(?:-|–|—|to)\s*5\b")
_LABELLED = re.compile(
    r"\b(?:score|rating|rate|grade|verdict|mark)\b(?:\s+(?:is|of|would be|=))?\s*[:=\-–—]?\s*[*_\"'\[(]*\s*" + _NUM,
    re.I,
)
_FRACTION = re.compile(_NUM + r"\s*(?:/|out of|of)\s*5\b", re.I)
_LEADING = re.compile(r"^[\s*_#>\"'\[(]*" + _NUM + r"(?![\d/])")
_STANDALONE = re.compile(r"(?<![\w.])" + _NUM + r"(?![\w]|\.\d)")
_WORD = re.compile(
    r"(?:^|\b(?:a|an|it|is|of|score|rating|rate|rated|give|gives|solid|be)\b[\s:*]*)(one|two|three|four|five)\b", re.I
)


def _in_scale(text: str) -> float | None:
    value = float(text)
    if LOW <= value <= HIGH:
        return int(value) if value.is_integer() else value
    return None


def parse_score(reply: str | None) -> float | None:
    """The 1-5 score in a judge reply, or None when the reply holds none (or one out of range)."""
    if not reply:
        return None
    text = _THINK.sub(" ", reply).strip()
    text = _RANGE.sub(" ", text)
    for rule in (_LABELLED, _FRACTION, _LEADING):
        match = rule.search(text)
        if match:
            score = _in_scale(match.group(1))
            if score is not None:
                return score
            if rule is not _FRACTION:
                return None  # "Score: 8" is an answer on the wrong scale, not a hint to keep looking
    stars = text.count("★")
    if stars and not re.search(r"\d", text):
        return _in_scale(str(stars))
    for match in _STANDALONE.finditer(text):
        score = _in_scale(match.group(1))
        if score is not None:
            return score
    match = _WORD.search(text)
    if match:
        return _WORDS[match.group(1).lower()]
    return None


_PREF_FIRST = re.compile(r"^[\s*_#>\"'\[(]*(?:answer\s*)?(1|2|tie)\b", re.I)
_PREF_LABELLED = re.compile(
    r"\b(?:answer|response|winner|better|verdict|choice|prefer(?:red)?)\b(?:\s+(?:is|:))?\s*[:=\-–—]?\s*[*_\"'\[(]*\s*"
    r"(?:answer\s*)?(1|2|tie)\b",
    re.I,
)
_TIE_WORDS = re.compile(r"\b(tie|equal(?:ly)?|same|neither|both (?:are )?(?:equally )?good)\b", re.I)
_ORDINAL = re.compile(r"\b(first|second)\b(?:\s+(?:one|answer))?\s+(?:is|was)\s+better\b", re.I)


def parse_preference(reply: str | None) -> str | None:
    """'1', '2' or 'tie' from a pairwise judge reply, or None when it says none of them."""
    if not reply:
        return None
    text = _THINK.sub(" ", reply).strip()
    for rule in (_PREF_FIRST, _PREF_LABELLED):
        match = rule.search(text)
        if match:
            return match.group(1).lower()
    match = _ORDINAL.search(text)
    if match:
        return "1" if match.group(1).lower() == "first" else "2"
    if _TIE_WORDS.search(text):
        return "tie"
    return None
