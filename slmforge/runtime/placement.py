"""Pick the training precision the hardware runs fastest without losing accuracy.

On CUDA: bf16 where supported, else fp16. On CPU: bf16 autocast only where a measured bf16
matmul beats fp32 clearly. Many CPUs advertise avx512_bf16 but lack AMX, and there oneDNN's
bf16 GEMM is *slower* than fp32 (measured 2026-11-27 on this project's dev machine:
fp32 ~310 GFLOP/s, bf16 ~160 GFLOP/s at 2048x2048). So we measure instead of trusting flags.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

# bf16 autocast costs casts and some accuracy: only take it for a clear speed-up.
_CPU_BF16_MIN_SPEEDUP = 1.3


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    reason: str


def matmul_flops(dtype: torch.dtype, size: int = 1024, repeats: int = 8) -> float:
    """Measured dense matmul FLOP/s on this CPU for `dtype` (best of a few runs: the CPU may be shared)."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """bf16 matmul FLOP/s divided by fp32 matmul FLOP/s on this CPU (~0.2 s to measure)."""
    try:
        return matmul_flops(torch.bfloat16) / matmul_flops(torch.float32)
    except RuntimeError:  # no bf16 kernels at all
        return 0.0


def choose_precision(setting: str, cuda: bool) -> Precision:
    """Resolve train.precision (auto | bf16 | fp16 | fp32) for this machine."""
    if setting != "auto":
        return Precision(setting, "set in the recipe")
    if cuda:
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", "CUDA device supports bf16")
        return Precision("fp16", "CUDA device without bf16")
    speedup = cpu_bf16_speedup()
    if speedup >= _CPU_BF16_MIN_SPEEDUP:
        return Precision("bf16", f"bf16 matmul measured {speedup:.1f}x fp32 on this CPU")
    return Precision("fp32", f"bf16 matmul measured {speedup:.2f}x fp32 on this CPU (no gain)")
