"""Output parity: greedy answers from every runtime the run produced, compared token for token
(or text for text where a runtime only returns text) with the reference, adapter + base.

A runtime that never stops while the reference does is the classic "babbles forever after
export" failure; a runtime that answers differently before then is a template, weight or merge
problem. The first divergence is shown either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.verify.checks import PromptCase, Row, first_difference


@dataclass
class Answer:
    tokens: list[int] | None  # None where the runtime returns text only (our HTTP server)
    text: str
    stopped: bool  # ended on a stop token before max tokens


def greedy_transformers(model: Any, tokenizer: Any, cases: list[PromptCase], max_new: int, stop_ids: set[int] | None) -> list[Answer]:
    """Greedy answers from the trained prompt ids, one prompt at a time (no padding, as a single user asks);
    stop_ids None = whatever the model's generation_config says (as a user gets it)."""
    from slmforge.runtime.generation import Sampling, generate_ids

    stops = stop_ids if stop_ids is not None else _config_stops(model)
    gens = generate_ids(model, tokenizer, [c.trained_ids for c in cases], Sampling(max_new, batch_size=1), stops=stops)
    return _answers(gens)


def _answers(gens: Any) -> list[Answer]:
    return [Answer(t, text, s) for t, text, s in zip(gens.tokens, gens.texts, gens.stopped)]


def _config_stops(model: Any) -> set[int]:
    from slmforge.verify.checks import stop_ids_in

    return stop_ids_in(getattr(model.generation_config, "eos_token_id", None))


def greedy_llamacpp(path: Path, cases: list[PromptCase], max_new: int) -> list[Answer]:
    """Greedy answers from llama.cpp on the trained prompt ids, stopping where llama.cpp stops."""
    from slmforge.runtime import llamacpp

    return _answers(llamacpp.greedy(path, [c.trained_ids for c in cases], max_new))


def greedy_server(model: Any, tokenizer: Any, cases: list[PromptCase], max_new: int) -> list[Answer]:
    """Greedy answers from our OpenAI-compatible server on loopback, asked with the real openai client."""
    import openai

    from slmforge.runtime.serve.app import build_app
    from slmforge.runtime.serve.engine import BatchingEngine
    from slmforge.runtime.serve.metrics import ServeMetrics
    from slmforge.runtime.serve.options import ServeOptions
    from slmforge.runtime.serve.server import ServerThread

    options = ServeOptions(port=0, cache_size=0)
    metrics = ServeMetrics()
    engine = BatchingEngine("parity", model, tokenizer, max_batch=1, batch_wait_ms=0, observer=metrics)
    answers = []
    with ServerThread(build_app({"parity": engine}, options, metrics), options) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=600)
        for case in cases:
            reply = client.chat.completions.create(model="parity", messages=case.messages, temperature=0, max_tokens=max_new)
            choice = reply.choices[0]
            answers.append(Answer(None, choice.message.content or "", choice.finish_reason == "stop"))
    return answers


def server_stop_ids(model: Any, tokenizer: Any) -> set[int]:
    from slmforge.runtime.generation import stop_ids

    return stop_ids(model, tokenizer)  # the serving engine's rule


def logit_gap(model: Any, case: PromptCase, prefix: list[int], a: int, b: int) -> float:
    """How far ahead token a is of token b in the reference model's logits after prompt + prefix."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([case.trained_ids + prefix])).logits[0, -1].float()
    return float(logits[a] - logits[b])


def compare_answers(runtime: str, cases: list[PromptCase], reference: list[Answer], got: list[Answer], max_new: int,
                    decode: Any, fix: str, tie: tuple[Any, float] | None = None) -> Row:
    """Token for token (text for text for the server) against the reference; stopping must agree.

    `tie` = (reference model, bound) for a file with rounded weights (GGUF F16): a divergence where
    the reference itself had the two tokens within `bound` logits of each other is a near-tie that
    the rounding may flip — reported, not failed; the answers after it are not compared.
    """
    stops = sum(a.stopped for a in reference)
    ties: list[str] = []
    for case, want, have in zip(cases, reference, got):
        if want.tokens is not None and have.tokens is not None:
            at = first_difference(want.tokens, have.tokens)
            if at is not None and tie is not None and at < len(want.tokens) and at < len(have.tokens):
                gap = logit_gap(tie[0], case, want.tokens[:at], want.tokens[at], have.tokens[at])
                if gap <= tie[1]:
                    ties.append(f"{case.name} at token {at} (gap {gap:.3f})")
                    continue
            if at is not None:
                return Row(runtime, "output", "failed",
                           f"{case.name}: token {at} differs: reference {want.tokens[at:at + 1]} {decode(want.tokens[at:at + 1])!r} vs "
                           f"{have.tokens[at:at + 1]} {decode(have.tokens[at:at + 1])!r} (after {decode(want.tokens[:at])[-40:]!r})", fix)
        elif want.text != have.text:
            at = first_difference(list(want.text), list(have.text)) or 0
            return Row(runtime, "output", "failed",
                       f"{case.name}: text differs at character {at}: reference {want.text[max(0, at - 20):at + 20]!r} vs "
                       f"{have.text[max(0, at - 20):at + 20]!r}", fix)
        if want.stopped != have.stopped:
            what = "ran to max tokens where the reference stopped" if want.stopped else "stopped where the reference did not"
            return Row(runtime, "output", "failed", f"{case.name}: {what} ({max_new} tokens)", fix)
    unit = "tokens" if got and got[0].tokens is not None else "text"
    same = len(cases) - len(ties)
    detail = (f"{same}/{len(cases)} greedy answers equal ({unit}, up to {max_new} tokens); stopped like the reference on "
              f"{stops} of {len(cases)}")
    if ties:
        detail += f"; {len(ties)} diverged at a near-tie within {tie[1]:.3f} logits (the file's rounding): {', '.join(ties)}"  # type: ignore[index]
    return Row(runtime, "output", "passed", detail)


def agreement(cases: list[PromptCase], reference: list[Answer], got: list[Answer]) -> tuple[int, int, str]:
    """(tokens agreeing before the first divergence, reference tokens, where it first diverged) — for
    quantized files, which are held to the export bound rather than to exact equality."""
    agree = total = 0
    first = ""
    for case, want, have in zip(cases, reference, got):
        at = first_difference(want.tokens or [], have.tokens or [])
        total += len(want.tokens or [])
        agree += len(want.tokens or []) if at is None else at
        if at is not None and not first:
            first = f"{case.name} at token {at}"
    return agree, total, first
