"""The preference view of `eval` and `report` when align is on: the SFT model before, the aligned model after.

On the align stage's held-out pairs (align/data/test.jsonl, never trained on):
  - chosen-over-rejected accuracy and the mean log-probability margin log p(chosen) − log p(rejected),
    for the SFT model and the aligned model;
  - the implicit DPO reward of the aligned model, beta × (its change of log p(chosen) − its change
    of log p(rejected)) against the SFT model, per pair: its mean and the share of pairs where it
    is positive (what DPO's loss pushes up; 0 for the SFT model by definition). The absolute
    accuracy above can stay put while this moves: a pair whose rejected reply is much longer
    keeps a large log-probability gap after a few hundred steps of DPO;
  - KL(aligned ‖ SFT): mean per-token KL over the reply tokens of the held-out *chosen* replies,
    each token's full next-token distributions compared (teacher-forced on the chosen text).
With a LoRA aligned model both sides come from one copy: the SFT model is the aligned one with
its adapter disabled. With a judge: judge means of both models' eval answers and the A/B win rate
of aligned against SFT (the judge stage writes judge/sft/summary.json and compare.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, read_json, write_json_atomic
from slmforge.runtime.prompts import prompt_and_reply_ids

SFT_SAMPLES = "sft_samples.jsonl"


def _ids(tokenizer: Any, prompt: list[dict[str, str]], reply: str) -> tuple[list[int], int]:
    """Token ids of prompt + reply (end of turn included) and where the reply starts, as pair_metrics renders them."""
    p, r = prompt_and_reply_ids(tokenizer, prompt, reply)
    return p + r, len(p)


def reply_kl(model: Any, reference: Callable[[Any, Any], Any], tokenizer: Any, rows: list[dict[str, Any]],
             batch_size: int = 8, max_length: int = 512) -> tuple[float, int]:
    """(mean per-token KL(model ‖ reference) over the chosen replies' tokens, tokens counted).

    `reference(input_ids, attention_mask)` returns the reference model's logits.
    """
    import torch

    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    model.eval()
    for start in range(0, len(rows), batch_size):
        seqs, begins = [], []
        for row in rows[start:start + batch_size]:
            ids, begin = _ids(tokenizer, row["messages"], row["chosen"])
            cut = max(0, len(ids) - max_length)
            seqs.append(ids[cut:])
            begins.append(max(1, begin - cut))
        width = max(len(s) for s in seqs)
        pad = tokenizer.pad_token_id or 0
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=input_ids, attention_mask=mask).logits.float(), -1)
            logq = torch.log_softmax(reference(input_ids, mask).float(), -1)
        kl = (logp.exp() * (logp - logq)).sum(-1)  # per position: KL of the next-token distributions
        for row, (seq, begin) in enumerate(zip(seqs, begins)):
            # Position t predicts token t+1: the reply's tokens are predicted from begin-1 to len-2.
            total += float(kl[row, begin - 1:len(seq) - 1].sum())
            tokens += len(seq) - begin
    return (total / tokens if tokens else float("nan")), tokens


def preference_view(recipe: Recipe, run: RunDir, model: Any, tokenizer: Any, console: Console) -> Path:
    """Score SFT and aligned on the held-out pairs into eval/preference.json; `model` is the loaded aligned model."""
    from slmforge.runtime.pair_metrics import PairScore, read_pairs, reply_logprobs

    p = recipe.train.pref
    rows = read_pairs(run.aligned().split_file("test"), p.eval_pairs)
    path = run.eval / "preference.json"
    if not rows:
        write_json_atomic(path, {"method": recipe.align.method, "held_out_pairs": 0,
                                 "note": "align/data/test.jsonl is empty; raise align.held_out or prefs.samples"})
        return path
    max_length = p.max_length or recipe.data.max_length
    batch = recipe.eval.batch_size
    peft = hasattr(model, "disable_adapter")  # a PeftModel: the SFT weights are under the adapter
    sft_model = None
    if not peft:  # full-weights alignment: the SFT model is a second copy, loaded only for this view
        from slmforge.runtime.placement import placement_of
        from slmforge.runtime.trained import load_final

        sft_model, _ = load_final(recipe, run, placement=placement_of(model), which="sft")
    prompts = [r["messages"] for r in rows]

    def logps(m: Any) -> tuple[list[float], list[float]]:
        return (reply_logprobs(m, tokenizer, prompts, [r["chosen"] for r in rows], batch, max_length),
                reply_logprobs(m, tokenizer, prompts, [r["rejected"] for r in rows], batch, max_length))

    def score(c: list[float], r: list[float]) -> PairScore:
        margins = [a - b for a, b in zip(c, r)]
        return PairScore(len(margins), sum(m > 0 for m in margins) / len(margins), sum(margins) / len(margins))

    with model.disable_adapter() if peft else nullcontext():
        c0, r0 = logps(sft_model or model)
    c1, r1 = logps(model)
    before, after = score(c0, r0), score(c1, r1)
    implicit = [p.beta * ((a1 - a0) - (b1 - b0)) for a0, b0, a1, b1 in zip(c0, r0, c1, r1)]

    def reference(input_ids: Any, mask: Any) -> Any:
        if sft_model is not None:
            return sft_model(input_ids=input_ids, attention_mask=mask).logits
        with model.disable_adapter():
            return model(input_ids=input_ids, attention_mask=mask).logits

    kl, kl_tokens = reply_kl(model, reference, tokenizer, rows, batch, max_length)
    trained = read_json(run.aligned().logs / "preference.json") or {}
    view = {
        "method": recipe.align.method, "held_out_pairs": len(rows), "held_out_file": str(run.aligned().split_file("test")),
        "sft": before.as_dict(), "aligned": after.as_dict(),
        "implicit_reward_margin": sum(implicit) / len(implicit),
        "implicit_reward_accuracy": sum(x > 0 for x in implicit) / len(implicit),
        "beta": p.beta,
        "kl_to_sft": {"mean_per_token": kl, "tokens": kl_tokens, "on": "held-out chosen replies"},
        "align_training": trained,
    }
    write_json_atomic(path, view)
    return path


def add_scorer_means(recipe: Recipe, run: RunDir, console: Console) -> None:
    """With a function scorer (prefs.scorer module:function): its mean over the SFT and aligned eval answers.

    The same prompts, greedy answers from both models: what the scorer DPO learned from says of each.
    A judge scorer is left to the judge stage (judge means and the A/B).
    """
    path = run.eval / "preference.json"
    view = read_json(path)
    if view is None or not view.get("held_out_pairs") or recipe.prefs.scorer == "judge" or recipe.prefs.source != "samples":
        return
    from slmforge.runtime.scorers import load_scorer

    scorer, _ = load_scorer(recipe)
    means: dict[str, Any] = {"scorer": recipe.prefs.scorer}
    for side, name in (("sft", SFT_SAMPLES), ("aligned", "samples.jsonl")):
        rows = [json.loads(x) for x in (run.eval / name).read_text(encoding="utf-8").splitlines() if x.strip()]
        scored = scorer([r["messages"] for r in rows], [[r["output"]] for r in rows])
        values = [k[0][0] for k in scored if k[0][0] is not None]
        means[side] = sum(values) / len(values) if values else None
        means[f"{side}_unscored"] = len(rows) - len(values)
    view["scorer_mean"] = means
    write_json_atomic(path, view)
