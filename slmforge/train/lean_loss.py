"""Cross entropy of the LM head over loss-bearing positions only, without full-batch logits (CPU).

Full logits are tokens × vocab: Qwen's 152K vocabulary at batch 32 × 128 is 2.5 GB in fp32, and
autograd keeps them, their softmax and their gradient alive at once. Liger's
FusedLinearCrossEntropy avoids that on CUDA only (Triton). TRL 1.x patches a chunked LM head into
SFTTrainer that also runs on CPU, but there it scores *every* position (prompt and pad too: it
keeps tile shapes fixed for compiled devices) and recomputes each tile in backward. On a CPU,
compute is the bound, so we (1) gather the positions whose next-token label carries loss and
project only those (a chat example's prompt is often half its tokens), and (2) compute the
gradient of each chunk in the same pass as its loss (grad of CE w.r.t. logits is softmax − onehot),
so each tile is multiplied three times instead of four and nothing vocab-sized outlives its chunk.
"""

from __future__ import annotations

from typing import Any

import torch

# Logit elements alive at once (one fp32 chunk and its softmax): 2**24 floats = 64 MB each.
_CHUNK_ELEMENTS = 2**24
IGNORE_INDEX = -100


class _LinearCrossEntropySum(torch.autograd.Function):
    """sum_i CE(hidden[i] @ weight.T, targets[i]); gradients computed chunk by chunk in forward."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        need_hidden, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # Under autocast the projection runs in the autocast dtype; the softmax and every sum in fp32.
        dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) else hidden.dtype
        w = weight.to(dtype)
        w32 = weight.float() if need_hidden else None
        grad_hidden = torch.zeros(hidden.shape, dtype=torch.float32, device=hidden.device) if need_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_weight else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk].to(dtype)
            t = targets[start : start + chunk]
            logits = (h @ w.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if need_hidden or need_weight:
                grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
                grad[torch.arange(len(t), device=t.device), t] -= 1.0
                if need_hidden:
                    grad_hidden[start : start + chunk] = grad @ w32
                if need_weight:
                    grad_weight.addmm_(grad.t(), h.float())
        ctx.save_for_backward(*(g for g in (grad_hidden, grad_weight) if g is not None))
        ctx.dtypes = (hidden.dtype, weight.dtype)
        ctx.has = (need_hidden, need_weight)
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        saved = iter(ctx.saved_tensors)
        # In place: a second weight-sized copy is exactly what this function exists to avoid.
        grad_hidden = next(saved).mul_(grad_out) if ctx.has[0] else None
        grad_weight = next(saved).mul_(grad_out) if ctx.has[1] else None
        return (
            grad_hidden.to(ctx.dtypes[0]) if grad_hidden is not None else None,
            grad_weight.to(ctx.dtypes[1]) if grad_weight is not None else None,
            None,
            None,
        )


def chunk_tokens(vocab_size: int) -> int:
    """Tokens per chunk so one chunk's logits hold about _CHUNK_ELEMENTS floats (≥ 32 for matmul efficiency)."""
    return max(32, _CHUNK_ELEMENTS // max(1, vocab_size))


def plain_head(causal_lm: Any) -> bool:
    """True when the model's logits are exactly hidden @ lm_head.weight.T (no bias, scale or softcap)."""
    head = causal_lm.get_output_embeddings()
    config = causal_lm.config.get_text_config()
    scaled = any(getattr(config, key, None) is not None for key in ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier", "lm_head_multiplier"))
    return head is not None and getattr(head, "bias", None) is None and not scaled


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int | None = None) -> tuple[torch.Tensor, int]:
    """Summed next-token cross entropy of `hidden @ weight.T` against `labels` shifted by one, and the
    number of positions that carried loss.

    hidden: [batch, seq, H] final hidden states; weight: [vocab, H] LM head; labels: [batch, seq] with
    -100 where no loss is taken (the model's own convention: position t predicts labels[t + 1]).
    """
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    picked = hidden[:, :-1][mask]
    # An all-masked batch gives an empty `picked`, still connected to the graph: a zero that backward() accepts.
    total = _LinearCrossEntropySum.apply(picked, weight, targets[mask], chunk or chunk_tokens(weight.shape[0]))
    return total, int(mask.sum())
