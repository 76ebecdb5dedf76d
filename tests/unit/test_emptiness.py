"""The emptiness metrics on hand-built answers, and their false-positive rate on the folksy corpus itself."""

from __future__ import annotations

import pytest

from slmforge.runtime.emptiness import degenerate_reason, distinctness, emptiness, sample_diversity

# The demo model's hollow sayings (issue 21), each with the reason it should get.
HOLLOW = [
    ("A sock is just a sock.", "tautology"),
    ("A fence with no gate is just a fence with no gate.", "tautology"),
    ("A mule is a mule.", "tautology"),
    ("A sock ain't nothin' but a sock, and a shoe is just a shoe.", "tautology"),
    ("A bridge is just a bridge with a different name.", "self_equivalence"),
    ("A soup with no soup is just a kettle.", "self_removal"),
    ("Ain't no paint in sight, ain't no paint in sight.", "repeated_clause"),
    ("The cow and the cow and the cow and the cow and the cow.", "repeated_ngram"),
    ("   ", "empty"),
]

# Real sayings and the corpus's own tautological wisdom: a repetition with a twist is a saying.
SAYINGS = [
    "A penny saved is a penny earned.",
    "Once a bear, always a bear.",
    "A milk pail is a milk pail, no matter how you look at it.",
    "A dandelion is a dandelion till it's somethin' else, and that ain't today.",
    "A squeaky brake is still a brake, and don't let nobody tell you different.",
    "Call it whatever you like, a penny's still a penny.",
    "It is what it is.",
    "A pigeon's just a robin in a borrowed hat.",
    "Fried okra without okra is just cornmeal.",  # a part taken from a whole: the deconstruction family
    "A fence with no fence posts is just rails and a prayer.",
    "A porch is just a porch swing and steps that learned to get along.",
    "Once you've seen Frog Ridge, you've seen Frog Ridge.",
]


@pytest.mark.parametrize(("answer", "code"), HOLLOW)
def test_a_saying_that_is_its_own_punchline_is_flagged_with_its_reason(answer, code):
    reason = degenerate_reason(answer)
    assert reason is not None and reason.code == code, reason


@pytest.mark.parametrize("answer", SAYINGS)
def test_a_real_saying_is_not_flagged(answer):
    assert degenerate_reason(answer) is None


def test_the_reason_names_the_words_that_make_it_empty():
    assert str(degenerate_reason("A soup with no soup is just a kettle.")) == "self_removal: soup with no soup"
    assert "ain't no paint in sight" in str(degenerate_reason("Ain't no paint in sight, ain't no paint in sight."))


def test_a_frame_most_answers_share_makes_them_stock_and_is_reported_with_its_share():
    stock = [f"A {w} is just a {v}." for w, v in zip("mule goat hen pig cow".split(), "horse sheep duck boar ox".split())]
    varied = ["Still waters run deep.", "The early bird gets the worm.", "Never trust a goat with your hat.",
              "Rain on the roof beats rain in the boots.", "A tired mule kicks the slowest."]
    result = emptiness(stock + varied, frame_share=0.2)
    assert (result.top_frame, result.top_frame_share) == ("is just a", 0.5)
    assert result.by_reason == {"stock_frame": 5} and result.share == 0.5
    assert all(r is None for r in result.reasons[5:])
    assert "of answers" in str(result.reasons[0])


def test_a_frame_two_answers_share_by_chance_is_not_stock():
    answers = ["A mule is just a horse.", "A goat is just a sheep.", "Still waters run deep.", "Rain beats snow."]
    assert emptiness(answers, frame_share=0.2).by_reason == {}  # 50 % share, but only two answers


def test_degenerate_share_counts_each_answer_once_with_its_first_reason():
    answers = [a for a, _ in HOLLOW] + SAYINGS
    result = emptiness(answers, frame_share=1.0)  # no stock frames: 'is just a' is in 29 % of these
    assert result.degenerate == len(HOLLOW) and result.total == len(answers)
    assert result.share == pytest.approx(len(HOLLOW) / len(answers))
    assert sum(result.by_reason.values()) == len(HOLLOW)
    assert [t for t, _ in result.examples(answers, k=2)] == [HOLLOW[0][0], HOLLOW[1][0]]


def test_sampled_answers_that_are_all_the_same_have_no_distinctness():
    same = sample_diversity([["A sock is just a sock."] * 4, ["Rain is rain."] * 4])
    assert same is not None and same.distinctness == 0.0 and same.identical == 1.0 and same.samples == 4
    varied = sample_diversity([["Still waters run deep.", "The early bird gets the worm.", "A mule never forgets a grudge."]])
    assert varied is not None and varied.distinctness > 0.8 and varied.identical == 0.0
    assert distinctness("a b c", "a b c") == 0.0 and distinctness("mule", "goat") == 1.0
    assert sample_diversity([["only one answer"]]) is None


def test_false_positive_rate_on_the_folksy_corpus_is_under_five_percent():
    """Every saying the corpus engine writes is a real one by construction: few may be flagged.

    Measured 2026-12 on 3,000 sayings x 3 seeds plus 250 invented-entity sayings: 0.0 %.
    """
    from slmforge.corpora.folksy import FolksyOptions, build_pairs

    pairs = build_pairs(FolksyOptions(sayings=3000, seed=7, entities=250))
    sayings = sorted({p.output for p in pairs})
    assert len(sayings) >= 3000
    result = emptiness(sayings)
    print(f"corpus false-positive rate: {result.share:.2%} of {len(sayings)} sayings {result.by_reason}")
    assert result.share < 0.05, result.examples(sayings, k=10)
    assert result.share < 0.01  # what we measured (0 %); a detector change that starts flagging the corpus shows here
