"""Per-GPU memory of the recipe on 1, 2, 4 and 8 GPUs with DDP, FSDP (FULL_SHARD) and ZeRO-3, and the smallest setup that fits.

One GPU's share, on top of the single-device estimate of train/plan.py at the per-device batch that
`slmforge train --nproc N` derives from the recipe's global batch:
- DDP replicates everything; torch's all-reduce buckets are a second copy of the gradients
  (DistributedDataParallel's default gradient_as_bucket_view=False, which accelerate keeps).
- FSDP FULL_SHARD shards weights, gradients, optimizer states (and a reference model) N ways; the
  root module (embeddings, LM head, final norm) stays gathered through forward and backward, one
  decoder layer computes while the next is prefetched (2 layers gathered), and one layer's full
  gradient exists before its reduce-scatter. Parameters are gathered in fp32: our accelerate config
  leaves mixed precision to autocast.
- ZeRO-3 shards the same states; DeepSpeed gathers one module at a time (the largest of the
  embedding or two layers live) in bf16 and keeps its reduce bucket (hidden² fp32 elements, the
  "auto" size of transformers' DeepSpeed integration) and prefetch bucket (0.9 × hidden² bf16).
Activations, logits and GRPO's generation buffers are per device and are not sharded. Not counted:
NCCL's own buffers (a few hundred MB) and communication overlap beyond one prefetched layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from rich.console import Console
from rich.table import Table

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.runtime.memory import FIT_SHARE, GB, Arch, Memory, recipe_estimate, recipe_method

STRATEGIES = {"ddp": "DDP", "fsdp": "FSDP (FULL_SHARD)", "zero3": "ZeRO-3"}
GPU_COUNTS = (1, 2, 4, 8)
# Assumed when there is no CUDA device and no --gpu-memory: an 80 GB H100/A100 (79.6 GiB usable as reported by CUDA).
ASSUMED_GPU = 80 * GB


@dataclass(frozen=True)
class Setup:
    strategy: str  # ddp | fsdp | zero3 (on 1 GPU all three are the plain single-device run)
    gpus: int
    per_device_batch: int
    memory: Memory  # one GPU's


def parse_gpu_memory(text: str) -> float:
    """'80GB', '80G', '80GiB', '24' → bytes (GiB: a GPU sold as 80 GB reports 79.6 GiB to CUDA)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(gib|gb|g)?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise SlmforgeError(f"--gpu-memory: expected a size like 80GB or 24GiB, got {text!r}")
    return float(match.group(1)) * GB


def per_device_batch(batch_size: int, grad_accum: int, gpus: int) -> int:
    """The per-device batch `train --nproc` uses for this global batch (distributed.split_global_batch's rule)."""
    share = max(1, math.ceil(batch_size * grad_accum / gpus))
    return max(d for d in range(1, min(batch_size, share) + 1) if share % d == 0)


def layer_params(a: Arch) -> int:
    return a.linear_params // a.layers + 2 * a.hidden


def root_params(a: Arch) -> int:
    """Parameters outside the decoder layers: embeddings, an untied LM head, the final norm."""
    return a.params - a.layers * layer_params(a)


def shard(m: Memory, a: Arch, strategy: str, gpus: int, trainable: bool) -> Memory:
    """One GPU's memory when the single-device estimate `m` runs on `gpus` GPUs with `strategy`."""
    if gpus == 1:
        return m
    if strategy == "ddp":
        return replace(m, gradients=2 * m.gradients)
    layer, root = layer_params(a), root_params(a)
    if strategy == "fsdp":
        gathered = (root + 2 * layer) * 4 + (layer * 4 if trainable else 0)
    else:
        gathered = max(root, 2 * layer) * 2 + a.hidden**2 * 4 + 0.9 * a.hidden**2 * 2
    return replace(m, weights=m.weights / gpus + gathered, gradients=m.gradients / gpus, optimizer=m.optimizer / gpus,
                   reference=m.reference / gpus)


