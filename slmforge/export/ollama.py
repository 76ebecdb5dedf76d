"""Ollama Modelfile: FROM the GGUF, a Go TEMPLATE translated from the Jinja chat template, stops.

Jinja cannot be translated in general, so we recognise template families: each family is a Go
template plus the Python rendering that Go template produces. A family is chosen only when the
model's own Jinja template renders probe conversations to exactly the same text, so a Modelfile
never carries a template that formats prompts differently from training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.errors import ModelError
from slmforge.core.rundir import write_text_atomic
from slmforge.runtime.prompts import text_without_bos

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class TemplateFamily:
    name: str
    go_template: str
    render: Callable[[Messages], str]  # what go_template renders for these messages (+ generation prompt)
    stops: tuple[str, ...]
    system_block: Callable[[str], str]  # how a system message renders (to spot a default one)


def _chatml(messages: Messages) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def _llama3(messages: Messages) -> str:
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


FAMILIES = [
    TemplateFamily(
        "chatml",
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        _chatml,
        ("<|im_end|>", "<|im_start|>"),
        lambda s: f"<|im_start|>system\n{s}<|im_end|>\n",
    ),
    TemplateFamily(
        "llama3",
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        _llama3,
        ("<|eot_id|>", "<|start_header_id|>"),
        lambda s: f"<|start_header_id|>system<|end_header_id|>\n\n{s}<|eot_id|>",
    ),
]

_PROBES: list[Messages] = [
    [{"role": "user", "content": "Hello there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"}, {"role": "user", "content": "Three"}],
]


@dataclass(frozen=True)
class Translation:
    family: TemplateFamily
    default_system: str | None  # the system prompt the Jinja template adds when none is given


def translate_template(tokenizer: Any) -> Translation:
    """The family whose Go template renders exactly like the tokenizer's Jinja template."""
    for family in FAMILIES:
        default = None
        first = text_without_bos(tokenizer, _PROBES[0])
        plain = family.render(_PROBES[0])
        if first != plain and first.endswith(plain):
            # Qwen2.5 / SmolLM2 add a system prompt when the conversation has none: find it.
            head = first[: -len(plain)]
            probe = family.system_block("\x00")
            before, _, after = probe.partition("\x00")
            if head.startswith(before) and head.endswith(after):
                default = head[len(before): len(head) - len(after)]
        ok = True
        for messages in _PROBES:
            expected = messages if messages[0]["role"] == "system" or default is None else \
                [{"role": "system", "content": default}, *messages]
            if text_without_bos(tokenizer, messages) != family.render(expected):
                ok = False
                break
        if ok:
            return Translation(family, default)
    raise ModelError("ollama export: the chat template is neither ChatML nor Llama 3, so it cannot be translated to an "
                     "Ollama TEMPLATE; drop ollama from export.formats or set model.chat_template: chatml")


def _quote(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def write_modelfile(path: Path, gguf: Path, tokenizer: Any, temperature: float, top_p: float, num_ctx: int) -> Path:
    """Write the Modelfile next to the GGUF (FROM is relative so the export folder can move)."""
    translation = translate_template(tokenizer)
    stops = list(dict.fromkeys([*translation.family.stops, tokenizer.eos_token]))
    lines = [f"# ollama create NAME -f {path.name}   (run in this folder)", f"FROM ./{gguf.name}", "",
             f"TEMPLATE {_quote(translation.family.go_template)}"]
    if translation.default_system:
        lines.append(f"SYSTEM {_quote(translation.default_system)}")
    lines.append("")
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += [f"PARAMETER temperature {temperature:g}", f"PARAMETER top_p {top_p:g}", f"PARAMETER num_ctx {num_ctx}"]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def ollama_hint(name: str, modelfile: Path) -> str:
    return f"ollama create {name} -f {modelfile} && ollama run {name}"
