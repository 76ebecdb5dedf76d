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

from slmforge.core.recipe import validate
from slmforge.runtime.memory import GB, KNOWN, arch_for, estimate, micro_budget


def cpu_micro_tokens(model: str) -> int:
    """What train.micro_batch_tokens: auto gives the model's fp32 training on CPU (what the measured run used)."""
    return micro_budget(validate({"name": "x", "model": {"id": model}, "data": {"path": "x.jsonl"}}), arch_for(model), cuda=False)

# Trains 3 steps in a fresh process and prints what loading and training added to its memory: the
# resident set once the libraries are imported and the data prepared (the baseline), and the peak
# resident set after it (Linux: writing 5 to /proc/self/clear_refs resets VmHWM, so the import and
# prepare phases cannot set the peak). The planner's comparable figure is Memory.run: everything
# but the framework share of the overhead.
PEAK = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path
    import yaml

    def status(field):
        return int(re.search(field + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024

    model, d, method = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    from slmforge.core.recipe import load
    from slmforge.orchestrate.pipeline import run_stages
    with open(d / "p.jsonl", "w") as f:
        for i in range(80):
            f.write(json.dumps({"input": f"Tell me about goat {i} and the barn and the hay and the hay.",
                                "output": f"Goat {i} sleeps by the warm stove, quietly. Then it naps. Then it naps."}) + "\\n")
    raw = {"name": "peak", "model": {"id": model}, "data": {"path": str(d / "p.jsonl"), "max_length": 128, "num_proc": 1},
           "train": {"method": method, "max_steps": 3, "batch_size": 8, "precision": "fp32", "packing": False,
                     "eval_steps": 100, "save_steps": 100},
           "eval": {"enabled": False}}
    (d / "r.yaml").write_text(yaml.safe_dump(raw))
    recipe = load(d / "r.yaml")
    run_stages(recipe, d / "runs", ["prepare"])
    import peft, trl, transformers.trainer  # noqa: F401  framework memory belongs to the baseline, not the run
    import slmforge.train.trainer  # noqa: F401
    base = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    run_stages(recipe, d / "runs", ["train"])
    length = json.loads((d / "runs" / "peak" / "data" / "data_report.json").read_text())["tokens"]["train"]["length"]["max"]
    print("RUN", status("VmHWM") - base, "LENGTH", length)
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
    from slmforge.orchestrate.cli import app

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "p", "model": {"id": str(tiny_qwen2)}, "data": {"path": "x.jsonl"}}))
    result = CliRunner().invoke(app, ["plan", str(recipe), "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "optimizer" in result.output and "fits here" in result.output and "slmforge prepare" in result.output


def clean_env() -> dict[str, str]:
    # Only what the child needs: variables other tests leave in os.environ (thread counts, allocator
    # settings) change a process's memory.
    keep = ("PATH", "HOME", "SLMFORGE_CACHE", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}


def measured_run_memory(tmp_path: Path, model: str, method: str) -> tuple[float, int]:
    """(bytes loading and training added to the process, the longest training example: every batch pads to it)."""
    (tmp_path / "peak.py").write_text(PEAK)
    out = subprocess.run([sys.executable, str(tmp_path / "peak.py"), model, str(tmp_path), method], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path, env=clean_env())
    assert out.returncode == 0, out.stderr[-2000:]
    fields = out.stdout.split("RUN")[-1].split()
    return float(fields[0]), int(fields[2])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs to reset the peak RSS")
@pytest.mark.slow  # trains, or generates with a model for many seconds
def test_planner_is_within_30_percent_of_measured_memory_tiny_model_full_fine_tune(tmp_path):
    # "Tiny" architecture (random Qwen2, 512 wide, 8 layers, 19M parameters) big enough that the model's
    # own memory (305 MB of weights, gradients and AdamW states, ~150 MB of activations) dominates the
    # trainer's bookkeeping; the 2-layer test model would measure allocator noise.
    from slmforge.runtime.tiny_models import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny512", hidden_size=512, layers=8)
    run, length = measured_run_memory(tmp_path, str(model), "full")
    predicted = estimate(arch_for(str(model)), "full", 8, length, micro_tokens=cpu_micro_tokens(str(model))).run
    print(f"planned {predicted / 1e6:.0f} MB, measured {run / 1e6:.0f} MB (longest example {length} tokens)")
    assert predicted == pytest.approx(run, rel=0.30), f"planned {predicted / 1e6:.0f} MB, measured {run / 1e6:.0f} MB"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs to reset the peak RSS")
def test_planner_is_within_30_percent_of_measured_memory_embedded_model_lora(tmp_path):
    model = "embedded:smollm2-135m"
    run, length = measured_run_memory(tmp_path, model, "lora")
    predicted = estimate(arch_for(model), "lora", 8, length, micro_tokens=cpu_micro_tokens(model)).run
    print(f"planned {predicted / 1e6:.0f} MB, measured {run / 1e6:.0f} MB (longest example {length} tokens)")
    assert predicted == pytest.approx(run, rel=0.30), f"planned {predicted / 1e6:.0f} MB, measured {run / 1e6:.0f} MB"
