"""Preference pairs from a user's file, a rated spot-check CSV and a judge over loopback HTTP; the folksy rule scorer."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter

import yaml
from typer.testing import CliRunner

from slmforge.orchestrate.cli import app
from slmforge.prefs.rules import folksy_checks, folksy_saying, folksy_shape
from tests.helpers.judge_fake import FakeJudge


def write_recipe(tmp_path, prefs: dict, model="embedded:smollm2-135m", **extra) -> str:
    data = tmp_path / "d.jsonl"
    if not data.exists():
        rows = [{"input": f"Tell me about the goat number {i}.", "output": f"The goat {i} sleeps."} for i in range(40)]
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": "p", "model": {"id": str(model)}, "data": {"path": str(data), "max_length": 64}, "prefs": prefs, **extra}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def prefs(tmp_path, recipe: str):
    return CliRunner().invoke(app, ["prefs", recipe, "--runs", str(tmp_path / "runs")])


def report(tmp_path) -> dict:
    return json.loads((tmp_path / "runs" / "p" / "prefs" / "report.json").read_text())


def pairs(tmp_path) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / "runs" / "p" / "prefs" / "pairs.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- file
def write_pref_file(path) -> None:
    good = [{"prompt": f"Say something about rain {i}.", "chosen": f"Rain {i} fills the creek.", "rejected": f"rain {i}"}
            for i in range(5)]
    lines = [json.dumps(r) for r in good]
    lines.insert(2, '{"prompt": "broken", "chosen": ')  # line 3: malformed JSON
    lines.append(json.dumps({"prompt": "no rejected here", "chosen": "A saying."}))  # line 7: missing field
    lines.append(json.dumps({"prompt": "same", "chosen": "Same text.", "rejected": "Same text."}))  # line 8
    lines.append(json.dumps(good[0]))  # line 9: a duplicate of line 1
    path.write_text("\n".join(lines) + "\n")


def test_pairs_from_a_file_count_every_row_and_a_bad_line_is_named(tmp_path):
    write_pref_file(tmp_path / "mine.jsonl")
    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "file", "path": str(tmp_path / "mine.jsonl")}))
    assert result.exit_code == 2
    assert f"{tmp_path / 'mine.jsonl'}:3: malformed JSON" in result.output
    assert "mine.jsonl:7: missing field 'rejected'" in result.output and "prefs.on_error: skip" in result.output

    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "file", "path": str(tmp_path / "mine.jsonl"), "on_error": "skip"}))
    assert result.exit_code == 0, result.output
    r = report(tmp_path)
    assert (r["unit"], r["read"], r["pairs"], r["dropped"]) == ("rows", 9, 5, 4)
    assert r["dropped_by_reason"] == {"chosen_equals_rejected": 1, "duplicate": 1, "malformed_json": 1, "missing_field": 1}
    got = pairs(tmp_path)
    assert [p["chosen"] for p in got] == [f"Rain {i} fills the creek." for i in range(5)]
    assert got[0]["prompt"] == [{"role": "user", "content": "Say something about rain 0."}]
    assert "rows 9 = pairs 5 + dropped 4" in result.output


def test_a_missing_preference_file_is_one_line_naming_the_key(tmp_path):
    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "file", "path": str(tmp_path / "nope.jsonl")}))
    assert result.exit_code == 2 and "prefs.path:" in result.output and "nope.jsonl not found" in result.output


# --------------------------------------------------------------------------- spot-check
def write_spotcheck(path, rows: list[tuple[str, str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "prompt", "output", "reference", "rating"])
        for i, (prompt, output, rating) in enumerate(rows):
            w.writerow([i, prompt, output, "", rating])


def test_good_beats_bad_on_the_same_prompt_and_every_other_prompt_is_a_counted_drop(tmp_path):
    path = tmp_path / "rated.csv"
    write_spotcheck(path, [
        ("A", "A fine saying.", "Good"), ("A", "a bad one", "bad"), ("A", "Another fine one.", "Good"),
        ("B", "Fine.", "Good"), ("B", "Meh.", "Okay"),
        ("C", "Awful.", "Bad"),
        ("D", "Not rated.", ""),
        ("E", "So-so.", "Okay"), ("E", "Also so-so.", "okay"),
    ])
    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "spotcheck", "path": str(path)}))
    assert result.exit_code == 0, result.output
    r = report(tmp_path)
    assert (r["unit"], r["read"], r["pairs"]) == ("prompts", 5, 1)
    assert r["dropped_by_reason"] == {"no_bad_answer": 1, "no_good_answer": 1, "only_okay": 1, "unrated": 1}
    assert pairs(tmp_path) == [{"prompt": [{"role": "user", "content": "A"}], "chosen": "A fine saying.", "rejected": "a bad one",
                                "chosen_score": 3.0, "rejected_score": 1.0}]


def test_an_unknown_rating_names_its_line(tmp_path):
    path = tmp_path / "rated.csv"
    write_spotcheck(path, [("A", "x.", "Good"), ("A", "y.", "Great")])
    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "spotcheck", "path": str(path)}))
    assert result.exit_code == 2 and f"{path}:3: unknown rating 'Great'" in result.output


# --------------------------------------------------------------------------- judge
def _answer(content: str) -> str:
    return re.search(r"Saying:\n(.*)\n\nScore it", content, re.S).group(1)


def _bucket(answer: str) -> int:
    return int(hashlib.sha1(answer.encode()).hexdigest(), 16) % 6


def scripted_judge(content: str, seen: int):
    """A judge whose verdict is a function of the answer: refuses (400) some the first time, cannot score others."""
    b = _bucket(_answer(content))
    if b == 0 and seen == 0:
        return 400, "", 0.0
    if b == 1:
        return 200, "I cannot judge this one.", 0.0
    return 200, f"Score: {b % 5 + 1} - fine", 0.0


def expected(answer: str, first_run: bool) -> tuple[float | None, str | None]:
    if not answer.strip():
        return None, "empty_answer"
    b = _bucket(answer)
    if b == 0 and first_run:
        return None, "judge_error"
    if b == 1:
        return None, "unparsable_score"
    return float(b % 5 + 1), None


def test_judge_scorer_scores_through_the_judge_and_counts_failures_by_reason(tmp_path, tiny_qwen2):
    samples_path = tmp_path / "runs" / "p" / "prefs" / "samples.jsonl"
    with FakeJudge(scripted_judge) as fake:
        recipe = write_recipe(tmp_path, {"samples": 10, "k": 3, "temperature": 1.5, "max_new_tokens": 6, "batch_size": 5, "margin": 1.0},
                              model=tiny_qwen2, judge={"endpoint": fake.url, "rubric": "folksy", "retries": 1, "backoff": 0.01,
                                                       "timeout": 10, "concurrency": 3})
        result = prefs(tmp_path, recipe)
        assert result.exit_code == 0, result.output
        rows = [json.loads(x) for x in samples_path.read_text().splitlines()]
        answers = [a for row in rows for a in row["answers"]]
        asked = sum(1 for a in answers if a.strip())
        assert fake.requests == asked  # one call per non-empty answer; a 400 is not retried
        for row in rows:
            assert list(zip(row["scores"], row["failures"])) == [expected(a, True) for a in row["answers"]]
        r = report(tmp_path)
        assert r["read"] == 10 == r["pairs"] + r["dropped"]
        assert r["answer_failures"] == dict(Counter(e for a in answers if (e := expected(a, True)[1])))
        assert r["answer_failures"].get("judge_error") and r["answer_failures"].get("unparsable_score")

        # The rerun asks the judge again only for the calls that failed, and samples nothing.
        refused = r["answer_failures"]["judge_error"]
        result = prefs(tmp_path, recipe)
        assert result.exit_code == 0, result.output
        assert "10 done before, 0 to go" in " ".join(result.output.split())
        assert fake.requests == asked + refused
        rows = [json.loads(x) for x in samples_path.read_text().splitlines()]
        for row in rows:
            assert list(zip(row["scores"], row["failures"])) == [expected(a, False) for a in row["answers"]]
        assert "judge_error" not in report(tmp_path)["answer_failures"]


def test_a_judge_that_is_down_fails_in_one_line_before_sampling(tmp_path, tiny_qwen2):
    recipe = write_recipe(tmp_path, {"samples": 4}, model=tiny_qwen2,
                          judge={"endpoint": "http://127.0.0.1:9/v1", "retries": 0, "timeout": 2})
    result = prefs(tmp_path, recipe)
    assert result.exit_code == 2 and "prefs.scorer: judge:" in result.output and "did not answer" in result.output
    assert not (tmp_path / "runs" / "p" / "prefs" / "samples.jsonl").exists()


# --------------------------------------------------------------------------- rule scorer
def test_folksy_shape_rewards_one_tidy_sentence_in_its_own_words():
    prompt = [{"role": "user", "content": "Give me a tired preacher's wisdom on cornbread."}]
    assert folksy_shape(prompt, "No point pourin' the buttermilk when the cornbread's in the dog.") == 5.0
    checks = folksy_checks(prompt[0]["content"], "Here's a tired preacher's wisdom on cornbread: eat it. Then sleep")
    assert checks == {"one_sentence": False, "ends_with_period": False, "own_words": False, "length_band": True, "no_preamble": False}
    assert folksy_shape(prompt, "Cornbread.") == 4.0  # too short: only the length band fails
    assert folksy_shape(prompt, "") == 2.0  # nothing copied and no second sentence, but no shape


def test_folksy_saying_ranks_empty_and_habitual_sayings_below_any_saying_with_content():
    prompt = [{"role": "user", "content": "Any advice about socks?"}]
    tidy_empty = ["A sock is just a sock with a hole in it.", "Ain't no use ain't no use ain't no use in socks."]
    habit = [f"A {w} is just a {v} with a better story." for w, v in [("sock", "mitten"), ("boot", "bucket"), ("hat", "bowl")]]
    fresh = ["Never trust a sock that brags about the boot.", "Socks."]  # the second has no shape at all
    batch = [tidy_empty, habit, fresh] + [[f"Don't darn the {w} before the {w}'s been walked."] for w in ("heel", "toe", "sole")] \
        + [[f"Folks who {w} early get the warm ones."] for w in ("rise", "shop", "knit", "wash", "fold", "pack", "sew", "dry")]
    assert all(folksy_shape(prompt, t) >= 4 for t in tidy_empty + habit)  # the shape alone would prefer them
    scored = folksy_saying([prompt] * len(batch), batch)
    assert [len(s) for s in scored] == [len(k) for k in batch]
    assert max(scored[0] + scored[1]) < min(scored[2])  # 3 of 17 answers share "a better story": a habit
    assert scored[2][0] == folksy_shape(prompt, fresh[0]) == 5.0
    # a batch rule through prefs' loader: shapes checked, empty answers and failures counted, never fatal
    from slmforge.runtime.scorers import batch_rule

    assert batch_rule(folksy_saying)([prompt], [["", fresh[0]]]) == [[(None, "empty_answer"), (5.0, None)]]
    assert batch_rule(lambda p, a: [[1.0]])([prompt], [["a", "b"]]) == [[(None, "unparsable_score")] * 2]
    assert batch_rule(lambda p, a: 1 / 0)([prompt], [["a"]]) == [[(None, "scorer_error")]]


def test_run_makes_the_pairs_again_when_the_preference_file_changes(tmp_path):
    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import run_stages

    write_pref_file(tmp_path / "mine.jsonl")
    recipe = load(write_recipe(tmp_path, {"source": "file", "path": str(tmp_path / "mine.jsonl"), "on_error": "skip"}))
    run_stages(recipe, tmp_path / "runs", ["prefs"])
    assert report(tmp_path)["pairs"] == 5
    stage = json.loads((tmp_path / "runs" / "p" / "manifest.json").read_text())["stages"]["prefs"]
    with open(tmp_path / "mine.jsonl", "a") as f:
        f.write(json.dumps({"prompt": "More rain.", "chosen": "Rain fills the barrel.", "rejected": "rain"}) + "\n")
    run_stages(recipe, tmp_path / "runs", ["prefs"])  # the recipe is unchanged; the file is not
    assert report(tmp_path)["pairs"] == 6
    assert json.loads((tmp_path / "runs" / "p" / "manifest.json").read_text())["stages"]["prefs"]["fingerprint"] != stage["fingerprint"]


def test_spotcheck_source_needs_a_rated_copy_named_in_prefs_path(tmp_path):
    result = prefs(tmp_path, write_recipe(tmp_path, {"source": "spotcheck"}))
    assert result.exit_code == 2 and "prefs: source: spotcheck needs prefs.path, a rated copy of eval/spotcheck.csv" in result.output
