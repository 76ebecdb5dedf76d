"""Prompt and stop parity: the ids the model was trained on, and the token it learnt to stop on,
are what every runtime builds and stops on.

Pure-ish functions over tokenizers and files; the stage (parity/stage.py) loads things and
collects the rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from slmforge.runtime.prompts import IGNORE, end_of_turn_token, tokenize_chat

Messages = list[dict[str, str]]
# crashed: an optional native runtime (llama.cpp) died while checking; reported in red, but parity itself is unknown
# there, not broken, so the run goes on.
Status = Literal["passed", "failed", "skipped", "crashed"]


@dataclass
class Row:
    """One line of export/parity.json and of the terminal table."""

    runtime: str  # "tokenizer (model/)", "server", "llama.cpp (…-f16.gguf)", "Ollama Modelfile (Go)", ...
    check: str  # prompt | stop | output | merge
    status: Status
    detail: str
    fix: str = ""  # what to do when it failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromptCase:
    name: str
    messages: Messages  # ends with the user turn the model answers
    trained_ids: list[int]  # the prompt part of what training saw (ids before the reply)
    reference: str | None = None  # the test split's reply, when the case comes from it


def prompt_part(input_ids: list[int], labels: list[int]) -> list[int] | None:
    """The ids before the last assistant reply (its first loss-bearing token), or None when the
    example has no loss-bearing tokens left (truncated away)."""
    end = len(labels)
    while end > 0 and labels[end - 1] == IGNORE:
        end -= 1
    if end == 0:
        return None
    start = end
    while start > 0 and labels[start - 1] != IGNORE:
        start -= 1
    return list(input_ids[:start])


def cases_from_test_split(split_file: Path, tokenized: tuple[list[list[int]], list[list[int]]], n: int) -> list[PromptCase]:
    """Up to n examples of the prepared test split with the ids training's tokenization gave them."""
    rows = [json.loads(line) for line in split_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids, labels = tokenized
    if len(rows) != len(ids):
        raise ValueError(f"{split_file}: {len(rows)} rows but {len(ids)} tokenized rows; run `slmforge prepare` again")
    cases = []
    for i, (row, row_ids, row_labels) in enumerate(zip(rows, ids, labels)):
        messages = row["messages"]
        if messages[-1]["role"] != "assistant" or len(row_ids) != len(row_labels):
            continue
        prompt = prompt_part(row_ids, row_labels)
        if prompt is None:
            continue
        cases.append(PromptCase(f"test[{i}]", messages[:-1], prompt, messages[-1]["content"]))
        if len(cases) == n:
            break
    return cases


def edge_cases(prep_tokenizer: Any, user_text: str, reply: str, max_length: int) -> list[PromptCase]:
    """With and without a system prompt, multi-turn, unicode and a prompt near the length limit;
    their trained ids come from data preparation's own tokenization (the reply is a placeholder)."""
    conversations: dict[str, Messages] = {
        "no system prompt": [{"role": "user", "content": user_text}],
        "system prompt": [{"role": "system", "content": "You answer in one short sentence."},
                          {"role": "user", "content": user_text}],
        "multi-turn": [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply},
                       {"role": "user", "content": "Tell me another one, please."}],
        "unicode": [{"role": "user", "content": "Ünïcödé: café, naïve, 日本語, Ελληνικά, emoji 🙂👍 — “quotes” ½"}],
    }
    # Grow a prompt to about max_length - 16 tokens (room for the reply's first tokens).
    words = (user_text + " ").split()
    long_text = user_text
    while len(prep_tokenizer(long_text, add_special_tokens=False)["input_ids"]) < max_length - 40:
        long_text += " " + " ".join(words)
    conversations["long prompt"] = [{"role": "user", "content": long_text}]
    cases = []
    for name, messages in conversations.items():
        tok = tokenize_chat(prep_tokenizer, [*messages, {"role": "assistant", "content": "ok"}], max_length=10**6)
        prompt = prompt_part(tok.input_ids, tok.labels)
        if prompt is not None:
            cases.append(PromptCase(name, messages, prompt))
    return cases


def first_difference(want: list[Any], got: list[Any]) -> int | None:
    """Index of the first differing element (or the shorter length), None when equal."""
    if want == got:
        return None
    return next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))


def compare_prompts(runtime: str, cases: list[PromptCase], built: list[list[int] | str], decode: Any, fix: str) -> Row:
    """One row: every case's ids (or an error string) against the trained ids."""
    for case, ids in zip(cases, built):
        if isinstance(ids, str):
            return Row(runtime, "prompt", "failed", f"{case.name}: {ids}", fix)
        at = first_difference(case.trained_ids, ids)
        if at is not None:
            want, got = case.trained_ids[at:at + 3], ids[at:at + 3]
            return Row(runtime, "prompt", "failed",
                       f"{case.name}: token {at} of {len(case.trained_ids)} differs: trained {want} {decode(want)!r} vs {got} "
                       f"{decode(got)!r}", fix)
    return Row(runtime, "prompt", "passed", f"{len(cases)}/{len(cases)} prompts give the trained ids ({sum(len(c.trained_ids) for c in cases):,} tokens)")


def compare_texts(runtime: str, names: list[str], want: list[str], got: list[str], fix: str) -> Row:
    for name, a, b in zip(names, want, got):
        at = first_difference(list(a), list(b))
        if at is not None:
            return Row(runtime, "prompt", "failed",
                       f"{name}: text differs at character {at}: template {a[max(0, at - 20):at + 20]!r} vs {b[max(0, at - 20):at + 20]!r}", fix)
    return Row(runtime, "prompt", "passed", f"{len(names)}/{len(names)} prompts render the same text as the Jinja template")


def stop_ids_in(value: Any) -> set[int]:
    if isinstance(value, int):
        return {value}
    if isinstance(value, (list, tuple)):
        return {int(v) for v in value}
    return set()


def stop_row(runtime: str, eot_text: str, eot_id: int, stops: set[int] | None = None, stop_texts: list[str] | None = None,
             where: str = "", fix: str = "") -> Row:
    """Does this runtime's stop configuration contain the end-of-turn token?"""
    found = eot_id in stops if stops is not None else eot_text in (stop_texts or [])
    shown = sorted(stops) if stops is not None else stop_texts
    if found:
        return Row(runtime, "stop", "passed", f"end of turn {eot_text} (id {eot_id}) is in {where}: {shown}")
    return Row(runtime, "stop", "failed", f"end of turn {eot_text} (id {eot_id}) is missing from {where}: {shown}", fix)


def eot_of(tokenizer: Any) -> tuple[str, int]:
    text = end_of_turn_token(tokenizer)
    return text, int(tokenizer.convert_tokens_to_ids(text))


def gguf_stop_ids(path: Path) -> set[int]:
    """eos and eot ids in a GGUF's metadata (what llama.cpp stops on, besides tokens it detects itself)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    ids: set[int] = set()
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"):
        field = reader.get_field(key)
        if field is not None:
            ids.add(int(field.parts[field.data[0]][0]))
    return ids
