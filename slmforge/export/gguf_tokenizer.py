"""A transformers byte-level BPE tokenizer as llama.cpp's GGUF tokenizer metadata.

GGUF carries no tokenizer.json: the vocabulary, merges, token types, special ids and the chat
template go into `tokenizer.*` keys, and `tokenizer.ggml.pre` names the pre-tokenizer (the regex
that splits text before BPE) from llama.cpp's fixed list. A pre-tokenizer we cannot name there is
refused: a GGUF that splits text differently would encode other ids than training did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gguf import GGUFWriter, TokenType

from slmforge.core.errors import ModelError

# llama.cpp pre-tokenizer names for the split regexes we recognise (llama.cpp's llama-vocab.cpp).
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPLIT_REGEX_NAMES = {_LLAMA3_SPLIT: "llama-bpe", _QWEN2_SPLIT: "qwen2"}
SUPPORTED_PRE = "GPT-2 byte-level, Qwen2, Llama 3, SmolLM (digits split)"


@dataclass
class GGUFTokenizer:
    """What `tokenizer.*` holds in the file."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str
    eos_id: int
    bos_id: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    add_bos: bool = False
    chat_template: str | None = None
    notes: list[str] = field(default_factory=list)

    def write(self, writer: GGUFWriter) -> None:
        writer.add_tokenizer_model("gpt2")  # llama.cpp's name for byte-level BPE
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        writer.add_token_merges(self.merges)
        writer.add_eos_token_id(self.eos_id)
        if self.bos_id is not None:
            writer.add_bos_token_id(self.bos_id)
        if self.pad_id is not None:
            writer.add_pad_token_id(self.pad_id)
        if self.unk_id is not None:
            writer.add_unk_token_id(self.unk_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(False)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)


def pre_tokenizer_name(pre: dict[str, Any] | None) -> str:
    """llama.cpp's name for a tokenizer.json `pre_tokenizer`, or ModelError naming what we support."""
    if pre is None:
        raise ModelError(f"tokenizer has no pre-tokenizer; GGUF export supports byte-level BPE ({SUPPORTED_PRE})")
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        if pattern in SPLIT_REGEX_NAMES:
            return SPLIT_REGEX_NAMES[pattern]
    raise ModelError(f"tokenizer pre-tokenizer {json.dumps(pre)[:120]} has no llama.cpp name; "
                     f"GGUF export supports byte-level BPE tokenizers ({SUPPORTED_PRE})")


def _merge_strings(merges: list[Any]) -> list[str]:
    # tokenizers writes merges as ["a", "b"] pairs since 0.20, as "a b" strings before.
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


def gguf_tokenizer(tokenizer: Any, vocab_size: int) -> GGUFTokenizer:
    """Read a fast transformers tokenizer into GGUF tokenizer metadata for a model of `vocab_size` rows."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError("GGUF export needs a fast (tokenizers) tokenizer with a tokenizer.json")
    spec = json.loads(backend.to_str())
    model = spec["model"]
    if model.get("type") != "BPE":
        raise ModelError(f"tokenizer model {model.get('type')} is not supported for GGUF export; supported: byte-level BPE")
    pre = pre_tokenizer_name(spec.get("pre_tokenizer"))
    by_id: dict[int, str] = {i: t for t, i in backend.get_vocab(with_added_tokens=True).items()}
    if max(by_id) >= vocab_size:
        raise ModelError(f"tokenizer has id {max(by_id)} but the model has only {vocab_size} embedding rows")
    added = {a["id"]: a for a in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            # Embedding rows past the tokenizer (Qwen pads to a multiple of 64): llama.cpp's converter names them so.
            tokens.append(f"[PAD{i}]")
            types.append(int(TokenType.UNUSED))
        elif i in added:
            tokens.append(by_id[i])
            types.append(int(TokenType.CONTROL if added[i].get("special") else TokenType.USER_DEFINED))
        else:
            tokens.append(by_id[i])
            types.append(int(TokenType.NORMAL))

    def token_id(name: str) -> int | None:
        value = getattr(tokenizer, name, None)
        return tokenizer.convert_tokens_to_ids(value) if value is not None else None

    eos = token_id("eos_token")
    if eos is None:
        raise ModelError("tokenizer has no eos token; set one before exporting (llama.cpp stops generation on it)")
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()))
    # add_bos: does encoding plain text put bos in front? Ask the tokenizer rather than its config.
    bos = token_id("bos_token")
    probe = tokenizer("a").input_ids
    add_bos = bos is not None and len(probe) > 0 and probe[0] == bos
    return GGUFTokenizer(
        tokens=tokens,
        token_types=types,
        merges=_merge_strings(model.get("merges", [])),
        pre=pre,
        eos_id=eos,
        bos_id=bos,
        pad_id=token_id("pad_token"),
        unk_id=token_id("unk_token"),
        add_bos=add_bos,
        chat_template=template,
    )
