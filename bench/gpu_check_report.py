"""The GPU check's arithmetic and printing: the peak FLOP/s MFU divides by, ratios against the baseline, the floors
and the table (bench/gpu_check.py runs the steps)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Dense (no sparsity) 16-bit tensor-core peaks from the vendors' data sheets, TFLOP/s: bf16, fp16 on the T4 (no bf16).
# Checked in order: the first pattern found in the lower-cased device name wins.
PEAK_TFLOPS = [
    (r"h200.*nvl", 835.0), (r"h200", 989.4), (r"h100.*nvl", 835.5), (r"h100.*pcie", 756.5), (r"h100", 989.4),
    (r"a100", 312.0), (r"\bl4\b", 121.0), (r"\bt4\b", 65.0), (r"4090", 165.2),
]
FLOORS = {"speed": 1.5, "memory": 0.7, "mfu": 0.40}


@dataclass(frozen=True)
class Peak:
    device: str
    flops: dict[str, float]  # per training precision
    source: str

    def for_precision(self, precision: str) -> float:
        """A GPU trains in 16 bits under autocast (fp32 master weights): its 16-bit peak for every variant."""
        return self.flops.get(precision) or self.flops["bf16"]


def table_peak(name: str) -> float | None:
    lower = name.lower()
    return next((tflops * 1e12 for pattern, tflops in PEAK_TFLOPS if re.search(pattern, lower)), None)


def cuda_matmul_flops(size: int = 8192, repeats: int = 20) -> float:
    """Measured dense bf16 (fp16 before Ampere) matmul FLOP/s on GPU 0: the peak of a GPU the table does not know."""
    import torch

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    a, b = (torch.randn(size, size, device="cuda", dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    flops = repeats * 2 * size**3 / (time.perf_counter() - start)
    del a, b
    torch.cuda.empty_cache()
    return flops


def peak_flops(cuda: bool) -> Peak:
    import torch

    if not cuda:
        from slmforge.runtime.placement import matmul_flops

        # Small: some CPUs of our kind run bf16 matmuls at 0.3 GFLOP/s (no avx512_bf16), and the toy run only needs a scale.
        flops = {"fp32": matmul_flops(torch.float32, 256, 3), "bf16": matmul_flops(torch.bfloat16, 256, 3)}
        return Peak("cpu", flops, "measured matmul (256², best of 3)")
    name = torch.cuda.get_device_name(0)
    tabled = table_peak(name)
    flops = tabled if tabled is not None else cuda_matmul_flops()
    return Peak(name, {"bf16": flops, "fp16": flops}, "data sheet (dense)" if tabled is not None else "measured bf16 matmul (8192²)")


def model_summary(model_dir: Path, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The built model's shape and parameter count (the weights a 4-bit base stands for), for the table's head."""
    config = json.loads((model_dir / "config.json").read_text())
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size")
    params = next((r["n_params"] for r in results.values() if "n_params" in r), None)
    return {"params": params, **{k: config[k] for k in keys}}


