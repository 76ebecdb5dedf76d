"""95 % intervals of the judge summary: Student-t mean interval and Wilson share interval."""

from __future__ import annotations

import math

import pytest

from slmforge.core.sections import JudgeTargets
from slmforge.judge.score import summarize
from slmforge.runtime.judge.stats import mean_ci, share_ci, t975

# Two-sided 95 % critical values from a t table.
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 8: 2.306, 10: 2.228, 30: 2.042, 100: 1.984, 10_000: 1.960}


@pytest.mark.parametrize(("df", "expected"), T_TABLE.items())
def test_t_critical_value_matches_the_table(df: int, expected: float) -> None:
    assert t975(df) == pytest.approx(expected, abs=0.004)


def test_mean_interval_is_t_times_standard_error() -> None:
    values = [1, 2, 3, 4, 5, 3, 4, 4, 5, 3]  # mean 3.4, sd 1.2649
    ci = mean_ci(values)
    half = 2.262 * 1.2649 / math.sqrt(10)
    assert ci.value == pytest.approx(3.4)
    assert (ci.low, ci.high) == (pytest.approx(3.4 - half, abs=2e-3), pytest.approx(3.4 + half, abs=2e-3))


def test_mean_interval_of_identical_scores_has_no_width() -> None:
    ci = mean_ci([4, 4, 4])
    assert (ci.low, ci.value, ci.high) == (4, 4, 4)
    assert mean_ci([]) is None


def test_wilson_interval_matches_the_textbook_value() -> None:
    ci = share_ci(8, 10)  # Wilson 95 %: 0.490 – 0.943
    assert ci.value == 0.8
    assert (ci.low, ci.high) == (pytest.approx(0.490, abs=1e-3), pytest.approx(0.943, abs=1e-3))


def test_share_interval_stays_inside_zero_and_one_at_the_extremes() -> None:
    none, every = share_ci(0, 20), share_ci(20, 20)
    assert none.low == 0.0 and 0 < none.high < 0.2
    assert every.high == 1.0 and 0.8 < every.low < 1


def _rows(scores: list[float | None]) -> list[dict]:
    return [{"score": s, "reply": "x"} for s in scores]


def test_summary_passes_only_when_mean_and_low_share_meet_the_targets() -> None:
    good = summarize(_rows([4] * 19 + [2]), 20, JudgeTargets())  # mean 3.9, 5 % scored 1-2
    assert good["pass"] == {"mean": True, "low_share": True, "all": True}
    many_low = summarize(_rows([5] * 8 + [1] * 2), 10, JudgeTargets())  # mean 4.2 but 20 % scored 1-2
    assert many_low["pass"] == {"mean": True, "low_share": False, "all": False}


def test_summary_counts_unparsable_replies_without_averaging_them() -> None:
    s = summarize(_rows([5, None, 3]) + [{"score": None, "reply": None, "error": "HTTP 400"}], 5, JudgeTargets())
    assert (s["replies"], s["scored"], s["unparsable"], s["errors"], s["missing"]) == (3, 2, 1, 1, 1)
    assert s["mean"]["value"] == 4.0
    assert s["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert s["complete"] is False
