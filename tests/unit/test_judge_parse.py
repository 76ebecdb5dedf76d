"""The judge's score and preference parsers on a corpus of messy replies real judges give."""

from __future__ import annotations

import pytest

from slmforge.runtime.judge.parse import parse_preference, parse_score

SCORES = [
    ("4", 4),
    ("Score: 4/5 — nice", 4),
    ("**3**", 3),
    ("I'd give it a five", 5),
    ("Five stars, a real keeper.", 5),
    ("5. Sounds like a real proverb.", 5),
    ("4 - natural and witty, if a little long.", 4),
    ("Rating: 4 out of 5", 4),
    ("Score: **2** — awkward grammar", 2),
    ("My score is 3.", 3),
    ("3.5/5", 3.5),
    ("The saying is 2 words too long; score 3", 3),
    ("On a scale of 1 to 5, I would rate this a 4.", 4),
    ("(1-5): 2", 2),
    ("This one deserves a 3: flat.", 3),
    ("<think>Could be 2 or 5... it is witty.</think>\n4 - witty", 4),
    ("★★★★☆", 4),
    ("  \n> 1\nbroken", 1),
]
UNPARSABLE = ["garbage", "", "I cannot judge this.", "Score: 8", "10/10", "Score: 0 — empty", "<think>5</think>"]


@pytest.mark.parametrize(("reply", "expected"), SCORES)
def test_score_is_read_from_messy_replies(reply: str, expected: float) -> None:
    assert parse_score(reply) == expected


@pytest.mark.parametrize("reply", UNPARSABLE)
def test_replies_without_a_score_on_the_scale_are_unparsable(reply: str) -> None:
    assert parse_score(reply) is None


PREFERENCES = [
    ("1", "1"),
    ("2 - it sounds like a proverb", "2"),
    ("**Answer 2** is more natural.", "2"),
    ("Tie. Both are flat.", "tie"),
    ("I prefer Answer 1 because it is shorter.", "1"),
    ("Winner: 2", "2"),
    ("The first is better: witty.", "1"),
    ("Both are equally good.", "tie"),
    ("<think>1 seems long</think>2", "2"),
]


@pytest.mark.parametrize(("reply", "expected"), PREFERENCES)
def test_preference_is_read_from_messy_replies(reply: str, expected: str) -> None:
    assert parse_preference(reply) == expected


@pytest.mark.parametrize("reply", ["garbage", "", "Hard to say."])
def test_replies_without_a_preference_are_unparsable(reply: str) -> None:
    assert parse_preference(reply) is None