def ratios(row: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    peak = row["cuda_peak_gb"] / base["cuda_peak_gb"] if row["cuda_peak_gb"] and base["cuda_peak_gb"] else None
    return {"tok_s": row["steady_tok_s"] / base["steady_tok_s"], "peak": peak, "val_loss": row["val_loss"] / base["val_loss"]}


def brief(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("steady_tok_s", "tok_s", "cuda_peak_gb", "val_loss", "first_loss", "seconds", "steps", "attention", "liger", "packing")}


def floors(steps: dict[str, Any], gpu: bool) -> dict[str, Any]:
    """The issue's floors on the full fine-tune; pass is None (n/a) on a CPU toy run or when a figure is missing."""
    full, base = steps["full"], steps["baseline"]
    if full.status != "ran" or base.status != "ran":
        return {"note": "not checked: the full or the baseline training step did not run"}
    f, b = full.data, base.data
    figures = {
        "speed": (f["vs_baseline"]["tok_s"], ">=", FLOORS["speed"]),
        "memory": (f["vs_baseline"]["peak"], "<=", FLOORS["memory"]),
        "val_loss": (f["val_loss"], "<=", b["val_loss"]),
        "mfu": (f["mfu"], ">=", FLOORS["mfu"]),
    }
    out: dict[str, Any] = {}
    for name, (value, op, bound) in figures.items():
        ok = None if not gpu or value is None else (value >= bound if op == ">=" else value <= bound)
        out[name] = {"value": value, "floor": f"{op} {bound:.4g}", "pass": ok}
    return out


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _training_row(name: str, step: dict[str, Any]) -> str:
    if step["status"] != "ran":
        return f"  {name:13s} {step['status']:8s} {step['reason']}"
    v = step.get("vs_baseline") or {}
    against = f"{v['tok_s']:.2f}x / {_num(v['peak'], '.2f')}x / {v['val_loss']:.3f}x" if v else ""
    return (f"  {name:13s} ran      {step['steady_tok_s']:>10,.0f} {step['tok_s']:>10,.0f} {step['mfu']:>6.1%} "
            f"{_num(step['cuda_peak_gb'], '>7.2f'):>7s} {step['val_loss']:>8.4f}  {step['steps']:>5d}  {step['seconds']:>6.1f}  "
            f"{step['precision']}, {step['attention']}, liger {'on' if step['liger'] else 'off'}, packing {'on' if step['packing'] else 'off'}"
            + (f"  {against}" if against else ""))


def _other_row(name: str, step: dict[str, Any]) -> str:
    if step["status"] != "ran":
        return f"  {name:13s} {step['status']:8s} {step['reason']}"
    if name == "liger":
        text = (f"on {step['on']['steady_tok_s']:,.0f} / off {step['off']['steady_tok_s']:,.0f} tok/s ({step['speedup']:.2f}x), peak "
                f"{_num(step['on']['cuda_peak_gb'], '.2f')} / {_num(step['off']['cuda_peak_gb'], '.2f')} GB, first-step loss "
                f"Δ {step['first_loss_rel_delta']:.1e} relative (≤ 1e-3: {'PASS' if step['same_loss'] else 'FAIL'})")
    elif name == "flash":
        text = (f"packed {step['packed']['steady_tok_s']:,.0f} / padded {step['padded']['steady_tok_s']:,.0f} tok/s ({step['speedup']:.2f}x), peak "
                f"{_num(step['packed']['cuda_peak_gb'], '.2f')} / {_num(step['padded']['cuda_peak_gb'], '.2f')} GB, val loss "
                f"Δ {step['val_loss_rel_delta']:.1%} (≤ 2 %: {'PASS' if step['same_loss'] else 'FAIL'})")
    elif name == "generation":
        text = (f"{step['prompts']} prompts × ≤{step['max_new_tokens']} new tokens, batch {step['batch_size']}: "
                f"{step['tokens_per_s']:,.1f} tok/s ({step['placement']})")
    elif name == "export_verify":
        p = step["parity"]
        merge = step["merge"]
        text = (f"parity rows: {p['passed']} passed, {p['skipped']} skipped, {p['failed']} failed; "
                + (f"{merge['runtime']} {merge['status']}: {merge['detail']}" if merge else "no merge row"))
    else:
        text = (f"{step['clients']} clients × {step['seconds_asked']:g} s, max_tokens {step['max_tokens']}: {step['tokens_per_s']:,.1f} tok/s, "
                f"p50 {step['p50_s']:.2f} s, p95 {step['p95_s']:.2f} s, ok {step['ok']}, errors {step['errors']}, lost {step['lost']}")
    return f"  {name:13s} ran      {text}  [{step['wall_s']:.0f} s]"


def print_table(result: dict[str, Any]) -> None:
    steps = result["steps"]
    peak, m = result["peak_flops"], result["model"]
    scale, unit = (1e12, "TFLOP/s") if max(peak.values()) >= 1e12 else (1e9, "GFLOP/s")
    print(f"\nGPU check · {result['mode']} · {result['device']} · peak {', '.join(f'{k} {v / scale:,.1f}' for k, v in peak.items())} "
          f"{unit} ({result['peak_source']})\n  model: Qwen2, {_num(m['params'] and m['params'] / 1e6, ',.1f')}M parameters "
          f"(hidden {m['hidden_size']}, {m['num_hidden_layers']} layers, vocab {m['vocab_size']:,}), random init · "
          f"{result['examples']} examples ≤ {result['max_length']} tokens · training processes: "
          + ", ".join(f"[{' '.join(p['variants'])}] {p['wall_s']:.0f} s" for p in result["training_processes"]))
    print(f"  {'step':13s} {'status':8s} {'tok/s':>10s} {'all steps':>10s} {'MFU':>6s} {'peak GB':>7s} {'val loss':>8s}  {'steps':>5s}  "
          f"{'loop s':>6s}  setup  vs baseline: tok/s / peak / val   (tok/s: after step 1)")
    for name in ("baseline", "full", "lora", "qlora"):
        print(_training_row(name, steps[name]))
    for name in ("liger", "flash", "generation", "export_verify", "serve"):
        print(_other_row(name, steps[name]))
    fl = result["floors"]
    if "note" in fl:
        print(f"floors: {fl['note']}")
    else:
        verdict = lambda f: "n/a" if f["pass"] is None else "PASS" if f["pass"] else "FAIL"  # noqa: E731
        print("floors (0.5B full fine-tune vs the baseline" + (", a GPU's; this CPU toy run is n/a): " if "cpu" in result["mode"] else "): ")
              + " · ".join(f"{k} {_num(f['value'], '.3g')} {f['floor']} {verdict(f)}" for k, f in fl.items()))
    print(f"total {result['seconds']:.0f} s · reproduce: {result['command']}")