def scale_out(recipe: Recipe, a: Arch) -> list[Setup]:
    """Every (strategy, GPU count) of the recipe's job, one GPU's memory each (on CUDA: bf16 activations per precision)."""
    t = recipe.train
    method = recipe_method(recipe)
    setups = []
    for gpus in GPU_COUNTS:
        batch = per_device_batch(t.batch_size, t.grad_accum, gpus)
        single = recipe_estimate(recipe, a, method, batch, cuda=True)
        for strategy in STRATEGIES:
            if gpus > 1 and method == "qlora":
                continue  # 4-bit weights load onto one device (device_map); sharding them is not wired up
            setups.append(Setup(strategy, gpus, batch, shard(single, a, strategy, gpus, trainable=method == "full")))
    return setups


def smallest_fit(setups: list[Setup], gpu_memory: float) -> Setup | None:
    """Fewest GPUs first, then the simplest strategy (DDP, FSDP, ZeRO-3) whose per-GPU total fits."""
    order = list(STRATEGIES)
    for s in sorted(setups, key=lambda s: (s.gpus, order.index(s.strategy))):
        if s.memory.total <= FIT_SHARE * gpu_memory:
            return s
    return None


def describe(s: Setup) -> str:
    if s.gpus == 1:
        return "1 GPU (no sharding needed)"
    return f"{s.gpus} GPUs with {STRATEGIES[s.strategy]} (slmforge train --nproc {s.gpus}" + (
        ", --set train.distributed=fsdp)" if s.strategy == "fsdp" else ", --set train.distributed=deepspeed --set train.zero_stage=3)" if s.strategy == "zero3" else ")")


def gpu_memory_for(option: str | None) -> tuple[float, str]:
    """GPU memory to plan for and where the figure came from."""
    if option:
        return parse_gpu_memory(option), "--gpu-memory"
    import torch

    if torch.cuda.is_available():
        return float(torch.cuda.get_device_properties(0).total_memory), f"CUDA device 0 ({torch.cuda.get_device_name(0)})"
    return ASSUMED_GPU, "assumed (no CUDA device here): an 80 GB H100; pass --gpu-memory 24GB for another card"


def print_scale_out(recipe: Recipe, a: Arch, gpu_memory: str | None, console: Console) -> Setup | None:
    """Print per-GPU GiB by strategy and GPU count and name the smallest setup that fits."""
    have, source = gpu_memory_for(gpu_memory)
    setups = scale_out(recipe, a)
    method = recipe_method(recipe)
    job = recipe.train.method if method == recipe.train.method else f"{recipe.train.method} ({method})"
    table = Table(title=f"per-GPU GiB · {job} · global batch {recipe.train.batch_size * recipe.train.grad_accum} · "
                        f"{have / GB:.1f} GiB per GPU, {source}")
    table.add_column("strategy")
    for gpus in GPU_COUNTS:
        table.add_column(f"{gpus} GPU{'s' if gpus > 1 else ''}", justify="right")
    cells = {(s.strategy, s.gpus): s for s in setups}
    for strategy, name in STRATEGIES.items():
        row = []
        for gpus in GPU_COUNTS:
            s = cells.get((strategy, gpus))
            if s is None:
                row.append("n/a")
                continue
            ok = s.memory.total <= FIT_SHARE * have
            row.append(f"[{'green' if ok else 'red'}]{s.memory.total / GB:.1f}[/]")
        table.add_row(name, *row)
    console.print(table)
    best = smallest_fit(setups, have)
    if best is None:
        console.print(f"[red]fits no setup up to {GPU_COUNTS[-1]} GPUs[/red]: try train.method lora or qlora, "
                      "train.gradient_checkpointing: true, or a smaller train.batch_size / data.max_length")
    else:
        console.print(f"smallest setup that fits: [bold]{describe(best)}[/bold] · {best.memory.total / GB:.1f} GiB per GPU "
                      f"(≤ {FIT_SHARE:.0%} of {have / GB:.1f} GiB), per-device batch {best.per_device_batch}")
    if method == "qlora":
        console.print("qlora: one GPU only (4-bit weights are loaded onto one device)")
    if recipe.train.method != method and best is not None and best.gpus > 1:
        console.print(f"note: `slmforge train --nproc` runs full / lora / qlora only for now; {recipe.train.method} trains on one process")
    return best
