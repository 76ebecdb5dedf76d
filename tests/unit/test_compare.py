"""Pairwise A/B: both orders per prompt, position bias cancelling, win rate and order agreement."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from slmforge.core.rundir import RunDir
from slmforge.judge.compare import compare_answers, resolve_side, summarize_pairs, verdict
from slmforge.runtime.judge.client import JudgeSettings
from slmforge.runtime.judge.rubrics import load_rubric
from tests.helpers.judge_fake import FakeJudge

PROMPTS = [f"Say something wise about fences #{i}" for i in range(6)]
A = {p: f"GOOD saying {i}" for i, p in enumerate(PROMPTS)}
B = {p: f"plain saying {i}" for i, p in enumerate(PROMPTS)}


def settings(url: str) -> JudgeSettings:
    return JudgeSettings(endpoint=url, model=None, api_key="test", api_key_env="K", concurrency=4, timeout=2.0,
                         retries=1, backoff=0.01)


def shown(content: str) -> tuple[str, str]:
    match = re.search(r"Answer 1:\n(.*?)\n\nAnswer 2:\n(.*?)\n\n", content, re.S)
    return match.group(1), match.group(2)


def prefers_good(content: str, seen: int) -> tuple[int, str, float]:
    first, second = shown(content)
    return 200, "1 - witty" if "GOOD" in first else ("2 - witty" if "GOOD" in second else "tie"), 0.0


def always_first(content: str, seen: int) -> tuple[int, str, float]:
    return 200, "Answer 1 is better.", 0.0


def run(responder, out: Path, prompts: list[str] = PROMPTS, b: dict[str, str] = B) -> tuple[dict, FakeJudge]:
    with FakeJudge(responder) as fake:
        summary = compare_answers(prompts, A, b, ("final", "template"), load_rubric("folksy"), settings(fake.url), out,
                                  0.8, Console(file=io.StringIO()))
    return summary, fake


@pytest.mark.parametrize(
    ("a_first", "b_first", "expected"),
    [("1", "2", "a"), ("2", "1", "b"), ("tie", "tie", "tie"), ("1", "1", "tie"), ("2", "2", "tie"), ("1", "tie", "tie"),
     ("1", None, None)],
)
def test_a_side_wins_only_when_both_orders_prefer_it(a_first: str, b_first: str | None, expected: str | None) -> None:
    assert verdict(a_first, b_first) == expected


def test_every_pair_is_judged_in_both_orders(tmp_path: Path) -> None:
    _, fake = run(prefers_good, tmp_path)
    assert fake.requests == 2 * len(PROMPTS)
    rows = [json.loads(line) for line in (tmp_path / "ab.jsonl").read_text().splitlines()]
    assert sorted(r["order"] for r in rows) == ["ab"] * 6 + ["ba"] * 6


def test_a_clearly_better_side_wins_in_both_orders(tmp_path: Path) -> None:
    summary, _ = run(prefers_good, tmp_path)
    assert (summary["wins"], summary["ties"], summary["losses"]) == (6, 0, 0)
    assert summary["win_rate"]["value"] == 1.0 and summary["win_rate"]["low"] < 1.0
    assert (summary["order_agreement"], summary["first_position_share"], summary["pass"]) == (1.0, 0.5, True)


def test_a_judge_that_always_picks_the_first_answer_gives_no_one_a_win(tmp_path: Path) -> None:
    summary, _ = run(always_first, tmp_path)
    assert (summary["wins"], summary["ties"], summary["losses"]) == (0, 6, 0)
    assert (summary["order_agreement"], summary["first_position_share"], summary["pass"]) == (0.0, 1.0, False)


def test_position_bias_on_some_prompts_turns_only_those_into_ties(tmp_path: Path) -> None:
    def biased_on_odd(content: str, seen: int) -> tuple[int, str, float]:
        odd = any(f"saying {i}" in content for i in (1, 3, 5))
        return always_first(content, seen) if odd else prefers_good(content, seen)

    summary, _ = run(biased_on_odd, tmp_path)
    assert (summary["wins"], summary["ties"], summary["losses"]) == (3, 3, 0)
    assert summary["win_rate"]["value"] == 0.5 and summary["win_rate_ties_half"] == 0.75
    assert summary["order_agreement"] == 0.5


def test_unreadable_verdicts_are_counted_not_scored(tmp_path: Path) -> None:
    summary, _ = run(lambda content, seen: (200, "hmm", 0.0), tmp_path)
    assert (summary["decided"], summary["undecided"], summary["win_rate"]) == (0, 6, None)


def test_a_rerun_reuses_verdicts_and_keeps_other_opponents(tmp_path: Path) -> None:
    run(prefers_good, tmp_path)
    with FakeJudge(prefers_good) as fake:
        compare_answers(PROMPTS[:2], A, B, ("final", "base"), load_rubric("folksy"), settings(fake.url), tmp_path,
                        0.8, Console(file=io.StringIO()))
    _, again = run(prefers_good, tmp_path)
    assert again.requests == 0
    assert set(json.loads((tmp_path / "compare.json").read_text())) == {"final vs template", "final vs base"}
    assert len((tmp_path / "ab.jsonl").read_text().splitlines()) == 12 + 4


def test_summary_of_no_rows_has_no_win_rate() -> None:
    assert summarize_pairs([], 3, 0.8)["missing"] == 3


def test_sides_are_read_from_a_run_directory_or_a_samples_file(tmp_path: Path) -> None:
    other = tmp_path / "other-run"
    (other / "eval").mkdir(parents=True)
    (other / "eval" / "samples.jsonl").write_text(json.dumps({"prompt": "p", "generation": "g"}) + "\n")
    label, answers = resolve_side(str(other), RunDir(tmp_path / "this-run"))
    assert (label, answers) == ("other-run", {"p": "g"})
    label, answers = resolve_side(str(other / "eval" / "samples.jsonl"), RunDir(tmp_path / "this-run"))
    assert (label, answers) == ("samples", {"p": "g"})


def test_template_answers_come_from_the_folksy_engine(tmp_path: Path) -> None:
    from slmforge.corpora.folksy import say

    label, answers = resolve_side("template", RunDir(tmp_path), PROMPTS[:2])
    assert label == "template" and all(isinstance(answers[p], str) and answers[p] for p in PROMPTS[:2])
    assert answers[PROMPTS[0]] == say(PROMPTS[0])
