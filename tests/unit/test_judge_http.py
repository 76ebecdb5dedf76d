"""`judge_samples` against a scripted judge over real HTTP on 127.0.0.1 with the real openai client."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from slmforge.core.errors import RecipeError
from slmforge.core.sections import JudgeTargets
from slmforge.judge.samples import Sample
from slmforge.judge.score import judge_samples
from slmforge.runtime.judge.client import JudgeError, JudgeSettings
from slmforge.runtime.judge.rubrics import load_rubric
from tests.helpers.judge_fake import FakeJudge, directive_responder


def settings(url: str, **overrides) -> JudgeSettings:
    values = dict(endpoint=url, model=None, api_key="test", api_key_env="SLMFORGE_TEST_KEY",
                  concurrency=4, timeout=2.0, retries=2, backoff=0.01)
    return JudgeSettings(**{**values, **overrides})


def samples(outputs: list[str]) -> list[Sample]:
    return [Sample(str(i), f"Say something wise about rain #{i}", out) for i, out in enumerate(outputs)]


def judge(items: list[Sample], cfg: JudgeSettings, out: Path, rubric: str = "folksy") -> dict:
    return judge_samples(items, load_rubric(rubric), cfg, out, JudgeTargets(), Console(file=io.StringIO()))


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_messy_replies_are_scored_and_unparsable_ones_are_kept(tmp_path: Path) -> None:
    replies = ["Score: 4/5 — nice", "**3**", "I'd give it a five", "garbage", "2 - awkward"]
    with FakeJudge() as fake:
        summary = judge(samples([f"[[reply:{r}]]" for r in replies]), settings(fake.url), tmp_path)
    assert [r["score"] for r in rows(tmp_path)] == [4, 3, 5, None, 2]
    assert rows(tmp_path)[3]["reply"] == "garbage"
    assert (summary["scored"], summary["unparsable"], summary["judge_model"]) == (4, 1, "fake-judge")
    assert summary["mean"]["value"] == 3.5
    assert json.loads((tmp_path / "summary.json").read_text())["unparsable"] == 1


def test_server_errors_are_retried_until_the_judge_answers(tmp_path: Path) -> None:
    with FakeJudge() as fake:
        judge(samples(["[[fail:2]][[reply:4]]"]), settings(fake.url, retries=2), tmp_path)
    row = rows(tmp_path)[0]
    assert (row["score"], row["attempts"]) == (4, 3)


def test_a_reply_slower_than_the_timeout_is_abandoned_and_asked_again(tmp_path: Path) -> None:
    started = time.monotonic()
    with FakeJudge() as fake:
        judge(samples(["[[sleepfirst:3]][[reply:5]]"]), settings(fake.url, timeout=0.3, retries=1), tmp_path)
    row = rows(tmp_path)[0]
    assert (row["score"], row["attempts"]) == (5, 2)
    assert time.monotonic() - started < 2.5  # it did not wait the 3 s for the slow reply


def test_a_judge_that_stays_down_is_one_line_and_the_scores_received_are_kept(tmp_path: Path) -> None:
    outputs = ["[[reply:4]]"] * 4 + ["[[sleep:0.4]][[fail:99]]"] * 2  # the failures land last
    with FakeJudge() as fake:
        with pytest.raises(JudgeError) as err:
            judge(samples(outputs), settings(fake.url, concurrency=6, retries=1), tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "did not answer after 2 tries (HTTP 500)" in message and "4 of 6 replies kept" in message
    assert [r["score"] for r in rows(tmp_path)] == [4, 4, 4, 4]


def test_an_endpoint_nobody_listens_on_fails_fast_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(JudgeError) as err:
        judge(samples(["x"]), settings(url, retries=1), tmp_path)
    assert "\n" not in str(err.value) and "did not answer after 2 tries (connection failed" in str(err.value)


def test_a_rerun_asks_only_for_the_replies_it_does_not_have(tmp_path: Path) -> None:
    items = samples([f"[[reply:{i % 5 + 1}]]" for i in range(6)])
    with FakeJudge() as fake:
        judge(items[:3], settings(fake.url), tmp_path)
        assert fake.requests == 3
        summary = judge(items, settings(fake.url), tmp_path)
        assert fake.requests == 6  # three new questions, not six
    assert [r["id"] for r in rows(tmp_path)] == ["0", "1", "2", "3", "4", "5"]
    assert summary["complete"] and summary["scored"] == 6


def test_a_changed_rubric_is_not_answered_from_old_scores(tmp_path: Path) -> None:
    items = samples(["[[reply:4]]"] * 2)
    with FakeJudge() as fake:
        judge(items, settings(fake.url), tmp_path, rubric="folksy")
        judge(items, settings(fake.url), tmp_path, rubric="quality")
        assert fake.requests == 4
    assert {r["rubric"] for r in rows(tmp_path)} == {"quality"}


def test_no_more_requests_are_in_flight_than_the_concurrency(tmp_path: Path) -> None:
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def counting(content: str, seen: int) -> tuple[int, str, float]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return 200, "4", 0.0

    with FakeJudge(counting) as fake:
        judge(samples(["x"] * 9), settings(fake.url, concurrency=3), tmp_path)
    assert state["max"] == 3


def test_a_rejected_key_stops_at_once_and_names_the_variable(tmp_path: Path) -> None:
    with FakeJudge(lambda content, seen: (401, "", 0.0)) as fake:
        with pytest.raises(JudgeError, match=r"HTTP 401.*\$SLMFORGE_TEST_KEY"):
            judge(samples(["x"]), settings(fake.url, concurrency=1, retries=3, backoff=1.0), tmp_path)
        assert fake.requests == 1  # a wrong key is not retried


def test_a_refused_request_is_kept_as_an_error_and_asked_again_next_run(tmp_path: Path) -> None:
    def refuse_first(content: str, seen: int) -> tuple[int, str, float]:
        return (400, "", 0.0) if "#1" in content and seen == 0 else directive_responder(content, seen)

    items = samples(["[[reply:4]]", "[[reply:5]]"])
    with FakeJudge(refuse_first) as fake:
        first = judge(items, settings(fake.url), tmp_path)
        assert (first["errors"], first["scored"], rows(tmp_path)[1]["error"]) == (1, 1, "HTTP 400")
        second = judge(items, settings(fake.url), tmp_path)
    assert (second["errors"], second["scored"], fake.requests) == (0, 2, 3)


def test_a_custom_rubric_file_gets_the_prompt_and_the_answer(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.txt"
    rubric.write_text('Q: {prompt}\nA: {output}\nReply as JSON {"score": N}.\n')
    seen: list[str] = []

    def record(content: str, n: int) -> tuple[int, str, float]:
        seen.append(content)
        return 200, '{"score": 4}', 0.0

    with FakeJudge(record) as fake:
        summary = judge(samples(["Rain or shine, the cow still needs milking."]), settings(fake.url), tmp_path / "out",
                        rubric=str(rubric))
    assert seen == ['Q: Say something wise about rain #0\nA: Rain or shine, the cow still needs milking.\nReply as JSON {"score": N}.\n']
    assert summary["mean"]["value"] == 4


def test_a_rubric_file_without_an_output_placeholder_is_refused(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Score this 1-5: {answer}")
    with pytest.raises(RecipeError, match=r"judge.rubric: .*rubric.txt has no \{output\} placeholder"):
        load_rubric(str(rubric))
    with pytest.raises(RecipeError, match="neither a built-in rubric"):
        load_rubric("folksey")


def test_a_judge_that_cannot_follow_the_format_gets_no_verdict(tmp_path: Path) -> None:
    """8 of 16 replies unparsable (a weak judge on loopback): the mean of the other 8 passes, but earns nothing."""
    outputs = ["[[reply:5]]"] * 8 + ["[[reply:a fine saying, truly]]"] * 8
    with FakeJudge() as fake:
        summary = judge(samples(outputs), settings(fake.url), tmp_path)
    assert summary["mean"]["value"] == 5.0 and summary["unparsable"] == 8
    assert summary["verdict"] == "not judged" and summary["pass"] == {"mean": None, "low_share": None, "all": None}
    assert "8 of 16 samples have no score (8 unparsable, 0 errors): 50% > 10%" in summary["verdict_reason"]
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"] == "not judged"


def test_refused_requests_count_against_the_verdict_and_a_few_unparsable_replies_do_not(tmp_path: Path) -> None:
    def refuse(content: str, seen: int) -> tuple[int, str, float]:
        return (400, "", 0.0) if "[[refuse]]" in content else directive_responder(content, seen)

    with FakeJudge(refuse) as fake:
        few = judge(samples(["[[reply:4]]"] * 15 + ["[[reply:garbage]]"]), settings(fake.url), tmp_path / "few")
        refused = judge(samples(["[[reply:4]]"] * 14 + ["[[refuse]]"] * 2), settings(fake.url), tmp_path / "refused")
    assert few["verdict"] == "pass" and few["verdict_reason"] is None and few["pass"]["all"] is True  # 1 of 16: 6 % ≤ 10 %
    assert refused["verdict"] == "not judged" and "(0 unparsable, 2 errors)" in refused["verdict_reason"]


def test_the_threshold_of_unscored_samples_is_a_recipe_key(tmp_path: Path) -> None:
    outputs = ["[[reply:4]]"] * 3 + ["[[reply:garbage]]"]
    with FakeJudge() as fake:
        strict = judge_samples(samples(outputs), load_rubric("folksy"), settings(fake.url), tmp_path / "a",
                               JudgeTargets(max_unjudged=0.10), Console(file=io.StringIO()))
        lenient = judge_samples(samples(outputs), load_rubric("folksy"), settings(fake.url), tmp_path / "b",
                                JudgeTargets(max_unjudged=0.30), Console(file=io.StringIO()))
    assert (strict["verdict"], lenient["verdict"]) == ("not judged", "pass")
