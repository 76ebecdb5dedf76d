"""Load each export back with a real reader and compare it with the merged model on fixed prompts.

Bounds we hold (measured in tests/unit/test_export_gguf.py and on SmolLM2-135M):
- merged safetensors: logits identical up to float32 noise (max |Δ| ≤ 1e-4).
- GGUF F16 / BF16: max |Δlogit| ≤ 2 % of the largest |logit| on the prompts (F16 rounding of
  weights; measured 0.02 % on tiny models, 0.13–0.6 % on SmolLM2-135M). Top-1 agreement is
  reported but not a bar: a trained model has near-ties that a 0.05-logit F16 difference flips
  (folksy-quick: 98.5 % top-1 at 0.13 % max difference), so the logit bound is the honest test.
- GGUF Q8_0: next-token top-1 agreement ≥ 95 % of positions (the issue's bar).
- GGUF Q4_0: top-1 agreement ≥ 80 % (4-bit weights change some near-ties; reported, not hidden).
The GGUF tokenizer, rebuilt by transformers' GGUF loader, must encode every probe text to the
same ids and keep the chat template and eos token.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slmforge.runtime.prompts import render

# Fixed probes: plain text, digits, punctuation, and chat-formatted conversations (special tokens).
PROBE_TEXTS = [
    "A penny saved is a penny earned.",
    "How much does this cost to the nearest dollar? Price is $1,234.56 for 2 items.",
    "  leading spaces, tabs\tand\nnew lines; don't stop!",
]
PROBE_CHATS = [
    [{"role": "user", "content": "Tell me something a grumpy farmer would say about the weather."}],
    [{"role": "system", "content": "You answer in one sentence."},
     {"role": "user", "content": "Give me a recipe with flour, sugar and two eggs."}],
    [{"role": "user", "content": "What is 12 + 30?"}, {"role": "assistant", "content": "42."},
     {"role": "user", "content": "And the price of a watched pot?"}],
]
# Continuations appended to the chat prompts so logits cover reply tokens too.
CONTINUATIONS = ["Well, the early bird gets the worm", "Mix the flour and the sugar, then", "A watched pot costs"]

TOP1_BOUND = {"q8_0": 0.95, "q4_0": 0.80}  # F16/BF16 are held to REL_LOGIT_BOUND instead
REL_LOGIT_BOUND = {"f16": 0.02, "bf16": 0.05}  # max |Δ| / max |logit|
MERGED_ABS_BOUND = 1e-4


@dataclass
class Check:
    """One export compared with the reference (the merged model in memory)."""

    file: str
    kind: str  # merged | f16 | bf16 | q8_0 | q4_0
    max_abs_diff: float
    rel_diff: float  # max |Δ| / max |logit|
    top1_agreement: float
    positions: int
    tokenizer_ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    crashed: str | None = None  # llama.cpp died checking this file: reported, but the export itself is not at fault

    @property
    def passed(self) -> bool:
        return not self.problems


def probe_prompts(tokenizer: Any) -> list[str]:
    texts = list(PROBE_TEXTS)
    if getattr(tokenizer, "chat_template", None):
        for chat, cont in zip(PROBE_CHATS, CONTINUATIONS):
            texts.append(render(tokenizer, chat, generation_prompt=True) + cont)
    return texts


def _logits(model: Any, tokenizer: Any, texts: list[str]) -> list[Any]:
    import torch

    out = []
    with torch.no_grad():
        for text in texts:  # one at a time: no padding to confuse position-by-position comparison
            ids = tokenizer(text, return_tensors="pt").input_ids
            out.append(model(ids).logits[0].float())
    return out


def compare_logits(reference: list[Any], candidate: list[Any]) -> tuple[float, float, float, int]:
    """(max |Δ|, max |Δ| / max |logit|, top-1 agreement, positions) over all probe positions."""
    import torch

    ref, cand = torch.cat(reference), torch.cat(candidate)
    diff = (ref - cand).abs().max().item()
    scale = max(ref.abs().max().item(), 1e-6)
    agree = (ref.argmax(-1) == cand.argmax(-1)).float().mean().item()
    return diff, diff / scale, agree, ref.shape[0]


def check_tokenizer(original: Any, rebuilt: Any, texts: list[str]) -> list[str]:
    """What differs between the tokenizer we exported and the one a reader rebuilds from the file."""
    problems = []
    for text in texts:
        if original(text).input_ids != rebuilt(text).input_ids:
            problems.append(f"tokenizer encodes {text[:40]!r} to other ids")
            break
    if (original.chat_template or None) != (getattr(rebuilt, "chat_template", None) or None):
        problems.append("chat template differs")
    if original.eos_token != rebuilt.eos_token:
        problems.append(f"eos token differs ({original.eos_token!r} vs {rebuilt.eos_token!r})")
    return problems


def verify_merged(merged_dir: Path, reference_logits: list[Any], tokenizer: Any, texts: list[str]) -> Check:
    """Load export/merged with plain transformers (as a user would) and compare."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    loaded_tok = AutoTokenizer.from_pretrained(merged_dir)
    diff, rel, agree, n = compare_logits(reference_logits, _logits(model, tokenizer, texts))
    check = Check(str(merged_dir.name), "merged", diff, rel, agree, n)
    check.problems += check_tokenizer(tokenizer, loaded_tok, texts)
    check.tokenizer_ok = not check.problems
    if diff > MERGED_ABS_BOUND:
        check.problems.append(f"logits differ by {diff:.2e} > {MERGED_ABS_BOUND:.0e}")
    return check


