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

from slmforge.core.errors import ModelError
from slmforge.core.recipe import Recipe

GB = 1024**3


# train.micro_batch_tokens auto on CPU: split a step only when one forward pass would save more than
# CPU_MICRO_BATCH_BYTES of activations, and then into passes of at least CPU_MICRO_BATCH_TOKENS tokens.
# Embedded SmolLM2 LoRA (~1.4 MB of activations per token), 1 thread (2026-11-27, bench/RESULTS.md): a step
# of ~8 packed rows × 128 tokens as 8/4/2/1 rows per forward took 5.07/5.23/5.43/5.77 s and peaked at
# 3.6/2.6/1.9/1.5 GB. Narrow models lose more to small matmuls (tiny Qwen2 256 wide: 256-token passes
# were 15 % slower) and save little memory, so they are not split at all.
CPU_MICRO_BATCH_TOKENS = 256
CPU_MICRO_BATCH_BYTES = 512 * 2**20


@dataclass(frozen=True)
class MicroBatches:
    rows: int  # rows per forward pass (packed rows, or examples without packing)
    splits: int  # forward passes per step and device, added up by gradient accumulation

    @property
    def step_rows(self) -> int:
        """Rows of the whole step (the split is into equal parts)."""
        return self.rows * self.splits


def micro_batches(rows: int, row_tokens: int, budget: int | None) -> MicroBatches:
    """Split a step's rows into equal micro-batches of at most `budget` tokens (rows × row_tokens).

    Equal parts keep every optimizer step over exactly the same examples: the trainer's sampler yields
    the same sequence of rows whatever the per-device batch, and the loss is normalised over the whole
    accumulation window (num_items_in_batch), so the step's gradient is the unsplit one up to float
    rounding. The largest divisor of `rows` that fits is used (a prime row count may split to 1 row each)."""
    if not budget or rows * row_tokens <= budget:
        return MicroBatches(rows, 1)
    fitting = [d for d in range(1, rows + 1) if rows % d == 0 and d * row_tokens <= budget]
    size = max(fitting, default=1)
    return MicroBatches(size, rows // size)


def micro_batch_budget(recipe: Recipe, cuda: bool, activation_bytes_per_token: float | None) -> int | None:
    """Tokens per forward pass the recipe allows (None: the whole batch at once).

    `activation_bytes_per_token`: what one token of a forward pass saves for backward (train/plan.py's
    count for the model); unknown: auto falls back to CPU_MICRO_BATCH_TOKENS."""
    setting = recipe.train.micro_batch_tokens
    if setting != "auto":
        return setting or None
    if cuda:
        return None
    if not activation_bytes_per_token:
        return CPU_MICRO_BATCH_TOKENS
    return max(CPU_MICRO_BATCH_TOKENS, int(CPU_MICRO_BATCH_BYTES // activation_bytes_per_token))


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
    """The table's "fits here" cell: yes or no (bitsandbytes runs QLoRA's 4-bit base on CUDA and on the CPU alike)."""
    return "yes" if memory.total < FIT_SHARE * have else "no"
