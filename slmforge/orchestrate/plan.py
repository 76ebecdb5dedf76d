"""`slmforge plan`: the memory table (runtime/memory.py's estimates), per-GPU memory across GPU counts
(plan_scale.py) and time per epoch, printed from the model config alone."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from slmforge.core.recipe import Recipe
from slmforge.runtime.memory import GB, SFT_COLUMNS, Memory, arch_for, available_memory, fits_here, job_length, memory_plans, micro_batches, micro_budget


def print_plan(recipe: Recipe, runs: Path, console: Console | None = None, gpu_memory: str | None = None) -> dict[str, Memory]:
    """Print the memory table, per-GPU memory across GPU counts and time per epoch; returns the estimates by column."""
    import torch

    from slmforge.orchestrate.plan_scale import print_scale_out

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
        from slmforge.runtime.placement import matmul_flops

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
