"""Bad input: every kind is reported with file:line and a reason; `skip` keeps counts in = out + dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmforge.core.errors import DataError
from slmforge.core.sections import DataSection
from slmforge.runtime.examples.read import read_rows
from slmforge.runtime.examples.validate import validate_rows

GOOD = {"input": "Tell me about a barn.", "output": "A barn without a roof is just a fence with ambition."}


def jsonl(tmp_path: Path, lines: list[bytes | str | dict], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    with open(path, "wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            f.write(line if isinstance(line, bytes) else line.encode())
            f.write(b"\n")
    return path


def section(path: Path, **kw) -> DataSection:
    return DataSection(path=str(path), **kw)


# (bad line, reason code, words the message must contain)
BAD_LINES = [
    ('{"input": "x", "output": ', "malformed_json", "malformed JSON"),
    ({"input": "Tell me."}, "missing_field", "missing field 'output'"),
    ({"input": "Tell me.", "output": "   "}, "empty_field", "field 'output' is empty"),
    ({"input": "Tell me.", "output": 42}, "wrong_type", "field 'output' must be a string, got int"),
    (b'{"input": "caf\xe9", "output": "x"}', "undecodable", "not valid UTF-8"),
    ('["a", "list"]', "not_an_object", "expected a JSON object"),
    (GOOD, "duplicate", "exact duplicate of"),
]


@pytest.mark.parametrize("bad, reason, words", BAD_LINES, ids=[b[1] for b in BAD_LINES])
def test_each_bad_input_is_one_line_with_its_line_number(tmp_path, bad, reason, words):
    path = jsonl(tmp_path, [GOOD, {"input": "b", "output": "c"}, bad])
    with pytest.raises(DataError) as info:
        validate_rows(read_rows(str(path)), section(path))
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{path}:3: ")
    assert words in first


@pytest.mark.parametrize("bad, reason, words", BAD_LINES, ids=[b[1] for b in BAD_LINES])
def test_skip_drops_and_counts_each_kind(tmp_path, bad, reason, words):
    path = jsonl(tmp_path, [GOOD, bad, {"input": "b", "output": "c"}])
    result = validate_rows(read_rows(str(path)), section(path, on_error="skip"))
    assert result.read == 3
    assert len(result.examples) == 2
    assert result.dropped_by_reason == {reason: 1}
    assert result.problems[0].source == f"{path}:2"


def test_fail_lists_the_first_ten_and_the_total(tmp_path):
    path = jsonl(tmp_path, [GOOD] + [{"input": f"q{i}"} for i in range(15)])
    with pytest.raises(DataError) as info:
        validate_rows(read_rows(str(path)), section(path))
    lines = str(info.value).splitlines()
    assert len(lines) == 11
    assert lines[0].startswith(f"{path}:2: missing field 'output'")
    assert lines[-1].startswith("15 problem(s) in 16 rows (and 5 more)") and "data.on_error: skip" in lines[-1]


def test_counts_in_equal_counts_out_plus_drops_on_a_mixed_file(tmp_path):
    lines = [GOOD, "not json", {"input": "a"}, GOOD, b"\xff\xfe", {"input": "q", "output": "r"}, {"input": "", "output": "s"}]
    path = jsonl(tmp_path, lines)
    result = validate_rows(read_rows(str(path)), section(path, on_error="skip"))
    assert result.read == 7 == len(result.examples) + sum(result.dropped_by_reason.values())
    assert result.dropped_by_reason == {"duplicate": 1, "empty_field": 1, "malformed_json": 1, "missing_field": 1, "undecodable": 1}


def test_csv_rows_report_their_file_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b'input,output\n"Tell me, please.","A saying."\nmissing,\n"multi\nline",ok\nbad\xff,x\n')
    result = validate_rows(read_rows(str(path)), section(path, on_error="skip"))
    assert [p.source for p in result.problems] == [f"{path}:3", f"{path}:6"]
    assert [p.reason for p in result.problems] == ["empty_field", "undecodable"]
    assert [e.messages[0]["content"] for e in result.examples] == ["Tell me, please.", "multi\nline"]


def test_json_array_elements_report_their_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"input": "a", "output": "b"},\n  {"input": "c"},\n  {"input": "d", "output": "e"}\n]\n')
    result = validate_rows(read_rows(str(path)), section(path, on_error="skip"))
    assert [p.source for p in result.problems] == [f"{path}:3"]
    assert len(result.examples) == 2


def test_parquet_rows_are_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"input": ["a", "b"], "output": ["x", None]}), path)
    result = validate_rows(read_rows(str(path)), section(path, on_error="skip"))
    assert len(result.examples) == 1
    assert result.problems[0].source == f"{path}:row 2" and result.problems[0].reason == "missing_field"


def test_messages_format_checks_roles_and_last_turn(tmp_path):
    ok = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "howdy"}]}
    bad_role = {"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "x"}]}
    ends_user = {"messages": [{"role": "user", "content": "hi"}]}
    path = jsonl(tmp_path, [ok, bad_role, ends_user])
    result = validate_rows(read_rows(str(path)), section(path, format="messages", on_error="skip"))
    assert len(result.examples) == 1
    assert [p.message for p in result.problems] == [
        "messages[0].role must be system, user or assistant, got 'human'",
        "field 'messages' must end with a message from the assistant, not the user",
    ]


def test_preference_and_prompt_completion_formats(tmp_path):
    pref = jsonl(tmp_path, [{"prompt": "p", "chosen": "good", "rejected": "bad"}, {"prompt": "p", "chosen": "same", "rejected": "same"}], "pref.jsonl")
    result = validate_rows(read_rows(str(pref)), section(pref, format="preference", on_error="skip"))
    assert (result.examples[0].chosen, result.examples[0].rejected) == ("good", "bad")
    assert result.dropped_by_reason == {"chosen_equals_rejected": 1}
    pc = jsonl(tmp_path, [{"prompt": "p", "completion": "c", "id": 7}], "pc.jsonl")
    example = validate_rows(read_rows(str(pc)), section(pc, format="prompt_completion")).examples[0]
    assert example.messages[-1] == {"role": "assistant", "content": "c"} and example.meta == {"id": 7}


def test_system_prompt_is_added_and_custom_field_names_work(tmp_path):
    path = jsonl(tmp_path, [{"q": "hi", "a": "howdy", "kind": "greet"}])
    data = section(path, fields={"input": "q", "output": "a"}, system_prompt="Talk folksy.")
    example = validate_rows(read_rows(str(path)), data).examples[0]
    assert example.messages[0] == {"role": "system", "content": "Talk folksy."}
    assert example.meta == {"kind": "greet"}


def test_missing_file_and_unknown_type_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"data.path: .*nope.jsonl not found"):
        list(read_rows(str(tmp_path / "nope.jsonl")))
    odd = tmp_path / "data.txt"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"unknown file type .txt; use .jsonl, .json, .csv or .parquet"):
        list(read_rows(str(odd)))
