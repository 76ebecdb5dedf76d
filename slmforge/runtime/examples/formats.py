"""Turn raw rows into `Example`s (chat messages + metadata) for each record format, or say what is wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slmforge.core.sections import DataSection

ROLES = {"system", "user", "assistant"}


@dataclass
class Example:
    source: str  # "file:line"
    messages: list[dict[str, str]]  # ends with the assistant reply; preference: ends with the user turn
    meta: dict[str, Any] = field(default_factory=dict)  # the record's other fields (labels, ids, ...)
    chosen: str | None = None  # preference only
    rejected: str | None = None  # preference only
    label: bool | None = None  # unpaired only: is the reply (messages[-1]) a good one

    @property
    def reply(self) -> str:
        return self.chosen if self.chosen is not None else self.messages[-1]["content"]

    def dedupe_key(self) -> str:
        return json.dumps([self.messages, self.chosen, self.rejected, self.label], ensure_ascii=False)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"messages": self.messages}
        if self.chosen is not None:
            record["chosen"], record["rejected"] = self.chosen, self.rejected
        if self.label is not None:
            record["label"] = self.label
        record["meta"] = self.meta
        record["source"] = self.source
        return record


class FormatProblem(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _text(record: dict[str, Any], name: str) -> str:
    if name not in record or record[name] is None:
        raise FormatProblem("missing_field", f"missing field {name!r} (fields present: {', '.join(map(str, record)) or 'none'})")
    value = record[name]
    if not isinstance(value, str):
        raise FormatProblem("wrong_type", f"field {name!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise FormatProblem("empty_field", f"field {name!r} is empty")
    return value


def _messages(value: Any, name: str, final_role: str) -> list[dict[str, str]]:
    if isinstance(value, str):  # CSV and Parquet store the list as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise FormatProblem("wrong_type", f"field {name!r} must be a list of messages, got a string that is not JSON") from None
    if not isinstance(value, list) or not value:
        raise FormatProblem("wrong_type" if not isinstance(value, list) else "empty_field",
                            f"field {name!r} must be a non-empty list of {{role, content}} messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise FormatProblem("bad_messages", f"{name}[{i}] must be an object with role and content")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise FormatProblem("bad_messages", f"{name}[{i}].role must be system, user or assistant, got {role!r}")
        if not isinstance(content, str):
            raise FormatProblem("wrong_type", f"{name}[{i}].content must be a string, got {type(content).__name__}")
        if not content.strip():
            raise FormatProblem("empty_field", f"{name}[{i}].content is empty")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != final_role:
        raise FormatProblem("bad_messages", f"field {name!r} must end with a message from the {final_role}, not the {out[-1]['role']}")
    return out


# Spot-check ratings say Good/Bad; people's own files say true/false, 1/0, yes/no or thumbs up/down.
LABELS = {"true": True, "good": True, "yes": True, "1": True, "up": True, "desirable": True,
          "false": False, "bad": False, "no": False, "0": False, "down": False, "undesirable": False}


def _label(record: dict[str, Any], name: str) -> bool:
    if name not in record or record[name] is None or record[name] == "":
        raise FormatProblem("missing_field", f"missing field {name!r} (fields present: {', '.join(map(str, record)) or 'none'})")
    value = record[name]
    if isinstance(value, bool):
        return value
    key = str(int(value) if isinstance(value, (int, float)) and value in (0, 1) else value).strip().lower()
    key = key.replace("thumbs", "").strip()
    if key not in LABELS:
        raise FormatProblem("bad_label", f"field {name!r} must be good/bad (true/false, yes/no, 1/0), got {value!r}")
    return LABELS[key]


def _either(record: dict[str, Any], first: str, second: str) -> tuple[str, str]:
    """unpaired rows name their fields like prompt_completion (prompt, completion) or pairs (input, output)."""
    name = first if first in record or second not in record else second
    return name, _text(record, name)


def _with_system(messages: list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    if system and messages[0]["role"] != "system":
        return [{"role": "system", "content": system}, *messages]
    return messages


def to_example(source: str, record: dict[str, Any], data: DataSection) -> Example:
    """Raise FormatProblem (reason, message) when the record does not fit data.format."""
    f = data.fields
    system = data.system_prompt
    if f.system and record.get(f.system):
        system = _text(record, f.system)
    chosen = rejected = label = None
    if data.format == "pairs":
        used = {f.input, f.output}
        messages = [{"role": "user", "content": _text(record, f.input)}, {"role": "assistant", "content": _text(record, f.output)}]
    elif data.format == "prompt_completion":
        used = {f.prompt, f.completion}
        messages = [{"role": "user", "content": _text(record, f.prompt)}, {"role": "assistant", "content": _text(record, f.completion)}]
    elif data.format == "messages":
        used = {f.messages}
        if f.messages not in record or record[f.messages] is None:
            raise FormatProblem("missing_field", f"missing field {f.messages!r}")
        messages = _messages(record[f.messages], f.messages, "assistant")
    elif data.format == "unpaired":
        (p_name, prompt_text), (c_name, reply) = _either(record, f.prompt, f.input), _either(record, f.completion, f.output)
        used = {p_name, c_name, f.label}
        messages = [{"role": "user", "content": prompt_text}, {"role": "assistant", "content": reply}]
        label = _label(record, f.label)
    else:  # preference
        used = {f.prompt, f.chosen, f.rejected}
        prompt = record.get(f.prompt)
        if isinstance(prompt, list):
            messages = _messages(prompt, f.prompt, "user")
        else:
            messages = [{"role": "user", "content": _text(record, f.prompt)}]
        chosen, rejected = _text(record, f.chosen), _text(record, f.rejected)
        if chosen.strip() == rejected.strip():
            raise FormatProblem("chosen_equals_rejected", "chosen and rejected are the same text")
    if f.system:
        used.add(f.system)
    meta = {k: v for k, v in record.items() if k not in used}
    return Example(source, _with_system(messages, system), meta, chosen, rejected, label)
