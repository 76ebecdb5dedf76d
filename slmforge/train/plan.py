"""`slmforge plan`: memory and time of a training run from the model's config alone (no weights loaded).

Estimates, in bytes: weights, gradients, optimizer states, activations, logits/loss and overhead,
for full / lora / qlora at the recipe's batch and length, plus what preference methods add (a
reference copy of the weights, GRPO's generation buffers); train/plan_scale.py spreads it over
GPUs (DDP, FSDP, ZeRO-3). The activation count is per token per layer (inputs of every matmul and
norm a decoder layer saves for backward), so it is a model, not a measurement. Checked against
the plan this project came from (Qwen2.5-0.5B full, bf16 weights/grads, fp32 AdamW, batch 32 ×
128, gradient checkpointing, full fp32 logits → 7–10 GB) and against measured CPU runs: `Memory.run`
(everything but the framework's import-time memory) vs the peak resident memory a fresh process
adds once it has imported its libraries (tests/unit/test_plan.py).
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
from slmforge.train.data import micro_batch_budget, micro_batches

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
# A plan fits when it needs at most this share of the memory: allocator fragmentation and the
# caching allocator's slack take the rest.
FIT_SHARE = 0.9


def arch_for(model_id: str) -> Arch:
    base = model_id.removesuffix("-Instruct")
    if base in KNOWN:
        return KNOWN[base]
    config = Path(model_id) / "config.json"
    if not config.is_file():
        raise ModelError(f"model.id: {model_id}: no config.json to plan from; known offline: {', '.join(KNOWN)}")
    return arch_from_config(json.loads(config.read_text(encoding="utf-8")))


def arch_from_config(c: dict) -> Arch:
    """The few numbers the planner needs, from a transformers config.json (or config.to_dict())."""
    c = c.get("text_config") or c
    return Arch(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"],
                c.get("num_key_value_heads", c["num_attention_heads"]), c["vocab_size"], bool(c.get("tie_word_embeddings", False)))


@dataclass(frozen=True)
class Memory:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    overhead: float  # framework (imports / CUDA context) + loading (CPU: the weight file's pages)
    reference: float = 0.0  # a frozen second copy of the weights (DPO / KTO with train.pref.adapter full)
    generation: float = 0.0  # GRPO: KV cache and logits of one group of sampled completions
    framework: float = 0.0  # the part of `overhead` present before any model loads (imports, CUDA context)

    @property
    def total(self) -> float:
        return (self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead
                + self.reference + self.generation)

    @property
    def run(self) -> float:
        """What loading and training add to a process that has imported its libraries (comparable to a measured delta)."""
        return self.total - self.framework


@dataclass(frozen=True)
class Extras:
    """What a preference method holds beyond its base method (full / lora / qlora) at the same batch."""

    sequences: int = 1  # sequences per example through the model: 2 when chosen and rejected go together
    reference: bool = False  # a frozen reference copy of the weights
    lm_head: bool = True  # False: a reward model's 1-wide score head replaces the vocabulary head (no logits)
    generated_tokens: int = 0  # GRPO: num_generations × (prompt + max_completion_length), all in the KV cache
    scored_tokens: int = 0  # GRPO: num_generations × max_completion_length, whose logits give log-probs


# chosen and rejected go through the model in one concatenated batch (TRL's DPO, ORPO and reward trainers).
PAIRED = ("dpo", "orpo", "reward")
# TRL's default group size and completion cap (GRPOConfig) when the recipe does not set them.
GRPO_DEFAULT_GENERATIONS, GRPO_DEFAULT_COMPLETION = 8, 512


def extras_for(method: str, adapter: str, prompt_length: int = 0, num_generations: int = GRPO_DEFAULT_GENERATIONS,
               completion_length: int = GRPO_DEFAULT_COMPLETION, grpo_beta: float = 0.0) -> Extras:
    """The memory a preference method adds. DPO and KTO compare against a reference model: with a LoRA
    adapter that is the frozen base (peft disables the adapter), with full weights a second copy. ORPO
    and reward models have no reference; GRPO has one only when its KL weight beta > 0 (TRL's default 0)."""
    if method not in ("dpo", "orpo", "kto", "reward", "grpo"):
        return Extras()
    reference = adapter == "full" and (method in ("dpo", "kto") or (method == "grpo" and grpo_beta > 0))
    if method == "grpo":
        return Extras(reference=reference, generated_tokens=num_generations * (prompt_length + completion_length),
                      scored_tokens=num_generations * completion_length)
    return Extras(sequences=2 if method in PAIRED else 1, reference=reference, lm_head=method != "reward")


def activation_elements_per_token_layer(a: Arch) -> int:
    """Saved-for-backward elements per token per decoder layer (norm in/out, q/k/v/rope, attn out, SwiGLU)."""
    return 9 * a.hidden + 3 * a.kv_dim + 4 * a.intermediate


def activation_bytes_per_token(a: Arch, act_bytes: float = 4) -> float:
    """What one token of a forward pass saves for backward, all layers (sizes train.micro_batch_tokens: auto)."""
    return activation_elements_per_token_layer(a) * a.layers * act_bytes


def micro_budget(recipe: Recipe, a: Arch, cuda: bool, act_bytes: float | None = None) -> int | None:
    """Tokens per forward pass the SFT trainer allows for this model (train.micro_batch_tokens; None: no split).

    `act_bytes`: the training precision's bytes per activation when known (the trainer), else the recipe's guess."""
    per_token = activation_bytes_per_token(a, act_bytes if act_bytes is not None else activation_bytes(recipe, cuda))
    return micro_batch_budget(recipe, cuda, per_token)


# Our CPU loss (train/lean_loss.py) keeps one chunk of at most 2**24 fp32 logits alive at a time.
LEAN_LOSS_CHUNK = 2**24


def estimate(a: Arch, method: str, batch: int, length: int, *, weight_bytes: float = 4, grad_bytes: float = 4,
             optim_bytes: float = 8, act_bytes: float = 4, checkpointing: bool = False, fused_loss: bool = True,
             lora_r: int = 16, lora_dropout: float = 0.0, micro_tokens: int | None = None, cuda: bool = False,
             extras: Extras = Extras()) -> Memory:
    """Peak training memory (bytes) of one method (full | lora | qlora) plus a preference method's extras.

    Defaults: our trainer (fp32 master weights, fused/lean loss). On CPU that loss is train/lean_loss.py
    (one chunk of logits), on CUDA TRL's fused head (tiles of 4096 tokens × 32768 columns).
    `micro_tokens`: the SFT trainer's micro-batch budget (train.micro_batch_tokens): activations and
    logits are held for one micro-batch of rows at a time."""
    rows = micro_batches(batch, length, micro_tokens).rows if micro_tokens else batch
    tokens = rows * length * extras.sequences
    # A reward model swaps the vocabulary head (untied models: vocab × hidden weights) for a hidden × 1 score head.
    head_delta = 0 if extras.lm_head else a.hidden - (0 if a.tied else a.vocab * a.hidden)
    params = a.params + head_delta
    if method == "full":
        trainable, weights = params, params * weight_bytes
    elif method == "lora":
        trainable, weights = a.lora_params(lora_r), params * weight_bytes
    else:  # qlora: NF4 linears (0.5 B + double-quantized constants), embeddings in bf16, fp32 adapters
        trainable = a.lora_params(lora_r)
        weights = a.linear_params * 0.516 + (params - a.linear_params) * 2
    if method != "full":
        trainable += 0 if extras.lm_head else a.hidden  # the new score head trains in full beside the adapter
        weights += trainable * 4
        grad_bytes, optim_bytes = 4, 8
    per_layer = activation_elements_per_token_layer(a) * act_bytes
    if checkpointing:  # layer inputs kept, one layer recomputed at a time
        activations = tokens * (a.layers * a.hidden * act_bytes + per_layer)
    else:
        activations = tokens * a.layers * per_layer
    if method != "full" and lora_dropout > 0 and not checkpointing:
        # with dropout each adapter saves its own dropped copy of the layer's input (without, it shares the layer's)
        activations += tokens * a.layers * (7 * a.hidden + 2 * a.intermediate) * act_bytes
    if not extras.lm_head:
        logits = tokens * a.hidden * 4  # one score per sequence: only the gradient of the last hidden states
    elif not fused_loss:
        logits = tokens * a.vocab * 4
    elif cuda:
        logits = min(tokens, 4096) * min(a.vocab, 32768) * 4 * 2
    else:  # one chunk of fp32 logits (softmax in place), the hidden-state gradient, and full FT's head gradient
        logits = min(tokens * a.vocab, LEAN_LOSS_CHUNK) * 4 + tokens * a.hidden * 4 + (a.vocab * a.hidden * 4 if method == "full" else 0)
    reference = params * weight_bytes if extras.reference else 0.0
    # GRPO samples a group of completions first: their KV cache (K and V per layer) and the fp32 logits of
    # the completion tokens (log-probabilities of the policy, and of the reference when there is one).
    generation = (extras.generated_tokens * a.layers * 2 * a.kv_dim * act_bytes
                  + extras.scored_tokens * a.vocab * 4 * (2 if extras.reference else 1))
    # On CPU the weight file is memory-mapped: its pages stay resident beside the trained copy
    # (calibrated: embedded SmolLM2 LoRA measured 3.2 GB peak RSS, 1.9 GB without this term).
    framework = CUDA_OVERHEAD if cuda else CPU_OVERHEAD
    overhead = framework + (0 if cuda else params * weight_bytes)
    return Memory(weights, trainable * grad_bytes, trainable * optim_bytes, activations, logits, overhead, reference,
                  generation, framework)


def available_memory(cuda: bool) -> float:
    if cuda:
        import torch

        return float(torch.cuda.get_device_properties(0).total_memory)
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


SFT_COLUMNS = ("full", "lora", "qlora")


def activation_bytes(recipe: Recipe, cuda: bool) -> int:
    """bf16/fp16 autocast saves half-width activations; our CPU trainer picks fp32 on auto (bf16 is slower on most CPUs)."""
    p = recipe.train.precision
    return 4 if p == "fp32" or (p == "auto" and not cuda) else 2


def grpo_settings(recipe: Recipe) -> tuple[int, int, int, float]:
    """(prompt tokens, num_generations, max_completion_length, beta) of a GRPO recipe."""
    g = recipe.train.grpo
    return recipe.data.max_length, g.num_generations, g.max_completion_length, g.beta


def job_length(recipe: Recipe) -> int:
    """Tokens per training sequence: train.pref.max_length for preference pairs, prompt + completion for GRPO."""
    if recipe.train.method == "grpo":
        prompt, _, completion, _ = grpo_settings(recipe)
        return prompt + completion
    if recipe.train.method in ("dpo", "orpo", "kto", "reward"):
        return recipe.train.pref.max_length or recipe.data.max_length
    return recipe.data.max_length


def recipe_estimate(recipe: Recipe, a: Arch, method: str, batch: int, cuda: bool) -> Memory:
    """Memory of the recipe's job trained with `method` (full | lora | qlora) at `batch` examples per device."""
    t = recipe.train
    length = job_length(recipe)
    extras = Extras()
    if t.method in ("dpo", "orpo", "kto", "reward"):
        extras = extras_for(t.method, method)
    elif t.method == "grpo":
        prompt, generations, completion, beta = grpo_settings(recipe)
        extras = extras_for("grpo", method, prompt, generations, completion, beta)
    sft = t.method in SFT_COLUMNS  # the SFT trainer splits steps into micro-batches; the preference trainers do not
    return estimate(a, method, batch, length, act_bytes=activation_bytes(recipe, cuda), checkpointing=t.gradient_checkpointing,
                    lora_r=t.lora.r, lora_dropout=t.lora.dropout,
                    micro_tokens=micro_budget(recipe, a, cuda) if sft else None,
                    cuda=cuda, extras=extras)


def recipe_method(recipe: Recipe) -> str:
    """How the recipe trains its weights: train.method for SFT, train.pref.adapter for preference methods."""
    return recipe.train.method if recipe.train.method in SFT_COLUMNS else recipe.train.pref.adapter


def memory_plans(recipe: Recipe, a: Arch, cuda: bool) -> dict[str, Memory]:
    """The table's columns: full / lora / qlora for SFT, the adapter choices (lora, full) of a preference method."""
    t = recipe.train
    if t.method in SFT_COLUMNS:
        return {m: recipe_estimate(recipe, a, m, t.batch_size, cuda) for m in SFT_COLUMNS}
    return {f"{t.method} · {m}": recipe_estimate(recipe, a, m, t.batch_size, cuda) for m in ("lora", "full")}


def fits_here(column: str, memory: Memory, have: float, cuda: bool) -> str:
    """The table's "fits here" cell: yes, no, or needs CUDA (bitsandbytes' 4-bit training is a GPU path here)."""
    if memory.total < FIT_SHARE * have and (cuda or "qlora" not in column):
        return "yes"
    return "needs CUDA" if "qlora" in column else "no"


def print_plan(recipe: Recipe, runs: Path, console: Console | None = None, gpu_memory: str | None = None) -> dict[str, Memory]:
    """Print the memory table, per-GPU memory across GPU counts and time per epoch; returns the estimates by column."""
    import torch

    from slmforge.train.plan_scale import print_scale_out

    console = console or Console()
    cuda = torch.cuda.is_available()
    a = arch_for(recipe.model.id)
    t = recipe.train
    length, batch = job_length(recipe), t.batch_size
    plans = memory_plans(recipe, a, cuda)
    have = available_memory(cuda)
    micro = micro_batches(batch, length, micro_budget(recipe, a, cuda)) if t.method in SFT_COLUMNS else None
    per_forward = f" (micro-batches of {micro.rows} × {micro.splits})" if micro and micro.splits > 1 else ""
    table = Table(title=f"{recipe.model.id}: {a.params / 1e6:,.0f}M parameters · batch {batch}{per_forward} × length {length} · "
                        f"{'CUDA' if cuda else 'CPU'} {have / GB:.0f} GiB")
    table.add_column("GiB")
    for m in plans:
        table.add_column(m, justify="right")
    parts = ["weights", "gradients", "optimizer", "activations", "logits", "overhead"]
    parts += [p for p in ("reference", "generation") if any(getattr(m, p) for m in plans.values())]
    for part in (*parts, "total"):
        table.add_row(part, *(f"{getattr(p, part) / GB:.2f}" for p in plans.values()), style="bold" if part == "total" else None)
    table.add_row("fits here", *(fits_here(m, p, have, cuda) for m, p in plans.items()))
    console.print(table)
    print_scale_out(recipe, a, gpu_memory, console)
    tokens = _dataset_tokens(recipe, runs)
    if tokens:
        from slmforge.train.precision import matmul_flops

        flops_s = 0.3 * (max(matmul_flops(torch.float32), matmul_flops(torch.bfloat16)) if not cuda else 4e14)
        trainable_share = {m: 6 if m.endswith("full") else 4 for m in plans}  # LoRA skips the weight gradients (~2/3)
        line = ", ".join(f"{m} ~{trainable_share[m] * a.params * tokens / flops_s / 60:,.0f} min" for m in plans if cuda or "qlora" not in m)
        console.print(f"time per epoch ({tokens:,} tokens, at 30 % of measured matmul peak): {line}")
    else:
        console.print("time per epoch: run `slmforge prepare` first (the token count comes from the prepared data)")
    return plans


def _dataset_tokens(recipe: Recipe, runs: Path) -> int | None:
    report = runs / recipe.name / "data" / "data_report.json"
    if not report.is_file():
        return None
    return json.loads(report.read_text(encoding="utf-8")).get("tokens", {}).get("train", {}).get("total_tokens")
