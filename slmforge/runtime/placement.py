"""Where and how a model runs: device, dtype, attention and 4-bit loading, decided in one place.

Every loader and stage asks `place(recipe.model, ...)` and prints `Placement.describe()`; the manifest
records it. The rules (model.device / model.dtype / model.attention force them):
- device: CUDA when present (each distributed rank its own local GPU, LOCAL_RANK), else the CPU;
- dtype: on CUDA bf16 where the GPU supports it, fp16 on pre-Ampere cards (a T4); on a CPU, bf16
  only where a measured bf16 matmul beats fp32 clearly, else fp32. Many CPUs advertise avx512_bf16
  but lack AMX, and there oneDNN's bf16 GEMM is slower than fp32 (measured 2026-11-27: fp32 ~310
  GFLOP/s, bf16 ~160; 2026-12-01 on another VM of the same kind: bf16 1,000-1,080 vs fp32 ~150 with
  AMX; on a third, bf16 0.2 vs fp32 16 under load), so we measure instead of trusting flags;
- attention: flash-attention 2 when it is installed and the model runs on CUDA in 16 bits (the
  trainer then packs examples padding-free into one row), else PyTorch's sdpa;
- 4-bit: QLoRA's base is NF4 (bitsandbytes), on CUDA or on the CPU (bitsandbytes >= 0.45 runs it there).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from slmforge.core.errors import ModelError
from slmforge.core.sections import ModelSection

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# bf16 autocast costs casts and some accuracy: only take it for a clear speed-up.
_CPU_BF16_MIN_SPEEDUP = 1.3


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    reason: str


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda:N
    dtype: str  # fp32 | bf16 | fp16: what weights are loaded in, and what training autocasts to
    attention: str  # sdpa | flash_attention_2 | eager
    four_bit: bool  # an NF4 base (qlora)
    why: str  # the reasons, for the one line each stage prints

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def describe(self) -> str:
        return f"{self.device} · {self.dtype} · attention {self.attention}" + (" · 4-bit NF4 base" if self.four_bit else "") + \
            f" ({self.why})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_kwargs(self, dtype: str | None = None) -> dict[str, Any]:
        """from_pretrained keywords: the weights' dtype (`dtype` overrides, e.g. fp32 master weights), the
        attention kernel, and a device map that puts every weight on the one device (4-bit loading needs it)."""
        kwargs: dict[str, Any] = {"dtype": DTYPES[dtype or self.dtype], "attn_implementation": self.attention}
        if self.cuda or self.four_bit:
            kwargs["device_map"] = {"": self.device}
        if self.four_bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=self.torch_dtype)
            kwargs["dtype"] = self.torch_dtype  # the embeddings and norms stay in the compute dtype
        return kwargs


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
    """bf16 matmul FLOP/s divided by fp32 matmul FLOP/s on this CPU (~0.2 s to measure, once per process)."""
    try:
        return matmul_flops(torch.bfloat16, 512, 4) / matmul_flops(torch.float32, 512, 4)
    except RuntimeError:  # no bf16 kernels at all
        return 0.0


def _device(setting: str) -> tuple[str, str]:
    """(device, why) for model.device: auto | cpu | cuda | cuda:N."""
    if setting == "cpu":
        return "cpu", "model.device cpu"
    available = torch.cuda.is_available()
    if setting == "auto":
        if not available:
            return "cpu", "no CUDA device"
        rank = int(os.environ.get("LOCAL_RANK", "0"))  # each process of `train --nproc N` its own GPU
        return f"cuda:{rank % max(1, torch.cuda.device_count())}", ""
    if not available:
        raise ModelError(f"model.device: {setting} asked for, but no CUDA device is visible here; use model.device auto or cpu")
    index = int(setting.partition(":")[2] or os.environ.get("LOCAL_RANK", "0"))
    if index >= torch.cuda.device_count():
        raise ModelError(f"model.device: {setting}: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)")
    return f"cuda:{index}", "model.device"


# What model.dtype auto means on a CPU, instead of measuring: fp32 | bf16. The test suite pins fp32 (tests/conftest.py),
# so that its exact comparisons against fp32 references hold on every CI machine, AMX or not.
CPU_DTYPE_ENV = "SLMFORGE_CPU_DTYPE"


def _dtype(setting: str, device: str) -> tuple[str, str]:
    if setting != "auto":
        return setting, "model.dtype"
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        major, minor = torch.cuda.get_device_capability(index)
        name = torch.cuda.get_device_name(index)
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{name}, sm{major}{minor}: bf16"
        return "fp16", f"{name}, sm{major}{minor}: no bf16 before Ampere, fp16"
    pinned = os.environ.get(CPU_DTYPE_ENV)
    if pinned:
        if pinned not in ("fp32", "bf16"):
            raise ModelError(f"{CPU_DTYPE_ENV}={pinned}: it takes fp32 or bf16 (or unset it to measure this CPU)")
        return pinned, f"{CPU_DTYPE_ENV}={pinned}"
    speedup = cpu_bf16_speedup()
    if speedup >= _CPU_BF16_MIN_SPEEDUP:
        return "bf16", f"bf16 matmul measured {speedup:.1f}x fp32 on this CPU"
    return "fp32", f"bf16 matmul measured {speedup:.2f}x fp32 on this CPU"


def _attention(setting: str, device: str, dtype: str) -> str:
    if setting != "auto":
        return setting
    flash = importlib.util.find_spec("flash_attn") is not None
    return "flash_attention_2" if flash and device.startswith("cuda") and dtype in ("bf16", "fp16") else "sdpa"


def place(section: ModelSection, *, four_bit: bool = False) -> Placement:
    """The placement for `section` on this machine (four_bit: QLoRA's NF4 base)."""
    device, why_device = _device(section.device)
    dtype, why_dtype = _dtype(section.dtype, device)
    attention = _attention(section.attention, device, dtype)
    if attention == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ModelError("model.attention: flash_attention_2 needs the flash-attn package (CUDA): pip install flash-attn, "
                         "or use model.attention auto")
    if four_bit:
        check_four_bit(device)
    return Placement(device, dtype, attention, four_bit, "; ".join(w for w in (why_device, why_dtype) if w))


def check_four_bit(device: str) -> None:
    """bitsandbytes must be installed and support the device (CUDA, or the CPU since 0.45)."""
    try:
        import bitsandbytes
    except ImportError:
        raise ModelError("train.method: qlora needs bitsandbytes: pip install bitsandbytes") from None
    major, minor = (int(x) for x in bitsandbytes.__version__.split(".")[:2])
    if not device.startswith("cuda") and (major, minor) < (0, 45):
        raise ModelError(f"train.method: qlora on the CPU needs bitsandbytes >= 0.45 (installed: {bitsandbytes.__version__}); "
                         "pip install -U bitsandbytes, or use --set train.method=lora")


def cpu_fp32(why: str) -> Placement:
    """The CPU in fp32: where merges and exact comparisons run (export, verify)."""
    return Placement("cpu", "fp32", "sdpa", False, why)


def placement_of(model: Any) -> Placement:
    """Where a loaded model already is (device and dtype of its weights): to load a second one beside it."""
    weight = next(model.parameters())
    dtype = next((name for name, value in DTYPES.items() if value == weight.dtype), "fp32")
    attention = getattr(getattr(model, "config", None), "_attn_implementation", None) or "sdpa"
    return Placement(str(weight.device), dtype, attention, False, "beside the model already loaded")


def announce(placement: Placement, console: Any, run: Any, stage: str, role: str = "model") -> Placement:
    """Print the stage's one placement line and record it in the run's manifest (run: a RunDir, or None)."""
    console.print(f"{stage} · {role}: {placement.describe()}", highlight=False)
    if run is not None and run.manifest_path.is_file():
        run.record_placement(stage, role, placement.as_dict())
    return placement


def choose_precision(setting: str, placement: Placement) -> Precision:
    """Resolve train.precision (auto | bf16 | fp16 | fp32) against the placement: auto trains in its dtype."""
    if setting != "auto":
        return Precision(setting, "set in the recipe")
    return Precision(placement.dtype, placement.why or "placement")
