"""Batched vs one-at-a-time generation on the embedded SmolLM2-135M: tokens/s and their ratio.

    python bench/generation_throughput.py                    # 32 prompts, batch 32, 32 new tokens
    python bench/generation_throughput.py --prompts 16 --batch-size 16 --max-new-tokens 24

Both runs answer the same prompts greedily with the same code (slmforge.runtime.generation); the
only difference is the batch size. The floor the evaluation stage promises is 4x.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FLOOR = 4.0
TOPICS = ("a stubborn mule", "the price of corn", "a leaky roof", "a lazy dog", "rain in April", "a borrowed hammer",
          "the county fair", "a rusty tractor")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    args = parser.parse_args()

    from slmforge.core.sections import ModelSection
    from slmforge.runtime.generation import Sampling, generate
    from slmforge.runtime.models import load_model

    model, tokenizer = load_model(ModelSection(id="embedded:smollm2-135m"))
    model.to(args.device)
    conversations = [[{"role": "user", "content": f"Give me a short folksy saying about {TOPICS[i % len(TOPICS)]} (#{i})."}]
                     for i in range(args.prompts)]
    generate(model, tokenizer, conversations[:2], Sampling(max_new_tokens=4, batch_size=2))  # warm-up
    print(f"device {args.device} · {args.prompts} prompts · max_new_tokens {args.max_new_tokens} · greedy", flush=True)

    started = time.perf_counter()
    batched = generate(model, tokenizer, conversations, Sampling(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size))
    print(f"batched (batch {args.batch_size}): {sum(batched.new_tokens)} tokens in {batched.seconds:.1f}s = "
          f"{batched.tokens_per_s:.1f} tokens/s", flush=True)
    single = generate(model, tokenizer, conversations, Sampling(max_new_tokens=args.max_new_tokens, batch_size=1))
    print(f"one at a time:      {sum(single.new_tokens)} tokens in {single.seconds:.1f}s = {single.tokens_per_s:.1f} tokens/s")
    same = sum(a == b for a, b in zip(batched.texts, single.texts))
    ratio = batched.tokens_per_s / single.tokens_per_s
    print(f"identical answers: {same}/{len(conversations)} · wall {time.perf_counter() - started:.0f}s")
    print(f"batched / one-at-a-time throughput: {ratio:.1f}x (floor {FLOOR:g}x) {'OK' if ratio >= FLOOR else 'BELOW FLOOR'}")
    return 0 if ratio >= FLOOR else 1


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
