"""`slmforge plan`: memory and time of a training run from the model's config alone (no weights loaded).

Estimates, in bytes: weights, gradients, optimizer states, activations, logits/loss and framework
overhead, for full / lora / qlora at the recipe's batch and length. The activation count is per
token per layer (inputs of every matmul and norm a decoder layer saves for backward), so it is a
model, not a measurement: the test checks it against the plan this project came from
(Qwen2.5-0.5B full, bf16 weights/grads, fp32 AdamW, batch 32 × 128, TRL's default gradient
checkpointing, full fp32 logits → 7–10 GB).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from slmforge.errors import ModelError
from slmforge.recipe import Recipe

GB = 1024**3


@dataclass(frozen=True)
class Arch:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    @property
    def linear_params(self) -> int:
        per_layer = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_dim + 3 * self.hidden * self.intermediate
        return per_layer * self.layers

    @property
    def params(self) -> int:
        embed = self.vocab * self.hidden * (1 if self.tied else 2)
        return self.linear_params + embed + (2 * self.layers + 1) * self.hidden

    def lora_params(self, r: int) -> int:
        """Adapter parameters with every linear layer adapted (A: in × r, B: r × out)."""
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        per_layer = r * ((h + h) * 2 + (h + kv) * 2 + (h + i) * 3)
        return per_layer * self.layers


# The few numbers planning needs, for offline use (from each model's config.json).
KNOWN: dict[str, Arch] = {
    "Qwen/Qwen2.5-0.5B": Arch(896, 4864, 24, 14, 2, 151936, True),
    "Qwen/Qwen2.5-1.5B": Arch(1536, 8960, 28, 12, 2, 151936, True),
    "Qwen/Qwen2.5-3B": Arch(2048, 11008, 36, 16, 2, 151936, True),
    "Qwen/Qwen2.5-7B": Arch(3584, 18944, 28, 28, 4, 152064, False),
    "Qwen/Qwen2.5-14B": Arch(5120, 13824, 48, 40, 8, 152064, False),
    "Qwen/Qwen2.5-32B": Arch(5120, 27648, 64, 40, 8, 152064, False),
    "embedded:smollm2-135m": Arch(576, 1536, 30, 9, 3, 49152, True),
}

# Resident memory of a process with torch + transformers + trl + datasets imported, measured on
# the dev machine (CPU), and CUDA context + allocator slack on a GPU.
CPU_OVERHEAD = 0.6 * GB
CUDA_OVERHEAD = 0.8 * GB


def arch_for(model_id: str) -> Arch:
    base = model_id.removesuffix("-Instruct")
    if base in KNOWN:
        return KNOWN[base]
    config = Path(model_id) / "config.json"
    if not config.is_file():
        raise ModelError(f"model.id: {model_id}: no config.json to plan from; known offline: {', '.join(KNOWN)}")
    c = json.loads(config.read_text(encoding="utf-8"))
    c = c.get("text_config", c)
    return Arch(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"],
                c.get("num_key_value_heads", c["num_attention_heads"]), c["vocab_size"], bool(c.get("tie_word_embeddings", False)))


@dataclass(frozen=True)
class Memory:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    overhead: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead


def activation_elements_per_token_layer(a: Arch) -> int:
    """Saved-for-backward elements per token per decoder layer (norm in/out, q/k/v/rope, attn out, SwiGLU)."""
    return 9 * a.hidden + 3 * a.kv_dim + 4 * a.intermediate


def estimate(a: Arch, method: str, batch: int, length: int, *, weight_bytes: float = 4, grad_bytes: float = 4,
             optim_bytes: float = 8, act_bytes: float = 4, checkpointing: bool = False, fused_loss: bool = True,
             lora_r: int = 16, cuda: bool = False) -> Memory:
    """Peak training memory (bytes) of one method. Defaults: our CPU trainer (fp32 master weights, fused loss)."""
    tokens = batch * length
    if method == "full":
        trainable, weights = a.params, a.params * weight_bytes
    elif method == "lora":
        trainable, weights = a.lora_params(lora_r), a.params * weight_bytes
    else:  # qlora: NF4 linears (0.5 B + double-quantized constants), embeddings in bf16, fp32 adapters
        trainable = a.lora_params(lora_r)
        weights = a.linear_params * 0.516 + (a.params - a.linear_params) * 2
    if method != "full":
        weights += trainable * 4
        grad_bytes, optim_bytes = 4, 8
    per_layer = activation_elements_per_token_layer(a) * act_bytes
    if checkpointing:  # layer inputs kept, one layer recomputed at a time
        activations = tokens * (a.layers * a.hidden * act_bytes + per_layer)
    else:
        activations = tokens * a.layers * per_layer
    if method != "full":  # adapters save their dropout'd input and the r-wide projection per linear
        activations += tokens * a.layers * (7 * a.hidden + 2 * a.intermediate) * act_bytes * (0 if checkpointing else 1)
    # Fused loss: TRL scores the LM head in tiles; plain: the full fp32 logits of the batch.
    logits = (min(tokens, 4096) * 32768 * 4 * 2) if fused_loss else tokens * a.vocab * 4
    # On CPU the process's peak also holds a second copy of the weights while from_pretrained loads them
    # (calibrated: embedded SmolLM2 LoRA measured 3.2 GB peak RSS, 1.9 GB without this term).
    overhead = CUDA_OVERHEAD if cuda else CPU_OVERHEAD + a.params * weight_bytes
    return Memory(weights, trainable * grad_bytes, trainable * optim_bytes, activations, logits, overhead)


def available_memory(cuda: bool) -> float:
    if cuda:
        import torch

        return float(torch.cuda.get_device_properties(0).total_memory)
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def print_plan(recipe: Recipe, runs: Path, console: Console | None = None) -> dict[str, Memory]:
    """Print the memory table and time per epoch for the recipe; returns the estimates by method."""
    import torch

    console = console or Console()
    cuda = torch.cuda.is_available()
    a = arch_for(recipe.model.id)
    t = recipe.train
    length, batch = recipe.data.max_length, t.batch_size
    plans = {m: estimate(a, m, batch, length, checkpointing=t.gradient_checkpointing, lora_r=t.lora.r, cuda=cuda) for m in ("full", "lora", "qlora")}
    have = available_memory(cuda)
    table = Table(title=f"{recipe.model.id}: {a.params / 1e6:,.0f}M parameters · batch {batch} × length {length} · "
                        f"{'CUDA' if cuda else 'CPU'} {have / GB:.0f} GiB")
    table.add_column("GiB")
    for m in plans:
        table.add_column(m, justify="right")
    for part in ("weights", "gradients", "optimizer", "activations", "logits", "overhead", "total"):
        table.add_row(part, *(f"{getattr(p, part) / GB:.2f}" for p in plans.values()), style="bold" if part == "total" else None)
    fits = ["yes" if p.total < 0.9 * have and (cuda or m != "qlora") else ("needs CUDA" if m == "qlora" else "no") for m, p in plans.items()]
    table.add_row("fits here", *fits)
    console.print(table)
    tokens = _dataset_tokens(recipe, runs)
    if tokens:
        from slmforge.train.precision import matmul_flops

        flops_s = 0.3 * (max(matmul_flops(torch.float32), matmul_flops(torch.bfloat16)) if not cuda else 4e14)
        trainable_share = {m: 6 if m == "full" else 4 for m in plans}  # LoRA skips the weight gradients (~2/3)
        line = ", ".join(f"{m} ~{trainable_share[m] * a.params * tokens / flops_s / 60:,.0f} min" for m in plans if cuda or m != "qlora")
        console.print(f"time per epoch ({tokens:,} tokens, at 30 % of measured matmul peak): {line}")
    else:
        console.print("time per epoch: run `slmforge prepare` first (the token count comes from the prepared data)")
    return plans


def _dataset_tokens(recipe: Recipe, runs: Path) -> int | None:
    report = runs / recipe.name / "data" / "data_report.json"
    if not report.is_file():
        return None
    return json.loads(report.read_text(encoding="utf-8")).get("tokens", {}).get("train", {}).get("total_tokens")
