"""`slmforge plan`: memory from the config alone, checked against the original plan and measured peaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from slmforge.train.plan import GB, KNOWN, arch_for, estimate

# Trains 2 steps in a fresh process and prints its peak RSS (the planner's CPU figure covers the whole process).
PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import yaml
    from slmforge.recipe import load
    from slmforge.pipeline import run_stages
    d = Path(sys.argv[2])
    with open(d / "p.jsonl", "w") as f:
        for i in range(60):
            f.write(json.dumps({"input": f"Tell me about goat {i} and the barn.", "output": f"Goat {i} sleeps by the warm stove, quietly."}) + "\\n")
    raw = {"name": "peak", "model": {"id": sys.argv[1]}, "data": {"path": str(d / "p.jsonl"), "max_length": 64},
           "train": {"method": "lora", "max_steps": 2, "batch_size": 8, "precision": "fp32", "packing": False, "eval_steps": 100, "save_steps": 100}}
    (d / "r.yaml").write_text(yaml.safe_dump(raw))
    run_stages(load(d / "r.yaml"), d / "runs", ["prepare", "train"])
    print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """
)


def test_reproduces_the_original_plan_qwen05b_full_bf16_batch_32_length_128():
    # The plan this project came from: bf16 weights and gradients, fp32 AdamW states, TRL defaults
    # (gradient checkpointing on, full fp32 logits) → "roughly 7–10 GB in all".
    a = KNOWN["Qwen/Qwen2.5-0.5B"]
    assert 490e6 < a.params < 500e6
    m = estimate(a, "full", 32, 128, weight_bytes=2, grad_bytes=2, optim_bytes=8, act_bytes=2, checkpointing=True, fused_loss=False, cuda=True)
    assert 7 * GB <= m.total <= 10 * GB
    assert m.logits == pytest.approx(32 * 128 * 151936 * 4)  # the 2.5 GB of fp32 logits the issue names


def test_lora_and_qlora_shrink_what_a_7b_needs():
    a = arch_for("Qwen/Qwen2.5-7B-Instruct")
    full, lora, qlora = (estimate(a, m, 4, 512, weight_bytes=2, cuda=True) for m in ("full", "lora", "qlora"))
    assert qlora.weights < lora.weights / 2.5 and lora.weights < full.weights + full.gradients
    assert lora.optimizer < full.optimizer / 50


def test_plan_reads_a_local_config_and_prints_a_table(tmp_path, tiny_qwen2):
    from slmforge.cli import app

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "p", "model": {"id": str(tiny_qwen2)}, "data": {"path": "x.jsonl"}}))
    result = CliRunner().invoke(app, ["plan", str(recipe), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "optimizer" in result.output and "fits here" in result.output and "slmforge prepare" in result.output


def clean_env() -> dict[str, str]:
    # Only what the child needs: variables other tests leave in os.environ (thread counts, allocator
    # settings) change a process's memory and made this measurement flaky inside the full suite.
    keep = ("PATH", "HOME", "SLMFORGE_CACHE", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def measured_peak(tmp_path: Path, model: str) -> float:
    (tmp_path / "peak.py").write_text(PEAK)
    out = subprocess.run([sys.executable, str(tmp_path / "peak.py"), model, str(tmp_path)], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=clean_env())
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.split("PEAK")[-1])


# Only the embedded model: a tiny model's peak is pure framework overhead, and it measured 0.55 GB
# alone but 1.84 GB when run after the rest of tests/unit (cause not found yet), so it was flaky.
@pytest.mark.slow
def test_planner_is_within_30_percent_of_measured_peak_memory_on_cpu(tmp_path):
    model = "embedded:smollm2-135m"
    # Unpacked batch of 8 padded to the longest example (~30 tokens here; the planner takes the length asked).
    predicted = estimate(arch_for(model), "lora", 8, 32).total
    assert predicted == pytest.approx(measured_peak(tmp_path, model), rel=0.30)
