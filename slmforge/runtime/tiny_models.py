"""Tiny random Qwen2 / Llama models with a real (small) BPE tokenizer, built offline in about a second.

Like TRL's `trl-internal-testing/tiny-*` models, but made here since no hub is reachable: fast
unit tests and benchmarks exercise the same code paths as a real model.
"""

from __future__ import annotations

from pathlib import Path

from slmforge.runtime.models import CHATML_TEMPLATE

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Enough English for a BPE of a few hundred merges; ByteLevel keeps every other text encodable.
_TRAINING_TEXT = """\
A penny saved is a penny earned, but a penny found is a better story.
The early bird gets the worm, and the second mouse gets the cheese.
Don't count your chickens before they hatch; count the eggs in the basket instead.
A watched pot never boils, and a forgotten pot always burns.
You can lead a horse to water, but you can't make him drink the lemonade.
Tell me something about a tractor, a barn, a fence, a river, a kettle and a hammer.
What would a grumpy farmer say about the weather, the price of corn and the neighbor's goat?
How much does this cost to the nearest dollar? Price is $123.00 for the refrigerator.
Give me a recipe with flour, sugar, butter, eggs, milk, salt and two cups of water.
The quick brown fox jumps over the lazy dog while the cat sleeps by the warm stove.
0 1 2 3 4 5 6 7 8 9 10 100 1000 $ . , ! ? ' " : ; ( ) - user assistant system
"""


def build_tokenizer(vocab_size: int = 512):
    """Train a byte-level BPE on the text above and wrap it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TRAINING_TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


# Qwen2.5-0.5B's shape (its config.json): the GPU check trains a random model of this size, no hub needed.
QWEN25_05B_SHAPE = dict(hidden_size=896, intermediate_size=4864, layers=24, num_attention_heads=14, num_key_value_heads=2,
                        vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6)


def build_tiny_model(out_dir: Path, arch: str = "qwen2", hidden_size: int = 64, layers: int = 2, seed: int = 0, **config: object) -> Path:
    """Write a tiny random model + tokenizer to out_dir (a plain transformers directory).

    `config` overrides any config field, e.g. `**QWEN25_05B_SHAPE` for a 0.5B model: its vocab_size may exceed the
    tokenizer's (every tokenizer id fits in the embedding; the rows beyond are never a prompt token)."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig, Qwen2Config

    tokenizer = build_tokenizer()
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    common.update(config)
    if arch == "qwen2":
        config = Qwen2Config(**common)
    elif arch == "llama":
        config = LlamaConfig(**common)
    else:
        raise ValueError(f"tiny models exist for qwen2 and llama, not {arch}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id).save_pretrained(out_dir)
    return out_dir
