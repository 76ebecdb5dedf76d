"""What the judge reads: the evaluation stage's samples.jsonl, and loosely shaped answer files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmforge.core.errors import DataError, RunDirError
from slmforge.judge.samples import ResultLog, read_samples


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_evaluation_stages_rows_are_read_with_prompt_answer_and_reference(tmp_path: Path) -> None:
    row = {"id": 0, "prompt": "Say something about hay", "messages": [{"role": "user", "content": "Say something about hay"}],
           "output": "Make hay while the sun shines.", "reference": "Hay waits for no one.", "new_tokens": 8, "meta": {}}
    [sample] = read_samples(write(tmp_path / "samples.jsonl", json.dumps(row)))
    assert (sample.id, sample.prompt, sample.output, sample.reference) == (
        "0", "Say something about hay", "Make hay while the sun shines.", "Hay waits for no one.")


def test_generation_and_completion_fields_are_accepted_and_the_limit_applies(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", json.dumps({"prompt": "a", "generation": "x"}), json.dumps({"input": "b", "completion": "y"}),
                 json.dumps({"prompt": "c", "output": "z"}))
    assert [(s.prompt, s.output) for s in read_samples(path, limit=2)] == [("a", "x"), ("b", "y")]


def test_a_row_without_an_answer_is_named_by_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", json.dumps({"prompt": "a", "output": "x"}), json.dumps({"prompt": "b", "answer": "y"}))
    with pytest.raises(DataError, match=r"s.jsonl:2: needs text fields .* found answer, prompt"):
        read_samples(path)
    with pytest.raises(DataError, match=r"s.jsonl:1: not valid JSON"):
        read_samples(write(tmp_path / "s.jsonl", "{oops"))


def test_missing_samples_say_which_command_makes_them(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="run `slmforge eval RECIPE` first"):
        read_samples(tmp_path / "eval" / "samples.jsonl")


def test_a_line_cut_off_by_a_crash_is_skipped_and_later_lines_win(tmp_path: Path) -> None:
    path = write(tmp_path / "scores.jsonl", json.dumps({"key": "k1", "score": 2}), json.dumps({"key": "k1", "score": 4}),
                 '{"key": "k2", "sco')
    assert ResultLog(path).load() == {"k1": {"key": "k1", "score": 4}}
