"""Prompts and chat examples through the tokenizer's own chat template: one way from messages to ids.

`prompt_ids` is what a model is asked with — by eval, prefs, GRPO, verify and the server alike — and
`tokenize_chat` is what training saw: the same rendering and tokenization, so a prompt's ids are the
prefix of its training example's ids (verify checks it for every runtime).

Labels are -100 everywhere except the tokens of each assistant reply and its end-of-turn
token. The whole conversation is tokenized once (the same ids inference produces) and the
reply spans are found by character offsets, so no BPE merge across a boundary is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slmforge.core.errors import DataError

IGNORE = -100


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def loss_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The ids of a conversation ending with a user turn, with the assistant header after it: rendered by
    the chat template and tokenized without extra special tokens, exactly as training tokenized it."""
    return list(tokenizer(render(tokenizer, messages, generation_prompt=True), add_special_tokens=False)["input_ids"])


def prompt_and_reply_ids(tokenizer: Any, prompt: list[dict[str, str]], reply: str) -> tuple[list[int], list[int]]:
    """Token ids of the prompt (with the assistant header) and of the reply (with its end of turn).

    Tokenized apart and concatenated, like TRL's preference trainers do, so the reply tokens are the
    same whatever the prompt ends with.
    """
    prompt_text = render(tokenizer, prompt, generation_prompt=True)
    full_text = conversation_text(tokenizer, prompt, reply)
    reply_text = full_text[len(prompt_text):] if full_text.startswith(prompt_text) else reply
    return (tokenizer(prompt_text, add_special_tokens=False)["input_ids"],
            tokenizer(reply_text, add_special_tokens=False)["input_ids"])


def conversation_text(tokenizer: Any, prompt: list[dict[str, str]], reply: str) -> str:
    """The whole conversation with `reply` as the assistant's answer (what a reward model reads)."""
    return render(tokenizer, [*prompt, {"role": "assistant", "content": reply}], generation_prompt=False)


# Chat templates that open every turn with one of these spell them as the bos token: they are not a bos to drop.
_CHAT_MARKERS = ("<|im_start|>", "<|start_header_id|>")


def text_without_bos(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text as a runtime that adds bos itself must produce it (llama.cpp with add_bos; Ollama
    templates never spell it): the chat template's text without a leading bos token."""
    text = render(tokenizer, messages, generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    return text[len(bos):] if bos and text.startswith(bos) and bos not in _CHAT_MARKERS else text


def _end_of_turn(tokenizer: Any, suffix: str) -> int:
    """Characters of `suffix` (the text after a reply) up to and including the end-of-turn token."""
    specials = sorted((t for t in tokenizer.all_special_tokens + list(tokenizer.get_added_vocab()) if t), key=len, reverse=True)
    head = suffix.lstrip(" ")
    skipped = len(suffix) - len(head)
    for token in specials:
        if head.startswith(token):
            return skipped + len(token)
    raise DataError(
        "model.chat_template: no end-of-turn token follows the assistant reply "
        f"(text after the reply: {suffix[:30]!r}); the model would never learn to stop. Use a chat template that ends turns"
    )


def end_of_turn_token(tokenizer: Any) -> str:
    """The token that ends an assistant turn under the chat template: what training puts in the
    labels and what every runtime must stop on (it may differ from the tokenizer's eos: Qwen base
    models say <|endoftext|> while ChatML ends turns with <|im_end|>)."""
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    text = render(tokenizer, messages, generation_prompt=False)
    after = text[text.rindex("ok") + 2 :]
    return after[: _end_of_turn(tokenizer, after)].strip()


def reply_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the [start, end) character span of every assistant reply + end token."""
    full = render(tokenizer, messages, generation_prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = render(tokenizer, messages[:i], generation_prompt=True)
        through = render(tokenizer, messages[: i + 1], generation_prompt=False)
        content_at = len(prefix)
        if not (full.startswith(through) and through.startswith(prefix) and through[content_at:].startswith(message["content"])):
            raise DataError(
                "model.chat_template: the template does not render conversations as prefixes of each other "
                "(it rewrites earlier turns), so reply tokens cannot be located; use a template without that behaviour"
            )
        end = content_at + len(message["content"])
        spans.append((content_at, end + _end_of_turn(tokenizer, through[end:])))
    return full, spans


def tokenize_chat(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> Tokenized:
    text, spans = reply_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = []
    for token_id, (start, end) in zip(ids, offsets):
        in_reply = any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token_id if in_reply else IGNORE)
    truncated = len(ids) > max_length
    return Tokenized(ids[:max_length], labels[:max_length], truncated)


def tokenize_batch(batch: dict[str, list[Any]], tokenizer: Any, max_length: int) -> dict[str, list[Any]]:
    """datasets.map function over a batch of {"messages": [...]}."""
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "truncated": [], "n_tokens": [], "n_loss_tokens": []}
    for messages in batch["messages"]:
        tok = tokenize_chat(tokenizer, messages, max_length)
        out["input_ids"].append(tok.input_ids)
        out["labels"].append(tok.labels)
        out["truncated"].append(tok.truncated)
        out["n_tokens"].append(len(tok.input_ids))
        out["n_loss_tokens"].append(tok.loss_tokens)
    return out
