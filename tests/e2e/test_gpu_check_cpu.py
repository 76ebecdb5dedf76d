"""bench/gpu_check.py --cpu: every step of the GPU matrix runs at toy size on the CPU, so CI executes the script's code
(its figures mean nothing here); the steps that need CUDA say so in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
STEPS = {"baseline", "full", "lora", "qlora", "liger", "flash", "generation", "export_verify", "serve"}


@pytest.mark.alone  # its MFU divides by a matmul peak measured on this CPU: another process beside it skews the ratio
def test_gpu_check_on_the_cpu_runs_every_step_and_writes_sane_figures(tmp_path):
    proc = subprocess.run([sys.executable, "bench/gpu_check.py", "--cpu", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = result["steps"]
    assert set(steps) == STEPS
    for name, step in steps.items():
        assert step["status"] in ("ran", "skipped"), (name, step)
        if step["status"] == "skipped":
            assert step["reason"] and "\n" not in step["reason"], name
    # Liger and flash-attention are CUDA kernels: skipped here, each with its one line.
    assert steps["liger"]["status"] == "skipped" and "needs CUDA" in steps["liger"]["reason"]
    assert steps["flash"]["status"] == "skipped" and "needs CUDA" in steps["flash"]["reason"]

    training = {name: steps[name] for name in ("baseline", "full", "lora", "qlora")}
    for name, step in training.items():
        assert step["status"] == "ran", (name, step)
        assert step["tok_s"] > 0 and step["reply_tok_s"] > 0 and step["steps"] >= 1, name
        assert 0 < step["mfu"] < 1, (name, step["mfu"])
        assert math.isfinite(step["val_loss"]) and step["val_loss"] > 0, name
        assert step["cuda_peak_gb"] is None and step["device"] == "cpu", name  # CUDA was hidden from every process
    assert training["baseline"]["gc"] is True and training["baseline"]["packing"] is False  # the plan's TRL defaults
    assert training["full"]["packing"] is True and training["full"]["method"] == "full"
    assert training["qlora"]["method"] == "qlora" and training["lora"]["method"] == "lora"
    # The 4-bit base counts the weights it stands for (NF4 stores two per byte), so MFU compares like with like.
    assert training["qlora"]["n_params"] == training["lora"]["n_params"] == training["full"]["n_params"]
    for name in ("full", "lora", "qlora"):
        assert training[name]["vs_baseline"]["tok_s"] > 0

    gen = steps["generation"]
    assert gen["status"] == "ran" and gen["tokens_per_s"] > 0 and 0 < gen["new_tokens"] <= gen["prompts"] * gen["max_new_tokens"]
    verify = steps["export_verify"]
    assert verify["status"] == "ran" and verify["parity"]["failed"] == 0 and verify["parity"]["passed"] >= 1
    # QLoRA is one model: the model eval scores and export/merged give the same val loss (verify's merge row).
    assert verify["merge"]["status"] == "passed" and "QLoRA" in verify["merge"]["runtime"]
    serve = steps["serve"]
    assert serve["status"] == "ran" and serve["ok"] >= 1 and serve["errors"] == 0 and serve["lost"] == 0 and serve["tokens_per_s"] > 0

    assert set(result["floors"]) == {"speed", "memory", "val_loss", "mfu"}
    assert all(f["pass"] is None for f in result["floors"].values())  # floors are a GPU's: n/a on a toy CPU run
    assert "floors" in proc.stdout and "export_verify" in proc.stdout
