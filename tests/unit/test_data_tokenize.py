"""Masking: the tokens that carry loss are exactly each reply plus its end-of-turn token."""

from __future__ import annotations

import pytest

from slmforge.core.errors import DataError
from slmforge.core.sections import ModelSection
from slmforge.runtime.models import load_tokenizer
from slmforge.runtime.prompts import IGNORE, tokenize_chat

PAIR = [{"role": "user", "content": "Tell me about a tractor."}, {"role": "assistant", "content": "A tractor without fuel is just a mighty big chair."}]
MULTI = [
    {"role": "system", "content": "Be folksy."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Howdy, partner!"},
    {"role": "user", "content": "Ünïcode 🚜?"},
    {"role": "assistant", "content": "Sure thing 🚜, friend."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen2):
    return load_tokenizer(ModelSection(id=str(tiny_qwen2)))


def loss_text(tokenizer, messages, max_length=512):
    tok = tokenize_chat(tokenizer, messages, max_length)
    return tokenizer.decode([t for t in tok.labels if t != IGNORE]), tok


def test_unmasked_labels_decode_to_reply_plus_end_token(tokenizer):
    text, _ = loss_text(tokenizer, PAIR)
    assert text == PAIR[1]["content"] + "<|im_end|>"


def test_every_assistant_turn_carries_loss_and_nothing_else(tokenizer):
    text, _ = loss_text(tokenizer, MULTI)
    assert text == "Howdy, partner!<|im_end|>Sure thing 🚜, friend.<|im_end|>"


def test_ids_match_the_chat_template_used_at_inference(tokenizer):
    _, tok = loss_text(tokenizer, PAIR)
    prompt_ids = list(tokenizer.apply_chat_template(PAIR[:1], add_generation_prompt=True, tokenize=True)["input_ids"])
    assert tok.input_ids[: len(prompt_ids)] == prompt_ids
    assert all(label == IGNORE for label in tok.labels[: len(prompt_ids)])


def test_truncation_is_flagged_and_cuts_labels_too(tokenizer):
    _, full = loss_text(tokenizer, PAIR)
    tok = tokenize_chat(tokenizer, PAIR, max_length=len(full.input_ids) - 3)
    assert tok.truncated and len(tok.input_ids) == len(tok.labels) == len(full.input_ids) - 3
    assert not tokenize_chat(tokenizer, PAIR, max_length=512).truncated


def test_template_without_end_of_turn_is_refused(tokenizer):
    tokenizer = load_tokenizer(ModelSection(id=str(tokenizer.name_or_path), chat_template="{% for m in messages %}{{ m['content'] }}\n{% endfor %}"))
    with pytest.raises(DataError, match="no end-of-turn token follows the assistant reply"):
        tokenize_chat(tokenizer, PAIR, 512)


@pytest.mark.slow
def test_embedded_model_masking(embedded_dir):
    tokenizer = load_tokenizer(ModelSection(id="embedded:smollm2-135m"))
    tok = tokenize_chat(tokenizer, PAIR, 512)
    assert tokenizer.decode([t for t in tok.labels if t != IGNORE]) == PAIR[1]["content"] + "<|im_end|>"
    # SmolLM2's template adds a default system prompt: it must carry no loss.
    assert "You are a helpful AI assistant" in tokenizer.decode(tok.input_ids)