def verify_gguf(path: Path, quant: str, reference_logits: list[Any], tokenizer: Any, texts: list[str]) -> Check:
    """Load a GGUF with transformers' GGUF loader (model and tokenizer) and compare."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    rebuilt = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    # Logits from the exported tokenizer's ids: a tokenizer mismatch is reported on its own line.
    diff, rel, agree, n = compare_logits(reference_logits, _logits(model, tokenizer, texts))
    check = Check(path.name, quant, diff, rel, agree, n)
    tok_problems = check_tokenizer(tokenizer, rebuilt, texts)
    check.tokenizer_ok = not tok_problems
    check.problems += tok_problems
    if quant in TOP1_BOUND and agree < TOP1_BOUND[quant]:
        check.problems.append(f"top-1 agreement {agree:.1%} < {TOP1_BOUND[quant]:.0%}")
    if quant in REL_LOGIT_BOUND and rel > REL_LOGIT_BOUND[quant]:
        check.problems.append(f"max logit difference {rel:.2%} of the logit scale > {REL_LOGIT_BOUND[quant]:.0%}")
    return check


def reference_logits(model: Any, tokenizer: Any) -> tuple[list[str], list[Any]]:
    texts = probe_prompts(tokenizer)
    return texts, _logits(model, tokenizer, texts)


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {
        "bounds": {"merged_max_abs_diff": MERGED_ABS_BOUND, "rel_logit_diff": REL_LOGIT_BOUND, "top1_agreement": TOP1_BOUND},
        "passed": all(c.passed for c in checks),
        "checks": [asdict(c) | {"passed": c.passed} for c in checks],
    }


def verify_llamacpp(path: Path, model: Any, tokenizer: Any, n: int = 20) -> Check:
    """Greedy generation in llama.cpp matches transformers (the merged model) for the first n tokens."""
    from slmforge.runtime import llamacpp
    from slmforge.runtime.generation import Sampling, generate_ids

    text = probe_prompts(tokenizer)[-1]
    ids = tokenizer(text).input_ids
    want = generate_ids(model, tokenizer, [ids], Sampling(n, batch_size=1)).tokens[0]
    try:
        got = llamacpp.greedy(path, [ids], n).tokens[0]
    except llamacpp.LlamaCppCrashed as exc:
        return Check(f"{path.name} (llama.cpp)", "llamacpp", 0.0, 0.0, 0.0, 0, crashed=str(exc))
    same = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    check = Check(f"{path.name} (llama.cpp)", "llamacpp", 0.0, 0.0, same / max(len(want), 1), len(want))
    if got[: len(want)] != want:
        check.problems.append(f"llama.cpp greedy tokens differ from transformers at token {same + 1} of {len(want)}")
    return check
